# Two commands set everything up on a fresh machine:
#   make demo   install, write the 574-patient demo dataset, materialize every asset
#   make test   install, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
export CARDIOML_DATA_DIR ?= $(CURDIR)/data/demo
export CARDIOML_WAREHOUSE ?= $(CURDIR)/data/warehouse/cardioml.duckdb
export CARDIOML_ARTIFACTS_DIR ?= $(CURDIR)/data/artifacts
DEMO_PATIENTS ?= 574
DEMO_SEED ?= 0
# bumped when the generator's output changes, so `make demo` writes the demo data again
DEMO_VERSION := 2
PYTEST_ARGS ?=

.PHONY: install demo materialize ui test lock clean-data

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install: $(VENV)/.installed

# The demo dataset is generated once per (patients, seed); delete data/demo to regenerate.
demo: install
	@$(BIN)/cardioml init-home >/dev/null
	@if [ -f $(CARDIOML_DATA_DIR)/.demo-$(DEMO_PATIENTS)-$(DEMO_SEED)-v$(DEMO_VERSION) ]; then \
	  echo "demo dataset already in $(CARDIOML_DATA_DIR) ($(DEMO_PATIENTS) patients, seed $(DEMO_SEED))"; \
	else \
	  $(BIN)/cardioml demo-data --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED) --out $(CARDIOML_DATA_DIR) && \
	  touch $(CARDIOML_DATA_DIR)/.demo-$(DEMO_PATIENTS)-$(DEMO_SEED)-v$(DEMO_VERSION); \
	fi
	$(MAKE) --no-print-directory materialize

materialize: install
	@$(BIN)/cardioml init-home >/dev/null
	@start=$$(date +%s.%N); \
	$(BIN)/dagster asset materialize -m cardioml_pipeline.definitions --select '*' > $(DAGSTER_HOME)/last_materialize.log 2>&1 \
	  || { tail -40 $(DAGSTER_HOME)/last_materialize.log; echo "materialization failed: full log in $(DAGSTER_HOME)/last_materialize.log"; exit 1; }; \
	end=$$(date +%s.%N); \
	echo "materialized every asset from $(CARDIOML_DATA_DIR) in $$(awk "BEGIN{printf \"%.1f\", $$end - $$start}") s"; \
	echo "warehouse: $(CARDIOML_WAREHOUSE)"; \
	echo "query it:  $(BIN)/cardioml sql 'SELECT * FROM staging.patients LIMIT 5'   (or: $(BIN)/cardioml tables)"; \
	echo "open the UI: make ui   (then http://127.0.0.1:3000)"

ui: install
	@$(BIN)/cardioml init-home >/dev/null
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The browser tests need Debian's chromium: installed here when missing and we may (root + apt-get).
test: install
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	  else echo "chromium not found: the browser tests will be skipped (apt-get install chromium)"; fi; }
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# Re-resolve the full dependency lock from pyproject.toml in a scratch venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	.lock-venv/bin/pip freeze --exclude-editable --disable-pip-version-check | grep -v '^cardioml-pipeline' > requirements.lock
	rm -rf .lock-venv

clean-data:
	rm -rf data/demo data/warehouse data/artifacts data/dagster_home
