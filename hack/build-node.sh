#!/usr/bin/env bash
# Builds what a real node of the local control plane runs: kubelet and kube-proxy (from the control
# plane's wrapper go.mod), containerd, ctr, containerd-shim-runc-v2, runc, the CNI plugins (bridge,
# host-local, loopback, portmap) and CoreDNS, all from the Go module proxy, cached outside the repository.
#
# Prints the bin directory on the last line of stdout. Reuses a complete cache. Each step is timed and a
# failure names the step that failed.
#
# Debian packages, installed here when missing (needs root, which a real node needs anyway):
#   iptables      kubelet, kube-proxy and the CNI bridge/portmap plugins run the iptables binary; no Go
#                 module provides it.
#   libseccomp-dev runc's seccomp support links libseccomp through cgo; without it runc cannot apply
#                 the RuntimeDefault seccomp profile the operator's own Deployment asks for.
#   conntrack     kube-proxy clears stale UDP conntrack entries (DNS) with it.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

CP_STAMP="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
KUBE_SRC="$CACHE_ROOT/$CP_STAMP/src/kubernetes"
STAMP="node-k8s-${KUBE_VERSION}_containerd-${CONTAINERD_VERSION}_runc-${RUNC_VERSION}_cni-${CNI_PLUGINS_VERSION}_coredns-${COREDNS_VERSION}"
OUT="$CACHE_ROOT/$STAMP"
BIN="$OUT/bin"
CNI_PLUGINS=(bridge host-local loopback portmap)
BINARIES=(kubelet kube-proxy containerd ctr containerd-shim-runc-v2 runc coredns "${CNI_PLUGINS[@]/#/cni/}")
DEBIAN_PACKAGES=(iptables libseccomp-dev conntrack)

complete() { all_executable "$BIN" "${BINARIES[@]}"; }

missing_packages() {
  local p
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

debian_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null || { echo "build-node: needs the Debian packages ${missing[*]} (no apt-get here)"; return 1; }
  [[ $(id -u) -eq 0 ]] || { echo "build-node: needs the Debian packages ${missing[*]}; run as root to install them"; return 1; }
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if complete && [[ -z $(missing_packages) ]]; then
  echo "node binaries cached in $BIN" >&2
  echo "$BIN"
  exit 0
fi

require_go 1.26
mkdir -p "$BIN/cni" "$OUT/src"

kube_gomod() {
  # The control plane's script writes the wrapper go.mod (and builds the control plane if missing).
  [[ -f "$KUBE_SRC/go.mod" ]] || bash "$HACK_DIR/build-control-plane.sh" >/dev/null
  [[ -f "$KUBE_SRC/go.mod" ]] || { echo "no wrapper go.mod in $KUBE_SRC"; return 1; }
}

kube_build() {
  local cmd=$1
  (cd "$KUBE_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "$(kube_ldflags)" -o "$BIN/$cmd.tmp" \
    "k8s.io/kubernetes/cmd/$cmd" && mv "$BIN/$cmd.tmp" "$BIN/$cmd")
}

containerd_build() {
  # containerd's go.mod has exclude directives, which `go install module@version` refuses: build in a
  # copy of the module's source from the module cache, as its own main module.
  local m=github.com/containerd/containerd dir=$OUT/src/containerd src
  src=$(go mod download -json "$m@$CONTAINERD_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -n $src ]] || return 1
  rm -rf "$dir" && cp -r "$src" "$dir" && chmod -R u+w "$dir"
  local ldflags="-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Package=$m" c
  for c in containerd ctr containerd-shim-runc-v2; do
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ldflags" \
      -o "$BIN/$c.tmp" "./cmd/$c" && mv "$BIN/$c.tmp" "$BIN/$c") || return 1
  done
}

runc_build() {
  # cgo for libseccomp (and runc's nsenter, which is C).
  gobin_install "$BIN" 1 "seccomp" "-s -w -X main.version=${RUNC_VERSION#v}" \
    "github.com/opencontainers/runc@$RUNC_VERSION"
}

cni_build() {
  local m=github.com/containernetworking/plugins pkgs=() p
  for p in bridge loopback; do pkgs+=("$m/plugins/main/$p@$CNI_PLUGINS_VERSION"); done
  pkgs+=("$m/plugins/meta/portmap@$CNI_PLUGINS_VERSION")
  pkgs+=("$m/plugins/ipam/host-local@$CNI_PLUGINS_VERSION")
  gobin_install "$BIN/cni" 0 "" "-s -w -X $m/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" "${pkgs[@]}"
}

coredns_build() {
  # The default plugin set (plugin.cfg) includes kubernetes, forward, errors, log, health, ready.
  gobin_install "$BIN" 0 "" "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
}

TOTAL=$SECONDS
echo "building node binaries into $BIN (kubelet $KUBE_VERSION, containerd $CONTAINERD_VERSION, runc $RUNC_VERSION," \
     "CNI plugins $CNI_PLUGINS_VERSION, CoreDNS $COREDNS_VERSION)" >&2
[[ -z $(missing_packages) ]] || step "Debian packages" debian_packages
[[ -x "$BIN/runc" ]] || step "runc $RUNC_VERSION" runc_build
[[ -x "$BIN/containerd" && -x "$BIN/ctr" && -x "$BIN/containerd-shim-runc-v2" ]] || \
  step "containerd $CONTAINERD_VERSION" containerd_build
cni_ok=1
for p in "${CNI_PLUGINS[@]}"; do [[ -x "$BIN/cni/$p" ]] || cni_ok=0; done
[[ $cni_ok -eq 1 ]] || step "CNI plugins $CNI_PLUGINS_VERSION" cni_build
[[ -x "$BIN/coredns" ]] || step "CoreDNS $COREDNS_VERSION" coredns_build
if [[ ! -x "$BIN/kubelet" || ! -x "$BIN/kube-proxy" ]]; then
  step "kubernetes go.mod (control plane)" kube_gomod
  for c in kubelet kube-proxy; do
    [[ -x "$BIN/$c" ]] || step "$c $KUBE_VERSION" kube_build "$c"
  done
fi
echo "node built in $((SECONDS - TOTAL))s" >&2
echo "$BIN"
