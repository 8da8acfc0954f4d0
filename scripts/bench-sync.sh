#!/usr/bin/env bash
# Push-sync into a receiver reached by exec (a real Docker container behind the test suite's fake
# Kubernetes API, as for `provider = "existing"`): a 5,000-file / 50 MB DAG tree pushed in full by
# `devflow push`, then one changed file pushed by `devflow watch`. Prints a Markdown table of
# medians: devflow's own time (scan, hash, tar) and the total with the exec round trips.
# Targets: one changed file <= 100 ms devflow-side; initial sync <= 3 s.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVFLOW_AIRFLOW_VENV=${DEVFLOW_AIRFLOW_VENV:-$(scripts/airflow-venv.sh)}
export DEVFLOW_AIRFLOW_VENV
cargo test --release --locked --test it bench_sync -- --ignored --nocapture --test-threads 1 2>/dev/null |
    grep -E '^(\||\()'
