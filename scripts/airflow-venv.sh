#!/usr/bin/env bash
# Creates the Python environment with real Airflow that the watch tests and the reload benchmark
# run (`airflow dag-processor` + `airflow api-server`, SQLite). Idempotent; prints its path.
#   DEVFLOW_AIRFLOW_VENV   where to create it (default: target/airflow-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
AIRFLOW_VERSION=3.3.2
venv=${DEVFLOW_AIRFLOW_VENV:-$PWD/target/airflow-venv}
if [ -x "$venv/bin/airflow" ] && [ "$("$venv/bin/airflow" version 2>/dev/null)" = "$AIRFLOW_VERSION" ]; then
    echo "$venv"
    exit 0
fi
if command -v uv >/dev/null; then
    uv=(uv)
else
    python3 -m pip install --quiet --disable-pip-version-check uv >&2
    uv=(python3 -m uv)
fi
"${uv[@]}" venv --quiet --allow-existing --python python3 "$venv" >&2
"${uv[@]}" pip install --quiet --python "$venv/bin/python" "apache-airflow==$AIRFLOW_VERSION" >&2
"$venv/bin/airflow" version >&2
echo "$venv"
