# Acceptance run: deploy PLATFORM, check it end to end, delete it, report (docs/acceptance.md).
# Included by the main Makefile (`-include mk/*.mk`); uses PY, STAMP, VENV, PLATFORM_NAME, and at
# recipe time the emulator variables of mk/deploy.mk.

ENV             ?= dev
ENDPOINT_URL    ?=
ACCEPTANCE_ARGS ?=

.PHONY: acceptance acceptance-local

acceptance: $(STAMP) ## Deploy PLATFORM (ENV=dev) with deploy.sh --yes, wait, probe, diagnose, delete; JUnit report in reports/ (ENDPOINT_URL=, ACCEPTANCE_ARGS=; secrets from STACKGEN_PARAM_*)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m generator.acceptance --platform $(PLATFORM_NAME) --env $(ENV) \
	    $(if $(ENDPOINT_URL),--endpoint-url $(ENDPOINT_URL)) $(ACCEPTANCE_ARGS)

# The same against the local emulator, started in the background first (as deploy-local does).
acceptance-local: $(STAMP) ## make acceptance against the local emulator (started if needed; make emulator-stop stops it)
	@$(MAKE) --no-print-directory $(EMULATOR_STAMP)
	$(PY) -m generator.deploy.emulator start --state-dir $(EMULATOR_VENV)/run \
	    --venv $(EMULATOR_VENV) --host $(EMULATOR_HOST) --port $(EMULATOR_PORT)
	@$(MAKE) --no-print-directory acceptance ENDPOINT_URL=$(EMULATOR_URL)
