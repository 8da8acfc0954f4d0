//! Stand-ins for the Secrets and ConfigMaps production has and a laptop lacks: every reference
//! the chart's values make to one (the chart puts them on every Airflow pod, and a kubelet refuses
//! to start a container whose reference it cannot resolve), and the object devflow creates in its
//! place, its values from the project's git-ignored `.devflow/secrets.env`.
//!
//! The chart 1.22.0's `templates/_helpers.yaml`: `custom_airflow_environment` turns each `secret[]`
//! entry into `valueFrom.secretKeyRef {name: secretName, key: secretKey | default "value"}`, and
//! templates `extraEnv` (a YAML string) into the env list; `custom_airflow_environment_from`
//! templates `extraEnvFrom` (a YAML string) into `envFrom`. `env[]` entries are plain values.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;

use crate::values::{self, Value};

/// The file the stand-ins' values come from (config reads it).
pub use crate::config::STANDIN_VALUES as FILE;
/// What a stand-in's value shows as until `up` fills it from [`FILE`].
pub const FROM_FILE: &str = "<from .devflow/secrets.env>";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Kind {
    Secret,
    ConfigMap,
}

impl Kind {
    fn of(reference: &str) -> Option<Kind> {
        match reference {
            "secretRef" | "secretKeyRef" | "secret" => Some(Kind::Secret),
            "configMapRef" | "configMapKeyRef" | "configMap" => Some(Kind::ConfigMap),
            _ => None,
        }
    }
}

/// One object the values name and devflow stands in for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandIn {
    pub kind: Kind,
    pub name: String,
    /// The keys the pods read one by one: each needs a value.
    pub keys: BTreeSet<String>,
    /// The values keys that name it (`secret[0]`, `extraEnvFrom`, `volumes[1]`).
    pub used_by: Vec<String>,
}

impl StandIn {
    /// `name/key`: how a value is written in [`FILE`].
    pub fn entry(&self, key: &str) -> String {
        format!("{}/{key}", self.name)
    }

    /// The object devflow applies, its values placeholders until `up` fills them.
    pub fn manifest(&self, namespace: &str, labels: &Value) -> Value {
        let data: serde_json::Map<String, Value> =
            self.keys.iter().map(|k| (k.clone(), Value::String(FROM_FILE.into()))).collect();
        let (kind, field) = match self.kind {
            Kind::Secret => ("Secret", "stringData"),
            Kind::ConfigMap => ("ConfigMap", "data"),
        };
        json!({
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"name": self.name, "namespace": namespace, "labels": labels,
                         "annotations": {"devflow.io/stand-in": "values from .devflow/secrets.env"}},
            field: data,
        })
    }
}

/// Every Secret and ConfigMap the values make the chart's pods reference, in name order.
pub fn find(values: &Value) -> Vec<StandIn> {
    let mut found: BTreeMap<(Kind, String), StandIn> = BTreeMap::new();
    let mut add = |kind: Kind, name: &str, key: Option<&str>, used_by: String| {
        let entry = found.entry((kind, name.to_string())).or_insert_with(|| StandIn {
            kind,
            name: name.to_string(),
            keys: BTreeSet::new(),
            used_by: Vec::new(),
        });
        entry.keys.extend(key.map(str::to_string));
        if !entry.used_by.contains(&used_by) {
            entry.used_by.push(used_by);
        }
    };
    for (i, item) in list(values, "secret").iter().enumerate() {
        if let Some(name) = item["secretName"].as_str().filter(|n| *n != super::names::ENV_SECRET) {
            add(Kind::Secret, name, Some(item["secretKey"].as_str().unwrap_or("value")), format!("secret[{i}]"));
        }
    }
    for key in ["extraEnv", "extraEnvFrom"] {
        let templated = values.get(key).and_then(Value::as_str).and_then(|t| values::from_yaml_str(t).ok());
        if let Some(Value::Array(items)) = templated {
            for item in &items {
                env_references(item, &mut |kind, name, k| add(kind, name, k, key.to_string()));
            }
        }
    }
    for (path, item) in env_lists(values) {
        env_references(&item, &mut |kind, name, k| add(kind, name, k, path.clone()));
    }
    for (path, volume) in volume_lists(values) {
        volume_references(&volume, &mut |kind, name, k| add(kind, name, k, path.clone()));
    }
    found.into_values().collect()
}

fn list<'a>(values: &'a Value, key: &str) -> &'a [Value] {
    values.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// `valueFrom.secretKeyRef`/`configMapKeyRef` of an env entry, `secretRef`/`configMapRef` of an
/// envFrom entry; optional ones are skipped (a kubelet skips them too).
fn env_references(item: &Value, add: &mut dyn FnMut(Kind, &str, Option<&str>)) {
    let from = item.get("valueFrom").unwrap_or(item);
    for (field, reference) in from.as_object().into_iter().flatten() {
        let (Some(kind), Some(name)) = (Kind::of(field), reference["name"].as_str()) else { continue };
        if reference["optional"] == json!(true) {
            continue;
        }
        add(kind, name, reference["key"].as_str());
    }
}

/// A `secret` or `configMap` volume, with the keys its `items` pick.
fn volume_references(volume: &Value, add: &mut dyn FnMut(Kind, &str, Option<&str>)) {
    for (field, kind) in [("secret", Kind::Secret), ("configMap", Kind::ConfigMap)] {
        let source = &volume[field];
        let Some(name) = source["secretName"].as_str().or_else(|| source["name"].as_str()) else { continue };
        if source["optional"] == json!(true) {
            continue;
        }
        add(kind, name, None);
        for item in source["items"].as_array().into_iter().flatten() {
            add(kind, name, item["key"].as_str());
        }
    }
}

/// Each entry of every `env` list of the chart's components (the top-level one and, e.g.,
/// `workers.env`), with where it is.
fn env_lists(values: &Value) -> Vec<(String, Value)> {
    entries_of(values, &["env"])
}

/// Each volume of `volumes` and every component's `extraVolumes`.
fn volume_lists(values: &Value) -> Vec<(String, Value)> {
    entries_of(values, &["volumes", "extraVolumes"])
}

fn entries_of(values: &Value, names: &[&str]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let Some(top) = values.as_object() else { return out };
    for (key, value) in top {
        if names.contains(&key.as_str()) {
            push_items(&mut out, key, value);
        } else if key != "config"
            && let Some(component) = value.as_object()
        {
            for (inner, list) in component {
                if names.contains(&inner.as_str()) {
                    push_items(&mut out, &format!("{key}.{inner}"), list);
                }
            }
        }
    }
    out
}

fn push_items(out: &mut Vec<(String, Value)>, at: &str, list: &Value) {
    for (i, item) in list.as_array().into_iter().flatten().enumerate() {
        out.push((format!("{at}[{i}]"), item.clone()));
    }
}

/// The `name/key` entries the stand-ins need that `values` (read from [`FILE`]) lacks or leaves empty.
pub fn missing(stand_ins: &[StandIn], values: &BTreeMap<String, String>) -> Vec<String> {
    stand_ins
        .iter()
        .flat_map(|s| s.keys.iter().map(|k| s.entry(k)))
        .filter(|entry| values.get(entry).is_none_or(String::is_empty))
        .collect()
}

/// A stand-in's manifest with its values from [`FILE`], every entry the file has for it included.
pub fn fill(manifest: &Value, values: &BTreeMap<String, String>) -> Value {
    let mut filled = manifest.clone();
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let field = if manifest["kind"] == "Secret" { "stringData" } else { "data" };
    let prefix = format!("{name}/");
    let data = filled[field].as_object_mut();
    if let Some(data) = data {
        for (entry, value) in values {
            if let Some(key) = entry.strip_prefix(&prefix) {
                data.insert(key.to_string(), Value::String(value.clone()));
            }
        }
        data.retain(|_, v| v != FROM_FILE);
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_reference_the_chart_makes_is_found() {
        let values = json!({
            "secret": [{"envName": "AIRFLOW_CONN_SLACK", "secretName": "slack-conn"},
                       {"envName": "X", "secretName": "slack-conn", "secretKey": "uri"}],
            "extraEnvFrom": "- secretRef:\n    name: extra-env\n- configMapRef:\n    name: team-settings\n",
            "extraEnv": "- name: A\n  valueFrom:\n    secretKeyRef: {name: api, key: token}\n",
            "env": [{"name": "B", "value": "plain"}],
            "workers": {"env": [{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "team-settings", "key": "region"}}}],
                        "extraVolumes": [{"name": "certs", "secret": {"secretName": "ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]},
            "scheduler": {"env": [{"name": "D", "valueFrom": {"secretKeyRef": {"name": "maybe", "key": "k", "optional": true}}}]},
        });
        let found = find(&values);
        let shown: Vec<(Kind, &str, Vec<&str>)> =
            found.iter().map(|s| (s.kind, s.name.as_str(), s.keys.iter().map(String::as_str).collect())).collect();
        assert_eq!(
            shown,
            [
                (Kind::Secret, "api", vec!["token"]),
                (Kind::Secret, "ca", vec!["ca.crt"]),
                (Kind::Secret, "extra-env", vec![]),
                (Kind::Secret, "slack-conn", vec!["uri", "value"]),
                (Kind::ConfigMap, "team-settings", vec!["region"]),
            ]
        );
        assert_eq!(found[3].used_by, ["secret[0]", "secret[1]"]);
        let have = BTreeMap::from([("slack-conn/uri".to_string(), "slack://x".to_string())]);
        assert_eq!(missing(&found, &have), ["api/token", "ca/ca.crt", "slack-conn/value", "team-settings/region"]);
    }
}
