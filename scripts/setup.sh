#!/usr/bin/env bash
# Everything the demo and the tests need, idempotent and with visible progress:
#   1. Node dependencies (npm ci), 2. the local servers (tools/build-toolchain.sh, cached outside git),
#   3. the compiled package and the prebuilt workflow bundle (npm run build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

[[ -d /usr/local/go/bin ]] && export PATH="$PATH:/usr/local/go/bin"
command -v node >/dev/null || { echo "Node.js >= 20.3 is required (https://nodejs.org)" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=3)?0:1)' ||
  { echo "Node.js >= 20.3 is required; this is $(node --version)" >&2; exit 1; }

say "1/3 Node dependencies"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  echo "node_modules is up to date" >&2
fi

say "2/3 local servers: Temporal CLI, kube-apiserver & co., etcd, KWOK, Temporal test server (built once, then cached)"
tools/build-toolchain.sh

say "3/3 compile TypeScript and bundle the workflow code"
npm run --silent build
