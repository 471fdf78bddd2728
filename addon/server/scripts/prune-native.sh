#!/usr/bin/env bash
# Shrink a production node_modules (after `npm ci --omit=dev`) to what runs: for the two native
# modules keep the JavaScript and the one compiled addon for this platform; drop sources, build
# intermediates, other platforms' prebuilds, docs and tests. Used by the add-on Dockerfile and by
# bench/server/run.js (footprint). Usage: scripts/prune-native.sh [node_modules]
set -euo pipefail

nm=${1:-node_modules}
[[ -d "$nm" ]] || { echo "prune-native: $nm is not a directory" >&2; exit 1; }
platform=$(node -p 'process.platform + "-" + process.arch')

# Keep only `keep` (a file name) in a node-gyp build/ tree, if there is one.
prune_build() {  # $1: build dir, $2: addon file name
    local build=$1 keep=$2
    [[ -d "$build" ]] || return 0
    find "$build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
    find "$build/Release" -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} +
}

bs3="$nm/better-sqlite3"
if [[ -d "$bs3" ]]; then
    # deps/ is the SQLite amalgamation (~10 MB), src/ the C++ sources: compile-time only.
    rm -rf "$bs3/deps" "$bs3/src" "$bs3/binding.gyp"
    prune_build "$bs3/build" better_sqlite3.node
fi

bc="$nm/bcrypt"
if [[ -d "$bc" ]]; then
    rm -rf "$bc/src" "$bc/test" "$bc/examples" "$bc/binding.gyp" "$bc/Makefile" "$bc"/Dockerfile* \
        "$bc/build-all.sh" "$bc/ISSUE_TEMPLATE.md"
    prune_build "$bc/build" bcrypt.node
    if [[ -d "$bc/prebuilds" ]]; then
        find "$bc/prebuilds" -mindepth 1 -maxdepth 1 ! -name "$platform" -exec rm -rf {} +
    fi
fi

# Header-only C++ wrapper, needed only to compile bcrypt.
rm -rf "$nm/node-addon-api"/*.h "$nm/node-addon-api"/*.gyp "$nm/node-addon-api/tools"

# Documentation and type declarations do not run.
find "$nm" -type f \( -iname '*.md' -o -name '*.d.ts' -o -name '*.map' \) ! -iname 'license*' -delete
