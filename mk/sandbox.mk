# The local sandbox: a booted Debian 13 host (systemd-nspawn, sshd on 127.0.0.1:2222) and a moto
# server (127.0.0.1:5000).  See scripts/sandbox/sandbox.py for the cache layout and the overrides
# (CLOUDPYPI_SANDBOX_SSH_PORT, CLOUDPYPI_SANDBOX_MOTO_PORT, CLOUDPYPI_SANDBOX_NAME, ...).
SANDBOX := $(BIN)/python scripts/sandbox/sandbox.py

.PHONY: sandbox-up sandbox-down sandbox-status sandbox-ssh sandbox-host sandbox-test

# Where the sandbox cannot run (no root, no nspawn), sandbox-up says why and succeeds, so the
# sandbox tests skip with that reason; under CI=true it fails instead.
sandbox-up: venv  ## boot the sandbox host and start moto (idempotent; prints both endpoints)
	@rc=0; $(SANDBOX) up || rc=$$?; \
	if [ $$rc -eq 3 ] && [ "$${CI:-}" != "true" ]; then echo "sandbox-up: skipped (the sandbox tests will skip)"; rc=0; fi; \
	exit $$rc

sandbox-down:  ## stop only what sandbox-up started and remove the run copy
	@if [ -x "$(BIN)/python" ]; then $(SANDBOX) down; else python3 scripts/sandbox/sandbox.py down; fi

sandbox-status:  ## say whether the sandbox is up, and where
	$(SANDBOX) status

sandbox-ssh:  ## open a shell on the sandbox host as the admin user
	ssh -i $(CACHE)/sandbox/ssh/id_ed25519 -p $${CLOUDPYPI_SANDBOX_SSH_PORT:-2222} \
	  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null admin@127.0.0.1

# moto takes any credentials; these dummies keep boto3 from looking for real ones.
SANDBOX_AWS_ENV := AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-http://127.0.0.1:$${CLOUDPYPI_SANDBOX_MOTO_PORT:-5000}} \
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} \
	AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-sandbox-dummy-access-key-id} \
	AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-sandbox-dummy-secret-access-key}

sandbox-host: sandbox-up  ## launch (on moto) and configure the sandbox host: playbooks/devserver.yml
	$(SANDBOX_AWS_ENV) ansible-playbook -i inventory/sandbox playbooks/devserver.yml

sandbox-test: sandbox-up  ## the host plays and testinfra suite against the sandbox (tests/sandbox)
	pytest -m sandbox tests/sandbox
