# aismesh: `make help` lists every target.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
PROTOS := $(wildcard protos/*.proto)
GEN := $(patsubst protos/%.proto,aismesh/protos/%_pb2.py,$(PROTOS))
PIP_QUIET := --quiet --disable-pip-version-check --no-input

.DEFAULT_GOAL := help
.PHONY: help install protos up down status test test-unit test-integration soak check lint type bench clean

help: ## list every target
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PY) -m venv $(VENV)

# pip's output goes to .venv/install.log and is shown only when the install fails.
$(STAMP): pyproject.toml setup.py | $(BIN)/python
	@echo "installing aismesh and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install $(PIP_QUIET) -e '.[dev]' > $(VENV)/install.log 2>&1 \
		|| { tail -40 $(VENV)/install.log >&2; echo "make install: pip failed" >&2; exit 1; }
	@$(BIN)/python -c 'import grpc_tools, pyetcd, flask, gunicorn, boto3' \
		&& test -x $(BIN)/etcd && test -x $(BIN)/aws \
		|| { echo "make install: dependencies are missing after pip install" >&2; exit 1; }
	@touch $(STAMP)

# protoc sees protos/ as aismesh/protos/: the modules land in (and import from) aismesh.protos.
aismesh/protos/%_pb2.py: protos/%.proto $(STAMP)
	@$(BIN)/python -m grpc_tools.protoc -Iaismesh/protos=protos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)

install: $(STAMP) $(GEN) ## install everything into .venv (idempotent, quiet): deps, gRPC code, etcd
	@true

protos: $(GEN) ## (re)generate the gRPC modules from protos/*.proto

up: install ## install, then run the whole mesh in the foreground (Ctrl-C stops it)
	@$(BIN)/aismesh up $(ARGS)

down: ## stop a detached mesh
	@$(BIN)/aismesh down $(ARGS)

status: ## show every service of the local mesh
	@$(BIN)/aismesh status $(ARGS)

test: install ## run the full test suite (unit + integration against the real mesh)
	@$(BIN)/python -m pytest -q tests $(ARGS)

test-unit: install ## unit tests only (no processes)
	@$(BIN)/python -m pytest -q tests/unit $(ARGS)

test-integration: install ## integration tests only (starts etcd and every service)
	@$(BIN)/python -m pytest -q tests/integration $(ARGS)

soak: install ## the long soak: 10 minutes of mixed load, descriptors and memory must stay flat
	@AISMESH_SOAK_S=$${AISMESH_SOAK_S:-600} $(BIN)/python -m pytest -q tests/integration/test_soak.py $(ARGS)

lint: install ## ruff
	@$(BIN)/ruff check aismesh services tests

type: install ## mypy on the package
	@$(BIN)/mypy

check: lint type test-unit ## ruff, mypy and the unit tests (seconds)

bench: install ## the load generator against aismesh, moto and nginx (see docs/performance.md)
	@$(BIN)/aismesh bench $(ARGS)

clean: ## remove build outputs and generated code (keeps .venv and data)
	@rm -rf build dist *.egg-info aismesh/protos/*_pb2*.py aismesh/protos/*_pb2*.pyi .mypy_cache .ruff_cache .pytest_cache
