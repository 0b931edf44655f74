#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what the tests need, typechecks, checks generated
# schemas, then runs vitest. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Chromium for the report/audit page tests (Debian's, never a browser download),
# Redis for the queue executor's tests (they start their own redis-server on a free port), and
# Debian's Jupyter client (nbclient) that executes the notebooks (tests/notebooks).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
/usr/bin/python3 -c 'import nbclient, nbformat, jupyter_client' >/dev/null 2>&1 || need+=(python3-nbclient python3-nbformat python3-jupyter-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "warning: not root, cannot install: ${need[*]}" >&2
  fi
fi

npm ci --no-audit --no-fund --loglevel=error
# The notebooks' kernel (tslab) is its own package: its TypeScript 5.0 would shadow the project's tsc.
npm ci --prefix notebooks --no-audit --no-fund --loglevel=error
npm run -s typecheck
mkdir -p .tmp
set +e
npx vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest-results.json "$@"
rc=$?
set -e
# One plain closing line, readable by any CI: "N passed, N failed".
node -e 'const r=JSON.parse(require("fs").readFileSync(".tmp/vitest-results.json","utf8"));console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`)' || true
exit $rc
