#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok)
# from the Go module proxy and caches the binaries outside the repository.
#
# Prints the bin directory on the last line of stdout. Reuses a complete cache. Each step is timed and
# a failure names the step that failed.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

STAMP="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
OUT="$CACHE_ROOT/$STAMP"
BIN="$OUT/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)

complete() { all_executable "$BIN" "${BINARIES[@]}"; }

if complete; then
  echo "control plane binaries cached in $BIN" >&2
  echo "$BIN"
  exit 0
fi

require_go 1.24
mkdir -p "$BIN" "$OUT/src"
export CGO_ENABLED=0

kube_gomod() {
  local dir=$OUT/src/kubernetes minor
  minor=${KUBE_VERSION#v1.}
  mkdir -p "$dir"
  local kgomod
  kgomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module rocketmq-operator.local/controlplane"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    # Every staging module of k8s.io/kubernetes, pinned to its published v0.<minor>.<patch> twin.
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 v0.'"$minor"'#p' "$kgomod"
    echo ")"
  } >"$dir/go.mod"
  grep -c ' => k8s.io/' "$dir/go.mod" | sed 's/^/    staging modules replaced: /' >&2
}

kube_download() { (cd "$OUT/src/kubernetes" && go mod download k8s.io/kubernetes && go list -deps k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler >/dev/null); }

kube_build() {
  local cmd=$1
  (cd "$OUT/src/kubernetes" && go build -trimpath -ldflags "$(kube_ldflags)" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" && mv "$BIN/$cmd.tmp" "$BIN/$cmd")
}

etcd_build() {
  local dir=$OUT/src/etcd
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<GOMOD
module rocketmq-operator.local/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat >"$dir/main.go" <<'GOSRC'
// Command etcd runs the etcd server from the published go.etcd.io/etcd/server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GOSRC
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" . && mv "$BIN/etcd.tmp" "$BIN/etcd")
}

kwok_build() { gobin_install "$BIN" 0 "" "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"; }

TOTAL=$SECONDS
echo "building local control plane into $BIN (Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)" >&2
[[ -x "$BIN/etcd" ]] || step "etcd $ETCD_VERSION" etcd_build
[[ -x "$BIN/kwok" ]] || step "kwok $KWOK_VERSION" kwok_build
if [[ ! -x "$BIN/kube-apiserver" || ! -x "$BIN/kube-controller-manager" || ! -x "$BIN/kube-scheduler" ]]; then
  step "kubernetes go.mod" kube_gomod
  step "kubernetes module download" kube_download
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -x "$BIN/$c" ]] || step "$c $KUBE_VERSION" kube_build "$c"
  done
fi
echo "control plane built in $((SECONDS - TOTAL))s" >&2
echo "$BIN"
