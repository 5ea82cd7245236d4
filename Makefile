# The two commands a newcomer runs: `make run` and `make test`. Both set themselves up.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)

.PHONY: run test lint setup bench bench-full bench-pages clean screenshots

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

run: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) scripts/run_demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -n 2

# The README tour: the browser tests photograph each role's pages into test-artifacts/e2e/tour/
# (git-ignored); this copies them into docs/screenshots/, the only step that changes docs.
screenshots: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_auditor.py
	cp test-artifacts/e2e/tour/*.png docs/screenshots/

# Benchmarks (docs/benchmarks.md): quick (100k events, a few minutes) by default;
# `BENCH=--full make bench` or `make bench-full` for 10M events (hours on 2 cores).
# Needs the local PostgreSQL for the PostgreSQL half (`BENCH="--quick --engine sqlite"` without).
BENCH ?= --quick

bench: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -m bench $(BENCH)

bench-full: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -m bench --full

# Page speed in a real browser (docs/benchmarks.md, "Page speed"): demo database by default;
# `PAGES="--events 1000000" make bench-pages` puts a generated log before the demo history.
PAGES ?= --repeat 5

bench-pages: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -m bench.pages $(PAGES)

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
