//! DAG runs through Airflow's REST API, as `devflow run` needs them: a DAG's paused flag, a run
//! triggered, its task instances, a task's state set, and a task's log. The same calls on Airflow
//! 3 (`/api/v2`) and Airflow 2 (`/api/v1`); where the two differ it is said beside the code.
//!
//! Measured on Airflow 3.2.2 and 3.3.2 (FACTS.md): run ids contain `+` and `:` and are
//! URL-encoded; a new DAG is paused and a run of a paused DAG stays queued without a word; a task's
//! log is JSON records (`event`, `timestamp`, `level`, `logger`; an exception's type, message and
//! frames only in `error_detail[]`), and passing the continuation token back while the task runs
//! answers 500, so the log is read whole each time and what was seen is skipped by the caller.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Api, Client, Error};

/// A DAG's paused flag, as `GET /dags/{id}` gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct DagState {
    pub is_paused: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DagRun {
    pub dag_run_id: String,
    /// queued, running, success, failed.
    pub state: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

impl DagRun {
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), "success" | "failed")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskInstance {
    pub task_id: String,
    /// -1 for a task that is not mapped.
    #[serde(default = "unmapped")]
    pub map_index: i64,
    /// None until the scheduler gives it one.
    pub state: Option<String>,
    /// 0 until it first runs (and for a task marked without running, or `upstream_failed`).
    #[serde(default)]
    pub try_number: u32,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub duration: Option<f64>,
}

fn unmapped() -> i64 {
    -1
}

/// One record of a task's log: one line of text, or several for an exception.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord {
    pub timestamp: Option<String>,
    pub level: Option<String>,
    /// `task.stdout` for `print()`; None on Airflow 2, whose log is text.
    pub logger: Option<String>,
    pub lines: Vec<String>,
}

/// What to start a run with.
#[derive(Debug, Clone, Default)]
pub struct Trigger {
    pub conf: serde_json::Map<String, Value>,
    /// RFC 3339; None: Airflow 3 is sent `null` (a run that is not tied to a date), Airflow 2 the
    /// time of the call (it has no such runs).
    pub logical_date: Option<String>,
}

/// A path segment (a run id: `manual__2026-12-01T15:06:54.971258+00:00`) percent-encoded: every
/// byte but the unreserved ones of RFC 3986.
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    /// A request with a JSON body; a token that expired is renewed once.
    fn send_json(&mut self, method: &str, path: &str, body: &Value) -> Result<Value, Error> {
        let (mut status, mut text) = self.send_once(method, path, body)?;
        if status == 401 && self.api == Api::V2 {
            self.login()?;
            (status, text) = self.send_once(method, path, body)?;
        }
        if status == 401 || status == 403 {
            return Err(self.login_refused(status));
        }
        if !(200..300).contains(&status) {
            return Err(Error::Status { what: format!("{method} {path}"), status, body: text });
        }
        serde_json::from_str(&text)
            .map_err(|e| Error::Body { what: format!("{method} {path}"), message: e.to_string() })
    }

    fn send_once(&self, method: &str, path: &str, body: &Value) -> Result<(u16, String), Error> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "POST" => self.agent.post(&url),
            "PATCH" => self.agent.patch(&url),
            _ => self.agent.put(&url),
        };
        let request = request.header("Content-Type", "application/json");
        let request = match self.authorization(true) {
            Some(authorization) => request.header("Authorization", &authorization),
            None => request,
        };
        let mut response = request
            .send(body.to_string().as_bytes())
            .map_err(|e| Error::Unreachable { url: self.base.clone(), message: e.to_string() })?;
        let status = response.status().as_u16();
        Ok((status, response.body_mut().read_to_string().unwrap_or_default()))
    }

    /// Where Airflow answers, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `/api/v2` on Airflow 3, `/api/v1` on Airflow 2.
    pub fn api_prefix(&self) -> &'static str {
        self.prefix()
    }

    fn dag_path(&self, dag_id: &str) -> String {
        format!("{}/dags/{}", self.prefix(), encode(dag_id))
    }

    fn run_path(&self, dag_id: &str, run_id: &str) -> String {
        format!("{}/dagRuns/{}", self.dag_path(dag_id), encode(run_id))
    }

    /// The DAG's paused flag; None when Airflow has no DAG of that id.
    pub fn dag_state(&mut self, dag_id: &str) -> Result<Option<DagState>, Error> {
        match self.get_json(&self.dag_path(dag_id)) {
            Ok(state) => Ok(Some(state)),
            Err(Error::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The DAG's task ids (`GET /dags/{id}/tasks`).
    pub fn task_ids(&mut self, dag_id: &str) -> Result<Vec<String>, Error> {
        let path = format!("{}/tasks", self.dag_path(dag_id));
        let tasks: Value = self.get_json(&path)?;
        let ids = tasks["tasks"]
            .as_array()
            .map(|tasks| tasks.iter().filter_map(|t| t["task_id"].as_str()).map(str::to_string).collect());
        ids.ok_or_else(|| Error::Body { what: format!("GET {path}"), message: "no `tasks` list".into() })
    }

    pub fn set_paused(&mut self, dag_id: &str, paused: bool) -> Result<(), Error> {
        self.send_json("PATCH", &self.dag_path(dag_id), &json!({ "is_paused": paused }))?;
        Ok(())
    }

    pub fn trigger(&mut self, dag_id: &str, trigger: &Trigger) -> Result<DagRun, Error> {
        let mut body = json!({ "conf": trigger.conf });
        match (&trigger.logical_date, self.api) {
            (Some(date), _) => body["logical_date"] = json!(date),
            // Airflow 3 requires the key; null makes a run with no logical date.
            (None, Api::V2) => body["logical_date"] = Value::Null,
            (None, Api::V1) => {}
        }
        let path = format!("{}/dagRuns", self.dag_path(dag_id));
        let run = self.send_json("POST", &path, &body)?;
        serde_json::from_value(run).map_err(|e| Error::Body { what: format!("POST {path}"), message: e.to_string() })
    }

    pub fn dag_run(&mut self, dag_id: &str, run_id: &str) -> Result<DagRun, Error> {
        self.get_json(&self.run_path(dag_id, run_id))
    }

    pub fn task_instances(&mut self, dag_id: &str, run_id: &str) -> Result<Vec<TaskInstance>, Error> {
        let path = format!("{}/taskInstances", self.run_path(dag_id, run_id));
        self.all(&path, "task_instances")
    }

    /// Sets a task instance's state (`success` for a task `--task` leaves out), that task only.
    pub fn set_task_state(&mut self, dag_id: &str, run_id: &str, task_id: &str, state: &str) -> Result<(), Error> {
        let path = format!("{}/taskInstances/{}", self.run_path(dag_id, run_id), encode(task_id));
        // Airflow 2.11's endpoint knows only `new_state` and `dry_run` (400 "Unknown field" for the
        // others); Airflow 3's defaults for the include_* flags are false already.
        let body = json!({ "new_state": state });
        self.send_json("PATCH", &path, &body)?;
        Ok(())
    }

    /// The whole log of one try of a task instance so far (empty while Airflow has none).
    pub fn task_log(&mut self, dag_id: &str, run_id: &str, task: &TaskInstance) -> Result<Vec<LogRecord>, Error> {
        let mut path = format!(
            "{}/taskInstances/{}/logs/{}",
            self.run_path(dag_id, run_id),
            encode(&task.task_id),
            task.try_number
        );
        if task.map_index >= 0 {
            path.push_str(&format!("?map_index={}", task.map_index));
        }
        let (mut status, mut text) = self.get_log_once(&path)?;
        if status == 401 && self.api == Api::V2 {
            self.login()?;
            (status, text) = self.get_log_once(&path)?;
        }
        // Airflow 2's JSON log is a Python repr of (host, text) pairs; its plain text is the log.
        if self.api == Api::V1 && status == 200 {
            return Ok(records(&Value::String(text)));
        }
        match status {
            200 => {}
            404 => return Ok(Vec::new()),
            401 | 403 => return Err(self.login_refused(status)),
            _ => return Err(Error::Status { what: format!("GET {path}"), status, body: text }),
        }
        let log: Value = serde_json::from_str(&text)
            .map_err(|e| Error::Body { what: format!("GET {path}"), message: e.to_string() })?;
        Ok(records(&log["content"]))
    }

    /// A GET of a log: JSON records from Airflow 3, plain text from Airflow 2 (measured on 2.11.2:
    /// `Accept: application/json` gives `{"content": "[('host', '<the log, repr-escaped>')]"}`,
    /// `text/plain` the log itself).
    fn get_log_once(&self, path: &str) -> Result<(u16, String), Error> {
        let accept = if self.api == Api::V1 { "text/plain" } else { "application/json" };
        let request = self.agent.get(&format!("{}{path}", self.base)).header("Accept", accept);
        let request = match self.authorization(true) {
            Some(authorization) => request.header("Authorization", &authorization),
            None => request,
        };
        let mut response =
            request.call().map_err(|e| Error::Unreachable { url: self.base.clone(), message: e.to_string() })?;
        let status = response.status().as_u16();
        Ok((status, response.body_mut().read_to_string().unwrap_or_default()))
    }
}

/// A log's `content`: Airflow 3's list of JSON records, or Airflow 2's text (one record a line).
/// Airflow 3's records without a timestamp are its header (where it read the log from), not the
/// task's.
pub fn records(content: &Value) -> Vec<LogRecord> {
    match content {
        Value::Array(items) => items.iter().filter(|item| item["timestamp"].is_string()).map(record).collect(),
        // Airflow 2's text, without its group markers (`::group::…`, `::endgroup::`).
        Value::String(text) => text
            .lines()
            .filter(|line| !line.contains("::group::") && !line.contains("::endgroup::"))
            .map(|line| LogRecord { lines: vec![line.to_string()], ..LogRecord::default() })
            .collect(),
        _ => Vec::new(),
    }
}

fn record(item: &Value) -> LogRecord {
    let text = |key: &str| item[key].as_str().map(str::to_string);
    let mut lines: Vec<String> = text("event").unwrap_or_default().lines().map(str::to_string).collect();
    if let Some(errors) = item["error_detail"].as_array() {
        lines.extend(traceback(errors));
    }
    LogRecord { timestamp: text("timestamp"), level: text("level"), logger: text("logger"), lines }
}

/// `error_detail[]` as Python prints a traceback: each exception with its frames, then
/// `Type: message`; the frames of Airflow's own task runner (under `site-packages/airflow/`, a
/// dozen before the task's code is reached) are left out. Airflow (structlog's `dict_tracebacks`) lists the exception raised last first
/// and its causes after it; Python prints the causes first.
fn traceback(errors: &[Value]) -> Vec<String> {
    let mut lines = Vec::new();
    for error in errors.iter().rev() {
        if !lines.is_empty() {
            lines.push("The above exception was the direct cause of the following exception:".to_string());
        }
        lines.push("Traceback (most recent call last):".to_string());
        let frames = error["frames"].as_array().into_iter().flatten();
        for frame in frames.filter(|f| !f["filename"].as_str().is_some_and(|f| f.contains("/site-packages/airflow/"))) {
            let (file, line, name) = (&frame["filename"], &frame["lineno"], &frame["name"]);
            lines.push(format!(
                "  File \"{}\", line {}, in {}",
                file.as_str().unwrap_or("?"),
                line,
                name.as_str().unwrap_or("?")
            ));
        }
        let kind = error["exc_type"].as_str().unwrap_or("Exception");
        match error["exc_value"].as_str().filter(|v| !v.is_empty()) {
            Some(value) => lines.push(format!("{kind}: {value}")),
            None => lines.push(kind.to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_encoded_as_a_path_segment() {
        assert_eq!(
            encode("manual__2026-12-01T15:06:54.971258+00:00"),
            "manual__2026-12-01T15%3A06%3A54.971258%2B00%3A00"
        );
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    /// The shape of a failed task's record, as Airflow 3.3.2 answered here (frames shortened).
    #[test]
    fn an_exception_becomes_a_traceback_ending_in_its_type_and_message() {
        let content = json!([
            {"event": "::group::Log message source details"},
            {"timestamp": "2026-12-01T15:07:58.147806Z", "event": "conf is {'x': 1}", "level": "info", "logger": "task.stdout"},
            {"timestamp": "2026-12-01T15:07:58.148139Z", "event": "Task failed with exception", "level": "error", "logger": "task",
             "error_detail": [{"exc_type": "ValueError", "exc_value": "b broke", "exc_notes": [], "syntax_error": null, "is_cause": false,
               "frames": [
                 {"filename": "/home/airflow/.local/lib/python3.12/site-packages/airflow/sdk/execution_time/task_runner.py", "lineno": 1579, "name": "_run_task_and_map_outcome"},
                 {"filename": "/opt/airflow/dags/three.py", "lineno": 11, "name": "b"}]}]}
        ]);
        let records = records(&content);
        assert_eq!(records.len(), 2, "the header without a timestamp is left out");
        assert_eq!(records[0].logger.as_deref(), Some("task.stdout"));
        assert_eq!(
            records[1].lines,
            [
                "Task failed with exception",
                "Traceback (most recent call last):",
                "  File \"/opt/airflow/dags/three.py\", line 11, in b",
                "ValueError: b broke"
            ]
        );
        let text = records_of_text();
        assert_eq!(text.len(), 2);
        assert_eq!(text[1].lines, ["[2025-01-01] INFO - hello"]);
    }

    fn records_of_text() -> Vec<LogRecord> {
        records(&json!("*** Found local files\n[2025-01-01] INFO - ::endgroup::\n[2025-01-01] INFO - hello\n"))
    }
}
