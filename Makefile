# Claimlens: `make demo` runs the product, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint format messages bench bench-quality bench-localisation bench-speed bench-load bench-api bench-faults bench-video bench-pages bench-scale bench-ingest bench-stats check-deploy clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Claimlens needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[dev,prod]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@bash scripts/demo.sh

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Catalogues: the compiled .mo files are committed, so running needs no gettext.
messages: $(STAMP)
	bash scripts/messages.sh

check-deploy: $(STAMP)
	CLAIMLENS_PRODUCTION=1 SECRET_KEY=$$($(PY) -c 'import secrets;print(secrets.token_urlsafe(50))') \
	ALLOWED_HOSTS=claimlens.example.com $(PY) manage.py check --deploy --fail-level WARNING

bench: bench-quality bench-speed bench-load

bench-quality: $(STAMP)
	$(PY) bench/quality.py

bench-localisation: $(STAMP)
	$(PY) bench/localisation.py

bench-speed: $(STAMP)
	$(PY) bench/speed.py

# Queue and API load on a throw-away PostgreSQL + Redis + gunicorn + Celery stack.
bench-load: $(STAMP)
	$(PY) bench/load.py $(BENCH_ARGS)

# The merchant pages (inbox, products, claim) at 100k claims of one shop on a throw-away PostgreSQL database
# (claimlens_portal_pages; BENCH_PAGES_SERVER / BENCH_PAGES_DATABASE to change it).
bench-pages: $(STAMP)
	$(PY) bench/pages.py $(BENCH_ARGS)

# Worker kills, broker restarts and outages, a database crash, a webhook receiver down,
# on a private PostgreSQL cluster + private redis-server + gunicorn + Celery (loopback).
bench-faults: $(STAMP)
	$(PY) bench/faults.py $(BENCH_ARGS)

# A 60 s 1080p packing video (generated with PyAV) turned into reference frames, one core.
bench-video: $(STAMP)
	$(PY) bench/video.py
# Pages, API lists, take-next, deadlines and the audit log at 10k / 100k / 1M claims on
# private PostgreSQL databases claimlens_scale_<size> (BENCH_ARGS="--sizes 1m --reuse").
bench-scale: $(STAMP)
	nice -n 10 $(PY) bench/scale.py $(BENCH_ARGS)

# Claim ingestion (order + claim, no photo) through gunicorn (4 sync workers, DEBUG off) on a
# throw-away PostgreSQL database claimlens_ingest_bench: two requests a claim, then batches
# of 50 and 100 (POST /api/v1/claims/batch/); claims/s and the web workers' CPU per claim.
bench-ingest: $(STAMP)
	nice -n 10 $(PY) bench/ingest.py $(BENCH_ARGS)

# The statistics page from the daily rollups at 1M claims, on a copy of claimlens_scale_1m
# (claimlens_stats_1m; BENCH_ARGS="--drop" removes it after, "--no-rebuild" reuses it).
# Not bench/statistics.py: that name would shadow the standard library's module for
# every script in bench/.
bench-stats: $(STAMP)
	nice -n 10 $(PY) bench/statistics_1m.py $(BENCH_ARGS)

# The client-side walk-through of the whole API against a running server (make demo).
bench-api: $(STAMP)
	$(PY) bench/api_integration.py

clean:
	rm -rf $(VENV) var staticfiles
