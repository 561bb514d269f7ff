#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, static checks, then unit, workflow (time-skipping server) and
# integration tests (real local stacks: Temporal dev server + kube-apiservers with KWOK nodes, started and stopped by
# the test run itself). Extra arguments go to one vitest run (e.g. --project unit).
#
# Without arguments, two vitest runs go side by side: the `integration-faults` project (worker kills, API server and
# Temporal restarts, stacks with metrics-server; its own stack) in the background, its lines prefixed `[faults]`, and
# every other project in the foreground. vitest itself runs the files of projects that share a stack one after the
# other, all such projects in ONE queue, so inside one run the two integration projects would never overlap.
# Ctrl-C stops both (each stops its own stacks); the exit code is non-zero when either failed.
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
if [ $# -gt 0 ]; then
  exec npx vitest run "$@"
fi

# dist/ is fresh (setup.sh built it), so neither run's global setup compiles it again: two at once would race.
set -m # the background run gets a process group of its own, stopped as a whole below
(
  set +e
  npx vitest run --project integration-faults 2>&1 | sed -u 's/^/[faults] /'
  exit "${PIPESTATUS[0]}"
) &
faults=$!
set +m
stop_faults() { kill -INT -- "-${faults}" 2>/dev/null || true; }
trap 'stop_faults; wait "${faults}" 2>/dev/null; exit 130' INT
trap 'stop_faults; wait "${faults}" 2>/dev/null; exit 143' TERM

status=0
npx vitest run --project unit --project workflows --project integration --project browser || status=$?
# A Ctrl-C reaches the foreground run only (the background run has a process group of its own), and bash runs no
# INT trap when that run handles the signal and exits 130 itself: stop the background run here.
if [ "${status}" -ge 128 ]; then stop_faults; fi
faults_status=0
wait "${faults}" || faults_status=$?
printf '\n\033[1m==> integration-faults (side by side, above with [faults]): exit %s\033[0m\n' "${faults_status}" >&2
if [ "${status}" -ne 0 ]; then exit "${status}"; fi
exit "${faults_status}"
