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
DEPS_HASH := $(shell sha256sum pyproject.toml | cut -c1-16)
VENV_STAMP := $(VENV)/.deps-$(DEPS_HASH)

# The package is imported from this checkout even when another clone shares the cached venv.
export PYTHONPATH := $(CURDIR)/scripts$(if $(PYTHONPATH),:$(PYTHONPATH))
export PATH := $(BIN):$(PATH)

.PHONY: help venv demo test test-fast lint bench clean-cache

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(VENV_STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "No Python 3.12+ found: install one, or run make PYTHON=/path/to/python3.12" >&2; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV_STAMP)  ## create or refresh the cached virtualenv
	@$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . >/dev/null

-include mk/*.mk
