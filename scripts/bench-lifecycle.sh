#!/usr/bin/env bash
# devflow's own time in `up` and the time of a second `up` with nothing changed, against the fake
# kind/k3d/helm and Kubernetes API of the test suite (which answer at once) and real Docker.
# Prints a Markdown table of medians. Targets: devflow's own time < 300 ms; second `up` < 2 s.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked --test it bench_up -- --ignored --nocapture --test-threads 1 2>/dev/null |
    grep '^|'
