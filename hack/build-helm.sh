#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v3 cmd/helm at HELM_VERSION) from the Go module proxy into the tool cache,
# as build-control-plane.sh builds the control plane. Prints the path of the binary on the last line of
# stdout; reuses a cached build.
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$HACK_DIR/versions.env"

CACHE_ROOT=${ROCKETMQ_OPERATOR_CACHE:-$HOME/.cache/rocketmq-operator}
BIN="$CACHE_ROOT/helm-${HELM_VERSION}/bin"

if [[ -x "$BIN/helm" ]]; then
  echo "helm $HELM_VERSION cached in $BIN" >&2
  echo "$BIN/helm"
  exit 0
fi

command -v go >/dev/null || { echo "build-helm: 'go' is not on PATH; install Go >= 1.24" >&2; exit 1; }
mkdir -p "$BIN"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
start=$SECONDS
echo "==> helm $HELM_VERSION" >&2
# `helm version` reports the pinned version, not the module's default.
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
if ! GOBIN="$BIN.tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2; then
  echo "build-helm: building helm $HELM_VERSION FAILED after $((SECONDS - start))s" >&2
  rm -rf "$BIN.tmp"
  exit 1
fi
mv "$BIN.tmp/helm" "$BIN/helm"
rm -rf "$BIN.tmp"
echo "    helm $HELM_VERSION took $((SECONDS - start))s" >&2
echo "$BIN/helm"
