# Deploy side: local AWS emulator (ministack) and the deploy targets.
# Included by the main Makefile (`-include mk/*.mk`); uses PYTHON, PY, STAMP, PLATFORM, PLATFORM_NAME.

EMULATOR_VENV  := .tools/ministack
EMULATOR_STAMP := $(EMULATOR_VENV)/.installed
EMULATOR_STATE ?= $(EMULATOR_VENV)/run
EMULATOR_HOST  ?= 127.0.0.1
EMULATOR_PORT  ?= 4566
EMULATOR_URL   := http://$(EMULATOR_HOST):$(EMULATOR_PORT)
ENV            ?= dev

.PHONY: emulator emulator-start emulator-stop deploy-local delete-local deploy

# ministack pins its own botocore, so it lives in its own venv. The pin is read
# from pyproject.toml ([project.optional-dependencies] emulator), never repeated here.
$(EMULATOR_STAMP): pyproject.toml
	$(PYTHON) -m venv $(EMULATOR_VENV)
	$(EMULATOR_VENV)/bin/python -m pip install -q --upgrade pip
	$(EMULATOR_VENV)/bin/python -m pip install -q $$($(PYTHON) -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["emulator"]))')
	touch $@

test-prereqs:: $(EMULATOR_STAMP)

emulator: $(STAMP) $(EMULATOR_STAMP) ## Run the local AWS emulator (ministack) in the foreground on 127.0.0.1:4566 (EMULATOR_PORT=)
	$(PY) -m generator.deploy.emulator run --venv $(EMULATOR_VENV) --state-dir $(EMULATOR_STATE) \
	    --host $(EMULATOR_HOST) --port $(EMULATOR_PORT)

emulator-start: $(STAMP) $(EMULATOR_STAMP) ## Start the local emulator in the background (EMULATOR_PORT=, default 4566); prints how to stop it
	$(PY) -m generator.deploy.emulator start --state-dir $(EMULATOR_STATE) \
	    --venv $(EMULATOR_VENV) --host $(EMULATOR_HOST) --port $(EMULATOR_PORT)

emulator-stop: ## Stop the background emulator on EMULATOR_PORT (default 4566); says so when it runs on another port
	$(PY) -m generator.deploy.emulator stop --state-dir $(EMULATOR_STATE) --host $(EMULATOR_HOST) --port $(EMULATOR_PORT)

# PLATFORM is a name (mcp-gateway), platforms/NAME.yaml, or any spec file: a spec outside
# platforms/ is rendered into a temporary directory by deploy.sh, no copy needed.
deploy-local: $(STAMP) $(EMULATOR_STAMP) ## Start the emulator in the background and deploy PLATFORM (a name or any spec file; ENV=dev) to it
	$(PY) -m generator.deploy.emulator start --state-dir $(EMULATOR_STATE) \
	    --venv $(EMULATOR_VENV) --host $(EMULATOR_HOST) --port $(EMULATOR_PORT)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ./deploy.sh --platform $(PLATFORM) --env $(ENV) --endpoint-url $(EMULATOR_URL) --yes

delete-local: $(STAMP) ## Delete the PLATFORM stack (ENV=dev) from the local emulator
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ./delete.sh --platform $(PLATFORM) --env $(ENV) --endpoint-url $(EMULATOR_URL) --yes

deploy: $(STAMP) ## Deploy PLATFORM to the real AWS account of your credentials (ENV=dev|test|prod; review first)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ./deploy.sh --platform $(PLATFORM) --env $(ENV) --review
