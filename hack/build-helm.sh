#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v3 cmd/helm at HELM_VERSION) from the Go module proxy into the tool cache,
# as build-control-plane.sh builds the control plane. Prints the path of the binary on the last line of
# stdout; reuses a cached build.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1

BIN="$CACHE_ROOT/helm-${HELM_VERSION}/bin"

if [[ -x "$BIN/helm" ]]; then
  echo "helm $HELM_VERSION cached in $BIN" >&2
  echo "$BIN/helm"
  exit 0
fi

require_go 1.24
mkdir -p "$BIN"
export CGO_ENABLED=0
start=$SECONDS
echo "==> helm $HELM_VERSION" >&2
# `helm version` reports the pinned version, not the module's default.
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
if ! gobin_install "$BIN.tmp" 0 "" "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2; then
  echo "build-helm: building helm $HELM_VERSION FAILED after $((SECONDS - start))s" >&2
  rm -rf "$BIN.tmp"
  exit 1
fi
mv "$BIN.tmp/helm" "$BIN/helm"
rm -rf "$BIN.tmp"
echo "    helm $HELM_VERSION took $((SECONDS - start))s" >&2
echo "$BIN/helm"
