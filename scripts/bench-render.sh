#!/usr/bin/env bash
# How long `devflow render` takes, as a user runs it: the release binary, a fresh process each
# time, 20 timed runs per case after 3 warm-ups. Prints a table of medians; the target is 20 ms.
#   scripts/bench-render.sh            (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/devflow"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/acme-pipelines/deploy"
cp tests/fixtures/production/eks-celery.yaml "$work/acme-pipelines/deploy/"
(cd "$work/acme-pipelines" && "$bin" init >/dev/null 2>&1)

python3 - "$bin" "$work/acme-pipelines" <<'PY'
import os, statistics, subprocess, sys, time
binary, project = sys.argv[1], sys.argv[2]
cases = [
    ("render (kind, profile local)", ["render"]),
    ("render --provider k3d --json", ["render", "--provider", "k3d", "--json"]),
    ("render --values eks-celery.yaml --explain", ["render", "--values", "deploy/eks-celery.yaml", "--explain"]),
    ("render --only values --profile celery", ["render", "--only", "values", "--profile", "celery"]),
]
env = dict(os.environ, XDG_STATE_HOME=os.path.join(project, "..", "state"))
print(f"devflow render timings: {os.cpu_count()} CPUs, median of 20 runs after 3 warm-ups; target: median < 20 ms")
print()
print(f"| {'case':<44} | median ms | min ms | max ms |")
print(f"|{'-' * 46}|-----------|--------|--------|")
worst = 0.0
for name, args in cases:
    times = []
    for run in range(23):
        start = time.perf_counter()
        subprocess.run([binary, *args], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = (time.perf_counter() - start) * 1000
        if run >= 3:
            times.append(elapsed)
    median = statistics.median(times)
    worst = max(worst, median)
    print(f"| {name:<44} | {median:9.1f} | {min(times):6.1f} | {max(times):6.1f} |")
print()
print(f"slowest median: {worst:.1f} ms ({'within' if worst < 20 else 'OVER'} the 20 ms target)")
PY
