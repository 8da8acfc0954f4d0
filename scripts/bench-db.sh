#!/usr/bin/env bash
# The upgrade rehearsal at a realistic size, as tests/it/database.rs runs it: Debian's PostgreSQL
# on 127.0.0.1, Airflow 3.2.2 migrates it, `devflow db seed` adds DEVFLOW_BENCH_RUNS DAG runs
# (default 3000), `devflow db snapshot`, Airflow 3.3.2 migrates it, `devflow db restore`.
# Prints a Markdown table. PROFILE=dev uses the debug build the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVFLOW_VENVS=$(dirname "$(scripts/airflow-venv.sh 3.2.2)")
scripts/airflow-venv.sh 3.3.2 >/dev/null
export DEVFLOW_VENVS
profile=(--release)
[ "${PROFILE:-release}" = dev ] && profile=()
cargo test "${profile[@]}" --locked --test it bench_db -- --ignored --nocapture --test-threads 1 2>/dev/null |
    grep '^|'
