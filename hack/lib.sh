# The shared preamble of the hack/*.sh scripts; sourced, not run:
#
#   # shellcheck source=lib.sh
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 1
#
# Strict mode; HACK_DIR (hack/, absolute), REPO_ROOT, the pinned versions of versions.env, CACHE_ROOT (the
# tool cache outside the repository) and HACK_SCRIPT (the sourcing script's name without .sh, which its
# messages start with); the helpers of the Go builds. Nothing here writes to stdout: callers of the build
# scripts read the last line of their stdout as a path.
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$HACK_DIR")
HACK_SCRIPT=$(basename "${BASH_SOURCE[1]}" .sh)
# shellcheck source=versions.env
source "$HACK_DIR/versions.env"
CACHE_ROOT=${ROCKETMQ_OPERATOR_CACHE:-$HOME/.cache/rocketmq-operator}

all_executable() {
  # all_executable DIR NAME...: whether every DIR/NAME is an executable file.
  local dir=$1 b; shift
  for b in "$@"; do [[ -x "$dir/$b" ]] || return 1; done
}

step() {
  # step NAME CMD...: runs CMD, prints its duration, names NAME when it fails.
  local name=$1; shift
  local start=$SECONDS
  echo "==> $name" >&2
  if ! "$@" >&2; then
    echo "$HACK_SCRIPT: step '$name' FAILED after $((SECONDS - start))s" >&2
    exit 1
  fi
  echo "    $name took $((SECONDS - start))s" >&2
}

require_go() {
  # require_go MIN_VERSION: exits unless go is on PATH; builds resolve modules from the proxy (-mod=mod)
  # with the installed toolchain.
  command -v go >/dev/null || { echo "$HACK_SCRIPT: 'go' is not on PATH; install Go >= $1" >&2; exit 1; }
  export GOFLAGS=-mod=mod GOTOOLCHAIN=local
}

kube_ldflags() {
  # The -ldflags of a Kubernetes binary: stripped, and `--version` reports KUBE_VERSION.
  local major minor f="-s -w" pkg kv
  major=$(echo "$KUBE_VERSION" | sed 's/^v\([0-9]*\)\..*/\1/')
  minor=$(echo "$KUBE_VERSION" | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/')
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for kv in "gitVersion=$KUBE_VERSION" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=clean" \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
      f+=" -X $pkg.$kv"
    done
  done
  echo "$f"
}

gobin_install() {
  # gobin_install DIR CGO TAGS LDFLAGS PACKAGE@VERSION...: go install into DIR.
  local dir=$1 cgo=$2 tags=$3 ldflags=$4; shift 4
  GOBIN="$dir" CGO_ENABLED=$cgo go install -trimpath -tags "$tags" -ldflags "$ldflags" "$@"
}
