# blogapi — `make run` serves a development server, `make test` runs the whole suite.
# Both create the virtualenv (.venv) and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help run test lint format migrate clean bench bench-budgets

help:
	@echo "make run     set up, migrate the database and serve on http://$(HOST):$(PORT)"
	@echo "make test    set up and run the test suite (DATABASE_URL picks the database)"
	@echo "make lint    ruff lint and format check"
	@echo "make clients generate Python and TypeScript clients and check them on a live server"
	@echo "make bench   load-test gunicorn on one core with wrk (PostgreSQL; about 15 minutes)"
	@echo "make bench-budgets  the fair-use budgets on (Redis) against off, in turns (about 8 minutes)"

$(BIN)/python:
	@echo ">> creating virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	@echo ">> installing runtime dependencies"
	$(BIN)/pip install --quiet --progress-bar off -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	@echo ">> installing runtime and test dependencies"
	$(BIN)/pip install --quiet --progress-bar off -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime-installed

# The development server: DEBUG on (a built-in dev SECRET_KEY), SQLite unless DATABASE_URL says otherwise.
run: export DEBUG ?= true
run: $(VENV)/.runtime-installed
	$(BIN)/python manage.py migrate --noinput
	@echo ">> serving on http://$(HOST):$(PORT)/  (API docs: /api/docs/, admin: /admin/)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

migrate: $(VENV)/.runtime-installed
	$(BIN)/python manage.py migrate --noinput

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Load test on a fresh PostgreSQL database (BENCH_PG, BENCH_DB, BENCH_PORT; bench/run.py -h).
bench: $(VENV)/.runtime-installed
	@command -v wrk >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q wrk; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache

# Postman: the collection run headless by newman against a live gunicorn on PostgreSQL
# (DATABASE_URL, or blogapi_postman on 127.0.0.1); NEWMAN_ARGS='--folder posts' passes options to newman.
.PHONY: postman
postman/node_modules/.installed: postman/package.json postman/package-lock.json
	cd postman && npm ci --no-audit --no-fund
	@touch $@

postman: $(VENV)/.runtime-installed postman/node_modules/.installed
	postman/run $(NEWMAN_ARGS)

# Generated clients: a Python client walks the contract against gunicorn on PostgreSQL
# (DATABASE_URL, or blogapi_clients on 127.0.0.1), then tsc checks the real responses against
# the TypeScript types (clients/check, docs/clients.md).
.PHONY: clients
clients/ts/node_modules/.installed: clients/ts/package.json clients/ts/package-lock.json
	cd clients/ts && npm ci --no-audit --no-fund
	@touch $@

clients: export DATABASE_URL ?= postgres://root@127.0.0.1:5432/blogapi_clients
clients: $(VENV)/.dev-installed clients/ts/node_modules/.installed
	clients/check

# What the fair-use budgets cost: list, get, create and like with every budget on (limits nothing
# reaches, counted in Redis at BENCH_REDIS) against all off, the two servers taking turns.
BENCH_REDIS ?= redis://127.0.0.1:6379/3
BUDGETS_ON := USER_RATE_LIMIT=1000000/min,POST_RATE_LIMIT=1000000/hour,VOTE_RATE_LIMIT=1000000/hour
bench-budgets:
	$(MAKE) bench BENCH_ARGS="--no-scaling --scenarios list,get,create,vote --rounds 8 --duration 5 \
		--warmup 1 --variant off: --variant budgets:$(BUDGETS_ON),CACHE_URL=$(BENCH_REDIS) $(BENCH_ARGS)"
