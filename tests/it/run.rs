//! `devflow run` against real Airflow 3 (tier 6): the scheduler with the LocalExecutor, the
//! dag-processor and the api-server on 127.0.0.1, SQLite. A run that succeeds, one whose second
//! task fails, `--conf` read by a task, `--task`, and Ctrl-C.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lifecycle::Lab;
use crate::real_airflow::{AIRFLOW2_AUTH_BACKENDS, Airflow, PASSWORD, venv};
use crate::support::{Expect, Test};
use crate::test_name;
use crate::watch::DEV_SETTINGS;

/// Three tasks in a line; the second prints the run's conf.
const PIPELINE: &str = r#"from airflow.sdk import dag, task

@dag(schedule=None)
def pipeline():
    @task
    def extract():
        print("extract: 3 rows")

    @task
    def transform(**context):
        print(f"transform: day={context['dag_run'].conf.get('day')}")

    @task
    def load():
        print("load: 3 rows written")

    extract() >> transform() >> load()

pipeline()
"#;

/// The second of three tasks raises.
const BROKEN: &str = r#"from airflow.sdk import dag, task

def check(rows):
    if not rows:
        raise ValueError("no rows to transform")

@dag(schedule=None)
def broken():
    @task
    def extract():
        print("extract: 0 rows")

    @task
    def transform():
        print("transform: checking")
        check([])

    @task
    def load():
        print("load: never")

    extract() >> transform() >> load()

broken()
"#;

/// One task that takes long enough to be interrupted.
const SLOW: &str = r#"from airflow.sdk import dag, task

@dag(schedule=None)
def slow():
    @task
    def wait():
        import time
        print("wait: sleeping")
        time.sleep(120)

    wait()

slow()
"#;

/// Airflow's answer to a GET of its API (Airflow 3), or None when it is not 200.
pub fn api_get(airflow: &Airflow, path: &str) -> Option<Value> {
    let token = ureq::post(&format!("{}/auth/token", airflow.url))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({"username": "admin", "password": airflow.password}).to_string().as_bytes())
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let token: Value = serde_json::from_str(&token).unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let mut answer = ureq::get(&format!("{}{path}", airflow.url)).header("Authorization", &bearer).call().ok()?;
    serde_json::from_str(&answer.body_mut().read_to_string().ok()?).ok()
}

/// Waits until Airflow's API lists every DAG (the dag-processor has parsed their files).
pub fn wait_for_dags(airflow: &Airflow, ids: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        while api_get(airflow, &format!("/api/v2/dags/{id}")).is_none() {
            assert!(Instant::now() < deadline, "Airflow did not parse the DAG {id} within 120 s");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// The `--json` events of a run's standard output, each held to the contract (as its standard
/// error is).
#[track_caller]
fn events_of(out: &crate::support::Output) -> Vec<Value> {
    crate::contract::Contract::load().lines("run", out)
}

/// What a task printed (`print()` goes to the logger `task.stdout`), as `--json` streamed it.
fn log_lines<'a>(events: &'a [Value], task: &str) -> Vec<&'a str> {
    let printed = |e: &&Value| e["event"] == "log" && e["task_id"] == task && e["logger"] == "task.stdout";
    events.iter().filter(printed).filter_map(|e| e["line"].as_str()).collect()
}

#[test]
fn run_triggers_and_follows_real_airflow_runs_to_their_result() {
    let Some(venv) = venv(test_name!()) else { return };
    let airflow = Airflow::start_running_dags(&venv, &DEV_SETTINGS);
    for (file, text) in [("pipeline.py", PIPELINE), ("broken.py", BROKEN), ("slow.py", SLOW)] {
        std::fs::write(airflow.dags.join(file), text).unwrap();
    }
    wait_for_dags(&airflow, &["pipeline", "broken", "slow"]);
    let test = Test::empty();
    let run = |args: &[&str]| {
        let mut all = vec!["run"];
        all.extend(args);
        all.extend(["--airflow-url", &airflow.url]);
        test.devflow(&all).env("AIRFLOW_PASSWORD", PASSWORD)
    };

    // A run whose tasks succeed, with a conf a task reads: exit 0, every task's line seen. The new
    // DAG is paused: devflow unpauses it and says so.
    let out = run(&["pipeline", "--conf", r#"{"day": "2025-01-01"}"#, "--json"])
        .status(0)
        .stderr_contains("`pipeline` was paused (every new DAG is): devflow unpaused it")
        .run();
    let events = events_of(&out);
    assert_eq!(
        (events[0]["event"].clone(), events[0]["unpaused"].clone()),
        ("triggered".into(), true.into()),
        "{events:?}"
    );
    assert_eq!(log_lines(&events, "extract"), ["extract: 3 rows"], "{}", out.stdout);
    assert_eq!(log_lines(&events, "transform"), ["transform: day=2025-01-01"], "{}", out.stdout);
    assert_eq!(log_lines(&events, "load"), ["load: 3 rows written"], "{}", out.stdout);
    let end = events.last().unwrap();
    assert_eq!((end["event"].clone(), end["state"].clone()), ("run".into(), "success".into()), "{end}");
    for task in ["extract", "transform", "load"] {
        assert_eq!(end["tasks"][task], "success", "{end}");
        let success = events.iter().find(|e| e["event"] == "task" && e["task_id"] == task && e["state"] == "success");
        assert!(success.is_some_and(|e| e["try_number"] == 1), "no success event for {task}: {}", out.stdout);
    }

    // The second task fails: exit 1, its traceback's last lines in the summary, the third task
    // never runs.
    let out = run(&["broken"]).status(1).stdout_contains("✗ broken  manual__").run();
    let summary =
        out.stdout.split("transform's last log lines (try 1):").nth(1).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        summary.contains("transform |   File \"") && summary.contains("broken.py\", line 5, in check"),
        "{summary}"
    );
    assert!(summary.contains("transform | ValueError: no rows to transform"), "{summary}");
    assert!(summary.contains("transform | transform: checking"), "{summary}");
    assert!(out.stdout.contains("✗ load       upstream_failed"), "{}", out.stdout);
    assert!(out.stdout.contains("extract | extract: 0 rows"), "{}", out.stdout);
    assert!(!out.stdout.contains("load | "), "a task that never ran has no log: {}", out.stdout);

    // --task: only that task of a new run runs; the others are marked without running.
    let out = run(&["pipeline", "--task", "load", "--json"]).status(0).run();
    let events = events_of(&out);
    assert_eq!(log_lines(&events, "load"), ["load: 3 rows written"], "{}", out.stdout);
    assert!(log_lines(&events, "extract").is_empty() && log_lines(&events, "transform").is_empty(), "{}", out.stdout);
    let end = events.last().unwrap();
    assert_eq!(
        end["tasks"],
        serde_json::json!({"extract": "not run (--task)", "transform": "not run (--task)", "load": "success"})
    );
    run(&["pipeline", "--task", "nope"])
        .status(2)
        .stderr_contains("--task nope: the DAG `pipeline` has no such task\n  its tasks: extract, load, transform")
        .run();

    // Ctrl-C: the run is left running, and devflow says how to mark it failed.
    let mut child = run(&["slow"]).command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let stdout = child.stdout.take().unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    for line in lines.map_while(Result::ok) {
        if line == "wait | wait: sleeping" {
            break;
        }
        assert!(Instant::now() < deadline, "the slow task's log line did not come");
    }
    // SAFETY: sends SIGINT, as Ctrl-C on a terminal does, to the devflow this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = run(&["slow"]).check(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert!(
        out.stderr.contains("interrupted: the run manual__") && out.stderr.contains("goes on in Airflow as it is"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("/api/v2/dags/slow/dagRuns/manual__") && out.stderr.contains(r#"{"state": "failed"}"#),
        "{}",
        out.stderr
    );
}

/// The project up on the fake cluster, and a real Airflow standing in for the chart's (the fake
/// cluster maps no port): on the UI port, with devflow's admin login, reading the project's DAG
/// folder, where the DAG `dag_id` is written and parsed.
fn up_with_airflow(lab: &Lab, venv: &std::path::Path, dag_id: &str, source: &str) -> Airflow {
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let password = lab.devflow(&["creds", "--json"]).status(0).run().json()["password"].as_str().unwrap().to_string();
    let dags = lab.test().dir().join("dags");
    std::fs::write(dags.join(format!("{dag_id}.py")), source).unwrap();
    let airflow = Airflow::start_running_dags_with(venv, &DEV_SETTINGS, Some(&dags), lab.port, &password);
    wait_for_dags(&airflow, &[dag_id]);
    airflow
}

/// issue 12's "done when", as a new user would: the example DAG `devflow init` writes, run on a
/// real local Airflow, streams both tasks and the line the second prints, and exits 0.
#[test]
fn the_example_dag_init_writes_runs_to_its_end() {
    let Some(venv) = venv(test_name!()) else { return };
    let test = Test::empty();
    test.devflow(&["init"]).status(0).run();
    let dags = test.dir().join("dags");
    let airflow =
        Airflow::start_running_dags_with(&venv, &DEV_SETTINGS, Some(&dags), crate::lifecycle::free_port(), PASSWORD);
    wait_for_dags(&airflow, &["example_devflow"]);
    test.devflow(&["run", "example_devflow", "--airflow-url", &airflow.url])
        .env("AIRFLOW_PASSWORD", PASSWORD)
        .status(0)
        .stdout_contains("report | 3 numbers, total 6")
        .stdout_contains("✓ example_devflow  manual__")
        .run();
}

/// Without --airflow-url, `run` uses this project's Airflow as `watch` does: its URL and
/// devflow's admin login (the fake cluster maps no port: a real Airflow stands in for the
/// chart's, on the UI port, reading the project's DAG folder).
#[test]
fn run_uses_the_projects_airflow_after_up() {
    let name = test_name!();
    let Some(venv) = venv(name) else { return };
    let Some(lab) = Lab::new(name, "kind") else { return };
    lab.devflow(&["run", "pipeline"])
        .status(1)
        .stderr_contains(
            "has no Airflow yet\n  `devflow up` starts it; `devflow run --airflow-url URL` uses another one",
        )
        .run();
    let airflow = up_with_airflow(&lab, &venv, "pipeline", PIPELINE);
    let password = &airflow.password;
    lab.devflow(&["run", "pipeline", "--conf", r#"{"day": "2025-02-03"}"#])
        .status(0)
        .stdout_contains("transform | transform: day=2025-02-03")
        .stdout_contains("✓ pipeline  manual__")
        .stdout_lacks(password)
        .stderr_lacks(password)
        .run();
}

/// One task that lasts long enough for its pod to be seen waiting, then running.
const PODDED: &str = r#"from airflow.sdk import dag, task

@dag(schedule=None)
def podded():
    @task
    def wait():
        import time
        time.sleep(12)

    wait()

podded()
"#;

/// A KubernetesExecutor worker pod of one try, as cncf-kubernetes `pod_generator.py` makes it:
/// `construct_pod`'s annotations hold the plain ids, `build_labels_for_k8s_executor_pod`'s labels
/// the sanitised ones (`make_safe_label_value`: a run id's `:` and `+` dropped, an md5 suffix)
/// and `kubernetes_executor: "True"`; its container is `base`.
fn executor_pod(name: &str, dag_id: &str, task_id: &str, run_id: &str, try_number: u32) -> Value {
    let safe_run_id: String = run_id.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "airflow",
            "labels": {"dag_id": dag_id, "task_id": task_id, "try_number": try_number.to_string(),
                "kubernetes_executor": "True", "airflow-worker": "1", "airflow_version": "3.3.2",
                "run_id": format!("{}-0123abcde", &safe_run_id[..safe_run_id.len().min(53)]),
                "component": "worker", "release": "airflow"},
            "annotations": {"dag_id": dag_id, "task_id": task_id, "try_number": try_number.to_string(),
                "run_id": run_id},
        },
        "spec": {"containers": [{"name": "base", "image": "apache/airflow:3.3.2",
            "args": ["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-path",
                "/run/secrets/airflow-workload/workload.json"]}]},
    })
}

/// Issue 12, item 1: with the KubernetesExecutor, `run` shows each task's pod and its phase, and
/// why its container waits. The fake cluster holds the task's pod, put there by the test once
/// the run is triggered (a real Airflow with the LocalExecutor stands in for the chart's and runs
/// the task itself): first waiting on its image, then running.
#[test]
fn run_shows_each_tasks_kubernetes_executor_pod_and_its_phase() {
    let name = test_name!();
    let Some(venv) = venv(name) else { return };
    let Some(lab) = Lab::with_project(name, "provider = \"kind\"", "executor = \"KubernetesExecutor\"", |test| test)
    else {
        return;
    };
    let _airflow = up_with_airflow(&lab, &venv, "podded", PODDED);
    let pod = "podded-wait-x7k2p9q1";
    lab.world.scenario(serde_json::json!({"pods": {pod: {"waiting": "ImagePullBackOff",
        "message": "Back-off pulling image \"apache/airflow:3.3.2\""}}}));

    let run = lab.devflow(&["run", "podded", "--json"]);
    let mut child = run.command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    for line in lines.by_ref().map_while(Result::ok) {
        assert!(Instant::now() < deadline, "no pod phase came within 120 s:\n{}", seen.join("\n"));
        let event: Value = serde_json::from_str(&line).unwrap();
        seen.push(line);
        if event["event"] == "triggered" {
            post_pod(&lab, executor_pod(pod, "podded", "wait", event["run_id"].as_str().unwrap(), 1));
        }
        if event["event"] == "task" && event["pod_waiting"] == "ImagePullBackOff" {
            assert_eq!((&event["pod"], &event["pod_phase"]), (&Value::from(pod), &Value::from("Pending")), "{event}");
            lab.world.scenario(serde_json::json!({}));
        }
        if event["event"] == "task" && event["pod_phase"] == "Running" {
            assert!(event.get("pod_waiting").is_none(), "{event}");
            break;
        }
    }
    seen.extend(lines.map_while(Result::ok));
    let mut output = child.wait_with_output().unwrap();
    output.stdout = format!("{}\n", seen.join("\n")).into_bytes();
    let events = crate::contract::Contract::load().lines("run", &run.check(output));
    // The pod's changes in order (the fake kubelet, like a real one, may say ContainerCreating
    // first, when the pod is seen that early); the task's later events keep its pod's last phase.
    let mut phases: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "task" && e["pod"] == pod)
        .map(|e| format!("{} {}", e["pod_phase"].as_str().unwrap(), e["pod_waiting"].as_str().unwrap_or("")))
        .collect();
    phases.dedup();
    assert!(phases.ends_with(&["Pending ImagePullBackOff".into(), "Running ".into()]), "{phases:?}");

    // In text, the task's line names its pod (the end's lines are on standard output).
    let run = lab.devflow(&["run", "podded"]);
    let mut child = run.command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let triggered = lines.by_ref().map_while(Result::ok).find(|l| l.contains("Triggered podded  ")).unwrap();
    let run_id = triggered.split("Triggered podded  ").nth(1).unwrap().split_whitespace().next().unwrap();
    let text_pod = "podded-wait-t3xtm0d3";
    post_pod(&lab, executor_pod(text_pod, "podded", "wait", run_id, 1));
    lines.for_each(drop);
    let out = run.check(child.wait_with_output().unwrap());
    assert!(out.stdout.contains(&format!("  pod {text_pod} Running\n")), "{}", out.stdout);
}

/// A pod put into the fake cluster, as the KubernetesExecutor creates one.
fn post_pod(lab: &Lab, pod: Value) {
    let created = ureq::post(&format!("{}/api/v1/namespaces/airflow/pods", lab.world.kube().url()))
        .header("Content-Type", "application/json")
        .send(pod.to_string());
    assert!(created.is_ok(), "{created:?}");
}

#[test]
fn run_needs_a_password_a_conf_object_and_a_date() {
    let test = Test::empty();
    let url = "http://127.0.0.1:9";
    test.devflow(&["run", "etl", "--airflow-url", url])
        .status(2)
        .stderr_contains("no password for http://127.0.0.1:9\n  set AIRFLOW_PASSWORD")
        .run();
    test.devflow(&["run", "etl", "--airflow-url", url, "--conf", "[1]"])
        .env("AIRFLOW_PASSWORD", "x")
        .status(2)
        .stderr_contains("--conf: expected a JSON object, not [1]")
        .run();
    test.devflow(&["run", "etl", "--airflow-url", url, "--logical-date", "tomorrow"])
        .env("AIRFLOW_PASSWORD", "x")
        .status(2)
        .stderr_contains("--logical-date \"tomorrow\" is not a date")
        .run();
    // Nothing listens on port 9: the environment's failure, exit 1.
    test.devflow(&["run", "etl", "--airflow-url", url])
        .env("AIRFLOW_PASSWORD", "x")
        .status(1)
        .stderr_contains("cannot reach Airflow at http://127.0.0.1:9")
        .run();
}

/// How many runs the benchmark makes.
const BENCH_RUNS: usize = 5;

/// `scripts/bench-run.sh`: `devflow run --json` of a three-task DAG, [`BENCH_RUNS`] times; for
/// each task state change with a time of Airflow's own (a task's `start_date` when it is running,
/// its `end_date` when it has ended), the lag from that time to the moment the benchmark reads
/// devflow's event for it. Prints a Markdown table.
#[test]
#[ignore = "a benchmark: scripts/bench-run.sh runs it"]
fn bench_run() {
    let venv = venv(test_name!()).expect("the benchmark needs the Airflow venv (scripts/airflow-venv.sh)");
    let airflow = Airflow::start_running_dags(&venv, &DEV_SETTINGS);
    std::fs::write(airflow.dags.join("pipeline.py"), PIPELINE).unwrap();
    wait_for_dags(&airflow, &["pipeline"]);
    let test = Test::empty();
    let (mut started, mut ended, mut missed_running, mut walls) = (Vec::new(), Vec::new(), 0, Vec::new());
    for _ in 0..BENCH_RUNS {
        let args = ["run", "pipeline", "--json", "--airflow-url", &airflow.url];
        let run = test.devflow(&args).env("AIRFLOW_PASSWORD", PASSWORD);
        let begun = Instant::now();
        let mut child = run.command().stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut running_seen = 0;
        for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
            let read_at = jiff::Timestamp::now();
            let event: Value = serde_json::from_str(&line).unwrap();
            let lag = |key: &str| {
                let recorded: jiff::Timestamp = event[key].as_str().unwrap().parse().unwrap();
                Duration::try_from(read_at.duration_since(recorded)).unwrap_or_default()
            };
            match (event["event"].as_str(), event["state"].as_str()) {
                (Some("task"), Some("running")) => {
                    running_seen += 1;
                    started.push(lag("start_date"));
                }
                (Some("task"), Some("success" | "failed")) => ended.push(lag("end_date")),
                _ => {}
            }
        }
        assert_eq!(child.wait().unwrap().code(), Some(0), "the benchmark's run failed");
        walls.push(begun.elapsed());
        missed_running += 3 - running_seen;
    }
    let all: Vec<Duration> = started.iter().chain(&ended).copied().collect();
    let row = |name: &str, values: &[Duration]| {
        format!(
            "| {name} | {} | {} | {} | {} |",
            values.len(),
            secs(percentile(values, 0.5)),
            secs(percentile(values, 0.95)),
            secs(percentile(values, 1.0))
        )
    };
    println!(
        "\n| state change (Airflow's time → devflow's event) | changes | median | p95 | max |\n|---|---|---|---|---|"
    );
    println!("{}", row("task running (`start_date`)", &started));
    println!("{}", row("task ended (`end_date`)", &ended));
    println!("{}", row("all", &all));
    println!(
        "| runs: {BENCH_RUNS}; run wall time, median | {} | running states not seen (queued → success between two polls): {missed_running} | | |",
        secs(percentile(&walls, 0.5))
    );
}

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut values = values.to_vec();
    values.sort();
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// [`PIPELINE`] and [`BROKEN`] in Airflow 2's words (`airflow.decorators`; Airflow 2 has no
/// `airflow.sdk`).
fn for_airflow2(dag: &str) -> String {
    dag.replace("from airflow.sdk import dag, task", "from airflow.decorators import dag, task")
}

/// Waits until Airflow 2's API lists every DAG (its scheduler has parsed their files).
fn wait_for_dags_v1(airflow: &Airflow, ids: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let basic = format!("Basic {}", base64_of(&format!("admin:{}", airflow.password)));
    for id in ids {
        let url = format!("{}/api/v1/dags/{id}", airflow.url);
        while ureq::get(&url).header("Authorization", &basic).call().is_err() {
            assert!(Instant::now() < deadline, "Airflow 2 did not parse the DAG {id} within 180 s");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `run` on Airflow 2.11 as the chart 1.22.0 runs it (the scheduler and the webserver, the FAB
/// admin made by `airflow users create`) with devflow's airflow2 wiring (basic auth on `/api/v1`):
/// a run whose tasks succeed, its conf read by a task and every task's log seen (Airflow 2's log
/// is text), and one whose second task fails (exit 1, its traceback's last lines shown).
#[test]
fn run_follows_airflow2_runs_through_api_v1_with_basic_auth() {
    let name = test_name!();
    let Some(venv) = crate::real_airflow::venv_airflow2(name) else { return };
    let airflow = Airflow::start_airflow2(&venv, Some(AIRFLOW2_AUTH_BACKENDS), PASSWORD);
    for (file, text) in [("pipeline.py", PIPELINE), ("broken.py", BROKEN)] {
        std::fs::write(airflow.dags.join(file), for_airflow2(text)).unwrap();
    }
    wait_for_dags_v1(&airflow, &["pipeline", "broken"]);
    let test = Test::empty();
    let run = |args: &[&str]| {
        let mut all = vec!["run"];
        all.extend(args);
        all.extend(["--airflow-url", &airflow.url]);
        test.devflow(&all).env("AIRFLOW_PASSWORD", PASSWORD)
    };
    let out = run(&["pipeline", "--conf", r#"{"day": "2025-01-01"}"#])
        .status(0)
        .stderr_contains("`pipeline` was paused (every new DAG is): devflow unpaused it")
        .stdout_contains("✓ pipeline  manual__")
        .run();
    // Airflow 2's log is its text, each line as its handler wrote it: `[time] {file:line} LEVEL -
    // message` (a `print()` through `logging_mixin.py`).
    for (task, printed) in
        [("extract", "extract: 3 rows"), ("transform", "transform: day=2025-01-01"), ("load", "load: 3 rows written")]
    {
        let shown = out
            .stdout
            .lines()
            .any(|l| l.starts_with(&format!("{task} | ")) && l.ends_with(&format!("INFO - {printed}")));
        assert!(shown, "{task}'s print is not in its streamed log: {}", out.stdout);
    }
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD));
    let out = run(&["broken"]).status(1).stdout_contains("✗ broken  manual__").run();
    let summary =
        out.stdout.split("transform's last log lines (try 1):").nth(1).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(summary.contains("ValueError: no rows to transform"), "{summary}");
    assert!(out.stdout.contains("upstream_failed"), "{}", out.stdout);
}

/// `run` on Airflow 3 with the FAB auth manager, the chart's (its admin made by `airflow users
/// create`, as the chart's create-user job does): the token comes from FAB's `/auth/token`.
#[test]
fn run_follows_a_run_on_airflow3_with_the_fab_auth_manager() {
    let Some(venv) = venv(test_name!()) else { return };
    let airflow = Airflow::start_fab_running_dags(&venv, &DEV_SETTINGS, PASSWORD);
    std::fs::write(airflow.dags.join("pipeline.py"), PIPELINE).unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let test = Test::empty();
    let list = ["run", "pipeline", "--airflow-url", &airflow.url, "--conf", r#"{"day": "2025-03-04"}"#, "--json"];
    // FAB's token: wait for the DAG through devflow itself (api_get logs in as the simple auth
    // manager does, with the same endpoint).
    while api_get(&airflow, "/api/v2/dags/pipeline").is_none() {
        assert!(Instant::now() < deadline, "Airflow did not parse the DAG within 180 s");
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = test.devflow(&list).env("AIRFLOW_PASSWORD", PASSWORD).status(0).run();
    let events = events_of(&out);
    assert_eq!(log_lines(&events, "extract"), ["extract: 3 rows"], "{}", out.stdout);
    assert_eq!(log_lines(&events, "transform"), ["transform: day=2025-03-04"], "{}", out.stdout);
    assert_eq!(log_lines(&events, "load"), ["load: 3 rows written"], "{}", out.stdout);
    let end = events.last().unwrap();
    assert_eq!((end["event"].clone(), end["state"].clone()), ("run".into(), "success".into()), "{end}");
}
