# Parasat: two commands for a fresh machine (see README).
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
PORT ?= 8501
WORKERS ?= 2
CLUSTER_ARGS ?=

.PHONY: run cluster cluster-deps test install install-test system-deps lint typecheck pytest sample bench load \
	load-cluster bench-national audit

run: install  ## install and start the dashboard on the embedded database (sample data on first run)
	$(PYTHON) -m streamlit run app.py --server.port $(PORT)

# WORKERS app servers on one PostgreSQL behind HAProxy on PORT (scripts/cluster.py; README "Deploying for many
# users"): KPI_DB=postgresql://... for an existing database, unset for its own under var/pg (sample loaded once).
# CLUSTER_ARGS=--postgres-only starts just that PostgreSQL and prints its URL; --address 0.0.0.0 opens the proxy.
cluster: install cluster-deps
	$(PYTHON) scripts/cluster.py --port $(PORT) --workers $(WORKERS) $(CLUSTER_ARGS)

cluster-deps:  ## only what the cluster needs from Debian (system-deps installs it too, with the test tools)
	@if ! test -x /usr/sbin/haproxy || ! test -x /usr/lib/postgresql/15/bin/initdb; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			haproxy postgresql-15 >/dev/null; \
	fi

test: install-test lint typecheck pytest  ## install what the tests need (Debian chromium included) and run them all

install:
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt

# axe-core (npm) for the accessibility test, tests/test_a11y.py; node and npm are on the machine.
AXE_VERSION ?= 4.14.1

install-test: system-deps
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	@test -f .cache/axe/node_modules/axe-core/package.json \
		&& grep -q '"version": "$(AXE_VERSION)"' .cache/axe/node_modules/axe-core/package.json \
		|| npm install --no-save --no-audit --no-fund --silent --prefix .cache/axe axe-core@$(AXE_VERSION)

# Debian packages: Chromium for the browser tests and chart export, LibreOffice Impress for briefing PDFs,
# poppler for rendering them to images, DejaVu fonts for Cyrillic; HAProxy for `make cluster` and its test,
# PostgreSQL 15's server binaries for the tests' own PostgreSQL (tests/postgres.py) and the cluster's.
SYSTEM_PACKAGES = chromium libreoffice-impress poppler-utils fonts-dejavu-core haproxy postgresql-15

system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v soffice >/dev/null 2>&1 \
			|| ! command -v pdftoppm >/dev/null 2>&1 || ! test -x /usr/sbin/haproxy \
			|| ! test -x /usr/lib/postgresql/15/bin/initdb; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			$(SYSTEM_PACKAGES) >/dev/null; \
	fi

lint:
	$(PYTHON) -m ruff check kpi tests app.py pages scripts

typecheck:
	$(PYTHON) -m mypy

pytest:
	$(PYTHON) -m pytest -n 2 -q

sample:
	$(PYTHON) -m kpi sample --out data/sample

bench:
	$(PYTHON) scripts/bench_ingest.py
	$(PYTHON) scripts/bench_report.py
	$(PYTHON) scripts/bench_pages.py
	$(PYTHON) scripts/bench_briefing.py

load:
	$(PYTHON) scripts/load_test.py

load-cluster: install cluster-deps  ## the load benchmark through HAProxy, 1 then 2 servers on one PostgreSQL; prints the ratio
	$(PYTHON) scripts/load_bench.py --cluster

bench-national: install cluster-deps  ## `report` at national scale and over 10 M facts, on DuckDB and PostgreSQL
	$(PYTHON) scripts/bench_report.py --national --pg
	$(PYTHON) scripts/bench_report.py --ten-million --pg

audit:  ## needs a vulnerability database reachable from the machine (this workplace reaches only package indexes)
	$(PYTHON) -m pip install --quiet pip-audit && $(PYTHON) -m pip_audit -r requirements.txt
