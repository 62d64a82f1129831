# Headway — every target installs what it needs (Python packages into .venv,
# Kubernetes binaries into the cache outside the repo) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLUSTER_KUBECONFIG := $(CURDIR)/.cluster/kubeconfig
export PYTHONPATH := $(CURDIR)/operator:$(CURDIR)/hack

.PHONY: help venv console console-test chromium binaries cluster-up cluster-down cluster-status lint typecheck unit e2e test bench bench-cluster crds install-crds operator demo

help:
	@echo "make demo          the main job, end to end on the local cluster"
	@echo "make test          every test (lint, types, unit, e2e on the local cluster)"
	@echo "make bench         speed and memory, each beside its floor"
	@echo "make cluster-up    start the local cluster (.cluster/kubeconfig)"
	@echo "make cluster-down  stop it"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $@

venv: $(STAMP)

binaries:
	bash hack/build-k8s.sh

cluster-up: $(STAMP)
	$(PY) -m localcluster up

cluster-down: $(STAMP)
	$(PY) -m localcluster down

cluster-status: $(STAMP)
	$(PY) -m localcluster status

lint: $(STAMP)
	$(VENV)/bin/ruff check operator hack tests bench
	$(VENV)/bin/ruff format --check operator hack tests bench
	cd operator && ../$(VENV)/bin/lint-imports --config ../pyproject.toml

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest tests/unit

# The e2e fixture starts the local cluster when it is not running (and stops it
# afterwards), or uses HEADWAY_TEST_KUBECONFIG.
e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

test: lint typecheck console console-test chromium
	$(PY) -m pytest tests

# The page's pure modules (actions, formatting, the graph's model), with vitest.
console-test: $(CONSOLE_STAMP)
	cd console && npm test

# The console's page: TypeScript built with npm from the lockfile (outputs not committed).
CONSOLE_STAMP := console/node_modules/.installed
$(CONSOLE_STAMP): console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund
	@touch $@

console: $(CONSOLE_STAMP) $(STAMP)
	$(PY) -m headway vocabulary console/src/vocabulary.ts
	cd console && npm run build

# Browser tests drive Debian's Chromium (no browser download).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

bench-cluster: $(STAMP)
	$(PY) bench/cluster_up.py

# Speed and memory beside their floors, on the local cluster (started if needed).
bench: $(STAMP)
	$(PY) bench/engine.py

# --- the operator -------------------------------------------------------------------------
KUBECONFIG ?= $(CLUSTER_KUBECONFIG)
export KUBECONFIG
WEBHOOK_PORT ?= 9443

crds: $(STAMP)
	$(PY) -m headway crds crds
	$(PY) -m headway crds charts/headway/files/crds

install-crds: $(STAMP)
	$(PY) -m headway install-crds

operator: $(STAMP) install-crds
	$(PY) -m headway operator --webhook-port $(WEBHOOK_PORT) --webhook-cert-dir $(CURDIR)/.cluster/webhook

demo: $(STAMP) console
	$(PY) hack/demo.py
