#!/usr/bin/env bash
# Fetches the test fixtures that are real third-party files too big to commit, and caches them outside git:
#   prometheus-operator CRDs ($PROMETHEUS_OPERATOR_VERSION, 10 CustomResourceDefinitions, 4.6 MB of YAML): a real
#   CRD install above Temporal's 2 MB payload limit, deployed by test/integration/crd-bundle.test.ts and
#   bench/crds.bench.ts. Taken from the Go module proxy (the module zip carries example/prometheus-operator-crd/).
# Goes to $KUBE_WORKFLOWS_CACHE/fixtures/prometheus-operator-crds-<version>/ (default ~/.cache/kube-workflows).
# A second run does nothing. Prints the folder on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
[[ -d /usr/local/go/bin ]] && export PATH="$PATH:/usr/local/go/bin"
log() { printf '[fixtures] %s\n' "$*" >&2; }
die() { printf '[fixtures] error: %s\n' "$*" >&2; exit 1; }

root="${KUBE_WORKFLOWS_CACHE:-$HOME/.cache/kube-workflows}/fixtures"
dir="$root/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION"
if [[ -f "$dir/.complete" ]]; then
  log "prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION: cached at $dir"
  echo "$dir"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go is needed to fetch the prometheus-operator CRDs from the Go module proxy"
mod="github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
log "prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION: downloading $mod from the Go module proxy"
json=$(cd "$here" && GOFLAGS=-mod=mod go mod download -json "$mod") || die "go mod download $mod failed"
src=$(printf '%s' "$json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}process.stdout.write(j.Dir)})') ||
  die "go mod download $mod failed"
shopt -s nullglob
files=("$src"/example/prometheus-operator-crd/*.yaml)
[[ ${#files[@]} -gt 0 ]] || die "no CRDs in $src/example/prometheus-operator-crd"
rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
cp "${files[@]}" "$dir.tmp/"
chmod -R u+w "$dir.tmp"
touch "$dir.tmp/.complete"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
log "prometheus-operator CRDs: ${#files[@]} files, $(du -sh "$dir" | cut -f1) at $dir"
echo "$dir"
