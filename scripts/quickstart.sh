#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build
# ksci, and run the main job on embedded defaults (private Redis, PGlite, the
# Debian 6.12 kernel tree) with the example series that should pass.
#   ./scripts/quickstart.sh [series.mbox]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/debian-deps.sh
ensure_debian_packages
[ "$(id -u)" -ne 0 ] || ensure_sandbox_user
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent
exec ./bin/ksci run "${1:-examples/series/pass.mbox}"
