//! The fence around production: what in the production values would make a laptop Airflow talk to
//! production (connections, alerting, remote logging, the secrets backend) is neutralised, each
//! with a line in the parity report, unless the user keeps it by name (`[airflow] keep`).

use serde_json::json;

use super::layers::Layers;
use crate::values::{Path, Value};

/// What the report says where it fences something off; the user can keep it.
const KEEP_HINT: &str = "keep it with `keep = [\"NAME\"]` under [airflow] in devflow.toml";

fn path(dotted: &str) -> Path {
    Path::parse(dotted).expect("the fence's keys are dotted paths")
}

/// Fences the production endpoints off the laptop's values; returns what it fenced off, by name.
pub fn apply(layers: &mut Layers, keep: &[String]) -> Vec<String> {
    let mut fenced = Vec::new();
    let kept = |name: &str| keep.iter().any(|k| k == name);
    let mut fence = |layers: &mut Layers, name: &str, what: &str, act: &dyn Fn(&mut Layers, &str)| {
        if kept(name) {
            return;
        }
        act(layers, &format!("fenced off: {what}; {}", KEEP_HINT.replace("NAME", name)));
        fenced.push(name.to_string());
    };
    if layers.get(&path("config.secrets.backend")).is_some() {
        fence(
            layers,
            "config.secrets.backend",
            "the production secrets backend (give connections as AIRFLOW_CONN_* or stand-ins)",
            &|l, why| {
                l.remove(&path("config.secrets.backend"), why);
                l.remove(&path("config.secrets.backend_kwargs"), why);
            },
        );
    }
    let remote = layers.get(&path("config.logging.remote_logging")).and_then(Value::as_str).map(str::to_lowercase);
    if remote.as_deref() == Some("true") {
        fence(
            layers,
            "config.logging.remote_logging",
            "task logs would go to the production bucket; they stay in the cluster",
            &|l, why| {
                l.set(&path("config.logging.remote_logging"), json!("False"), why);
            },
        );
    }
    if layers.get(&path("config.smtp")).is_some_and(|smtp| smtp.get("smtp_host").is_some()) {
        fence(
            layers,
            "config.smtp",
            "the production mail relay (Airflow's default, localhost, sends nothing; a send attempt shows in the task log)",
            &|l, why| {
                l.remove(&path("config.smtp"), why);
            },
        );
    }
    for key in ["email_backend", "email_conn_id"] {
        let name = format!("config.email.{key}");
        if layers.get(&path(&name)).is_some() {
            fence(layers, &name, "alert e-mail through production's mail service", &|l, why| {
                l.remove(&path(&name), why)
            });
        }
    }
    fence_env(layers, &kept, &mut fenced);
    fenced
}

/// Where the chart takes environment entries from: `env` and each component's own `env` (lists),
/// and `extraEnv`, a YAML list in a string that the chart templates into every Airflow container
/// (chart 1.22.0 `_helpers.yaml` `custom_airflow_environment`).
const ENV_LISTS: [&str; 7] =
    ["env", "scheduler.env", "workers.env", "apiServer.env", "webserver.env", "triggerer.env", "dagProcessor.env"];

/// Entries of these that reach production: connections with a host or credentials, Slack
/// webhooks, and airflow.cfg's fenced settings given as `AIRFLOW__SECTION__KEY`.
fn fence_env(layers: &mut Layers, kept: &dyn Fn(&str) -> bool, fenced: &mut Vec<String>) {
    for list in ENV_LISTS {
        let list = path(list);
        let Some(entries) = layers.get(&list).and_then(Value::as_array).cloned() else { continue };
        if let Some(stay) = fence_entries(entries, kept, fenced) {
            layers.set(&list, Value::Array(stay.0), stay.1);
        }
    }
    let extra = path("extraEnv");
    let Some(text) = layers.get(&extra).and_then(Value::as_str).map(str::to_string) else { return };
    // A string the chart cannot read as a list is the chart's error to give, not the fence's.
    let Ok(entries) = serde_norway::from_str::<Vec<Value>>(&text) else { return };
    if let Some((stay, why)) = fence_entries(entries, kept, fenced) {
        let text = if stay.is_empty() {
            String::new()
        } else {
            serde_norway::to_string(&stay).expect("env entries serialise")
        };
        layers.set(&extra, Value::String(text), why);
    }
}

/// The entries that stay and the report's reason, when any entry is fenced off.
fn fence_entries(
    entries: Vec<Value>,
    kept: &dyn Fn(&str) -> bool,
    fenced: &mut Vec<String>,
) -> Option<(Vec<Value>, String)> {
    let (out, stay): (Vec<Value>, Vec<Value>) = entries.into_iter().partition(|entry| {
        let name = entry["name"].as_str().unwrap_or_default();
        !kept(name) && reaches_production(name, entry["value"].as_str().unwrap_or_default())
    });
    let names: Vec<String> = out.iter().filter_map(|e| e["name"].as_str().map(str::to_string)).collect();
    let first = names.first()?;
    let why = format!(
        "fenced off: {} would reach production from the laptop; {}",
        names.join(", "),
        KEEP_HINT.replace("NAME", first)
    );
    fenced.extend(names);
    Some((stay, why))
}

fn reaches_production(name: &str, value: &str) -> bool {
    let cfg = ["AIRFLOW__SMTP__", "AIRFLOW__SECRETS__BACKEND", "AIRFLOW__LOGGING__REMOTE_LOGGING", "AIRFLOW__EMAIL__"];
    if cfg.iter().any(|prefix| name.starts_with(prefix)) || value.contains("hooks.slack.com/") {
        return true;
    }
    name.starts_with("AIRFLOW_CONN_") && connection_has_endpoint(value)
}

/// A connection names a host or carries credentials (URI authority or JSON `host`/`login`/`password`).
fn connection_has_endpoint(value: &str) -> bool {
    if let Ok(Value::Object(conn)) = serde_json::from_str::<Value>(value) {
        return ["host", "login", "password"].iter().any(|k| conn.get(*k).is_some_and(|v| v.as_str() != Some("")));
    }
    value.split_once("://").is_some_and(|(_, rest)| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !authority.is_empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_with_an_endpoint_are_fenced_and_kept_ones_stay() {
        let mut layers = Layers::new();
        layers.merge(
            &json!({
                "env": [
                    {"name": "AIRFLOW_CONN_AWS_DEFAULT", "value": "aws://?region_name=us-east-1"},
                    {"name": "AIRFLOW_CONN_WAREHOUSE", "value": "postgresql://etl:pw@dwh.acme:5432/a"},
                    {"name": "AIRFLOW_CONN_API", "value": "{\"conn_type\": \"http\", \"host\": \"api.acme.io\"}"},
                    {"name": "ALERTS", "value": "https://hooks.slack.com/services/T/B/x"},
                ],
                "config": {"smtp": {"smtp_host": "mail.acme.io"}, "logging": {"remote_logging": "True"}},
            }),
            |_| "production values".into(),
        );
        let fenced = apply(&mut layers, &["AIRFLOW_CONN_API".to_string()]);
        assert_eq!(fenced, ["config.logging.remote_logging", "config.smtp", "AIRFLOW_CONN_WAREHOUSE", "ALERTS"]);
        let names: Vec<&str> =
            layers.values["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_API"]);
        assert_eq!(layers.values["config"]["logging"]["remote_logging"], "False");
    }

    #[test]
    fn a_components_env_and_the_templated_extra_env_are_fenced_too() {
        let mut layers = Layers::new();
        layers.merge(
            &json!({
                "scheduler": {"env": [
                    {"name": "AIRFLOW__SMTP__SMTP_HOST", "value": "smtp.acme.io"},
                    {"name": "TZ", "value": "UTC"},
                ]},
                "extraEnv": "- name: AIRFLOW__SMTP__SMTP_PASSWORD\n  value: pw\n- name: OPENLINEAGE_URL\n  value: http://ol.local\n",
            }),
            |_| "production values".into(),
        );
        let fenced = apply(&mut layers, &[]);
        assert_eq!(fenced, ["AIRFLOW__SMTP__SMTP_HOST", "AIRFLOW__SMTP__SMTP_PASSWORD"]);
        assert_eq!(layers.values["scheduler"]["env"], json!([{"name": "TZ", "value": "UTC"}]));
        let extra: Vec<Value> = serde_norway::from_str(layers.values["extraEnv"].as_str().unwrap()).unwrap();
        assert_eq!(extra, [json!({"name": "OPENLINEAGE_URL", "value": "http://ol.local"})]);
    }
}
