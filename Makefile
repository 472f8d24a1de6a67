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

.PHONY: help venv templates synth lint test test-serial test-deep snapshots schema bench bench-anchor all-platforms clean test-prereqs check-code format

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

# One process: synth, cfn-lint and the preflight, each answered from .cache/ when nothing it
# depends on changed (NO_CACHE=1 runs every step).
templates: $(STAMP) ## Generate templates for PLATFORM into templates/<name>/, lint them and run the reachability preflight (the main command; NO_CACHE=1 ignores .cache/)
	$(PY) -m generator templates $(PLATFORM) --out $(OUT)$(if $(NO_CACHE), --no-cache)

all-platforms: $(STAMP) ## Generate and lint every platform in platforms/
	@set -e; for p in platforms/*.yaml; do $(MAKE) --no-print-directory templates PLATFORM=$$p; done

schema: $(STAMP) ## Print the platform spec JSON Schema
	$(PY) -m generator schema

# Byte-compile the project once: CI sets PYTHONDONTWRITEBYTECODE (the clean clone stays clean),
# so without this every python process a test starts compiles generator/ again (0.3-0.6 s CPU each).
# The same for pytest's assertion rewriting of the test modules: under PYTHONDONTWRITEBYTECODE
# each pytest process (every xdist worker) rewrote all of them again, about 10 s CPU of its
# 16 s collection; one collection here with writing on leaves the rewritten modules in
# __pycache__ (ignored by git; a changed file is rewritten again), which pytest reads even when
# it may not write.
test-prereqs:: $(STAMP)
	@$(PY) -m compileall -q -j 0 generator tests
	@out=$$(PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q --collect-only -p no:cacheprovider 2>&1) \
	  || { echo "$$out" | tail -30; echo "make test-prereqs: collecting the tests failed" >&2; exit 1; }

check-code: $(STAMP) ## Lint (ruff), check the formatting (ruff format) and type-check (mypy) generator/ and tests/
	$(VENV)/bin/ruff check generator tests
	$(VENV)/bin/ruff format --check generator tests
	$(VENV)/bin/mypy

format: $(STAMP) ## Format generator/ and tests/ (ruff format) and apply ruff's safe fixes
	$(VENV)/bin/ruff check --fix generator tests
	$(VENV)/bin/ruff format generator tests

# Both cores (pytest-xdist); --dist loadgroup keeps each e2e lifecycle (xdist_group) on one worker, in order.
# (A third worker was tried: make test 1,101 s against 1,083 s on two, so no gain.)
TEST_WORKERS ?= auto
test: test-prereqs ## Run the test suite (hypothesis profile "ci") on every core
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=15

test-serial: test-prereqs ## Run the test suite in one process (no xdist)
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -n 0

test-deep: test-prereqs ## Run the property suite with thousands of examples (profile "deep")
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest -q tests -m "not e2e"

snapshots: $(STAMP) ## Rewrite the snapshots (the committed templates/<platform>/ of every platform)
	$(PY) -m pytest -q tests/test_snapshots.py --update-snapshots

.PHONY: docs
docs: $(STAMP) ## Regenerate docs/platforms/<name>.md and .svg of every platform from its committed templates (needs graphviz)
	@command -v dot >/dev/null || { echo "make docs: graphviz's dot is missing: apt-get install graphviz fonts-dejavu-core" >&2; exit 2; }
	@set -e; for p in platforms/*.yaml; do n=$$(basename $$p .yaml); $(PY) -m generator docs --templates templates/$$n; done


BENCH_SERVICES ?= 300
BENCH_ARGS     ?=
bench: $(STAMP) ## Time synth, lint, make templates and the preflight per platform and for BENCH_SERVICES services, against the floors (targets on PLATFORM)
	$(PY) -m generator bench --services $(BENCH_SERVICES) --target $(PLATFORM) $(BENCH_ARGS)

# The CDK anchor: aws-cdk-lib/constructs pinned in pyproject.toml (extra `anchor`), the CDK CLI
# pinned here (npm's `latest` is a 3.0.0 build that rejects aws-cdk-lib 2.275's cloud assembly).
ANCHOR_DIR     := .tools/cdk
ANCHOR_STAMP   := $(ANCHOR_DIR)/.installed
CDK_CLI        := aws-cdk@2.1148.1
ANCHOR_PINS     = $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["anchor"])'

# Reinstalled only when a pin changes (the pins are recorded in the stamp).
$(ANCHOR_STAMP): pyproject.toml
	@set -euo pipefail; want="$$($(ANCHOR_PINS)) $(CDK_CLI)"; \
	if [ -f $@ ] && [ "$$(cat $@)" = "$$want" ]; then touch $@; exit 0; fi; \
	echo "bench-anchor: installing $$want into $(ANCHOR_DIR)"; \
	rm -rf $(ANCHOR_DIR); mkdir -p $(ANCHOR_DIR)/cli; \
	$(PYTHON) -m venv $(ANCHOR_DIR)/venv; \
	$(ANCHOR_DIR)/venv/bin/python -m pip install -q --disable-pip-version-check $$($(ANCHOR_PINS)); \
	(cd $(ANCHOR_DIR)/cli && npm init -y >/dev/null && npm install --silent --no-audit --no-fund $(CDK_CLI) >/dev/null); \
	$(ANCHOR_DIR)/cli/node_modules/.bin/cdk --version; \
	echo "$$want" > $@

$(ANCHOR_DIR)/app.py: scripts/cdk-anchor/app.py scripts/cdk-anchor/cdk.json $(ANCHOR_STAMP)
	cp scripts/cdk-anchor/app.py scripts/cdk-anchor/cdk.json $(ANCHOR_DIR)/

bench-anchor: $(STAMP) $(ANCHOR_DIR)/app.py ## Install the CDK anchor (aws-cdk-lib, CDK CLI, an 8-service app) into .tools/cdk/ and run make bench
	$(PY) -m generator bench --services $(BENCH_SERVICES) --target $(PLATFORM) $(BENCH_ARGS)

clean: ## Remove the venv, tool installs and caches (and stop the lint daemon)
	-@[ -x $(PY) ] && $(PY) -m generator lintd stop >/dev/null 2>&1 || true
	rm -rf $(VENV) .tools build reports .pytest_cache .hypothesis .cache

# Feature makefiles (deploy, security gate) extend the targets above.
-include mk/*.mk
