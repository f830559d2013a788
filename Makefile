# zerog: the commands a developer and CI use. `make dev` runs the stack, `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
BUF := node_modules/.bin/buf
PROTO_FILES := $(shell find protos -name '*.proto' | sort)
# Each worker starts its own PostgreSQL, devnet and storage nodes; a file runs on one worker.
TEST_WORKERS ?= 2
PY_SOURCES := libs services devnet tests tools bench
# zerog_storage's C keccak level hasher (ctypes; without it merkle trees fall back to safe-pysha3).
KECCAK_LIB := libs/zerog_storage/_keccak_levels.so

.PHONY: help install protos lint format typecheck test check breaking gen-check dev migrate devnet \
	k8s-validate docs-api docs-check images test-containers bench

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed $(KECCAK_LIB)  ## Install Python and Node dependencies, build the C keccak (idempotent).

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

$(KECCAK_LIB): $(wildcard libs/zerog_storage/native/*) libs/zerog_storage/native_build.py \
		$(VENV)/.installed
	$(PY) -m zerog_storage.native_build

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

protos: install  ## Regenerate gen/ from protos/.
	rm -rf gen/zerog && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=gen --grpc_python_out=gen \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--mypy_out=gen --mypy_grpc_out=gen $(PROTO_FILES)
	find gen/zerog -type d -exec touch {}/__init__.py \;

gen-check: protos  ## Fail if gen/ is not what protos/ generate.
	git diff --exit-code --stat -- gen/ || (echo "gen/ is stale: run make protos and commit" && exit 1)
	test -z "$$(git status --porcelain -- gen/)" || (git status --porcelain -- gen/; echo "gen/ has untracked files: run make protos and commit"; exit 1)

lint: install  ## ruff, buf lint and buf format.
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BUF) lint
	$(BUF) format --exit-code --diff

format: install  ## Format Python and protos in place.
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)
	$(BUF) format -w

typecheck: install  ## mypy --strict.
	$(BIN)/mypy $(PY_SOURCES)

breaking: install  ## buf breaking against main (skipped when main has no protos yet).
	@if git rev-parse --verify -q main >/dev/null && git ls-tree -r --name-only main | grep -q '^protos/.*\.proto$$'; then \
		$(BUF) breaking --against '.git#branch=main'; \
	else echo "breaking: main has no protos yet, nothing to compare"; fi

check: lint typecheck breaking gen-check docs-check k8s-validate  ## Everything CI checks besides the tests.

test: install  ## The whole test suite (starts its own PostgreSQL, chain and servers).
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

migrate: install  ## Apply every service's migrations to DATABASE_URL.
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL" && exit 1)
	$(PY) -m services.quota migrate
	$(PY) -m services.broker migrate
	$(PY) -m services.inference migrate
	$(PY) -m services.storage migrate
	$(PY) -m services.scheduler migrate

dev: install  ## Run PostgreSQL, the devnet and the services; prints addresses, a token, commands.
	$(PY) tools/dev.py

devnet: install  ## Run the local 0G network alone (chain, contracts, providers, storage node).
	$(PY) -m devnet

k8s-validate: install  ## Render every kustomize overlay and validate it offline (schemas + our rules).
	$(PY) -m tools.k8s_base --check
	$(PY) -m tools.k8s_validate

docs-api: install  ## Regenerate docs/api.md from the protos.
	$(PY) -m tools.proto_docs --out docs/api.md $(PROTO_FILES)

docs-check: docs-api  ## Fail if docs/api.md is not what the protos generate.
	git diff --exit-code --stat -- docs/api.md || (echo "docs/api.md is stale: run make docs-api and commit" && exit 1)
	test -z "$$(git status --porcelain -- docs/api.md)" || (echo "docs/api.md is not committed: run make docs-api and commit"; exit 1)

images: install  ## Build zerog:dev and zerog-devnet:dev (a Docker engine; no registry needed).
	PYTHON=$(PY) deploy/images/build.sh

test-containers: images  ## The compose stack in containers: calls, metrics, traces, 2 brokers.
	PYTEST=$(BIN)/pytest tests/containers/run.sh

bench: install  ## Run every benchmark (ours beside the peers) and rewrite docs/benchmarks.md.
	$(PY) -m bench --out docs/benchmarks.md
