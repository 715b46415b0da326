# The README's commands. Everything the project needs is installed from its own files.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test test-fast system-deps bench soak lint install migrate seed clean translations

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3.11"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,mysql]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/privacy db upgrade

# The demo seed skips an operator's shop (PRIVACY_POLICIES_DIR) and refuses production.
seed: migrate
	@if [ "$${PRIVACY_ENV:-development}" = production ]; then \
		echo "PRIVACY_ENV=production: no demo data"; else $(BIN)/privacy demo seed; fi

run: seed
	@echo ""
	@echo "privacy-service on http://127.0.0.1:$(PORT)"
	@echo "  customer page:  http://127.0.0.1:$(PORT)/  (request my data)"
	@echo "  staff dashboard: http://127.0.0.1:$(PORT)/staff/  demo login admin@shop.example / demo-admin-password"
	@echo "  API docs:       http://127.0.0.1:$(PORT)/api/docs"
	@if [ -z "$${PRIVACY_POLICIES_DIR:-}" ]; then \
		echo "  demo customer:  demo@example.com / 13800138000"; \
	else echo "  shop:           the data map in $${PRIVACY_POLICIES_DIR}"; fi
	@if [ -z "$${PRIVACY_SMTP_HOST:-}" ]; then \
		echo "  one-time codes: instance/outbox.log (no SMTP configured)"; fi
	@echo ""
	@# Two processes, no server to install: the web app (with the scheduler) and one queue
	@# worker beside it, on the embedded queue (instance/queue.db). The worker has real threads
	@# (the web worker is gevent: a CPU-bound export inside it would stall every page). Ctrl-C
	@# stops both.
	export PRIVACY_PUBLIC_URL=$${PRIVACY_PUBLIC_URL:-http://127.0.0.1:$(PORT)}; \
	$(BIN)/privacy worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	PRIVACY_SCHEDULER_ENABLED=true $(BIN)/gunicorn -c gunicorn.conf.py \
		--workers 1 --bind 127.0.0.1:$(PORT) wsgi:app

# Chromium, a CJK font and pg_dump: installed with apt-get when run as root, otherwise the exact
# command to run is printed and the target stops.
system-deps:
	@bash scripts/system-deps.sh

# Tests run in two xdist workers per core: each test has its own database, so workers never
# meet, and many tests wait rather than compute (a killed worker's restart, retry delays, the
# browser, PostgreSQL's round trips), so a second worker per core fills those waits (whole suite
# on 2 cores: -n 2 317 s, -n 4 254 s, -n 6 277 s). JOBS=0 runs them in one process (e.g. to read
# a failure's output in order).
JOBS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))
test: install system-deps
	$(BIN)/python -m pytest -n $(JOBS) $(PYTEST_ARGS)

# The quick subset for the edit-test loop, not for CI: no browser, nothing marked slow, and the
# service database on SQLite only (TEST_DATABASE_URL emptied; `make test` runs every backend).
test-fast: install
	TEST_DATABASE_URL= $(BIN)/python -m pytest -n $(JOBS) -m "not browser and not slow" $(PYTEST_ARGS)

# bench/ is a package run from this folder; each benchmark also runs alone (python -m bench.queue).
bench: install
	$(BIN)/python -m bench.run

# The crash matrix at length: CRASH_KILLS kills of each scenario (export, deletion, closure,
# retention purge, key rotation) per backend, ROUNDS times with fresh random kill points.
# On PostgreSQL too when TEST_DATABASE_URL is set.
CRASH_KILLS ?= 10
ROUNDS ?= 3
soak: install
	for round in $$(seq 1 $(ROUNDS)); do \
		CRASH_KILLS=$(CRASH_KILLS) $(BIN)/python -m pytest -q -s -m slow \
			tests/test_crash_matrix.py || exit 1; \
	done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the import contract in pyproject.toml (docs/architecture.md)

# For translators: collect the texts (Chinese msgids) from the code and templates into
# messages.pot, merge them into each language's .po, and compile the .mo files. Commit all
# three: an install takes the compiled catalogs as they are (tests/test_translations.py fails
# when a .mo is stale or a text has no translation).
CATALOGS := privacy_service/translations
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --add-location=file \
		--sort-output --no-wrap --project=privacy-service --copyright-holder=privacy-service \
		-o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-wrap --ignore-obsolete
	$(BIN)/pybabel compile -d $(CATALOGS) --statistics

clean:
	rm -rf $(VENV) instance .pytest_cache
