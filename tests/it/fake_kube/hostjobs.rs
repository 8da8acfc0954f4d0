//! The chart's migration job run for real (scenario `host_jobs`: `{"apache/airflow:3.3.2": {ENV}}`):
//! a release of that image gets its `run-airflow-migrations` job's command run on this machine
//! with only that environment (PATH at that version's venv, the metadata connection at the test's
//! PostgreSQL). Why: no image can be pulled here, and a migration's time and outcome are what an
//! upgrade rehearsal measures; the job's pod ends when the process does, failed on a non-zero
//! exit, and its log is the process's output. The command is the chart's: `airflow db migrate`
//! (chart 1.22.0 `templates/_helpers.yaml`, `migrate_database_command`, for Airflow ≥ 2.7).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::view::now;

/// One job pod's process: when it ended and how, and what it wrote.
#[derive(Clone, Default)]
pub(super) struct HostJob {
    pub(super) ended: Option<(f64, bool)>,
    pub(super) output: String,
}

fn jobs() -> &'static Mutex<HashMap<String, HostJob>> {
    static JOBS: OnceLock<Mutex<HashMap<String, HostJob>>> = OnceLock::new();
    JOBS.get_or_init(Default::default)
}

/// The migration of the job pod `pod` (started on first sight) when the scenario runs jobs of
/// `image` on this machine; None otherwise.
pub(super) fn migration(scenario: &Value, image: &str, pod: &str) -> Option<HostJob> {
    let env = scenario["host_jobs"][image].as_object()?;
    let mut all = jobs().lock().unwrap();
    if let Some(job) = all.get(pod) {
        return Some(job.clone());
    }
    all.insert(pod.to_string(), HostJob::default());
    let env: Vec<(String, String)> =
        env.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
    let pod = pod.to_string();
    std::thread::spawn(move || {
        let out = Command::new("airflow")
            .args(["db", "migrate"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output();
        let (succeeded, output) = match out {
            Ok(out) => (
                out.status.success(),
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
            ),
            Err(e) => (false, format!("exec: \"airflow\": {e}\n")),
        };
        jobs().lock().unwrap().insert(pod, HostJob { ended: Some((now(), succeeded)), output });
    });
    Some(HostJob::default())
}

/// What the job pod's process has written so far, when it is one of these.
pub(super) fn output(pod: &str) -> Option<String> {
    jobs().lock().unwrap().get(pod).map(|job| job.output.clone())
}
