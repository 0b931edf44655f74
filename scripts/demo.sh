#!/usr/bin/env bash
# Runs the main job on a fresh machine: installs dependencies if needed, then the offline demo pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
exec node bin/univg.js demo "$@"
