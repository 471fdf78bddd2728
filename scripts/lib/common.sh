# Shared helpers for the scripts in scripts/ (sourced, not executed).
# shellcheck shell=bash

# Node majors the server is tested on: the oldest supported one and the one the add-on image ships.
NODE_MAJORS=(20 24)

step() { printf '\n==> %s\n' "$*"; }
info() { printf '  %s\n' "$*"; }
warn() { printf '  WARNING: %s\n' "$*" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }
