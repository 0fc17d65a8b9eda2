# Two commands a newcomer needs: `make dashboard` and `make test`.
# Each creates .venv from pyproject.toml when it is missing or older than pyproject.toml.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: dashboard test lint lab bench notebooks chromium lforms postgresql haproxy axe venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps record that the installed packages match pyproject.toml.
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	@echo "Installing the dashboard's Python packages into $(VENV) (about a minute the first time)..."
	$(PIP) -e '.[ui]' 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	@echo "Installing the Python packages and test tools into $(VENV) (a few minutes the first time)..."
	$(PIP) -e '.[test,ui]' 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	touch $@ $(VENV)/.installed-runtime

# The dashboard's Voila template (voila.json: "template": "aid"), linked where Voila looks for it,
# so that editing it in share/ takes effect without a reinstall.
TEMPLATE_LINK := $(VENV)/share/jupyter/voila/templates/aid
$(TEMPLATE_LINK): | $(BIN)/python
	mkdir -p $(dir $@)
	ln -sfn "$(CURDIR)/share/jupyter/voila/templates/aid" $@

venv: $(VENV)/.installed-test $(TEMPLATE_LINK)

# Debian's Chromium for the browser tests (Playwright drives it; no `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# LHC-Forms (the lforms npm package, pinned with its dependencies by package-lock.json) for the
# browser test that renders the aid's FHIR Questionnaire. Installed once; the test needs no network.
# --legacy-peer-deps: lforms' Angular packages declare peer ranges that npm 10+ cannot reconcile
# (the lock file was made with the same flag); --ignore-scripts: only the prebuilt dist files are used.
LFORMS_DIR := tests/browser/fhir
$(LFORMS_DIR)/node_modules/.package-lock.json: $(LFORMS_DIR)/package-lock.json $(LFORMS_DIR)/package.json
	@command -v npm >/dev/null 2>&1 || { \
		echo "Installing Debian's npm for the LHC-Forms test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	cd $(LFORMS_DIR) && npm ci --ignore-scripts --legacy-peer-deps --no-audit --no-fund --loglevel=error
	touch $@

lforms: $(LFORMS_DIR)/node_modules/.package-lock.json

# Debian's PostgreSQL server for the store tests (tests/pg_server.py starts a throwaway cluster
# in a temporary folder with initdb/pg_ctl; nothing is configured system-wide).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "Installing Debian's postgresql for the store tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Debian's HAProxy: the reverse proxy with sticky sessions in front of several Voila servers
# (deploy/haproxy.cfg, docs/deploy.md, tests/deploy/).
haproxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
		echo "Installing Debian's haproxy for the several-servers test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }

# axe-core (npm, pinned by package-lock.json) for the accessibility browser tests; Debian's nodejs
# and npm when missing. Installed once; the tests then need no network.
AXE := node_modules/axe-core/axe.min.js
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		echo "Installing Debian's nodejs and npm for axe-core"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

axe: $(AXE)

# Settings (127.0.0.1:8866, sources stripped, tracebacks hidden, preheated kernel, no files served,
# a Content-Security-Policy so the page loads nothing from other sites) live in voila.json;
# config_file_paths names it so no user-level Voila config can change them.
VOILA_ARGS := --Voila.config_file_paths="$(CURDIR)" notebooks/dashboard.ipynb

# A clinic's clinic.toml in the repository is used when present (aid reads ./clinic.toml or
# AID_CLINIC_CONFIG; Voila's kernel runs in notebooks/, so the path is passed).
CLINIC := $(if $(wildcard clinic.toml),AID_CLINIC_CONFIG="$(CURDIR)/clinic.toml",)

dashboard: $(VENV)/.installed-runtime $(TEMPLATE_LINK)
	@echo "Starting the dashboard at http://127.0.0.1:8866 (Ctrl-C stops it)"
	$(CLINIC) $(BIN)/voila $(VOILA_ARGS)

# The clinician notebooks are committed with their outputs; nbval re-runs every notebook in
# notebooks/ and fails when a stored text output changes (e.g. a knowledge-base edit changed a
# result): re-run them on purpose with `make notebooks`. The sanitize file masks only truly
# volatile text (addresses, timings, paths). dashboard.ipynb (Voila's one-cell app) is committed
# without outputs, so nbval checks that it runs cleanly, and `make notebooks` leaves it alone.
NOTEBOOKS := notebooks/clinician_guide.ipynb notebooks/vignette_review.ipynb \
	notebooks/cohort_audit.ipynb
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg

# Lint, format and type checks run first: they take seconds and catch what the tests would not.
# mypy reads its settings (files = aid, strictness) from pyproject.toml.
LINTED := aid tests benchmarks scripts
lint: $(VENV)/.installed-test
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# The tests that run in-process (engine, knowledge, UI without a browser, notebooks' guard) are
# spread over every core (pytest-xdist); the ones that start real services (SQLite and
# PostgreSQL writers, Voila servers, Chromium, HAProxy) run one after another, so that no test
# meets a server slowed by another test. Every test runs exactly once: the two lists cover tests/.
IN_PROCESS_TESTS := tests/unit tests/ui tests/test_notebooks_nbval_guard.py
SERVICE_TESTS := tests/store tests/serving tests/browser tests/deploy
test: $(VENV)/.installed-test $(TEMPLATE_LINK) chromium $(AXE) lforms postgresql haproxy lint
	$(BIN)/python -m pytest -n auto --durations=10 $(IN_PROCESS_TESTS)
	$(BIN)/python -m pytest --durations=10 $(SERVICE_TESTS)
	$(BIN)/python -m pytest $(NBVAL) -p no:cacheprovider notebooks/

# Regenerate the seeded sample export, then execute every notebook in place, keeping outputs.
notebooks: $(VENV)/.installed-test
	$(BIN)/python scripts/make_sample.py
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=300 --ExecutePreprocessor.store_widget_state=False \
		--ExecutePreprocessor.record_timing=False $(NOTEBOOKS)

# Speed and memory figures (printed, never asserted): every script in benchmarks/, one by one.
bench: $(VENV)/.installed-test $(TEMPLATE_LINK) chromium
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Jupyter refuses to run as root without --allow-root: pass it only when we are root.
lab: $(VENV)/.installed-runtime
	@if [ "$$(id -u)" = 0 ]; then echo "Running as root: starting JupyterLab with --allow-root"; fi
	$(CLINIC) $(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis $(LFORMS_DIR)/node_modules
