#!/usr/bin/with-contenv bashio
# shellcheck shell=bash
# Starts the HAsync server as the image's CMD under s6-overlay (config.yaml: init: false).
# Under Supervisor (bashio loaded and SUPERVISOR_TOKEN set) the app options become the server's
# environment; anywhere else (plain `docker run`, tests) the environment and the server's own
# defaults apply, so the script never needs bashio to start.
set -euo pipefail

SERVER_DIR="${HASYNC_SERVER_DIR:-/opt/hasync/server}"
ENTRY="$SERVER_DIR/bin/hasync.js"

under_supervisor() {
    declare -F bashio::config >/dev/null && [[ -n "${SUPERVISOR_TOKEN:-}" ]]
}

log_info() {
    if declare -F bashio::log.info >/dev/null; then bashio::log.info "$*"; else echo "[hasync] $*"; fi
}

log_fatal() {
    if declare -F bashio::log.fatal >/dev/null; then bashio::log.fatal "$*"; else echo "[hasync] FATAL: $*" >&2; fi
}

if under_supervisor; then
    if bashio::config.has_value 'log_level'; then
        HASYNC_LOG_LEVEL="$(bashio::config 'log_level')"
        export HASYNC_LOG_LEVEL
        bashio::log.level "$HASYNC_LOG_LEVEL"
    fi
    HASYNC_RETENTION_DAYS="$(bashio::config 'history_days')"
    export HASYNC_RETENTION_DAYS
    if bashio::config.has_value 'token'; then
        HASYNC_TOKEN="$(bashio::config 'token')"
        export HASYNC_TOKEN
    fi
    # The name Home Assistant reaches this app by on the internal network, announced in discovery.
    if advertise_host="$(bashio::addon.hostname)" && [[ -n "$advertise_host" && "$advertise_host" != null ]]; then
        export HASYNC_ADVERTISE_HOST="$advertise_host"
    fi
else
    log_info "not running under Supervisor: using environment variables and defaults"
fi

if ! command -v node >/dev/null; then
    log_fatal "node is not on PATH"
    exit 1
fi
if [[ ! -f "$ENTRY" ]]; then
    log_fatal "server entry point $ENTRY not found (set HASYNC_SERVER_DIR)"
    exit 1
fi

app_version="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version' "$SERVER_DIR/package.json")"
log_info "HAsync $app_version on Node $(node --version)"

# exec: the server becomes the CMD process. `docker stop` signals pid 1 (s6-overlay), which hands the
# TERM straight to the CMD because the image sets S6_CMD_RECEIVE_SIGNALS=1 (see the Dockerfile); under
# plain bash (tests, no s6) the caller signals this process directly.
exec node "$ENTRY" serve
