# The AWS side of the Ansible work: lint and tests (docs/ansible-aws.md).
ANSIBLE_AWS_ROLES := roles/mirror_bucket roles/mirror_cdn roles/example_cdn roles/mirror_iam \
	roles/devserver_instance roles/cost_budget roles/monitoring roles/sandbox_mirror_cdn \
	roles/sandbox_example_cdn roles/sandbox_cost_budget roles/sandbox_devserver_instance
ANSIBLE_AWS_PLAYBOOKS := playbooks/aws.yml playbooks/teardown.yml playbooks/site.yml playbooks/group_vars
ANSIBLE_AWS_YAMLLINT := $(if $(wildcard .yamllint),.yamllint,tests/ansible_aws/yamllint.yml)

.PHONY: lint-ansible test-ansible-aws

lint-ansible: venv  ## ansible-lint (production profile) on the whole repository, yamllint on the AWS side
	ansible-lint --profile production
	yamllint --strict -c $(ANSIBLE_AWS_YAMLLINT) $(ANSIBLE_AWS_ROLES) $(ANSIBLE_AWS_PLAYBOOKS) \
		inventory/aws/group_vars/aws_resources.yml collections/ansible_collections/cloudpypi tests/ansible_aws

test-ansible-aws: venv  ## the AWS-side Ansible tests: lint, moto runs of aws.yml, Stubber tests of the own modules
	python -m pytest tests/ansible_aws
