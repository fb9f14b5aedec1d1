# The reliability and security suite: origin and S3 faults, SIGKILL crash consistency, locks,
# deletion grace, hostile input, property tests and the secret scan.  `make test` runs it as part of tests/.
# RELIABILITY_RECORD=FILE appends the measured figures (kills, re-downloads, peak RSS) as JSON lines.
.PHONY: test-reliability

test-reliability: venv  ## faults, crashes, locks, hostile input, secret scan (loopback only, a few minutes)
	CLOUDPYPI_RELIABILITY_RECORD=$(RELIABILITY_RECORD) pytest tests/reliability tests/test_no_secrets.py $(PYTEST_ARGS)
