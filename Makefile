# biodiv-obs: one-command entry points. Everything installs into ./.venv on first use.
#   make run    - pull the sample data (DVC) and run the whole pipeline (dvc repro)
#   make test   - run the test suite (pulls the sample data first: the end-to-end test uses it), browser tests included
#   make test-browser - only the real-browser tests of the web pages (tests/browser; Debian's chromium)
#   make serve  - start the detections API on http://127.0.0.1:8000 (docs at /docs)
#   make mlflow - open the MLflow UI on http://127.0.0.1:5000
# Progress: a bar per stage on a terminal, a line every 30 s otherwise (BIODIV_PROGRESS=0: none, =bar, =lines).

VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The team remote holds the raw data; pipeline outputs are rebuilt by `dvc repro`, not pulled.
RAW := data/raw/camera_traps data/raw/acoustic data/raw/stations data/weights

.PHONY: install run test test-browser test-pg serve mlflow lint clean screenshots

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[train,dev]"
	touch $@

install: $(VENV)/.installed

run: install
	dvc pull $(RAW)
	dvc repro
	$(PY) -m pipeline.summary   # `dvc metrics show` prints every figure as one wide table

test: install
	dvc pull -q $(RAW)
	$(PY) -m pytest -q

# The web pages in headless Chromium (/usr/bin/chromium or BIODIV_CHROMIUM; skipped without one unless
# BIODIV_REQUIRE_BROWSER=1). `make test` runs them too.
test-browser: install
	$(PY) -m pytest -q tests/browser

# The test suite against SQLite and a throw-away PostgreSQL server (Debian's postgresql, see .ci/postgres.sh).
test-pg: install
	dvc pull -q $(RAW)
	eval "$$(.ci/postgres.sh start /tmp/biodiv-test-pg 55432)" && BIODIV_REQUIRE_POSTGRES=1 $(PY) -m pytest -q; \
	  rc=$$?; .ci/postgres.sh stop /tmp/biodiv-test-pg; exit $$rc

lint: install
	ruff check .
	lint-imports

serve: install
	$(PY) -m serve

screenshots: install  # every page in en + zh as PNG under docs/screenshots/ (seeded server, Debian's chromium)
	$(PY) docs/screenshots/make_screenshots.py

mlflow: install
	mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000

# Removes the local database, uploads and MLflow store; the next `make run` republishes
# (reports/publish.json is removed so DVC knows the publish stage must run again).
clean:
	rm -rf var mlflow.db mlruns reports/publish.json
