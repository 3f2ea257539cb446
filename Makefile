# rocketmq-operator — developer entry points. `make run` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCAL_CLUSTER_DIR ?= $(CURDIR)/.cluster
export LOCAL_CLUSTER_DIR
include hack/versions.env
KIND_CLUSTER ?= rocketmq-operator
IMAGE ?= rocketmq-operator:dev
GOBIN ?= $(shell go env GOPATH 2>/dev/null)/bin

.PHONY: install lock test unit-test e2e-test run cluster-up cluster-down cluster-status control-plane node helm e2e lint bench image images bundle clean

$(PY): setup.cfg pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	@touch $(PY)

install: $(PY) ## virtualenv with the operator and exactly the versions of requirements-dev.lock

lock: ## regenerate requirements.lock (the image) and requirements-dev.lock (make install) from setup.cfg
	bash hack/lock.sh

control-plane: ## build (or reuse) the local control plane binaries
	bash hack/build-control-plane.sh >/dev/null

helm: ## build (or reuse) helm, for the chart in charts/rocketmq-operator
	bash hack/build-helm.sh >/dev/null

node: ## build (or reuse) the real-node binaries (kubelet, containerd, runc, CNI, CoreDNS, kube-proxy)
	bash hack/build-node.sh >/dev/null

test: install control-plane helm ## unit tests, then e2e tests on the local control plane (started and stopped by the tests)
	$(PY) -m pytest tests

unit-test: install helm
	$(PY) -m pytest tests --ignore=tests/e2e -m 'not rocketmq'

e2e-test: install control-plane helm
	$(PY) -m pytest tests/e2e

run: install ## run the operator out-of-cluster (KUBECONFIG, else the local control plane)
	@if [[ -n "$$KUBECONFIG" ]]; then \
	  exec $(VENV)/bin/rocketmq-operator run --kubeconfig "$$KUBECONFIG"; \
	else \
	  $(PYTHON) hack/localcluster.py up && \
	  kubectl --kubeconfig "$(LOCAL_CLUSTER_DIR)/kubeconfig" apply -f manifests/crds/ && \
	  exec $(VENV)/bin/rocketmq-operator run --kubeconfig "$(LOCAL_CLUSTER_DIR)/kubeconfig"; \
	fi

cluster-up: ## start the local control plane (builds it when missing); REAL_NODES=0: KWOK nodes only
	$(PYTHON) hack/localcluster.py up

cluster-down: ## stop the local control plane and remove its data
	$(PYTHON) hack/localcluster.py down

cluster-status:
	$(PYTHON) hack/localcluster.py status

e2e: install ## the e2e suite against a kind cluster (needs Docker)
	bash hack/kind-e2e.sh

lint: install helm
	$(VENV)/bin/ruff check rocketmq_operator tests bench hack
	$(VENV)/bin/lint-imports
	"$$(bash hack/build-helm.sh 2>/dev/null | tail -1)" lint --strict charts/rocketmq-operator

bench: install ## the benchmarks in bench/ (kopf and py-spy come with the bench extra)
	$(VENV)/bin/pip install -q -e '.[bench]'
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

image: ## the operator image (needs Docker)
	docker build -t $(IMAGE) .

images: ## pause, apache/rocketmq and operator images as OCI archives for the real nodes (no Docker; root)
	$(PYTHON) hack/images.py build

bundle: ## a single-file install manifest in dist/
	mkdir -p dist && kubectl kustomize manifests/default > dist/rocketmq-operator.yaml && echo dist/rocketmq-operator.yaml

clean:
	rm -rf $(VENV) build dist *.egg-info
