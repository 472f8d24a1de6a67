# stackgen: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PLATFORM ?= platforms/mcp-gateway.yaml
PLATFORM_NAME = $(basename $(notdir $(PLATFORM)))
OUT      ?= templates/$(PLATFORM_NAME)
STAMP    := $(VENV)/.installed

.PHONY: help venv templates synth lint test test-deep snapshots schema bench all-platforms clean test-prereqs

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the project with its pinned dev dependencies

synth: $(STAMP) ## Generate templates for PLATFORM (no lint)
	$(PY) -m generator synth $(PLATFORM) --out $(OUT)

templates: synth ## Generate templates for PLATFORM into templates/<name>/, lint them and run the reachability preflight (the main command)
	$(PY) -m generator lint $(OUT)
	$(PY) -m generator check --templates $(OUT)

all-platforms: $(STAMP) ## Generate and lint every platform in platforms/
	@set -e; for p in platforms/*.yaml; do $(MAKE) --no-print-directory templates PLATFORM=$$p; done

schema: $(STAMP) ## Print the platform spec JSON Schema
	$(PY) -m generator schema

test-prereqs:: $(STAMP)

test: test-prereqs ## Run the test suite (hypothesis profile "ci")
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q

test-deep: test-prereqs ## Run the property suite with thousands of examples (profile "deep")
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest -q tests -m "not e2e"

snapshots: $(STAMP) ## Rewrite the snapshots (the committed templates/<platform>/ of every platform)
	$(PY) -m pytest -q tests/test_snapshots.py --update-snapshots

.PHONY: docs
docs: $(STAMP) ## Regenerate docs/platforms/<name>.md and .svg of every platform from its committed templates (needs graphviz)
	@command -v dot >/dev/null || { echo "make docs: graphviz's dot is missing: apt-get install graphviz fonts-dejavu-core" >&2; exit 2; }
	@set -e; for p in platforms/*.yaml; do n=$$(basename $$p .yaml); $(PY) -m generator docs --templates templates/$$n; done

bench: $(STAMP) ## Print generation and lint timings
	$(PY) -m generator bench

clean: ## Remove the venv, tool installs and caches
	rm -rf $(VENV) .tools build reports .pytest_cache .hypothesis

# Feature makefiles (deploy, security gate) extend the targets above.
-include mk/*.mk
