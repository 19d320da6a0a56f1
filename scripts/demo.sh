#!/usr/bin/env bash
# Runs the demo: migrate, load demo data, then the web server, a Celery worker and the
# periodic scheduler on the embedded defaults (SQLite + file-system broker). Ctrl-C stops all.
# DEBUG is off, as in production: errors get the site's own pages, never a traceback, and
# WhiteNoise serves the static files straight from static/ (no collectstatic needed).
# CLAIMLENS_DEMO lists the demo's logins on the login page; e-mails (password resets) are
# printed here, on the console.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DEBUG="${DEBUG:-0}"
export CLAIMLENS_DEMO=1
PORT="${PORT:-8000}"
mkdir -p var
$PY manage.py migrate --no-input
$PY manage.py load_demo

pids=()
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "Stopping Claimlens demo..."
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

.venv/bin/celery -A config worker --loglevel=WARNING --concurrency=2 --hostname="demo@%h" &
pids+=($!)
.venv/bin/celery -A config beat --loglevel=WARNING --schedule=var/celerybeat-schedule &
pids+=($!)
$PY manage.py runserver "127.0.0.1:$PORT" --noreload &
pids+=($!)

sleep 2
cat <<INFO

  Claimlens is running:  http://127.0.0.1:$PORT/
  Admin:                 http://127.0.0.1:$PORT/admin/
  API docs:              http://127.0.0.1:$PORT/api/docs/

$($PY manage.py load_demo --logins | sed 's/^/  /')

  A Celery worker and the periodic scheduler are running. Press Ctrl-C to stop.

INFO
wait -n "${pids[@]}"
