#!/usr/bin/env bash
# Save → reported: 20 saves (10 new DAG files, then an edit of each) against real Airflow 3.3.2
# (dag-processor + api-server, SQLite) through `devflow watch --json`, timed by the benchmark's own
# clock from the write to the report line; with devflow's profile settings and with Airflow's
# defaults as the baseline. Then the idle watch's memory and CPU. Prints a Markdown table.
# Targets: median ≤ 1.5 s, p95 ≤ 3 s; idle watch ≤ 30 MB resident, CPU near zero.
# Then (bench_reload_batch, issue 12): 3 batches of 30 new DAG files written at once, the time
# until devflow reported the last against Airflow's own time to record their parses (its
# `last_parsed_time`s and `last_parse_duration`s, same run), target ≤ 1.2×; and the lag from each
# DAG's `last_parsed_time` to devflow's report, with Airflow writing bytecode into the folder,
# target median ≤ 0.2 s. PROFILE=dev uses the debug build the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVFLOW_AIRFLOW_VENV=$(scripts/airflow-venv.sh)
export DEVFLOW_AIRFLOW_VENV
profile=(--release)
[ "${PROFILE:-release}" = dev ] && profile=()
cargo test "${profile[@]}" --locked --test it bench_reload -- --ignored --nocapture --test-threads 1 2>/dev/null |
    grep '^|'
