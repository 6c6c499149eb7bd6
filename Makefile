# aismesh: `make help` lists every target.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
DEV_STAMP := $(VENV)/.install-dev-stamp
PROTOS := $(wildcard protos/*.proto)
GEN := $(patsubst protos/%.proto,aismesh/protos/%_pb2.py,$(PROTOS))
PIP_QUIET := --quiet --disable-pip-version-check --no-input

.DEFAULT_GOAL := help
.PHONY: help install install-dev protos up down status test test-unit test-integration soak check lint type bench clean compose-up compose-down test-compose test-training install-training

help: ## list every target
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PY) -m venv $(VENV)

# pip's output goes to .venv/install.log and is shown only when the install fails. The build
# (setup.py) generates the gRPC modules, so a changed .proto reinstalls.
$(STAMP): pyproject.toml setup.py $(PROTOS) | $(BIN)/python
	@echo "installing aismesh and what running it needs into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install $(PIP_QUIET) -e . > $(VENV)/install.log 2>&1 \
		|| { tail -40 $(VENV)/install.log >&2; echo "make install: pip failed" >&2; exit 1; }
	@$(BIN)/python -c 'import pyetcd, flask, gunicorn, aismesh.protos.storage_pb2_grpc' && test -x $(BIN)/etcd \
		|| { echo "make install: dependencies are missing after pip install" >&2; exit 1; }
	@touch $(STAMP)

# The test, lint and benchmark tools (moto, the aws CLI, pytest, mypy, ruff, grpcio-tools).
$(DEV_STAMP): $(STAMP)
	@echo "installing the development tools into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install $(PIP_QUIET) -e '.[dev]' > $(VENV)/install.log 2>&1 \
		|| { tail -40 $(VENV)/install.log >&2; echo "make install-dev: pip failed" >&2; exit 1; }
	@$(BIN)/python -c 'import grpc_tools, boto3, moto, pytest' && test -x $(BIN)/aws \
		|| { echo "make install-dev: dependencies are missing after pip install" >&2; exit 1; }
	@touch $(DEV_STAMP)

# protoc sees protos/ as aismesh/protos/: the modules land in (and import from) aismesh.protos.
aismesh/protos/%_pb2.py: protos/%.proto $(DEV_STAMP)
	@$(BIN)/python -m grpc_tools.protoc -Iaismesh/protos=protos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)

install: $(STAMP) ## install what running needs into .venv (idempotent, quiet): deps, gRPC code, etcd
	@true

install-dev: $(DEV_STAMP) ## install, plus the test, lint and benchmark tools
	@true

protos: $(GEN) ## regenerate the gRPC modules from protos/*.proto now (the build does it too)

up: install ## install, then run the whole mesh in the foreground (Ctrl-C stops it)
	@$(BIN)/aismesh up $(ARGS)

down: ## stop a detached mesh
	@$(BIN)/aismesh down $(ARGS)

status: ## show every service of the local mesh
	@$(BIN)/aismesh status $(ARGS)

test: install-dev tools-bench tools-s3 ## run the full test suite (unit + integration against the real mesh)
	@$(BIN)/python -m pytest -q tests $(ARGS)

test-unit: install-dev ## unit tests only (no processes)
	@$(BIN)/python -m pytest -q tests/unit $(ARGS)

test-integration: install-dev tools-bench tools-s3 ## integration tests only (starts etcd and every service)
	@$(BIN)/python -m pytest -q tests/integration $(ARGS)

soak: install-dev ## the long soak: 10 minutes of mixed load, descriptors and memory must stay flat
	@AISMESH_SOAK_S=$${AISMESH_SOAK_S:-600} $(BIN)/python -m pytest -q tests/integration/test_soak.py $(ARGS)

lint: install-dev ## ruff
	@$(BIN)/ruff check aismesh services tests

type: install-dev ## mypy on the package
	@$(BIN)/mypy

check: lint type test-unit ## ruff, mypy and the unit tests (seconds)

bench: install-dev tools-bench ## the load generator against aismesh, SeaweedFS, moto and nginx (see docs/performance.md)
	@$(BIN)/aismesh bench $(ARGS)

# wrk (Debian's package) is the compiled load client of the bench's raw HTTP cells. Best effort:
# without it (no root, no apt) the bench drives every cell with its Python client and the bench
# smoke test skips its wrk run. `make install-dev` does not need it.
.PHONY: tools-bench
tools-bench: ## install wrk from Debian when it is missing (the bench's load client; best effort)
	@command -v wrk >/dev/null || { mkdir -p $(VENV); echo "installing wrk from Debian (log: $(VENV)/tools-bench.log)"; \
		{ export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends wrk \
		  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk; }; } > $(VENV)/tools-bench.log 2>&1 \
		|| echo "make tools-bench: could not install wrk (see $(VENV)/tools-bench.log); the bench uses its Python client" >&2; }

# docker compose (docs/compose.md): scripts/compose.sh uses the machine's Docker engine, or
# installs and starts a private one under .docker/ (with an offline base image) when there is none.
compose-up: install ## build the image and start the docker compose stack (a private Docker engine if none)
	@scripts/compose.sh up $(ARGS)

compose-down: ## stop the docker compose stack (ARGS=--volumes drops its data) and the private engine
	@scripts/compose.sh down $(ARGS)

test-compose: install-dev ## the compose suite: the stack in containers, driven by boto3 and etcdctl
	@AISMESH_COMPOSE_REQUIRED=$${AISMESH_COMPOSE_REQUIRED:-1} $(BIN)/python -m pytest -q tests/compose $(ARGS)

# The training-data clients (docs/training.md) are large, so they live in venvs of their own and
# `make up` never installs them: .venv-training (aismesh, pytest, torch CPU, the aistore SDK's
# pytorch extra, webdataset, s3fs, pyarrow, the aws CLI) and .venv-tf (TensorFlow and
# tensorflow-io, which need a protobuf the mesh cannot run with).
TRAIN_VENV := .venv-training
TF_VENV := .venv-tf
TRAIN_STAMP := $(TRAIN_VENV)/.install-stamp
TF_STAMP := $(TF_VENV)/.install-stamp

$(TRAIN_STAMP): pyproject.toml setup.py $(PROTOS)
	@test -x $(TRAIN_VENV)/bin/python || $(PY) -m venv $(TRAIN_VENV)
	@echo "installing the training clients into $(TRAIN_VENV) (log: $(TRAIN_VENV)/install.log)"
	@$(TRAIN_VENV)/bin/python -m pip install $(PIP_QUIET) -e '.[training]' > $(TRAIN_VENV)/install.log 2>&1 \
		|| { tail -40 $(TRAIN_VENV)/install.log >&2; echo "make test-training: pip failed" >&2; exit 1; }
	@touch $(TRAIN_STAMP)

$(TF_STAMP): examples/tensorflow/requirements.txt
	@test -x $(TF_VENV)/bin/python || $(PY) -m venv $(TF_VENV)
	@echo "installing TensorFlow and tensorflow-io into $(TF_VENV) (log: $(TF_VENV)/install.log)"
	@$(TF_VENV)/bin/python -m pip install $(PIP_QUIET) -r examples/tensorflow/requirements.txt > $(TF_VENV)/install.log 2>&1 \
		|| { tail -40 $(TF_VENV)/install.log >&2; echo "make test-training: pip failed" >&2; exit 1; }
	@touch $(TF_STAMP)

install-training: $(TRAIN_STAMP) $(TF_STAMP) ## install the training clients into .venv-training and .venv-tf (for examples/)
	@true

test-training: $(TRAIN_STAMP) $(TF_STAMP) ## install the training clients (own venvs) and run tests/training against a real mesh
	@AISMESH_TF_PYTHON=$(CURDIR)/$(TF_VENV)/bin/python $(TRAIN_VENV)/bin/python -m pytest -q tests/training $(ARGS)

clean: ## remove build outputs and generated code (keeps .venv and data)
	@rm -rf build dist *.egg-info aismesh/protos/*_pb2*.py aismesh/protos/*_pb2*.pyi .mypy_cache .ruff_cache .pytest_cache

.PHONY: tools-s3
tools-s3: ## install rclone from Debian when it is missing (an S3 client the tests drive; best effort)
	@command -v rclone >/dev/null || { mkdir -p $(VENV); echo "installing rclone from Debian (log: $(VENV)/tools-s3.log)"; \
		{ export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends rclone \
		  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends rclone; }; } > $(VENV)/tools-s3.log 2>&1 \
		|| echo "make tools-s3: could not install rclone (see $(VENV)/tools-s3.log); its tests skip (and fail when CI is set)" >&2; }
