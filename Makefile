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
PY_SOURCES := libs services devnet tests tools bench clients/python/src/zerog_client
# The client kit ships a copy of gen/zerog (make protos refreshes it; gen-check compares it).
CLIENT_STUBS := clients/python/src/zerog
# zerog_storage's C keccak level hasher (ctypes; without it merkle trees fall back to safe-pysha3).
KECCAK_LIB := libs/zerog_storage/_keccak_levels.so
# Node 20 + npm 11 and kubectl (kustomize v5.5) that tools/toolchain.py fetches where the
# machine's are missing or too old: first on PATH for every recipe (the tests find node, npx and
# kubectl through PATH). Nothing is installed globally.
export PATH := $(CURDIR)/tools/node/node_modules/.bin:$(CURDIR)/tools/kubectl/bin:$(PATH)

.PHONY: help install toolchain test-fresh-machine protos lint format typecheck test check breaking \
	gen-check dev migrate devnet k8s-validate docs-api docs-check images test-containers bench \
	client-stubs

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed $(KECCAK_LIB)  ## Install Python and Node dependencies, build the C keccak (idempotent).

toolchain:  ## Check Python, PostgreSQL, a C compiler, Node, kustomize; fetch what is too old.
	@command -v $(PYTHON) >/dev/null || { echo "toolchain: Python 3.11+ is needed: apt-get install python3 python3-venv"; exit 1; }
	@$(PYTHON) tools/toolchain.py

$(VENV)/.installed: pyproject.toml requirements.lock | toolchain
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

# Without a C compiler install goes on (toolchain says so) and merkle trees use safe-pysha3.
$(KECCAK_LIB): $(wildcard libs/zerog_storage/native/*) libs/zerog_storage/native_build.py \
		$(VENV)/.installed
	@if command -v $${CC:-cc} >/dev/null; then $(PY) -m zerog_storage.native_build; \
	else echo "install: no C compiler, $@ not built (safe-pysha3 hashes instead)"; fi

# npm ci installs exactly the lock file (npm install may rewrite it) and every platform package:
# npm 9 left out anvil's, so the check after it names the tool the tests need.
node_modules/.installed: package.json package-lock.json | toolchain
	npm ci --no-audit --no-fund --loglevel=error
	@test -x node_modules/.bin/anvil || { echo "install: npm ci left out anvil ($$(npm --version)): npm 10+ is needed"; exit 1; }
	touch $@

protos: install  ## Regenerate gen/ from protos/.
	rm -rf gen/zerog && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=gen --grpc_python_out=gen \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--mypy_out=gen --mypy_grpc_out=gen $(PROTO_FILES)
	find gen/zerog -type d -exec touch {}/__init__.py \;
	rm -rf $(CLIENT_STUBS) && cp -r gen/zerog $(CLIENT_STUBS) && touch $(CLIENT_STUBS)/py.typed

client-stubs: install  ## TypeScript stubs into clients/typescript/gen (Go: see docs/calling.md).
	$(BUF) generate --template buf.gen.ts.yaml

gen-check: protos  ## Fail if gen/ (and the client kit's copy) is not what protos/ generate.
	git diff --exit-code --stat -- gen/ $(CLIENT_STUBS) || (echo "gen/ is stale: run make protos and commit" && exit 1)
	test -z "$$(git status --porcelain -- gen/ $(CLIENT_STUBS))" || (git status --porcelain -- gen/ $(CLIENT_STUBS); echo "gen/ has untracked files: run make protos and commit"; exit 1)

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

test-fresh-machine:  ## README prerequisites then make test in a bare Debian 12 container (root).
	tools/fresh_machine/run.sh $(FRESH_ARGS)
