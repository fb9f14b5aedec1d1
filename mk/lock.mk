# The hash-pinned lock of the engine's runtime dependencies that the dev server installs from
# (`pip install --require-hashes`, roles/sync_service).  One file per Python the dev server may run:
# Debian 12 has 3.11, Debian 13 has 3.13.  `make lock` regenerates them from pyproject.toml's
# [project] dependencies with uv (from the venv when there is one), straight from pypi.org; it does
# not need (or rebuild) the venv, so it is safe to run after editing the dependency lists.
LOCK_PYTHONS ?= 3.11 3.13
LOCK_DIR := requirements
UV ?= $(if $(wildcard $(BIN)/uv),$(BIN)/uv,uv)

.PHONY: lock

lock:  ## regenerate the dev server's hash-pinned runtime lock (requirements/runtime-py*.txt) with uv
	@for version in $(LOCK_PYTHONS); do \
	  echo "$(LOCK_DIR)/runtime-py$$version.txt"; \
	  $(UV) pip compile pyproject.toml --quiet --no-config --generate-hashes --python-version $$version \
	    --python-platform linux --custom-compile-command "make lock" -o $(LOCK_DIR)/runtime-py$$version.txt \
	    || exit 1; \
	done
