# Two commands a newcomer needs: `make dashboard` and `make test`.
# Each creates .venv from pyproject.toml when it is missing or older than pyproject.toml.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: dashboard test lint lab bench notebooks chromium axe venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps record that the installed packages match pyproject.toml.
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	@echo "Installing the dashboard's Python packages into $(VENV) (about a minute the first time)..."
	$(PIP) -e . 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	@echo "Installing the Python packages and test tools into $(VENV) (a few minutes the first time)..."
	$(PIP) -e '.[test]' 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	touch $@ $(VENV)/.installed-runtime

venv: $(VENV)/.installed-test

# Debian's Chromium for the browser tests (Playwright drives it; no `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

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

dashboard: $(VENV)/.installed-runtime
	@echo "Starting the dashboard at http://127.0.0.1:8866 (Ctrl-C stops it)"
	$(BIN)/voila $(VOILA_ARGS)

# The clinician notebooks are committed with their outputs; nbval re-runs every notebook in
# notebooks/ and fails when a stored text output changes (e.g. a knowledge-base edit changed a
# result): re-run them on purpose with `make notebooks`. The sanitize file masks only truly
# volatile text (addresses, timings, paths). dashboard.ipynb (Voila's one-cell app) is committed
# without outputs, so nbval checks that it runs cleanly, and `make notebooks` leaves it alone.
NOTEBOOKS := notebooks/clinician_guide.ipynb notebooks/vignette_review.ipynb \
	notebooks/cohort_audit.ipynb
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg

# Lint and format check run first: they take a second and catch what the tests would not.
LINTED := aid tests benchmarks scripts
lint: $(VENV)/.installed-test
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

test: $(VENV)/.installed-test chromium $(AXE) lint
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest $(NBVAL) -p no:cacheprovider notebooks/

# Regenerate the seeded sample export, then execute every notebook in place, keeping outputs.
notebooks: $(VENV)/.installed-test
	$(BIN)/python scripts/make_sample.py
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=300 --ExecutePreprocessor.store_widget_state=False \
		--ExecutePreprocessor.record_timing=False $(NOTEBOOKS)

# Speed and memory figures (printed, never asserted): every script in benchmarks/, one by one.
bench: $(VENV)/.installed-test chromium
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Jupyter refuses to run as root without --allow-root: pass it only when we are root.
lab: $(VENV)/.installed-runtime
	@if [ "$$(id -u)" = 0 ]; then echo "Running as root: starting JupyterLab with --allow-root"; fi
	$(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
