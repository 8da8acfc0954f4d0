//! `devflow run DAG_ID`: a run triggered through Airflow's REST API on this project's Airflow or
//! any other, the DAG unpaused for it when it is paused, then followed (`dagrun`) until it ends.
//! The exit code is the run's: 0 success, 1 failed; Ctrl-C leaves the run as it is (130).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

use crate::airflow::Client;
use crate::airflow::runs::{Trigger, encode};
use crate::cli::RunArgs;
use crate::config::Flags;
use crate::dagrun::{Follower, Outcome, Run, Triggered};
use crate::env::Env;
use crate::kube::taskpods::TaskPods;
use crate::session::{Follow, Session};
use crate::ui::{Mode, Printer};

use super::Exit;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "--conf: {message}\n  give a JSON object, e.g. --conf '{{\"day\": \"2025-01-01\"}}', or @FILE for a file holding one"
    )]
    Conf { message: String },
    #[error("--logical-date {value:?} is not a date\n  give RFC 3339 (2025-01-01T06:00:00Z) or a day (2025-01-01)")]
    LogicalDate { value: String },
    #[error(
        "no password for {url}\n  set AIRFLOW_PASSWORD for the user given with --username (never on the command line)"
    )]
    NoPassword { url: String },
    #[error(
        "Airflow at {url} has no DAG `{dag_id}`\n  check the id (`devflow watch` reports each file's DAGs); a new file is known once Airflow has parsed it"
    )]
    NoDag { url: String, dag_id: String },
    #[error(
        "--task needs Airflow 3: Airflow {version} accepts the state of a task a new run has not scheduled yet, but keeps none, so every task would run\n  run the whole DAG, or clear the tasks of a run in the UI"
    )]
    TaskOnAirflow2 { version: String },
    #[error("--task {task}: the DAG `{dag_id}` has no such task\n  its tasks: {known}")]
    NoTask { task: String, dag_id: String, known: String },
    #[error(
        "interrupted: the run {run_id} of `{dag_id}` goes on in Airflow as it is\n  to mark it failed: in the UI ({url}), or PATCH {api} with {{\"state\": \"failed\"}}"
    )]
    Interrupted { dag_id: String, run_id: String, url: String, api: String },
}

impl crate::error::Kind for RunError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            RunError::Interrupted { .. } => ErrorKind::Interrupted,
            _ => ErrorKind::Input,
        }
    }
}

pub fn run(args: &RunArgs, env: &Env, printer: &mut Printer) -> Result<Exit> {
    printer.set_mode(super::json_mode(args.json));
    let trigger = Trigger { conf: conf(args.conf.as_deref(), &env.cwd)?, logical_date: logical_date(args)? };
    // The forward to an existing cluster's Airflow lives until the run is followed to its end.
    let (mut client, _forward, pods) = match &args.airflow_url {
        Some(url) => {
            let Some(password) = &env.airflow_password else {
                return Err(RunError::NoPassword { url: url.clone() }.into());
            };
            (Client::connect(url, &args.username, &password.0)?, None, None)
        }
        None => {
            let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
            let airflow = super::watch::project_airflow(&session, "run", printer)?;
            let plan = &session.plan;
            let pods = if plan.runs_task_pods() {
                let pods = TaskPods::connect(env, &plan.context, &plan.namespace);
                Some(pods.context("cannot read the KubernetesExecutor's task pods")?)
            } else {
                None
            };
            (Client::connect(&airflow.url, airflow.user, &airflow.password)?, airflow.forward, pods)
        }
    };
    let stop = super::ctrl_c_flag()?;
    let run = start(&mut client, args, &trigger, printer)?;
    let (dag_id, run_id) = (run.dag_id.clone(), run.run_id.clone());
    let follower = Follower::new(&mut client, run);
    let mut follower = match pods {
        Some(pods) => follower.with_pods(pods),
        None => follower,
    };
    match follower.follow(printer, &stop)? {
        Outcome::Finished { state } if state == "success" => Ok(Exit::SUCCESS),
        Outcome::Finished { .. } => Ok(Exit(1)),
        Outcome::Interrupted => {
            let api = format!("{}/dags/{}/dagRuns/{}", client.api_prefix(), encode(&dag_id), encode(&run_id));
            let url = ui_url(&client, &dag_id, &run_id);
            Err(RunError::Interrupted { dag_id, run_id, url, api }.into())
        }
    }
}

/// `--conf`: a JSON object, given or in the file `@FILE` names.
fn conf(conf: Option<&str>, cwd: &Path) -> Result<serde_json::Map<String, serde_json::Value>, RunError> {
    let Some(conf) = conf else { return Ok(serde_json::Map::new()) };
    let (text, source) = match conf.strip_prefix('@') {
        Some(file) => {
            let path = cwd.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| RunError::Conf { message: format!("cannot read {}: {e}", path.display()) })?;
            (text, format!("{file}: "))
        }
        None => (conf.to_string(), String::new()),
    };
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(RunError::Conf { message: format!("{source}expected a JSON object, not {other}") }),
        Err(e) => Err(RunError::Conf { message: format!("{source}not JSON: {e}") }),
    }
}

/// `--logical-date` as RFC 3339: a timestamp as given, a day as its midnight in UTC.
fn logical_date(args: &RunArgs) -> Result<Option<String>, RunError> {
    let Some(value) = &args.logical_date else { return Ok(None) };
    if let Ok(timestamp) = value.parse::<jiff::Timestamp>() {
        return Ok(Some(timestamp.to_string()));
    }
    let day: jiff::civil::Date = value.parse().map_err(|_| RunError::LogicalDate { value: value.clone() })?;
    let midnight = day.to_zoned(jiff::tz::TimeZone::UTC).map_err(|_| RunError::LogicalDate { value: value.clone() })?;
    Ok(Some(midnight.timestamp().to_string()))
}

/// The run made: the DAG checked, unpaused when it is paused (said), triggered; with `--task`, the
/// tasks left out marked success while the DAG is held paused, so that none of them starts.
fn start(client: &mut Client, args: &RunArgs, trigger: &Trigger, printer: &mut Printer) -> Result<Run> {
    let dag_id = &args.dag_id;
    let Some(dag) = client.dag_state(dag_id)? else {
        return Err(RunError::NoDag { url: client.base().to_string(), dag_id: dag_id.clone() }.into());
    };
    let only: BTreeSet<String> = args.tasks.iter().cloned().collect();
    let mut not_run = BTreeSet::new();
    if !only.is_empty() {
        if client.api_prefix() == "/api/v1" {
            return Err(RunError::TaskOnAirflow2 { version: client.version.clone() }.into());
        }
        let known = client.task_ids(dag_id)?;
        if let Some(task) = only.iter().find(|t| !known.contains(t)) {
            return Err(RunError::NoTask { task: task.clone(), dag_id: dag_id.clone(), known: known.join(", ") }.into());
        }
        not_run = known.into_iter().filter(|t| !only.contains(t)).collect();
        if !dag.is_paused {
            client.set_paused(dag_id, true)?;
        }
    }
    let held = dag.is_paused || !only.is_empty();
    let made = client.trigger(dag_id, trigger).context("cannot trigger the run");
    let marked = match &made {
        Ok(run) => mark_not_run(client, dag_id, &run.dag_run_id, &not_run),
        Err(_) => Ok(()),
    };
    // Unpaused even when marking failed: --task paused it only for a moment.
    if held && (made.is_ok() || !dag.is_paused) {
        client.set_paused(dag_id, false)?;
    }
    let made = made?;
    marked?;
    if dag.is_paused {
        printer.note(&format!(
            "`{dag_id}` was paused (every new DAG is): devflow unpaused it, or the run would wait in the queue; pause it again in the UI"
        ));
    }
    let url = ui_url(client, dag_id, &made.dag_run_id);
    match printer.mode() {
        Mode::Json => {
            let event =
                Triggered { event: "triggered", dag_id, run_id: &made.dag_run_id, unpaused: dag.is_paused, url };
            printer.out(&serde_json::to_string(&event)?)?;
        }
        Mode::Text | Mode::Quiet => printer.done(&format!("Triggered {dag_id}  {}  {url}", made.dag_run_id)),
    }
    Ok(Run { dag_id: dag_id.clone(), run_id: made.dag_run_id, not_run })
}

/// The tasks `--task` leaves out, marked success before the scheduler sees the run: Airflow
/// makes a run's task instances when it makes the run (without a state), and a paused DAG's run
/// waits.
fn mark_not_run(client: &mut Client, dag_id: &str, run_id: &str, not_run: &BTreeSet<String>) -> Result<()> {
    for task in not_run {
        client
            .set_task_state(dag_id, run_id, task, "success")
            .with_context(|| format!("cannot mark `{task}` success, so that only the --task tasks run"))?;
    }
    Ok(())
}

/// The run in Airflow's UI.
fn ui_url(client: &Client, dag_id: &str, run_id: &str) -> String {
    if client.version.starts_with('2') {
        format!("{}/dags/{}/grid?dag_run_id={}", client.base(), encode(dag_id), encode(run_id))
    } else {
        format!("{}/dags/{}/runs/{}", client.base(), encode(dag_id), encode(run_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(logical_date: Option<&str>) -> RunArgs {
        RunArgs {
            dag_id: "etl".into(),
            conf: None,
            tasks: Vec::new(),
            logical_date: logical_date.map(str::to_string),
            airflow_url: None,
            username: "admin".into(),
            json: false,
        }
    }

    #[test]
    fn a_logical_date_is_a_timestamp_or_a_days_midnight_in_utc() {
        assert_eq!(logical_date(&args(Some("2025-01-01"))).unwrap().as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(
            logical_date(&args(Some("2025-01-01T06:30:00+02:00"))).unwrap().as_deref(),
            Some("2025-01-01T04:30:00Z")
        );
        assert_eq!(logical_date(&args(None)).unwrap(), None);
        assert!(matches!(logical_date(&args(Some("yesterday"))), Err(RunError::LogicalDate { .. })));
    }

    #[test]
    fn conf_is_a_json_object_given_or_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("conf.json"), r#"{"day": "2025-01-01"}"#).unwrap();
        assert_eq!(conf(Some("@conf.json"), dir.path()).unwrap()["day"], "2025-01-01");
        assert_eq!(conf(Some(r#"{"n": 1}"#), dir.path()).unwrap()["n"], 1);
        let error = conf(Some("[1]"), dir.path()).unwrap_err().to_string();
        assert!(error.starts_with("--conf: expected a JSON object, not [1]"), "{error}");
        let error = conf(Some("@missing.json"), dir.path()).unwrap_err().to_string();
        assert!(error.starts_with("--conf: cannot read "), "{error}");
    }
}
