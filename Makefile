# Two commands set everything up on a fresh machine with Python 3.11-3.13 and make:
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
DEMO_VERSION := 3
# measured on a fresh clone (README: Set-up)
DEMO_MINUTES := 5 (up to 17 on a busy machine)
DEMO_DISK := 1.7 GB
PYTEST_ARGS ?=
UV_VERSION := 0.13.8
# --inexact keeps pip and uv itself in the venv; never download a Python, use the venv's
UV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy $(BIN)/uv --quiet

.PHONY: install demo materialize ui test lock check-python clean-data

# uv installs the universal lock (uv.lock: one resolution for Python 3.11-3.13). It is bootstrapped
# from PyPI into the venv with pip, so a machine needs only Python and make.
$(VENV)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --locked --inexact --extra test --python $(BIN)/python
	touch $@

install: $(VENV)/.installed

# The instance configuration (dagster.yaml: the duckdb_writer pool limit) lives in DAGSTER_HOME.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# The demo dataset is generated once per (patients, seed); delete data/demo to regenerate.
demo: install $(DAGSTER_HOME)/dagster.yaml
	@$(BIN)/cardioml init-home >/dev/null
	@echo "make demo: writes a $(DEMO_PATIENTS)-patient demo dataset (6,888 ECG images) and materializes every asset."
	@echo "  takes about $(DEMO_MINUTES) minutes on 2 cores and needs about $(DEMO_DISK) of free disk under data/"
	@echo "  progress: the generator every 50 patients, then one line per finished step (full log: $(DAGSTER_HOME)/last_materialize.log)"
	@if [ -f $(CARDIOML_DATA_DIR)/.demo-$(DEMO_PATIENTS)-$(DEMO_SEED)-v$(DEMO_VERSION) ]; then \
	  echo "demo dataset already in $(CARDIOML_DATA_DIR) ($(DEMO_PATIENTS) patients, seed $(DEMO_SEED))"; \
	else \
	  $(BIN)/cardioml demo-data --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED) --out $(CARDIOML_DATA_DIR) && \
	  touch $(CARDIOML_DATA_DIR)/.demo-$(DEMO_PATIENTS)-$(DEMO_SEED)-v$(DEMO_VERSION); \
	fi
	$(MAKE) --no-print-directory materialize

# `dg launch` materializes every asset in this process; the whole log goes to a file, the screen
# gets one line per finished step and the image stage's progress.
materialize: install $(DAGSTER_HOME)/dagster.yaml
	@$(BIN)/cardioml init-home >/dev/null
	@echo "materializing every asset (dg launch --assets '*'); full log: $(DAGSTER_HOME)/last_materialize.log"
	@start=$$(date +%s.%N); \
	$(BIN)/python -m cardioml_pipeline.progress --log $(DAGSTER_HOME)/last_materialize.log -- $(BIN)/dg launch --assets '*' \
	  || { tail -40 $(DAGSTER_HOME)/last_materialize.log; echo "materialization failed: full log in $(DAGSTER_HOME)/last_materialize.log"; exit 1; }; \
	end=$$(date +%s.%N); \
	echo "materialized every asset from $(CARDIOML_DATA_DIR) in $$(awk "BEGIN{printf \"%.1f\", $$end - $$start}") s"; \
	echo "warehouse: $(CARDIOML_WAREHOUSE)"; \
	echo "query it:  $(BIN)/cardioml sql 'SELECT * FROM staging.patients LIMIT 5'   (or: $(BIN)/cardioml tables)"; \
	echo "open the UI: make ui   (then http://127.0.0.1:3000)"; \
	gallery=$$(ls -t $(CARDIOML_ARTIFACTS_DIR)/ecg_images/qc_gallery/run_*.html 2>/dev/null | head -1); \
	if [ -n "$$gallery" ]; then echo "QC gallery of the image stage (open in a browser): $$gallery"; fi; \
	echo "WFDB records of every patient's ECG: $(CARDIOML_ARTIFACTS_DIR)/exports/wfdb/"

ui: install $(DAGSTER_HOME)/dagster.yaml
	@$(BIN)/cardioml init-home >/dev/null
	$(BIN)/dg dev -h 127.0.0.1 -p 3000

# The browser tests need Debian's chromium: installed here when missing and we may (root + apt-get).
test: install
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	  else echo "chromium not found: the browser tests will be skipped (apt-get install chromium)"; fi; }
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# Re-resolve uv.lock from pyproject.toml (for Python 3.11-3.13 at once) and export it as
# requirements.lock for plain pip users (`pip install -r requirements.lock && pip install --no-deps -e .`).
lock: install
	$(UV) lock
	$(UV) export --frozen --no-hashes --no-emit-project --extra test -o requirements.lock

# A quick check that the project installs and its definitions load on another Python (CI runs it
# when one is installed): make check-python PYTHON_CHECK=/path/to/python3.13
check-python: install
	rm -rf .venv-check
	$(PYTHON_CHECK) -m venv .venv-check
	UV_PROJECT_ENVIRONMENT=.venv-check UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy $(BIN)/uv --quiet sync --locked --python .venv-check/bin/python
	.venv-check/bin/python -c "import sys, dagster; from cardioml_pipeline.definitions import defs; dagster.Definitions.validate_loadable(defs); print(f'Python {sys.version.split()[0]}: {len(list(defs.resolve_all_asset_keys()))} assets, definitions load and validate')"
	rm -rf .venv-check

clean-data:
	rm -rf data/demo data/warehouse data/artifacts data/dagster_home
