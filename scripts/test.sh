#!/usr/bin/env bash
# devflow's tests on a fresh machine: installs what they need where it is missing, then checks the layout, runs clippy
# and the whole suite. It is the README's test command, and CI's (.ci/run calls it).
#   scripts/test.sh [ARGS...]     ARGS go to `cargo test` (a filter, `-- --nocapture`)
# Needs: Rust, a running Docker, python3, and for what is missing either root or sudo (Debian or
# Ubuntu: busybox-static for the test node image, postgresql for the database tests, PyYAML for the
# fake tools) and PyPI (uv and the Airflow versions the watch, in-cluster, database and upgrade
# tests run against, in target/).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test.sh: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        say "needs root to run: $*  (run it yourself, then again: scripts/test.sh)"
        exit 1
    fi
}

apt_install() {
    if ! command -v apt-get >/dev/null; then
        say "install $* with your package manager, then run scripts/test.sh again"
        exit 1
    fi
    say "installing $*"
    as_root apt-get update -qq
    as_root apt-get install -y -qq "$@" >/dev/null
}

command -v cargo >/dev/null || { say "Rust is missing: https://rustup.rs, then run scripts/test.sh again"; exit 1; }
command -v python3 >/dev/null || apt_install python3 python3-yaml
# The static busybox is the whole of the test image that stands in for a cluster node (no image
# can be pulled, so the tests build one from scratch).
[ -x /bin/busybox ] || apt_install busybox-static
# Debian's PostgreSQL: the server the database tests start on 127.0.0.1 and dump, restore and
# migrate (tests/it/database.rs; never the system's service).
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || apt_install postgresql
# The fake kind/k3d/helm read YAML with PyYAML, in the python3 that `#!/usr/bin/env python3` finds:
# Debian's (prefix /usr) gets Debian's package, any other (pyenv's, a venv's) gets it from PyPI.
if ! python3 -c 'import yaml' 2>/dev/null; then
    if [ "$(python3 -c 'import sys; print(sys.prefix)')" = /usr ]; then
        apt_install python3-yaml
    else
        python3 -m pip install --quiet --disable-pip-version-check pyyaml
    fi
fi
if ! docker info >/dev/null 2>&1; then
    say "the Docker daemon is not reachable (\`docker info\` failed): start Docker, then run scripts/test.sh again"
    exit 1
fi
# Real Airflow from PyPI, the peer of the watch and in-cluster tests (tier 6).
DEVFLOW_AIRFLOW_VENV=$(scripts/airflow-venv.sh)
export DEVFLOW_AIRFLOW_VENV
# Real Airflow 2.11.2 with its webserver, the peer of the airflow2 watch test: it goes beside the
# first, where the tests look for it (DEVFLOW_VENVS/airflow-2.11.2).
DEVFLOW_VENVS=$(dirname "$(scripts/airflow-venv.sh 2.11.2)")
export DEVFLOW_VENVS
# Real Airflow 3.2.2 beside them: the version the database tests migrate from to 3.3.2.
scripts/airflow-venv.sh 3.2.2 >/dev/null

# One layout for everyone's code: merges of parallel work stay small.
cargo fmt --check
cargo clippy --locked --all-targets --quiet -- -D warnings
cargo test --locked "$@"
