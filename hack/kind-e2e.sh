#!/usr/bin/env bash
# The e2e suite against a kind cluster (needs a Docker engine): installs a pinned kind, creates a
# cluster, builds and loads the operator image, deploys the manifests, runs tests/e2e against it.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh" || exit 1
cd "$REPO_ROOT"
CLUSTER=${KIND_CLUSTER:-rocketmq-operator}
IMAGE=${IMAGE:-rocketmq-operator:dev}
GOBIN=${GOBIN:-$(go env GOPATH)/bin}
KIND="$GOBIN/kind"

command -v docker >/dev/null && docker info >/dev/null 2>&1 || {
  echo "make e2e needs a running Docker engine; use 'make test' for the local control plane" >&2; exit 1; }
if ! "$KIND" version 2>/dev/null | grep -q "${KIND_VERSION}"; then
  GOBIN="$GOBIN" go install "sigs.k8s.io/kind@${KIND_VERSION}"
fi
"$KIND" get clusters | grep -qx "$CLUSTER" || "$KIND" create cluster --name "$CLUSTER" --wait 120s
KUBECONFIG_FILE=$(mktemp)
trap 'rm -f "$KUBECONFIG_FILE"' EXIT
"$KIND" get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_FILE"
docker build -t "$IMAGE" .
"$KIND" load docker-image "$IMAGE" --name "$CLUSTER"
kubectl --kubeconfig "$KUBECONFIG_FILE" apply -k manifests/default
kubectl --kubeconfig "$KUBECONFIG_FILE" -n rocketmq set image deployment/rocketmq-operator "rocketmq-operator=$IMAGE"
kubectl --kubeconfig "$KUBECONFIG_FILE" -n rocketmq rollout status deployment/rocketmq-operator --timeout=180s
E2E_KUBECONFIG="$KUBECONFIG_FILE" E2E_OPERATOR_IN_CLUSTER=1 .venv/bin/python -m pytest tests/e2e
