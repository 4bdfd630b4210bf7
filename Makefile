# The Hanoi accountability portal.
#   make run    the portal on http://127.0.0.1:5000 with SQLite and demo data
#   make test   ruff, then the tests on SQLite, then on PostgreSQL (PG_URL) with the browser tests
#   make browser   Debian's Chromium for the browser tests (apt-get, as root; never a download)
#   make lint   ruff only (style, and the security rules S)
#   make audit  pip-audit over the pinned dependencies (requirements.lock)
#   make lock   pin the virtualenv's packages into requirements.lock
#   make clean  remove the virtualenv, the local database and caches

PY ?= python3
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

VENV    := .venv
PYTHON  := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
FLASK   := $(VENV)/bin/flask --app app
PYTEST  := $(VENV)/bin/pytest -q -p no:cacheprovider
RUFF    := $(VENV)/bin/ruff
PYBABEL := $(VENV)/bin/pybabel
STAMP   := $(VENV)/.installed
TRANSLATIONS := portal/translations
DEV     := PORTAL_ENV=development

.PHONY: install run test lint audit lock clean browser e2e-deps

install: $(STAMP)
	@if find $(TRANSLATIONS) -name '*.po' 2>/dev/null | grep -q .; then \
		$(PYBABEL) compile -d $(TRANSLATIONS); \
	fi

$(PYTHON):
	$(PY) -m venv $(VENV)

# Reinstall only when the dependencies may have changed; every package at its pinned version.
$(STAMP): pyproject.toml requirements.lock | $(PYTHON)
	$(PIP) install -q -c requirements.lock -e '.[dev]'
	touch $@

run: install
	$(DEV) $(FLASK) db upgrade
	$(DEV) $(FLASK) seed agencies
	$(DEV) $(FLASK) seed demo
	$(DEV) $(FLASK) run --host 127.0.0.1 --port 5000

# Exits 1 and says so when the PostgreSQL server in PG_URL does not answer within 3 s.
define PG_CHECK
import os, sys
import psycopg
from sqlalchemy.engine import make_url
url = make_url(os.environ["PG_URL"])
try:
    psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                    connect_timeout=3).close()
except Exception as error:
    where = url.render_as_string(hide_password=True)
    print(f"PostgreSQL is not reachable at {where}: the PostgreSQL leg (every test) was SKIPPED")
    print("  " + " ".join(str(error).split()))
    sys.exit(1)
endef
export PG_CHECK

# The browser tests (tests/e2e, PostgreSQL leg) drive Debian's Chromium and inject axe-core.
CHROMIUM := /usr/bin/chromium
AXE      := tests/e2e/node_modules/axe-core/axe.min.js

browser:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi; \
	if [ ! -x $(CHROMIUM) ]; then \
		echo "The browser tests need Debian's Chromium at $(CHROMIUM), and it could not be installed."; \
		echo "Install it as root: apt-get update && apt-get install -y chromium"; \
		echo "(Playwright's own browser download is not used.)"; \
		exit 1; \
	fi

# axe-core from npm, at the version tests/e2e/package-lock.json pins.
$(AXE): tests/e2e/package.json tests/e2e/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for axe-core (tests/e2e/package.json): install Node.js and npm"; exit 1; }
	npm ci --prefix tests/e2e --no-audit --no-fund
	touch $@

e2e-deps: browser $(AXE)

test: install e2e-deps
	$(RUFF) check .
	TEST_DATABASE_URL= $(PYTEST)
	@if PG_URL='$(PG_URL)' $(PYTHON) -c "$$PG_CHECK"; then \
		echo "PostgreSQL leg: TEST_DATABASE_URL=<PG_URL> $(PYTEST)"; \
		TEST_DATABASE_URL='$(PG_URL)' $(PYTEST); \
	elif [ "$${REQUIRE_POSTGRES:-}" = 1 ]; then \
		echo "REQUIRE_POSTGRES=1: a run without PostgreSQL is a failure"; \
		exit 1; \
	fi

# The city-scale benchmark (README, "Benchmark"): seeds N cases into the `bench` database on
# 127.0.0.1:5432, serves the portal with gunicorn, loads it and writes bench/results.{json,md}.
N ?= 100000
bench: install
	$(PYTHON) -m bench.run --cases $(N) $(BENCH_ARGS)

lint: $(STAMP)
	$(RUFF) check .

audit: $(STAMP)
	$(PYTHON) .ci/audit.py requirements.lock

# After a change to the dependencies in pyproject.toml: install, then pin what was installed.
lock: | $(PYTHON)
	$(PIP) install -q -e '.[dev]'
	$(PIP) freeze --exclude-editable | grep -v '^-e ' > requirements.lock
	touch $(STAMP)

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
