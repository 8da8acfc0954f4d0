//! Production-only sidecars, init containers and volumes: a Cloud SQL proxy, a Vault agent, a Key
//! Vault CSI volume or a production claim cannot work on a laptop (no cloud identity, no CSI
//! driver, no such claim: the pod would never start), so they are dropped, each with a report
//! line, unless the user keeps one by name (`[airflow] keep`).

use super::layers::{Layers, matching_paths};
use crate::values::{Path, Value};

const KEEP: &str = "keep it with `keep = [\"NAME\"]` under [airflow] in devflow.toml";

/// Drops what only production can run; returns the names dropped.
pub fn apply(layers: &mut Layers, keep: &[String]) -> Vec<String> {
    let mut dropped = Vec::new();
    for pattern in ["**.extraContainers", "**.extraInitContainers"] {
        for path in matching_paths(&layers.values, pattern) {
            drop_items(layers, &path, keep, &mut dropped, |_| {
                Some(
                    "a production-only sidecar or init container (its cloud identity and endpoints do not exist on a laptop)",
                )
            });
        }
    }
    for pattern in ["volumes", "**.extraVolumes"] {
        for path in matching_paths(&layers.values, pattern) {
            let mut gone = Vec::new();
            drop_items(layers, &path, keep, &mut gone, production_volume);
            if !gone.is_empty() {
                let mounts = mounts_of(&path);
                drop_mounts(layers, &mounts, &gone);
                dropped.extend(gone);
            }
        }
    }
    dropped
}

/// Why a volume cannot be had on a laptop: a CSI driver's or a production claim's.
fn production_volume(volume: &Value) -> Option<&'static str> {
    if volume.get("csi").is_some() {
        Some("a CSI volume: its driver (Secrets Store, a cloud file system) is not installed on a laptop")
    } else if volume.get("persistentVolumeClaim").is_some() {
        Some("a production claim: it does not exist on the laptop, and a pod naming it stays Pending")
    } else {
        None
    }
}

fn drop_items(
    layers: &mut Layers,
    path: &Path,
    keep: &[String],
    dropped: &mut Vec<String>,
    why: impl Fn(&Value) -> Option<&'static str>,
) {
    let Some(items) = layers.get(path).and_then(Value::as_array).cloned() else { return };
    let mut reasons = Vec::new();
    let (gone, stay): (Vec<Value>, Vec<Value>) = items.into_iter().partition(|item| {
        let name = item["name"].as_str().unwrap_or_default();
        match why(item).filter(|_| !keep.iter().any(|k| k == name)) {
            Some(reason) => {
                reasons.push(format!("`{name}` is {reason}"));
                true
            }
            None => false,
        }
    });
    if gone.is_empty() {
        return;
    }
    let names: Vec<String> = gone.iter().filter_map(|i| i["name"].as_str().map(str::to_string)).collect();
    let why = format!("dropped: {}; {}", reasons.join("; "), KEEP.replace("NAME", &names[0]));
    if stay.is_empty() {
        layers.remove(path, why);
    } else {
        layers.set(path, Value::Array(stay), why);
    }
    dropped.extend(names);
}

/// `volumes` → `volumeMounts`, `scheduler.extraVolumes` → `scheduler.extraVolumeMounts`.
fn mounts_of(volumes: &Path) -> Path {
    let segments = volumes.segments();
    let last = segments.last().map(String::as_str).unwrap_or_default();
    let mounts = if last == "volumes" { "volumeMounts" } else { "extraVolumeMounts" };
    Path::from_keys(segments[..segments.len() - 1].iter().map(String::as_str).chain([mounts]))
}

fn drop_mounts(layers: &mut Layers, path: &Path, volumes: &[String]) {
    let Some(mounts) = layers.get(path).and_then(Value::as_array).cloned() else { return };
    let stay: Vec<Value> =
        mounts.into_iter().filter(|m| !volumes.iter().any(|v| m["name"].as_str() == Some(v))).collect();
    let why = format!(
        "the volume{} {} dropped with it",
        if volumes.len() == 1 { " is" } else { "s are" },
        volumes.join(", ")
    );
    if stay.is_empty() {
        layers.remove(path, why);
    } else {
        layers.set(path, Value::Array(stay), why);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sidecars_csi_volumes_and_their_mounts_are_dropped_unless_kept() {
        let mut layers = Layers::new();
        layers.merge(
            &json!({
                "scheduler": {"extraContainers": [{"name": "cloud-sql-proxy"}, {"name": "vault-agent"}]},
                "volumes": [{"name": "kv", "csi": {"driver": "secrets-store.csi.k8s.io"}}, {"name": "cfg", "configMap": {"name": "x"}}],
                "volumeMounts": [{"name": "kv", "mountPath": "/mnt/kv"}, {"name": "cfg", "mountPath": "/cfg"}],
            }),
            |_| "production values".into(),
        );
        let dropped = apply(&mut layers, &["vault-agent".to_string()]);
        assert_eq!(dropped, ["cloud-sql-proxy", "kv"]);
        assert_eq!(layers.values["scheduler"]["extraContainers"], json!([{"name": "vault-agent"}]));
        assert_eq!(layers.values["volumes"], json!([{"name": "cfg", "configMap": {"name": "x"}}]));
        assert_eq!(layers.values["volumeMounts"], json!([{"name": "cfg", "mountPath": "/cfg"}]));
    }
}
