//! What the kubelet does with the Secrets and ConfigMaps a pod's environment names: the chart's
//! references read from the release's values, and the refusal a real kubelet gives when one is
//! missing (issue 10: production values name objects only production has).

use serde_json::Value;

use super::State;
use super::view::Ctx;

/// A Secret or ConfigMap a container's environment names (`envFrom` when `key` is None).
pub(super) struct ConfigRef {
    pub(super) kind: &'static str,
    pub(super) name: String,
    pub(super) key: Option<String>,
}

/// The kubelet's refusal to build a container's environment, as kubernetes/kubernetes
/// `pkg/kubelet/kubelet_pods.go` (`makeEnvironmentVariables`) words it: a missing object is the
/// secret/configMap manager's NotFound (`secret "x" not found`, `configmap "x" not found`), a
/// missing key `couldn't find key K in Secret NS/NAME` (`ConfigMap` likewise). The API server
/// folds `stringData` into `data`, so either holds the key here. None: every reference resolves.
pub(super) fn config_error(ctx: &Ctx, state: &State, ns: &str, refs: &[ConfigRef]) -> Option<String> {
    refs.iter().find_map(|r| {
        let plural = if r.kind == "Secret" { "secrets" } else { "configmaps" };
        let stored = state
            .objects
            .get(&format!("/api/v1/namespaces/{ns}/{plural}/{}", r.name))
            .filter(|s| super::store::visible(ctx, s));
        let Some(object) = stored else {
            return Some(format!("{} \"{}\" not found", r.kind.to_lowercase(), r.name));
        };
        let key = r.key.as_deref()?;
        let has = ["data", "stringData"].iter().any(|field| object.obj[*field].get(key).is_some());
        (!has).then(|| format!("couldn't find key {key} in {} {ns}/{}", r.kind, r.name))
    })
}

/// The Secrets and ConfigMaps the chart 1.22.0 puts in the env of every Airflow container that
/// waits for migrations (`templates/_helpers.yaml`): `custom_airflow_environment` makes each
/// `secret[]` entry a `secretKeyRef {secretName, secretKey | default "value"}` and templates
/// `extraEnv` (a YAML string) into the env list; `custom_airflow_environment_from` templates
/// `extraEnvFrom` into `envFrom`. `optional: true` references are skipped, as the kubelet does.
pub(super) fn config_refs(values: &Value) -> Vec<ConfigRef> {
    let mut refs = Vec::new();
    for entry in values["secret"].as_array().into_iter().flatten() {
        if let Some(name) = entry["secretName"].as_str() {
            let key = entry["secretKey"].as_str().unwrap_or("value").to_string();
            refs.push(ConfigRef { kind: "Secret", name: name.to_string(), key: Some(key) });
        }
    }
    for templated in ["extraEnv", "extraEnvFrom"] {
        let Some(text) = values[templated].as_str() else { continue };
        let items: Vec<Value> = serde_norway::from_str(text).unwrap_or_default();
        for item in &items {
            let from = item.get("valueFrom").unwrap_or(item);
            for (field, kind) in [
                ("secretKeyRef", "Secret"),
                ("configMapKeyRef", "ConfigMap"),
                ("secretRef", "Secret"),
                ("configMapRef", "ConfigMap"),
            ] {
                let reference = &from[field];
                if let Some(name) = reference["name"].as_str()
                    && reference["optional"] != Value::Bool(true)
                {
                    let key = reference["key"].as_str().map(str::to_string);
                    refs.push(ConfigRef { kind, name: name.to_string(), key });
                }
            }
        }
    }
    refs
}
