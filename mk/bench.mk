# `make bench`: cloudpypi sync against the raw transfer limit, the verifying limit (raw + SHA-256) and
# bandersnatch 8.2.0, on two corpora (small files, and PyPI's size mix by bytes), folder targets on a
# fresh ext4 per run (docs/BENCHMARKS.md).  BENCH_SCALE=small for a run of a few minutes (the large-file
# corpus then fits in about 0.5 GB); the default takes about 45 minutes.  BENCH_CORPUS=large-files
# measures one corpus only; BENCH_FS=tmpfs writes the mirrors to fresh folders on a tmpfs instead.
# Then the sync fleet's fan-out (the same fresh sync with 1, 2 and 4 network-bound local workers), and the
# engine on a PyPI-sized state (736k projects, 12M files): a no-op and a 500-project incremental run.
BENCH_SCALE ?= default

bench: venv  ## benchmark the sync engine (BENCH_SCALE=small for a quick run); writes docs/BENCHMARKS.md
	BENCH_SCALE=$(BENCH_SCALE) $(BIN)/python -m bench.run --scale $(BENCH_SCALE) --out docs/BENCHMARKS.md
	$(BIN)/python -m bench.fleet --out docs/BENCHMARKS.md
	$(BIN)/python -m bench.scale --out docs/BENCHMARKS.md
