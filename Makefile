# CloudPyPI: the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Slow things (the venv, the sandbox's root filesystem) are cached outside the clone.
CACHE ?= $(HOME)/.cache/cloudpypi
export CLOUDPYPI_CACHE := $(CACHE)

# The controller needs Python 3.12+ (current ansible requires it).  PYTHON= overrides.
# pyenv shims for python3.12/3.13 exit 127 unless PYENV_VERSION selects them, so every
# candidate is probed by running it, never by `command -v`.
PYTHON ?= $(shell for c in python3.13 python3.12 \
	  $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	  $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo $$c; break; }; done)

PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV ?= $(CACHE)/venv-py$(PYVER)
BIN := $(VENV)/bin
# The venv is rebuilt only when the dependency lists change, not on every pyproject.toml edit.
DEPS_HASH := $(shell python3 -c 'import hashlib, json, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	print(hashlib.sha256(json.dumps([p.get("dependencies"), p.get("optional-dependencies")]).encode()).hexdigest()[:16])')
VENV_STAMP := $(VENV)/.deps-$(DEPS_HASH)

# The package is imported from this checkout even when another clone shares the cached venv.
export PYTHONPATH := $(CURDIR)/scripts$(if $(PYTHONPATH),:$(PYTHONPATH))
export PATH := $(BIN):$(PATH)

.PHONY: help venv demo test test-fast lint bench

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(VENV_STAMP):
	@test -n "$(PYTHON)" || { echo "No Python 3.12+ found: install one, or run make PYTHON=/path/to/python3.12" >&2; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV_STAMP)  ## create or refresh the cached virtualenv (the package itself comes from PYTHONPATH)

-include mk/*.mk

DEMO_PROJECTS ?= idna six packaging certifi
DEMO_TARGET ?= ./mirror

demo: venv  ## mirror a few projects from pypi.org into ./mirror (no AWS account needed) and install from it
	cloudpypi sync --config docs/examples/demo.toml --target $(DEMO_TARGET) $(addprefix --project ,$(DEMO_PROJECTS))
	cloudpypi verify --config docs/examples/demo.toml --target $(DEMO_TARGET)
	cloudpypi status --config docs/examples/demo.toml --target $(DEMO_TARGET)
	@tmp=$$(mktemp -d); \
	  PIP_CONFIG_FILE=/dev/null $(BIN)/python -m pip download --isolated --no-cache-dir --disable-pip-version-check --quiet \
	    --index-url "file://$(abspath $(DEMO_TARGET))/simple/" -d $$tmp $(DEMO_PROJECTS) && \
	  echo "pip downloaded from the mirror alone:" && ls $$tmp && rm -rf $$tmp
	@echo
	@echo "Install from it:   pip install --index-url file://$(abspath $(DEMO_TARGET))/simple/ idna"
	@echo "Serve it over HTTP: cloudpypi serve --target $(DEMO_TARGET) --port 8080"
	@echo "                    pip install --index-url http://127.0.0.1:8080/simple/ idna"

# `make test` runs the whole suite: unit, engine end-to-end, edge (node), Ansible against moto,
# the booted sandbox host (testinfra, Fabric), reliability.  The sandbox is always torn down.
# Two pytest-xdist workers: the tests of the one sandbox host run in one of them, serially and in order
# (support/sandboxfixtures.py schedules them as one unit); the other tests, each with its own moto and
# origin, are shared out a file at a time.  TEST_WORKERS=0 runs everything in one process.  The 30 slowest steps are listed at the end.
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
TEST_PARALLEL = $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS))
test: venv  ## create the venv, boot the sandbox, run the whole suite, tear the sandbox down
	@command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs; }
	@rc=0; \
	$(MAKE) --no-print-directory sandbox-up || rc=$$?; \
	if [ $$rc -eq 0 ]; then pytest $(TEST_PARALLEL) --durations=30 $(PYTEST_ARGS) || rc=$$?; fi; \
	$(MAKE) --no-print-directory sandbox-down || true; \
	exit $$rc

test-fast: venv  ## the suite without the sandbox host (no root needed)
	pytest $(TEST_PARALLEL) -m "not sandbox" $(PYTEST_ARGS)

lint: venv  ## ruff on the Python code
	ruff check scripts tests fabfile.py
