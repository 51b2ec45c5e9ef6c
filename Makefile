# The two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test lint format install worker messages bench browser clean totp serve-prod backup-verify

$(VENV)/.installed: pyproject.toml constraints.txt
	@scripts/bootstrap

install: $(VENV)/.installed

## Set up, migrate, load demo data and serve http://127.0.0.1:8000
run: install
	@mkdir -p var
	@scripts/ensure-fonts
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(PY) manage.py seed_demo
	DEBUG=$${DEBUG:-true} LOG_FORMAT=$${LOG_FORMAT:-console} scripts/serve

## Serve as production does: gunicorn (deploy/gunicorn.conf.py), DEBUG off, whitenoise
serve-prod: install
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	VENV=$(VENV) scripts/serve-prod

## Dump DATABASE_URL, restore it into a scratch database, verify ledger and audit trail
backup-verify: install
	VENV=$(VENV) scripts/backup-verify $(if $(ANCHOR_FILE),--anchor-file $(ANCHOR_FILE))

## The whole suite on real PostgreSQL and Redis (never SQLite)
test: install browser
	@exports=$$($(PY) -m portal.preflight) || exit 2; eval "$$exports"; \
	  $(VENV)/bin/pytest $(PYTEST_ARGS)

browser:
	@scripts/ensure-chromium

## ruff, and mypy (django-stubs; [tool.mypy] in pyproject.toml) over every
## services.py and the access app when it exists
MYPY_PATHS = $(filter-out access/%,$(wildcard */services.py)) $(wildcard access)
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_PATHS)

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## The demo staff's current one-time code: `make totp` (staff) or `make totp WHO=admin`
WHO ?= staff
totp: install
	@$(PY) manage.py demo_totp $(WHO)

## A Celery worker (needs REDIS_URL or CELERY_BROKER_URL); run several for more throughput
worker: install
	$(VENV)/bin/celery -A portal worker -l info

## Regenerate and compile the catalogues; Chinese texts come from locale/zh_Hans/src/*.json
messages: install
	$(PY) manage.py makemessages -l zh_Hans -l en --no-location --ignore '.venv/*' --ignore 'var/*' --ignore 'bench/*'
	$(PY) scripts/po_fill.py
	$(PY) manage.py compilemessages --ignore '.venv/*'

## Benchmarks (not tests): see bench/README.md
bench: install
	@if [ -x bench/run ]; then bench/run; else echo "no benchmarks yet"; fi

clean:
	rm -rf $(VENV) var/portal.sqlite3 var/static
