#!/usr/bin/env bash
# The demo on the embedded local stack: set-up, then `kube-workflows demo` (deploy, scale, break, heal; prints
# the Temporal Web UI address). Stops everything it started when it ends or on Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec node bin/kube-workflows.js demo "$@"
