# Loopin platform: one entry point for operators, developers and CI.
#   make up            provision ENV (default local, against the embedded emulator) and print a summary
#   make test          every check CI runs (.ci/run calls exactly this)
#   make help          the full list
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ENV ?= local
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements/infra.txt $(wildcard services/*/requirements.txt)
# The IAM policy evaluator of the local cloud (Node.js, tools/localcloud/policy_eval.py).
POLICY_LOCK := tools/localcloud/policy/package-lock.json

# The local environment talks only to the emulator on loopback. Its endpoint is in
# inventories/local; AWS_ENDPOINT_URL, when set, moves the emulator. `make up` bootstraps the
# local identities and enforces IAM: every playbook then runs as its actor (AS_OPERATOR,
# AS_DEPLOY, AS_DRIFT, AS_PROVISION wrap the command with that actor's credentials;
# docs/local-cloud.md). `make up` and `make plan` run site.yml as the provisioner, as infra.yml
# does, once the iam role has made it; the bootstrap converge before that is the operator's.
ifeq ($(ENV),local)
EMULATOR_URL := $(or $(AWS_ENDPOINT_URL),http://127.0.0.1:5000)
EMULATOR_PORT := $(lastword $(subst :, ,$(EMULATOR_URL)))
LOCAL_ARGS := -e aws_endpoint_url=$(EMULATOR_URL)
# For the services' local targets (make dev, make worker, image smoke runs) and boto3 scripts.
# Playbooks get the endpoint from the inventory instead; molecule and the tests run without
# these, so a module left out of module_defaults fails there rather than finding the emulator.
# Once IAM is enforced the throw-away keys are refused: eval "$$(make -s creds ROLE=web)" first.
export AWS_ENDPOINT_URL := $(EMULATOR_URL)
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= ap-south-1
# The local load balancer's listeners: HTTPS 443 and HTTP 80 on these loopback ports, the same
# every time, so a mobile app can be pointed at https://127.0.0.1:8443.
export LOCALCLOUD_LB_PORTS ?= 443=8443,80=8080
IDENTITY = PYTHONPATH=$(CURDIR)/tools $(BIN)/python -m localcloud.identities
AS = $(IDENTITY) exec $(1) --env $(ENV) --endpoint $(EMULATOR_URL) --
AS_OPERATOR = $(call AS,operator)
AS_DEPLOY = $(call AS,deploy)
AS_DRIFT = $(call AS,drift)
AS_PROVISION = $(IDENTITY) exec provision --until-made operator --env $(ENV) --endpoint $(EMULATOR_URL) --
endif
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1

PLAYBOOK := $(BIN)/ansible-playbook -i inventories/$(ENV) $(LOCAL_ARGS)
# An emergency change outside production's deployment window, recorded like an emergency deploy
# (infra.yml's `emergency` input sets EMERGENCY=true; by hand ARGS="-e emergency_change=true
# -e emergency_reason=INC-123" does the same with a reason of your own).
EMERGENCY ?= false
EMERGENCY_ARGS = $(if $(filter true,$(EMERGENCY)),-e emergency_change=true \
  -e emergency_reason=$(if $(GITHUB_RUN_ID),infra-run-$(GITHUB_RUN_ID),make-up))
# make test STAGES="pytest molecule": some of the stages (lint pytest services images molecule).
STAGES ?=

.PHONY: help venv up down status release plan plan-summary destroy creds least-privilege summary config-diff validate cost test lint check-migrations test-infra \
        molecule bench-provision bench-alarms clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): $(REQUIREMENTS) $(POLICY_LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS))
	@mkdir -p $(VENV)/policy && cp tools/localcloud/policy/package.json $(POLICY_LOCK) $(VENV)/policy/
	npm ci --prefix $(VENV)/policy --no-audit --no-fund --loglevel=error
	@touch $@

venv: $(STAMP) ## create .venv with the pinned toolchain

# The local cloud (tools/localcloud, docs/local-cloud.md): the emulator and the data plane that
# runs the tasks behind a local load balancer.
LOCALCLOUD := PYTHONPATH=$(CURDIR)/tools $(BIN)/python -m localcloud

emulator-up: $(STAMP)
ifeq ($(ENV),local)
	@$(LOCALCLOUD) start --endpoint $(EMULATOR_URL)
endif

up: emulator-up ## provision ENV with playbooks/site.yml and print what exists; local: run it and print the API address
	$(AS_PROVISION) $(PLAYBOOK) playbooks/site.yml $(EMERGENCY_ARGS) $(ARGS)
ifeq ($(ENV),local)
	@$(LOCALCLOUD) release --endpoint $(EMULATOR_URL) --env local
endif

status: $(STAMP) ## the local cloud: processes, services and tasks, Redis, the API address, alarms in ALARM
	@$(LOCALCLOUD) status --endpoint $(or $(EMULATOR_URL),http://127.0.0.1:5000)

release: emulator-up ## local: this tree's web and worker images into the local ECR, by digest (for make deploy IMAGE=...)
	@test "$(ENV)" = local || { echo "make release builds local images; real environments push with make push-images"; exit 2; }
	@PYTHONPATH=$(CURDIR)/tools $(BIN)/python -m localcloud.images push --endpoint $(EMULATOR_URL) --env $(ENV)

plan: emulator-up ## show what site.yml would change in ENV (--check --diff), changing nothing; kept in .state/plan-ENV.log
	@mkdir -p .state
	$(AS_PROVISION) $(PLAYBOOK) playbooks/site.yml --check --diff $(ARGS) | tee .state/plan-$(ENV).log

plan-summary: $(STAMP) ## the last make plan of ENV as Markdown (changed tasks and diffs, trimmed), into $$GITHUB_STEP_SUMMARY when set
	@$(BIN)/python tools/plan_report.py .state/plan-$(ENV).log --env $(ENV)

destroy: emulator-up ## tear ENV down (production asks for confirm_destroy=production)
	$(AS_OPERATOR) $(PLAYBOOK) playbooks/destroy.yml $(ARGS)

creds: $(STAMP) ## export lines of ROLE's credentials on the local stack: eval "$$(make -s creds ROLE=deploy)"
	@case "$(ROLE)" in operator|deploy|drift|provision|web|worker) ;; \
	  *) echo "make creds needs ROLE=operator|deploy|drift|provision|web|worker (ENV=local)"; exit 2;; esac
	@test "$(ENV)" = local || { echo "make creds is for the local stack (ENV=local)"; exit 2; }
	@$(IDENTITY) creds $(ROLE) --env $(ENV) --endpoint $(EMULATOR_URL)

down: $(STAMP) ## stop the local cloud: the tasks (SIGTERM, then SIGKILL after their stopTimeout), then the emulator (its state is lost)
	@$(LOCALCLOUD) stop --endpoint $(or $(EMULATOR_URL),http://127.0.0.1:5000)

least-privilege: $(STAMP) ## local: every AWS call the roles made on the running stack, checked against their policies at resource level
	@test "$(ENV)" = local || { echo "make least-privilege reads the local emulator's record of calls (ENV=local)"; exit 2; }
	@$(LOCALCLOUD).least_privilege --endpoint $(EMULATOR_URL) $(if $(PRINCIPAL),--principal $(PRINCIPAL))

validate: $(STAMP) ## validate inventories/ENV against the schema, without any AWS call
	$(BIN)/python tools/config.py validate inventories/$(ENV)

cost: $(STAMP) ## monthly cost estimate of ENV from its inventory and tools/prices (fails over budget)
	$(BIN)/python tools/cost.py inventories/$(ENV)

config-diff: $(STAMP) ## effective configuration of A and B side by side: make config-diff A=staging B=production
	$(BIN)/python tools/config.py diff inventories/$(A) inventories/$(B)

lint: $(STAMP) ## yamllint, ansible-lint (profile production), ruff, workflow schema + zizmor, check-migrations
	$(BIN)/python tools/check_migrations.py
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint --offline
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --persona auditor .github/workflows

check-migrations: $(STAMP) ## refuse a migration that drops or renames a column/table unless it is a marked contract step
	$(BIN)/python tools/check_migrations.py

test-infra: $(STAMP) ## pytest for the tools, inventories, modules and roles (real moto server)
	env -u AWS_ENDPOINT_URL -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY $(BIN)/pytest --durations=15 tests

# MOLECULE_EMULATOR_PORT, when set, names a running emulator to use (make test hands over the one
# pytest converged the stack on, which enforces IAM: molecule then runs as the operator, whose
# keys tests/stack.py left in LOOPIN_STACK_STATE_DIR, or those `make up` left in .state; without
# them it stops rather than call an enforcing emulator with keys it refuses); otherwise molecule starts one on
# a free port. Each run keeps molecule's shared state in a directory of its own, so an aborted
# run leaves nothing to the next.
molecule: $(STAMP) ## every molecule scenario (site, each tier, destroy) on one stack
	@port=$${MOLECULE_EMULATOR_PORT:-$$($(BIN)/python tools/emulator.py free-port)}; \
	state=$(CURDIR)/.state/molecule-$$port; rm -rf $$state; \
	keys=$${LOOPIN_STACK_STATE_DIR:-$${LOOPIN_STATE_DIR:-$(CURDIR)/.state}}/localcloud-$$port/credentials/operator.json; \
	if [ -n "$${MOLECULE_EMULATOR_PORT:-}" ]; then \
	  test -f $$keys || { echo "molecule: emulator $$port was handed over but its operator keys are not at $$keys"; exit 2; }; \
	  export MOLECULE_AWS_ACCESS_KEY=$$($(BIN)/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeyId"])' $$keys); \
	  export MOLECULE_AWS_SECRET_KEY=$$($(BIN)/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["SecretAccessKey"])' $$keys); \
	fi; \
	env -u AWS_ENDPOINT_URL -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	  MOLECULE_EMULATOR_PORT=$$port MOLECULE_EPHEMERAL_DIRECTORY=$$state $(BIN)/molecule test --all

test: $(STAMP) ## everything CI runs (lint, pytest, services, images, molecule), with each stage's time
	$(BIN)/python tools/stages.py $(STAGES)

bench-provision: $(STAMP) ## whole stack: cold converge, no-op re-run, boto3 floor of the reads, ratios
	$(BIN)/python tools/bench_provision.py $(ARGS)

bench-alarms: $(STAMP) ## the emulator's alarm evaluator: cost of one round, 40 alarms, an hour of data
	$(BIN)/python tools/bench_alarms.py $(ARGS)

clean: ## remove the virtualenv and local state
	rm -rf $(VENV) .state

include services/services.mk
include delivery.mk

# make test's services and images stages: the services' own suites, then the container images
# (their lint, offline build and smoke run), from the targets services/*.mk register.
IMAGE_TEST_TARGETS := lint-images test-images
.PHONY: stage-services stage-images
stage-services: $(filter-out $(IMAGE_TEST_TARGETS),$(SERVICES_TEST_TARGETS))
stage-images: $(filter $(IMAGE_TEST_TARGETS),$(SERVICES_TEST_TARGETS))
