#!/usr/bin/env bash
# Everything the demo and the tests need, idempotent and with visible progress:
#   1. Node dependencies (npm ci), 2. Debian packages used by tests (Alertmanager, Prometheus), 3. the local
#   servers (tools/build-toolchain.sh, cached outside git), 4. the compiled package and workflow bundle.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

[[ -d /usr/local/go/bin ]] && export PATH="$PATH:/usr/local/go/bin"
command -v node >/dev/null || { echo "Node.js >= 20.19 is required (https://nodejs.org)" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>=23||(a===22&&b>=12)||(a===20&&b>=19)?0:1)' ||
  { echo "Node.js >= 20.19 is required; this is $(node --version)" >&2; exit 1; }

say "1/4 Node dependencies"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  echo "node_modules is up to date" >&2
fi

say "2/4 Debian packages the tests use (Alertmanager, Prometheus)"
missing=()
[[ -x /usr/bin/prometheus-alertmanager ]] || missing+=(prometheus-alertmanager)
[[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  echo "installing ${missing[*]}" >&2
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "already installed" >&2
fi

say "3/4 local servers: Temporal CLI, kube-apiserver & co., etcd, KWOK, Temporal test server (built once, then cached)"
tools/build-toolchain.sh

say "4/4 compile TypeScript and bundle the workflow code"
npm run --silent build
