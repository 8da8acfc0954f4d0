#!/usr/bin/env bash
# End-to-end test of devflow on a real cluster: init, doctor, up, Airflow 3's REST API (health, a
# JWT, the example DAG, a new DAG file seen through the read-only mount), stop, start, status,
# down, and then that nothing is left behind. Needs Docker, curl and python3; `up --yes` installs
# devflow's pinned kind/k3d/helm. kubectl is optional (diagnostics and the kube-context check).
#
#   scripts/e2e.sh [--record] [kind|k3d|both]      (default: both, one after the other)
#
#   --record (or RECORD=1)     also save what the test fakes imitate under
#                              tests/fixtures/recorded/<provider>/: the pods and jobs of the
#                              namespace every 2 s during `up` and `start` (kubectl, required),
#                              `helm status`/`helm list -o json`, `kind get clusters` / `k3d
#                              cluster list -o json`. Secrets are redacted before writing.
#
#   DEVFLOW=/path/to/devflow   use this binary instead of `cargo build --release`
#   KEEP=1                     on failure, leave the cluster and the temp project for debugging
#   E2E_UI_PORT=8085           the UI port to use (default: the first free one from 8080 to 8099)
#   EXAMPLE_DAG_ID=...         the example DAG's id (default: read from dags/example_dag.py)
set -Eeuo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
providers=()
if [ "${1:-}" = --record ]; then
    RECORD=1
    shift
fi
RECORD=${RECORD:-}
recorder="" record_dir=""
case "${1:-both}" in
    kind | k3d) providers=("$1") ;;
    both) providers=(kind k3d) ;;
    *)
        echo "usage: $0 [--record] [kind|k3d|both]" >&2
        exit 2
        ;;
esac

log() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
fail() {
    printf '\ne2e: FAIL: %s\n' "$*" >&2
    exit 1
}
trap 'echo "e2e: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

for tool in docker curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done
docker info >/dev/null 2>&1 || fail "Docker is not running (docker info failed)"
if command -v sha256sum >/dev/null; then
    sha=(sha256sum)
else
    sha=(shasum -a 256)
fi

now() { python3 -c 'import time; print(f"{time.time():.3f}")'; }
since() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

# --- the binary -------------------------------------------------------------------------------
if [ -n "${DEVFLOW:-}" ]; then
    [ -x "$DEVFLOW" ] || fail "DEVFLOW=$DEVFLOW is not an executable file"
    DEVFLOW=$(cd "$(dirname "$DEVFLOW")" && pwd)/$(basename "$DEVFLOW")
    log "using $DEVFLOW (DEVFLOW set: not building)"
else
    log "cargo build --release"
    (cd "$repo" && cargo build --release)
    DEVFLOW=${CARGO_TARGET_DIR:-$repo/target}/release/devflow
    case "$DEVFLOW" in /*) ;; *) DEVFLOW=$repo/$DEVFLOW ;; esac
fi
"$DEVFLOW" --version

work=$(mktemp -d "${TMPDIR:-/tmp}/devflow-e2e.XXXXXX")
state_base=${XDG_STATE_HOME:-$HOME/.local/state}

# What the cleanup trap needs to know about the run in progress (empty once it is cleaned up).
cur_provider="" cur_name="" cur_project="" cur_context=""

on_exit() {
    local rc=$?
    set +e
    trap - ERR
    declare -F recorder_stop >/dev/null && recorder_stop
    if [ "$rc" -ne 0 ] && [ -n "$cur_project" ]; then
        printf '\n===== e2e failed (exit %s) during the %s run: diagnostics =====\n' "$rc" "$cur_provider" >&2
        (cd "$cur_project" && "$DEVFLOW" status)
        if command -v kubectl >/dev/null; then
            local k=(kubectl --context "$cur_context" --request-timeout=20s -n airflow)
            echo "--- kubectl get pods -o wide"
            "${k[@]}" get pods -o wide
            echo "--- kubectl describe pods"
            "${k[@]}" describe pods
            echo "--- kubectl get events"
            "${k[@]}" get events --sort-by=.lastTimestamp
        fi
        echo "--- docker ps -a (cluster $cur_name)"
        docker ps -a --filter "label=io.x-k8s.kind.cluster=$cur_name"
        docker ps -a --filter "label=k3d.cluster=$cur_name"
        if [ "${KEEP:-}" = 1 ]; then
            printf '\nKEEP=1: left the %s cluster %s and the project %s\n' "$cur_provider" "$cur_name" "$cur_project" >&2
            printf 'clean up with: (cd %q && %q down --yes) && rm -rf %q\n' "$cur_project" "$DEVFLOW" "$work" >&2
            exit "$rc"
        fi
        echo "--- cleaning up: devflow down --yes" >&2
        (cd "$cur_project" && "$DEVFLOW" down --yes)
    fi
    if [ "$rc" -ne 0 ] && [ "${KEEP:-}" = 1 ]; then
        printf 'KEEP=1: left %s\n' "$work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ------------------------------------------------------------------------------------

# http METHOD URL OUTFILE [curl args...]: prints the status code (000 when nothing answered).
http() {
    local method=$1 url=$2 out=$3
    shift 3
    curl -sS -o "$out" -w '%{http_code}' --max-time 10 -X "$method" "$@" "$url" 2>/dev/null || true
}

# A sorted listing of every file's hash, and of the folders, under $1.
snapshot() {
    (
        cd "$1"
        find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z | xargs -0 "${sha[@]}"
        find . -type d | LC_ALL=C sort
    )
}

# The first free TCP port on 127.0.0.1 from 8080 to 8099.
free_port() {
    python3 - <<'PY'
import socket, sys
for port in range(8080, 8100):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        sys.exit(0)
sys.exit("no free port on 127.0.0.1 from 8080 to 8099: set E2E_UI_PORT")
PY
}

# wait_healthy BASE_URL TIMEOUT: polls /api/v2/monitor/health until every component is healthy.
wait_healthy() {
    local base=$1 timeout=$2 start body code
    start=$(now)
    body=$work/health.json
    while :; do
        code=$(http GET "$base/api/v2/monitor/health" "$body")
        if [ "$code" = 200 ] && python3 - "$body" <<'PY'; then
import json, sys
health = json.load(open(sys.argv[1]))
bad = {}
for component, info in health.items():
    if isinstance(info, dict) and info.get("status") != "healthy":
        bad[component] = info.get("status")
if "metadatabase" not in health or "scheduler" not in health:
    bad["response"] = "no metadatabase/scheduler in " + json.dumps(health)
if bad:
    print("    not healthy yet:", bad)
    sys.exit(1)
print("    healthy:", ", ".join(f"{c}={i.get('status')}" for c, i in health.items() if isinstance(i, dict)))
PY
            return 0
        fi
        if python3 -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))' "$(since "$start")" "$timeout"; then
            note "last answer (HTTP $code): $(head -c 500 "$body" 2>/dev/null)"
            fail "$base/api/v2/monitor/health not healthy within ${timeout}s"
        fi
        sleep 2
    done
}

# token BASE_URL USER PASSWORD: prints a JWT from POST /auth/token.
token() {
    local base=$1 body code
    body=$work/token.json
    code=$(E2E_USER=$2 E2E_PASSWORD=$3 python3 -c \
        'import json, os; print(json.dumps({"username": os.environ["E2E_USER"], "password": os.environ["E2E_PASSWORD"]}))' |
        curl -sS -o "$body" -w '%{http_code}' --max-time 20 -X POST -H 'Content-Type: application/json' \
            --data-binary @- "$base/auth/token" 2>/dev/null || true)
    case "$code" in 200 | 201) ;; *) fail "POST $base/auth/token answered HTTP $code: $(head -c 500 "$body")" ;; esac
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["access_token"])' "$body" ||
        fail "POST /auth/token returned no access_token: $(head -c 500 "$body")"
}

# wait_dag BASE_URL JWT DAG_ID TIMEOUT: polls GET /api/v2/dags/DAG_ID until 200; prints the seconds.
wait_dag() {
    local base=$1 jwt=$2 dag=$3 timeout=$4 start body code
    start=$(now)
    body=$work/dag.json
    while :; do
        code=$(http GET "$base/api/v2/dags/$dag" "$body" -H "Authorization: Bearer $jwt")
        if [ "$code" = 200 ]; then
            since "$start"
            return 0
        fi
        case "$code" in 401 | 403) fail "GET /api/v2/dags/$dag answered HTTP $code with the JWT: $(head -c 300 "$body")" ;; esac
        if python3 -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))' "$(since "$start")" "$timeout"; then
            fail "GET /api/v2/dags/$dag did not answer 200 within ${timeout}s (last: HTTP $code $(head -c 300 "$body"))"
        fi
        sleep 0.5
    done
}

# The id of the DAG defined in a file: `dag_id=` of the @dag decorator, else the function's name.
dag_id_of() {
    python3 - "$1" <<'PY'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in ast.walk(tree):
    if isinstance(node, ast.FunctionDef):
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call else deco
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name == "dag":
                for kw in call.keywords if call else []:
                    if kw.arg == "dag_id" and isinstance(kw.value, ast.Constant):
                        print(kw.value.value)
                        sys.exit(0)
                print(node.name)
                sys.exit(0)
    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "DAG":
        for kw in node.keywords:
            if kw.arg == "dag_id" and isinstance(kw.value, ast.Constant):
                print(kw.value.value)
                sys.exit(0)
        if node.args and isinstance(node.args[0], ast.Constant):
            print(node.args[0].value)
            sys.exit(0)
sys.exit(f"no DAG found in {sys.argv[1]}")
PY
}

# kind or k3d: on PATH, else the copy `up --yes` put in devflow's cache. Prints nothing if absent.
find_tool() {
    local tool=$1 dir found
    if command -v "$tool" >/dev/null; then
        command -v "$tool"
        return 0
    fi
    for dir in "${XDG_CACHE_HOME:-$HOME/.cache}/devflow" "$HOME/Library/Caches/devflow" "$state_base/devflow"; do
        [ -d "$dir" ] || continue
        found=$(find "$dir" -type f \( -name "$tool" -o -name "$tool-v[0-9]*" \) -perm -u+x 2>/dev/null | head -n 1)
        if [ -n "$found" ]; then
            echo "$found"
            return 0
        fi
    done
}

# cluster_containers NAME PROVIDER [-a]: the cluster's running containers (-a: all of them).
cluster_containers() {
    local name=$1 provider=$2
    shift 2
    local label=io.x-k8s.kind.cluster
    [ "$provider" = k3d ] && label=k3d.cluster
    docker ps "$@" --filter "label=$label=$name" --format '{{.Names}} {{.Status}}'
}

# --- recording (--record) ------------------------------------------------------------------------
# What the fakes imitate, saved from the real cluster for tests/it/recorded.rs to compare shapes
# with. Everything is passed through `redact` first: the create-user job has the admin password
# as a literal `-p` argument, and Helm's JSON carries the values (devflow's secrets) and the
# manifest (Secrets).
if [ -n "$RECORD" ]; then
    command -v kubectl >/dev/null || fail "--record needs kubectl on PATH"
fi

redact() {
    python3 -c '
import json, re, sys
SECRET = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|CONN|FERNET", re.I)
def walk(v, key=""):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k == "manifest":
                out[k] = "<redacted>"
            elif k in ("config", "data", "stringData") and isinstance(x, dict):
                out[k] = {kk: "<redacted>" for kk in x}
            elif k == "env" and isinstance(x, list):
                out[k] = [dict(e, value="<redacted>") if SECRET.search(str(e.get("name", ""))) and "value" in e else e for e in x]
            else:
                out[k] = walk(x, k)
        return out
    if isinstance(v, list):
        out, hide = [], False
        for x in v:
            out.append("<redacted>" if hide else walk(x, key))
            hide = key in ("args", "command") and x in ("-p", "--password")
        return out
    return v
json.dump(walk(json.load(sys.stdin)), sys.stdout, indent=1, sort_keys=True)
print()
'
}

# record_once NAME CMD...: the command's JSON output, redacted, as $record_dir/NAME.json.
record_once() {
    [ -n "$record_dir" ] || return 0
    local name=$1
    shift
    "$@" 2>/dev/null | redact >"$record_dir/$name.json" || note "record: $* gave no JSON"
}

# recorder_start PHASE CONTEXT: the namespace's pods and jobs every 2 s, until recorder_stop.
recorder_start() {
    [ -n "$record_dir" ] || return 0
    local phase=$1 context=$2
    (
        i=0
        while :; do
            kubectl --context "$context" --request-timeout=10s -n airflow get pods,jobs -o json 2>/dev/null |
                redact >"$record_dir/$phase-$(printf %03d "$i").json" || true
            i=$((i + 1))
            sleep 2
        done
    ) &
    recorder=$!
}

recorder_stop() {
    if [ -n "$recorder" ]; then
        kill "$recorder" 2>/dev/null || true
        wait "$recorder" 2>/dev/null || true
        recorder=""
    fi
}

# --- one provider ---------------------------------------------------------------------------------
results=()

run_provider() {
    local provider=$1 name project port base ctx
    local t up_s dag_s stop_s start_s down_s
    name="e2e-$provider-$RANDOM$RANDOM"
    name=${name:0:32}
    project=$work/$name
    ctx="$provider-$name"
    mkdir -p "$project"
    cd "$project"
    cur_provider=$provider cur_name=$name cur_project=$project cur_context=$ctx

    log "[$provider] devflow init --provider $provider --name $name (in $project)"
    "$DEVFLOW" init --provider "$provider" --name "$name"
    [ -f devflow.toml ] || fail "init wrote no devflow.toml"
    [ -f dags/example_dag.py ] || fail "init wrote no dags/example_dag.py"
    port=${E2E_UI_PORT:-$(free_port)}
    # ui_port is a key of [cluster] in devflow.toml; the generated file holds the default.
    python3 - devflow.toml "$port" <<'PY'
import re, sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
text, n = re.subn(r"(?m)^[ \t]*#?[ \t]*ui_port[ \t]*=[ \t]*\d+.*$", f"ui_port = {port}", text, count=1)
if n != 1:
    sys.exit("devflow.toml has no `ui_port = ...` line under [cluster] to change")
open(path, "w").write(text)
PY
    base="http://127.0.0.1:$port"
    note "UI port $port; devflow.toml:"
    grep -E '^(name|\[cluster\]|provider|ui_port)' devflow.toml | sed 's/^/      /' || true
    local example_dag
    example_dag=${EXAMPLE_DAG_ID:-$(dag_id_of dags/example_dag.py)}
    note "example DAG id: $example_dag"

    log "[$provider] devflow doctor (before up; missing kind/k3d/helm are fine: up --yes installs them)"
    local rc=0
    "$DEVFLOW" doctor || rc=$?
    case "$rc" in
        0) note "doctor: no problems" ;;
        1) note "doctor reported problems (exit 1); continuing: up --yes must fix or survive them" ;;
        *) fail "devflow doctor exited $rc (expected 0, or 1 for problems found)" ;;
    esac

    local before=$work/$name.before
    snapshot "$project" >"$before"

    if [ -n "$RECORD" ]; then
        record_dir=$repo/tests/fixtures/recorded/$provider
        rm -rf "$record_dir" && mkdir -p "$record_dir"
        note "recording into $record_dir"
    fi
    log "[$provider] devflow up --yes --no-watch --timeout 20m"
    t=$(now)
    recorder_start up "$ctx"
    "$DEVFLOW" up --yes --no-watch --timeout 20m 2>&1 | tee "$work/$name.up.log"
    recorder_stop
    up_s=$(since "$t")
    local helm_bin tool_bin
    helm_bin=$(find_tool helm)
    tool_bin=$(find_tool "$provider")
    if [ -n "$helm_bin" ]; then
        record_once helm-status "$helm_bin" status airflow -n airflow --kube-context "$ctx" -o json
        record_once helm-list "$helm_bin" list -n airflow --kube-context "$ctx" -o json
    fi
    if [ -n "$tool_bin" ] && [ -n "$record_dir" ]; then
        if [ "$provider" = kind ]; then
            "$tool_bin" get clusters >"$record_dir/kind-get-clusters.txt" 2>&1 || true
        else
            record_once k3d-cluster-list "$tool_bin" cluster list -o json
        fi
    fi
    note "up took ${up_s}s"
    grep -q "http://127.0.0.1:$port" "$work/$name.up.log" || fail "up did not print the URL http://127.0.0.1:$port"
    [ -n "$(cluster_containers "$name" "$provider")" ] || fail "no running $provider node container labelled with $name after up"

    log "[$provider] Airflow's REST API on $base"
    wait_healthy "$base" 180
    local creds user password jwt
    creds=$("$DEVFLOW" creds --json)
    user=$(printf '%s' "$creds" | python3 -c 'import json, sys; print(json.load(sys.stdin)["username"])') ||
        fail "devflow creds --json has no \"username\""
    password=$(printf '%s' "$creds" | python3 -c 'import json, sys; print(json.load(sys.stdin)["password"])') ||
        fail "devflow creds --json has no \"password\""
    [ "$user" = admin ] || fail "devflow creds --json: username is '$user', expected admin"
    [ -n "$password" ] || fail "devflow creds --json: empty password"
    jwt=$(token "$base" "$user" "$password")
    note "got a JWT from POST /auth/token"
    local body code
    body=$work/dag.json
    code=$(http GET "$base/api/v2/dags/$example_dag" "$body" -H "Authorization: Bearer $jwt")
    [ "$code" = 200 ] || fail "GET /api/v2/dags/$example_dag answered HTTP $code: $(head -c 300 "$body")"
    note "GET /api/v2/dags/$example_dag: 200"
    code=$(http GET "$base/api/v2/dags/$example_dag" "$body")
    case "$code" in 401 | 403) note "without the JWT: $code (as expected)" ;; *) fail "GET /api/v2/dags/$example_dag without a JWT answered HTTP $code, expected 401/403" ;; esac

    log "[$provider] a new DAG file, dags/e2e_new.py: how long until Airflow serves it"
    cat >"$work/e2e_new.py" <<'PY'
"""Written by devflow's scripts/e2e.sh while the cluster runs: it must appear in Airflow."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="e2e_new", schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["devflow-e2e"])
def e2e_new():
    @task
    def hello() -> str:
        return "hello from the e2e test"

    hello()


e2e_new()
PY
    mv "$work/e2e_new.py" dags/e2e_new.py # one rename: Airflow never sees half a file
    dag_s=$(wait_dag "$base" "$jwt" e2e_new 120)
    note "e2e_new visible after ${dag_s}s"

    log "[$provider] devflow stop"
    t=$(now)
    "$DEVFLOW" stop
    stop_s=$(since "$t")
    local running
    running=$(cluster_containers "$name" "$provider")
    [ -z "$running" ] || fail "node containers still running after stop:
$running"
    note "stop took ${stop_s}s; no $name container running"

    log "[$provider] devflow start"
    t=$(now)
    recorder_start start "$ctx"
    "$DEVFLOW" start
    start_s=$(since "$t")
    sleep 4 # the pods' status just after start, too
    recorder_stop
    record_dir=""
    note "start took ${start_s}s"
    wait_healthy "$base" 180
    jwt=$(token "$base" "$user" "$password")
    wait_dag "$base" "$jwt" "$example_dag" 120 >/dev/null
    wait_dag "$base" "$jwt" e2e_new 120 >/dev/null
    note "after start: healthy, $example_dag and e2e_new served"

    log "[$provider] devflow status --json"
    "$DEVFLOW" status --json >"$work/$name.status.json"
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/$name.status.json" ||
        fail "devflow status --json is not JSON: $(head -c 500 "$work/$name.status.json")"
    head -c 2000 "$work/$name.status.json"
    echo

    log "[$provider] devflow down --yes"
    t=$(now)
    "$DEVFLOW" down --yes
    down_s=$(since "$t")
    note "down took ${down_s}s"

    log "[$provider] nothing left behind"
    local left
    left=$(cluster_containers "$name" "$provider" -a)
    [ -z "$left" ] || fail "containers of $name left after down:
$left"
    note "no container labelled with $name"
    # Lists are read whole before grep, so that grep -q stopping early cannot fail the pipeline.
    local list
    if [ "$provider" = k3d ]; then
        list=$(docker network ls --format '{{.Name}}')
        if grep -qx "k3d-$name" <<<"$list"; then fail "docker network k3d-$name left after down"; fi
        list=$(docker volume ls --format '{{.Name}}')
        if grep -q "^k3d-$name-" <<<"$list"; then fail "docker volume k3d-$name-* left after down"; fi
        note "no k3d-$name network or volume"
    fi
    local bin
    bin=$(find_tool "$provider")
    if [ -z "$bin" ]; then
        note "skipped: $provider is neither on PATH nor in devflow's cache (the container check above covers it)"
    elif [ "$provider" = kind ]; then
        list=$("$bin" get clusters 2>/dev/null) || fail "$bin get clusters failed"
        if grep -qx "$name" <<<"$list"; then fail "kind get clusters still lists $name"; fi
        note "kind get clusters ($bin): $name not listed"
    else
        list=$("$bin" cluster list --no-headers 2>/dev/null) || fail "$bin cluster list failed"
        if awk -v n="$name" '$1 == n { found = 1 } END { exit !found }' <<<"$list"; then fail "k3d cluster list still lists $name"; fi
        note "k3d cluster list ($bin): $name not listed"
    fi
    if command -v kubectl >/dev/null; then
        list=$(kubectl config get-contexts -o name 2>/dev/null || true)
        if grep -qx "$ctx" <<<"$list"; then fail "kube context $ctx left after down"; fi
        note "no kube context $ctx"
    else
        note "skipped: kubectl is not on PATH (kube context check)"
    fi
    local states
    states=$(find "$state_base/devflow" -mindepth 1 -maxdepth 1 -name "$name-*" 2>/dev/null || true)
    [ -z "$states" ] || fail "devflow's state folder left after down: $states"
    note "no $state_base/devflow/$name-*"
    rm dags/e2e_new.py # the one file the test itself added
    snapshot "$project" >"$work/$name.after"
    diff -u "$before" "$work/$name.after" || fail "the project's files changed between before up and after down (diff above)"
    note "the project's files are as they were before up"

    log "[$provider] devflow down --yes again"
    "$DEVFLOW" down --yes || fail "a second devflow down --yes exited $?"

    cur_provider="" cur_name="" cur_project="" cur_context=""
    cd "$work"
    results+=("$provider|$up_s|$dag_s|$stop_s / $start_s|$down_s")
}

for p in "${providers[@]}"; do
    run_provider "$p"
done

log "e2e passed"
printf '\n| %-8s | %10s | %22s | %22s | %12s |\n' provider "up s" "new DAG visible s" "stop / start s" "down s"
printf '|%s|%s|%s|%s|%s|\n' ---------- ------------ ------------------------ ------------------------ --------------
for r in "${results[@]}"; do
    IFS='|' read -r p up dag stopstart down <<<"$r"
    printf '| %-8s | %10s | %22s | %22s | %12s |\n' "$p" "$up" "$dag" "$stopstart" "$down"
done
