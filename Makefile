# tabflow - the verbs people expect. Every target bootstraps what it needs (.venv, packages).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12 (the Lambda runtime): PATH first, then pyenv's versions, then common prefixes.
PY312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
# Evidently pins its own pandas/pydantic/numpy: its own virtualenv, never .venv
EVIDENTLY_VENV := .venv-evidently
SAM := $(SAM_VENV)/bin/sam
STAMP := $(VENV)/.installed
FUNCTION ?= MonitorFunction
export SAM_CLI_TELEMETRY := 0



.PHONY: scan env-vars help install test test-unit test-integration test-e2e demo local fire lint format typecheck validate build bench evidently-env bench-scale bench-functions clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(STAMP): pyproject.toml
	@test -n "$(PY312)" || { echo "Python 3.12 not found (PATH or ~/.pyenv/versions/3.12*): install it, or pass PY312=/path/to/python3.12"; exit 1; }
	test -x $(PY) || $(PY312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and install the project with its dev tools

$(SAM): 
	@test -n "$(PY312)" || { echo "Python 3.12 not found"; exit 1; }
	$(PY312) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli>=1.120'

test: $(STAMP) ## the whole offline suite: unit, integration, e2e
	$(PY) -m pytest -q

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

test-e2e: $(STAMP)
	$(PY) -m pytest -q tests/e2e

demo: $(STAMP) ## the product's main job on the offline AWS: file drop -> model -> API -> drift email
	$(PY) -m offline_aws demo

local: $(STAMP) ## start the offline AWS in the foreground (endpoint :4599, API :3000; PARAMS="TrainingEngine=batch")
	$(PY) -m offline_aws serve $(foreach p,$(PARAMS),--parameter $(p))

fire: $(STAMP) ## run a scheduled function now on the running offline AWS (FUNCTION=MonitorFunction)
	$(PY) -m offline_aws fire $(FUNCTION)

env-vars: $(STAMP) ## .local/env.json for `sam local invoke|start-api --env-vars` (Docker) against `make local`
	$(PY) -m offline_aws env-vars > .local/env.json
	@echo "wrote .local/env.json"

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(STAMP)
	$(VENV)/bin/mypy layers/tabflow/tabflow

validate: $(SAM) ## sam validate --lint (SAM CLI in its own virtualenv)
	$(SAM) validate --lint --region us-east-1

SCAN_VENV := .venv-scan
$(SCAN_VENV)/bin/checkov:
	@test -n "$(PY312)" || { echo "Python 3.12 not found"; exit 1; }
	$(PY312) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/pip install --quiet 'checkov>=3.2'

scan: $(STAMP) $(SCAN_VENV)/bin/checkov ## policy scan (checkov) of the CloudFormation SAM makes of template.yaml
	@mkdir -p .local
	$(PY) -m offline_aws cfn > .local/cfn.json
	$(SCAN_VENV)/bin/checkov -f .local/cfn.json --config-file .checkov.yaml
	@echo "and with the optional resources (Batch training, IAM-authenticated API):"
	$(PY) -m offline_aws cfn --parameter TrainingEngine=batch --parameter PredictIamAuth=true \
		--parameter TrainingImage=example.com/tabflow:1 > .local/cfn-options.json
	$(SCAN_VENV)/bin/checkov -f .local/cfn-options.json --config-file .checkov.yaml

build: $(SAM) ## sam build (no container)
	PATH="$(dir $(PY312)):$$PATH" PYTHON="$(PY312)" PRUNE="$(CURDIR)/infra/build/prune.sh" $(SAM) build --region us-east-1

clean:
	rm -rf .local .aws-sam .pytest_cache .ruff_cache .mypy_cache

bench: $(STAMP) ## speed/memory figures as ratios to a floor measured in the same run (ONLY=name)
	$(PY) -m bench.run --only "$(ONLY)"

evidently-env: $(EVIDENTLY_VENV)/.installed ## Evidently in its own virtualenv, for the drift_1m_rows comparison

$(EVIDENTLY_VENV)/.installed:
	@test -n "$(PY312)" || { echo "Python 3.12 not found"; exit 1; }
	test -x $(EVIDENTLY_VENV)/bin/python || $(PY312) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet 'evidently==0.7.23' 'pandas<3'  # 0.7.23 breaks on pandas 3
	touch $@

bench-scale: $(STAMP) ## time and peak memory of each training task by rows: the Lambda/Batch switch point
	$(PY) -m bench.scale $(if $(ROWS),--rows $(ROWS))

bench-functions: $(STAMP) ## each built function's size with its layers and cold import time (after make build)
	$(PY) -m bench.functions
