//! Work that runs inside the cluster, in an Airflow pod with the cluster's own image: importing
//! every DAG (`devflow test`) and loading connections, variables and pools (`devflow settings
//! import`). Here are the scripts, what they are given and how their output is read; the exec is
//! the caller's.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Read from stdin: the settings as JSON (so no secret is on a command line). Prints JSON.
pub const IMPORT_SETTINGS: &str = include_str!("import_settings.py");
/// Argument: the DAG folder. Prints JSON.
pub const TEST_DAGS: &str = include_str!("test_dags.py");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot read {path}: {io}\n  give the path of a YAML file of connections, variables and pools (`devflow settings import --help` shows its form)"
    )]
    Read { path: String, io: std::io::Error },
    #[error("{path}{at}: {message}\n  {fix}")]
    Settings { path: String, at: String, message: String, fix: &'static str },
    #[error("the command in the pod printed something devflow cannot read ({message}):\n    {output}")]
    Output { message: String, output: String },
}

impl crate::error::Kind for Error {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            Error::Read { .. } | Error::Settings { .. } => crate::error::ErrorKind::Input,
            Error::Output { .. } => crate::error::ErrorKind::Environment,
        }
    }
}

const SETTINGS_FIX: &str = "`devflow settings import --help` shows the file's form";

/// The settings file as written: every section optional, nothing else allowed.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub connections: BTreeMap<String, Connection>,
    /// Strings as they are; anything else stored as its JSON text, as Airflow's own import does.
    #[serde(default, deserialize_with = "variables")]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub pools: BTreeMap<String, Pool>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub conn_type: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub schema: Option<String>,
    /// A mapping (stored as JSON text) or the JSON text itself.
    #[serde(default, deserialize_with = "json_text")]
    pub extra: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// -1 means unlimited, as in Airflow.
    pub slots: i64,
    pub description: Option<String>,
    pub include_deferred: Option<bool>,
}

fn json_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<serde_json::Value>::deserialize(d)?.map(as_text))
}

fn variables<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(BTreeMap::<String, serde_json::Value>::deserialize(d)?.into_iter().map(|(k, v)| (k, as_text(v))).collect())
}

fn as_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

impl Settings {
    /// Reads and checks the file; a mistake names the key and, where YAML knows it, the line.
    pub fn read(path: &Path) -> Result<Settings, Error> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|io| Error::Read { path: shown.clone(), io })?;
        let settings: Settings = match serde_norway::Deserializer::from_str(&text).next() {
            None => Settings::default(),
            Some(document) => serde_path_to_error::deserialize(document).map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner();
                let at = inner.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
                let message = inner.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message);
                // serde_norway starts with the path of the mapping; the key path says it better.
                let message = match message.split_once(": ") {
                    Some((path, rest)) if key.starts_with(path) => rest.to_string(),
                    _ => message.to_string(),
                };
                // An unknown key is named by the message itself: the path is its table's.
                let unknown = message.strip_prefix("unknown field `").and_then(|rest| rest.split_once('`'));
                let key = match unknown {
                    Some(_) => key.rsplit_once('.').map_or(".".to_string(), |(table, _)| table.to_string()),
                    None => key,
                };
                let message = match unknown {
                    Some((field, expected)) => {
                        format!("{message}{}", crate::words::did_you_mean(field, crate::words::backticked(expected)))
                    }
                    None => message,
                };
                let message = if key == "." { message } else { format!("`{key}`: {message}") };
                Error::Settings { path: shown.clone(), at, message, fix: SETTINGS_FIX }
            })?,
        };
        if let Some((name, pool)) = settings.pools.iter().find(|(_, p)| p.slots < -1) {
            return Err(Error::Settings {
                path: shown,
                at: String::new(),
                message: format!(
                    "`pools.{name}.slots` is {}: expected a number of slots, or -1 for no limit",
                    pool.slots
                ),
                fix: SETTINGS_FIX,
            });
        }
        Ok(settings)
    }

    pub fn is_empty(&self) -> bool {
        self.connections.is_empty() && self.variables.is_empty() && self.pools.is_empty()
    }
}

/// What the import did to one connection, variable or pool.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub struct Outcome {
    pub kind: String,
    pub name: String,
    /// created, updated or unchanged
    pub result: String,
}

pub fn outcomes(stdout: &[u8]) -> Result<Vec<Outcome>, Error> {
    last_json_line(stdout)
}

/// What importing every DAG found.
#[derive(Debug, Deserialize, Serialize)]
pub struct TestReport {
    pub dags: Vec<TestedDag>,
    pub import_errors: Vec<ImportError>,
    pub problems: Vec<Problem>,
    /// What importing each file warned of (an older script printed none).
    #[serde(default)]
    pub warnings: Vec<Warned>,
    pub seconds: f64,
}

#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
pub struct Warned {
    pub file: String,
    /// `file:line: Category: message`, as Airflow formats it.
    pub warning: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct TestedDag {
    pub dag_id: String,
    pub file: String,
    pub tasks: usize,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ImportError {
    pub file: String,
    pub error: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Problem {
    pub dag_id: String,
    pub file: String,
    pub problem: String,
}

impl TestReport {
    pub fn read(stdout: &[u8]) -> Result<TestReport, Error> {
        last_json_line(stdout)
    }

    pub fn passed(&self) -> bool {
        self.import_errors.is_empty() && self.problems.is_empty()
    }
}

/// The scripts print their JSON last; Airflow may log lines before it.
pub fn last_json_line<T: serde::de::DeserializeOwned>(stdout: &[u8]) -> Result<T, Error> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().rev().map(str::trim).find(|l| l.starts_with('{') || l.starts_with('['));
    let unreadable = |message: String| Error::Output {
        message,
        output: text.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n    "),
    };
    let line = line.ok_or_else(|| unreadable("no JSON in it".into()))?;
    serde_json::from_str(line).map_err(|e| unreadable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Settings, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.yaml");
        std::fs::write(&path, text).unwrap();
        Settings::read(&path)
    }

    #[test]
    fn settings_become_what_the_script_reads() {
        let settings = read(
            "connections:\n  wh:\n    conn_type: postgres\n    port: 5432\n    password: s3cret\n    extra: {sslmode: require}\nvariables:\n  env: dev\n  limits: {rows: 10}\n  n: 3\npools:\n  heavy: {slots: 2}\n",
        )
        .unwrap();
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(json["connections"]["wh"]["extra"], r#"{"sslmode":"require"}"#);
        assert_eq!(json["connections"]["wh"]["port"], 5432);
        assert_eq!(json["variables"], serde_json::json!({"env": "dev", "limits": "{\"rows\":10}", "n": "3"}));
        assert_eq!(json["pools"]["heavy"]["slots"], 2);
        assert!(read("").unwrap().is_empty());
    }

    #[test]
    fn mistakes_name_the_key_and_the_line() {
        let error = read("connections:\n  wh:\n    conn_typ: postgres\n").unwrap_err().to_string();
        assert!(error.contains("settings.yaml:3:5: `connections.wh`: unknown field `conn_typ`"), "{error}");
        assert!(error.contains("did you mean `conn_type`?"), "{error}");
        assert!(error.contains("unknown field `conn_typ`"), "{error}");
        let error = read("pool:\n  x: {slots: 1}\n").unwrap_err().to_string();
        assert!(error.contains("unknown field `pool`") && error.contains("--help"), "{error}");
        let error = read("pools:\n  x: {slots: -5}\n").unwrap_err().to_string();
        assert!(error.contains("`pools.x.slots` is -5"), "{error}");
        let error = read("connections:\n  wh: {host: x}\n").unwrap_err().to_string();
        assert!(error.contains("missing field `conn_type`"), "{error}");
    }

    #[test]
    fn outputs_are_read_from_their_last_json_line() {
        let out = b"[2026-01-01] INFO some log\n[{\"kind\":\"pool\",\"name\":\"x\",\"result\":\"created\"}]\n";
        assert_eq!(outcomes(out).unwrap()[0].result, "created");
        let error = outcomes(b"Traceback...\nModuleNotFoundError: no airflow\n").unwrap_err().to_string();
        assert!(error.contains("no JSON") && error.contains("ModuleNotFoundError"), "{error}");
    }
}
