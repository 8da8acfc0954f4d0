#!/usr/bin/env bash
# Creates a Python environment with real Airflow, the peer of the tests and benchmarks that run
# Airflow itself (`airflow dag-processor`, `scheduler`, `api-server`/`webserver`), and prints its
# path. Idempotent: an environment that already runs the asked version is left as it is.
#   scripts/airflow-venv.sh [VERSION]     VERSION defaults to 3.3.2
#   DEVFLOW_VENVS   the folder the environments go in, as airflow-<VERSION> (default: target)
# Each holds what the chart's images hold: the FAB auth manager the chart configures
# (apache-airflow-providers-fab; Airflow 2 ships it) and the PostgreSQL driver.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-3.3.2}
venv=${DEVFLOW_VENVS:-$PWD/target}/airflow-$version
if [ -x "$venv/bin/airflow" ] && [ "$("$venv/bin/airflow" version 2>/dev/null | tail -n 1)" = "$version" ]; then
    echo "$venv"
    exit 0
fi
if command -v uv >/dev/null; then
    uv=(uv)
else
    python3 -m pip install --quiet --disable-pip-version-check uv >&2
    uv=(python3 -m uv)
fi
packages=("apache-airflow[postgres]==$version")
case "$version" in
    2.*) ;;
    *) packages+=(apache-airflow-providers-fab) ;;
esac
"${uv[@]}" venv --quiet --allow-existing --python python3 "$venv" >&2
"${uv[@]}" pip install --quiet --python "$venv/bin/python" "${packages[@]}" >&2
"$venv/bin/airflow" version >&2
echo "$venv"
