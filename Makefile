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

# The local environment talks only to the emulator on loopback. Its endpoint and throw-away
# credentials are in inventories/local; AWS_ENDPOINT_URL, when set, moves the emulator.
ifeq ($(ENV),local)
EMULATOR_URL := $(or $(AWS_ENDPOINT_URL),http://127.0.0.1:5000)
EMULATOR_PORT := $(lastword $(subst :, ,$(EMULATOR_URL)))
LOCAL_ARGS := -e aws_endpoint_url=$(EMULATOR_URL)
# For the services' local targets (make dev, make worker, image smoke runs) and boto3 scripts.
# Playbooks get the endpoint from the inventory instead; molecule and the tests run without
# these, so a module left out of module_defaults fails there rather than finding the emulator.
export AWS_ENDPOINT_URL := $(EMULATOR_URL)
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_DEFAULT_REGION ?= ap-south-1
endif
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1

PLAYBOOK := $(BIN)/ansible-playbook -i inventories/$(ENV) $(LOCAL_ARGS)

.PHONY: help venv up down plan destroy summary config-diff validate cost test lint test-infra molecule \
        bench-provision clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): $(REQUIREMENTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS))
	@touch $@

venv: $(STAMP) ## create .venv with the pinned toolchain

emulator-up: $(STAMP)
ifeq ($(ENV),local)
	@$(BIN)/python tools/emulator.py start --port $(EMULATOR_PORT)
endif

up: emulator-up ## provision ENV (default local) with playbooks/site.yml and print what exists
	$(PLAYBOOK) playbooks/site.yml $(ARGS)

plan: emulator-up ## show what site.yml would change in ENV (--check --diff), changing nothing
	$(PLAYBOOK) playbooks/site.yml --check --diff $(ARGS)

destroy: emulator-up ## tear ENV down (production asks for confirm_destroy=production)
	$(PLAYBOOK) playbooks/destroy.yml $(ARGS)

down: ## stop the local emulator (its state is lost)
	@$(PYTHON) tools/emulator.py stop --port $(or $(EMULATOR_PORT),5000)

validate: $(STAMP) ## validate inventories/ENV against the schema, without any AWS call
	$(BIN)/python tools/config.py validate inventories/$(ENV)

cost: $(STAMP) ## monthly cost estimate of ENV from its inventory and tools/prices (fails over budget)
	$(BIN)/python tools/cost.py inventories/$(ENV)

config-diff: $(STAMP) ## effective configuration of A and B side by side: make config-diff A=staging B=production
	$(BIN)/python tools/config.py diff inventories/$(A) inventories/$(B)

lint: $(STAMP) ## yamllint, ansible-lint (profile production), ruff, workflow schema + zizmor
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint --offline
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --persona auditor .github/workflows

test-infra: $(STAMP) ## pytest for the tools, inventories, modules and roles (real moto server)
	env -u AWS_ENDPOINT_URL -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY $(BIN)/pytest tests

molecule: $(STAMP) ## every molecule scenario (converge, idempotence, check, verify) on a throw-away emulator
	env -u AWS_ENDPOINT_URL -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	  MOLECULE_EMULATOR_PORT=$$($(BIN)/python tools/emulator.py free-port) $(BIN)/molecule test --all

test: lint test-infra test-services molecule ## everything CI runs

bench-provision: $(STAMP) ## cold converge vs no-op re-run vs a bare boto3 floor, on a fresh emulator
	$(BIN)/python tools/bench_provision.py

clean: ## remove the virtualenv and local state
	rm -rf $(VENV) .state

include services/services.mk
include delivery.mk
