#!/usr/bin/env bash
# Runs the demo: migrate, load demo data, then the web server, a Celery worker and the
# periodic scheduler on the embedded defaults (SQLite + file-system broker). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DEBUG="${DEBUG:-1}"
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

  Logins (password: ${DEMO_PASSWORD:-claimlens-demo}):
    merchant1, merchant2   merchants, each owning one shop
    reviewer, senior       platform reviewers
    admin                  platform administrator (Django admin)

  A Celery worker and the periodic scheduler are running. Press Ctrl-C to stop.

INFO
wait -n "${pids[@]}"
