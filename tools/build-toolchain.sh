#!/usr/bin/env bash
# Builds, pins and caches the local servers kube-workflows' demo and tests run against:
#   temporal (CLI + dev server + Web UI), kube-apiserver / kube-controller-manager / kube-scheduler / kubectl,
#   etcd, kwok + kwokctl, metrics-server (Go, from the Go module proxy) and Temporal's time-skipping test server
#   (Maven Central). Bench only, not built by default: helm (Helm 4, the peer `npm run bench` measures against).
# Binaries go to  $KUBE_WORKFLOWS_CACHE/toolchain/<piece>-<version>/  (default ~/.cache/kube-workflows),
# outside git. A piece whose binaries are already there is skipped, so a second run does nothing.
# Usage: tools/build-toolchain.sh [PIECE...]   PIECE: temporal kwok etcd kube test-server metrics-server helm
#   (default: all but helm)
# Concurrent runs wait for each other (a lock in the cache folder) instead of building twice.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${KUBE_WORKFLOWS_CACHE:-$HOME/.cache/kube-workflows}/toolchain"
mkdir -p "$cache"

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() { printf '[toolchain] error: %s\n' "$*" >&2; exit 1; }
elapsed() { local s=$1; printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# Runs a long command while printing a heartbeat every 30 s, so CI logs show it is alive.
with_progress() {
  local what=$1; shift
  local start=$SECONDS
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 30); do sleep 1; kill -0 "$pid" 2>/dev/null || break; done
    kill -0 "$pid" 2>/dev/null && log "  … still $what ($(elapsed $((SECONDS - start))))"
  done
  wait "$pid" || die "$what failed (see the messages above)"
  log "  done: $what in $(elapsed $((SECONDS - start)))"
}

need_go() {
  command -v go >/dev/null 2>&1 || die "Go is not installed. Install Go >= 1.24 (https://go.dev/dl, or your
  package manager), make sure 'go' is on PATH, then run this again. Or point KUBE_WORKFLOWS_*_BINARY variables
  at binaries you already have (see tools/README.md)."
}

# piece_done DIR FILE... : true when every FILE exists and is executable in DIR
piece_done() { local d=$1; shift; for f in "$@"; do [[ -x "$d/$f" ]] || return 1; done; }

build_temporal() {
  local dir="$cache/temporal-$TEMPORAL_CLI_VERSION"
  if piece_done "$dir" temporal; then log "temporal $TEMPORAL_CLI_VERSION: cached at $dir"; return; fi
  need_go
  log "temporal $TEMPORAL_CLI_VERSION: building (go install, first time takes minutes)"
  mkdir -p "$dir.tmp"
  with_progress "building temporal" env CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath \
    -ldflags "-s -w -X github.com/temporalio/cli/temporalcli.Version=$TEMPORAL_CLI_VERSION" \
    "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_kube() {
  local dir="$cache/kube-$KUBE_VERSION"
  if piece_done "$dir" kube-apiserver kube-controller-manager kube-scheduler kubectl; then
    log "kubernetes $KUBE_VERSION: cached at $dir"; return
  fi
  need_go
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  log "kubernetes $KUBE_VERSION: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl"
  log "  (one go build so they share the cache; the first time takes many minutes on 2 cores)"
  mkdir -p "$dir.tmp"
  (cd "$here/kube" && with_progress "building kubernetes" env CGO_ENABLED=0 go build -trimpath \
    -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$dir.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_etcd() {
  local dir="$cache/etcd-$ETCD_VERSION"
  if piece_done "$dir" etcd; then log "etcd $ETCD_VERSION: cached at $dir"; return; fi
  need_go
  log "etcd $ETCD_VERSION: building"
  mkdir -p "$dir.tmp"
  (cd "$here/etcd" && with_progress "building etcd" env CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
    -o "$dir.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_kwok() {
  local dir="$cache/kwok-$KWOK_VERSION"
  if piece_done "$dir" kwok kwokctl; then log "kwok $KWOK_VERSION: cached at $dir"; return; fi
  need_go
  log "kwok $KWOK_VERSION: building kwok and kwokctl"
  mkdir -p "$dir.tmp"
  with_progress "building kwok" env CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_metrics_server() {
  local dir="$cache/metrics-server-$METRICS_SERVER_VERSION"
  if piece_done "$dir" metrics-server && [[ -f "$dir/manifests/kustomization.yaml" ]]; then
    log "metrics-server $METRICS_SERVER_VERSION: cached at $dir"; return
  fi
  need_go
  local module=sigs.k8s.io/metrics-server
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # The version as metrics-server's own Makefile sets it (kwokctl reads it from `metrics-server --version`).
  local ld="-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION"
  ld+=" -X k8s.io/client-go/pkg/version.gitCommit=$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.buildDate=$date"
  log "metrics-server $METRICS_SERVER_VERSION: building"
  mkdir -p "$dir.tmp/manifests"
  with_progress "building metrics-server" env CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath -ldflags "$ld" \
    "$module/cmd/metrics-server@$METRICS_SERVER_VERSION"
  # kwokctl installs metrics-server's APIService, Service and RBAC from its release manifest, which it would
  # download from GitHub; the same kustomization ships in the module zip, so kwokctl is pointed at a local copy.
  local src
  src=$(go mod download -json "$module@$METRICS_SERVER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [[ -f "$src/manifests/base/kustomization.yaml" ]] || die "metrics-server $METRICS_SERVER_VERSION: no manifests/base in $src"
  cp "$src"/manifests/base/*.yaml "$dir.tmp/manifests/"
  chmod -R u+w "$dir.tmp/manifests"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# Bench only (not in the default pieces): Helm 4, the peer bench/deploy.bench.ts measures against.
build_helm() {
  local dir="$cache/helm-$HELM_VERSION"
  if piece_done "$dir" helm; then log "helm $HELM_VERSION: cached at $dir"; return; fi
  need_go
  log "helm $HELM_VERSION: building (go install, first time takes minutes)"
  mkdir -p "$dir.tmp"
  # The version as Helm's own Makefile sets it (the source says only the minor version).
  with_progress "building helm" env CGO_ENABLED=0 GOBIN="$dir.tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_test_server() {
  local dir="$cache/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION"
  if piece_done "$dir" temporal-test-server; then log "temporal-test-server $TEMPORAL_TEST_SERVER_VERSION: cached at $dir"; return; fi
  command -v java >/dev/null 2>&1 || die "Java is not installed. Install a JDK >= 11 (Debian: apt-get install -y openjdk-17-jre-headless)."
  command -v mvn >/dev/null 2>&1 || die "Maven is not installed. Install it (Debian: apt-get install -y maven)."
  log "temporal-test-server $TEMPORAL_TEST_SERVER_VERSION: resolving from Maven Central"
  mkdir -p "$dir.tmp/lib"
  with_progress "resolving temporal-test-server" mvn -q -B -Dstyle.color=never -f "$here/test-server/pom.xml" \
    -Dtemporal.test.server.version="$TEMPORAL_TEST_SERVER_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir.tmp/lib"
  cat > "$dir.tmp/temporal-test-server" <<WRAP
#!/bin/sh
# Temporal's time-skipping test server (io.temporal:temporal-test-server $TEMPORAL_TEST_SERVER_VERSION).
# Takes the same arguments as the native binary the SDK would download: <port> [--enable-time-skipping]
exec java \${TEMPORAL_TEST_SERVER_JAVA_OPTS:--Xmx512m -XX:+UseSerialGC} -cp "\$(dirname "\$0")/lib/*" io.temporal.testserver.TestServer "\$@"
WRAP
  chmod +x "$dir.tmp/temporal-test-server"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

pieces=("$@")
[[ ${#pieces[@]} -eq 0 ]] && pieces=(temporal kwok etcd kube test-server metrics-server)
for p in "${pieces[@]}"; do
  case "$p" in
    temporal | kwok | etcd | kube | test-server | metrics-server | helm) ;;
    *) die "unknown piece '$p' (temporal kwok etcd kube test-server metrics-server helm)" ;;
  esac
done

start=$SECONDS
log "cache: $cache"
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  log "another build is running; waiting for it to finish"
  flock 9
fi
for p in "${pieces[@]}"; do
  case "$p" in
    temporal) build_temporal ;;
    kwok) build_kwok ;;
    etcd) build_etcd ;;
    kube) build_kube ;;
    test-server) build_test_server ;;
    metrics-server) build_metrics_server ;;
    helm) build_helm ;;
  esac
done
log "toolchain ready in $(elapsed $((SECONDS - start)))"
