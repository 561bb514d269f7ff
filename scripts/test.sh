#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, static checks, then unit, workflow (time-skipping server) and
# integration tests (one real local stack: Temporal dev server + kube-apiserver with KWOK nodes, started and
# stopped by the test run itself). Extra arguments go to vitest (e.g. --project unit).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
printf '\n\033[1m==> test fixtures too big for git (prometheus-operator CRDs, from the Go module proxy, cached)\033[0m\n' >&2
tools/fetch-fixtures.sh >/dev/null
printf '\n\033[1m==> static checks: typecheck, lint, format\033[0m\n' >&2
npm run --silent typecheck
npm run --silent lint
npm run --silent format:check
printf '\n\033[1m==> tests\033[0m\n' >&2
npx vitest run "$@"
