# `make bench`: cloudpypi sync against the raw transfer limit and bandersnatch 8.2.0 (docs/BENCHMARKS.md).
# BENCH_SCALE=small for a run of a few minutes; the default (500 projects, 3 rounds) takes about 20.
BENCH_SCALE ?= default

bench: venv  ## benchmark the sync engine (BENCH_SCALE=small for a quick run); writes docs/BENCHMARKS.md
	BENCH_SCALE=$(BENCH_SCALE) $(BIN)/python -m bench.run --scale $(BENCH_SCALE) --out docs/BENCHMARKS.md
