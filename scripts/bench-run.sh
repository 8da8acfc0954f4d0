#!/usr/bin/env bash
# `devflow run --json` of a three-task DAG, 5 runs, against real Airflow 3.3.2 (scheduler with the
# LocalExecutor, dag-processor, api-server; SQLite): for each task state change Airflow records a
# time for (a task's start_date when it runs, its end_date when it ends), the lag from that time to
# the moment the benchmark reads devflow's event for it. Prints a Markdown table.
# Target: median ≤ 1 s (issue 12). PROFILE=dev uses the debug build the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVFLOW_AIRFLOW_VENV=$(scripts/airflow-venv.sh)
export DEVFLOW_AIRFLOW_VENV
profile=(--release)
[ "${PROFILE:-release}" = dev ] && profile=()
cargo test "${profile[@]}" --locked --test it bench_run -- --ignored --nocapture --test-threads 1 2>/dev/null |
    grep '^|'
