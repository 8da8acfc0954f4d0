//! The world as one request sees it: FAKE_HOME's `scenario.json`, `clusters.json` and
//! `releases.json` (written by the fake kind, k3d and helm), the node containers' state from
//! Docker, and the clock.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value, json};

use super::Shared;

// ------------------------------------------------------------------------------------------ time

pub(super) fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn timestamp(t: f64) -> Timestamp {
    Timestamp::from_second(t.floor() as i64).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A unix time as the API server writes a metav1.Time: whole seconds, UTC.
pub(super) fn time(t: f64) -> Time {
    Time(timestamp(t))
}

/// The same as RFC 3339 text, for the objects kept as JSON.
pub(super) fn rfc3339(t: f64) -> String {
    timestamp(t).to_string()
}

/// The same with nanoseconds, as the kubelet stamps log lines (`timestamps=true`).
pub(super) fn rfc3339_nano(t: f64) -> String {
    timestamp(t).strftime("%Y-%m-%dT%H:%M:%S.%9fZ").to_string()
}

/// Docker's `2026-01-02T03:04:05.123456789Z` as unix seconds.
fn parse_time(text: &str) -> Option<f64> {
    let t: Timestamp = text.trim().parse().ok()?;
    Some(t.as_nanosecond() as f64 / 1e9)
}

// ------------------------------------------------------------------------------------------ files

pub(super) fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}))
}

pub(super) fn scenario_f64(scenario: &Value, key: &str, default: f64) -> f64 {
    scenario.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// Runs `f` holding the fakes' lock (FAKE_HOME/.lock, the flock the Python fakes take).
fn with_fakes_lock<T>(home: &Path, f: impl FnOnce() -> T) -> T {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(home.join(".lock"));
    match file {
        Ok(file) => {
            let _ = file.lock();
            let out = f();
            let _ = file.unlock();
            out
        }
        Err(_) => f(),
    }
}

/// Helm's merge of several values files (helm/helm v3.19.0 `pkg/cli/values/options.go`
/// `mergeMaps`): maps merge key by key, anything else is replaced.
fn merge_values(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge_values(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

// ------------------------------------------------------------------------------------------ the views

#[derive(Clone, Debug)]
pub(super) struct ContainerState {
    pub(super) running: bool,
    pub(super) started: f64,
}

/// `docker inspect` of the node containers, kept for 300 ms.
#[derive(Default)]
pub(super) struct DockerCache {
    at: Option<Instant>,
    names: Vec<String>,
    states: HashMap<String, ContainerState>,
}

pub(super) struct NodeView {
    pub(super) name: String,
    pub(super) role: String,
    pub(super) labels: Map<String, Value>,
    pub(super) state: Option<ContainerState>,
}

pub(super) struct ClusterView {
    pub(super) name: String,
    pub(super) provider: String,
    pub(super) context: String,
    pub(super) key: String,
    pub(super) created: f64,
    pub(super) kubelet_version: String,
    pub(super) nodes: Vec<NodeView>,
    pub(super) up: bool,
    /// The last time one of its node containers started: pods restart with the cluster.
    pub(super) started: f64,
    /// What `kind load docker-image` / `k3d image import` put in the nodes' containerd.
    pub(super) images: Vec<String>,
}

pub(super) struct ReleaseView {
    pub(super) context: String,
    pub(super) node: String,
    pub(super) ns: String,
    pub(super) name: String,
    /// The values Helm got, its values files merged.
    pub(super) values: Value,
    pub(super) rolled_at: f64,
    /// When the chart's jobs were last made (the fake helm's `jobs_at`): an upgrade with the same
    /// values makes the jobs devflow deleted again, without rolling the pods.
    pub(super) jobs_at: f64,
    /// When Helm last upgraded the release: its three-way merge puts scaled replicas back.
    pub(super) updated: f64,
    /// When the pods rolled before that (the fake helm's `rolled_before`), for a rollout.
    pub(super) rolled_before: Option<f64>,
    pub(super) chart_version: String,
    pub(super) cluster_started: f64,
}

/// The world one request sees.
pub(super) struct Ctx {
    pub(super) now: f64,
    pub(super) scenario: Value,
    pub(super) clusters: Vec<ClusterView>,
    /// The keys of the running clusters.
    pub(super) running: HashSet<String>,
    pub(super) releases: Vec<ReleaseView>,
    pub(super) api_up: bool,
}

impl Ctx {
    /// The name of the first node of the first running cluster ("" when none runs).
    pub(super) fn node_name(&self) -> String {
        self.clusters.iter().find(|c| c.up).and_then(|c| c.nodes.first()).map(|n| n.name.clone()).unwrap_or_default()
    }

    /// The key of the cluster an object applied now belongs to ("" when none runs).
    pub(super) fn current_cluster(&self) -> String {
        let mut keys: Vec<&String> = self.running.iter().collect();
        keys.sort();
        keys.first().map(|k| k.to_string()).unwrap_or_default()
    }
}

impl Shared {
    fn docker_states(&self, names: &[String]) -> HashMap<String, ContainerState> {
        let mut cache = self.docker.lock().unwrap();
        let mut sorted = names.to_vec();
        sorted.sort();
        let fresh = cache.at.is_some_and(|at| at.elapsed() < Duration::from_millis(300)) && cache.names == sorted;
        if !fresh {
            cache.states = if sorted.is_empty() { HashMap::new() } else { inspect(&sorted) };
            cache.at = Some(Instant::now());
            cache.names = sorted;
        }
        cache.states.clone()
    }

    /// The world now, read afresh.
    pub(super) fn ctx(&self) -> Ctx {
        let scenario = read_json(&self.home.join("scenario.json"));
        let clusters_json = read_json(&self.home.join("clusters.json"));
        let records = clusters_json.as_object().cloned().unwrap_or_default();
        let all_nodes: Vec<String> = records
            .values()
            .flat_map(|rec| rec["nodes"].as_array().cloned().unwrap_or_default())
            .filter_map(|n| n.as_str().map(String::from))
            .collect();
        let states = self.docker_states(&all_nodes);
        let clusters: Vec<ClusterView> = records
            .iter()
            .filter(|(_, rec)| rec["creating"].as_bool() != Some(true))
            .map(|(name, rec)| cluster_view(name, rec, &states, &scenario))
            .collect();
        let running: HashSet<String> = clusters.iter().filter(|c| c.up).map(|c| c.key.clone()).collect();
        let api_up = match scenario["api"].as_str() {
            Some("down") => false,
            Some("up") => true,
            _ => !running.is_empty(),
        };
        let releases_json = read_json(&self.home.join("releases.json"));
        let releases = clusters.iter().filter(|c| c.up).flat_map(|c| release_views(c, &releases_json)).collect();
        Ctx { now: now(), scenario, clusters, running, releases, api_up }
    }

    /// Removes the releases of a namespace from releases.json, as deleting the namespace deletes
    /// the Secrets in which Helm keeps them.
    pub(super) fn forget_releases_in(&self, ctx: &Ctx, ns: &str) {
        let path = self.home.join("releases.json");
        with_fakes_lock(&self.home, || {
            let mut releases = read_json(&path);
            let mut changed = false;
            for c in ctx.clusters.iter().filter(|c| c.up) {
                if let Some(map) = releases.get_mut(&c.context).and_then(Value::as_object_mut) {
                    let before = map.len();
                    map.retain(|k, _| !k.starts_with(&format!("{ns}/")));
                    changed |= map.len() != before;
                }
            }
            if changed {
                let tmp = path.with_extension("json.tmp.fakekube");
                if std::fs::write(&tmp, serde_json::to_vec_pretty(&releases).unwrap()).is_ok() {
                    let _ = std::fs::rename(&tmp, &path);
                }
            }
        });
    }
}

fn inspect(names: &[String]) -> HashMap<String, ContainerState> {
    let mut states = HashMap::new();
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.Name}}|{{.State.Running}}|{{.State.StartedAt}}"])
        .args(names)
        .output();
    if let Ok(out) = out {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let parts: Vec<&str> = line.trim().split('|').collect();
            if let [name, running, started] = parts[..] {
                states.insert(
                    name.trim_start_matches('/').to_string(),
                    ContainerState { running: running == "true", started: parse_time(started).unwrap_or(0.0) },
                );
            }
        }
    }
    states
}

fn cluster_view(name: &str, rec: &Value, states: &HashMap<String, ContainerState>, scenario: &Value) -> ClusterView {
    let provider = rec["provider"].as_str().unwrap_or("kind").to_string();
    let created = rec["created"].as_f64().unwrap_or(0.0);
    let nodes: Vec<NodeView> = rec["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| NodeView {
            name: n.to_string(),
            role: rec["roles"][n].as_str().unwrap_or("control-plane").to_string(),
            labels: rec["node_labels"][n].as_object().cloned().unwrap_or_default(),
            state: states.get(n).cloned(),
        })
        .filter(|n| n.role != "loadbalancer" && n.role != "external-load-balancer")
        .collect();
    // A cluster devflow did not create has no node containers of its own unless the test
    // started one: without any, it is up when the scenario says the API is.
    let up = if provider == "existing" && nodes.is_empty() {
        scenario["api"].as_str() == Some("up")
    } else {
        nodes.iter().any(|n| n.state.as_ref().is_some_and(|s| s.running))
    };
    let started = nodes.iter().filter_map(|n| n.state.as_ref().map(|s| s.started)).fold(created, f64::max);
    let context = match provider.as_str() {
        "existing" => rec["context"].as_str().unwrap_or(name).to_string(),
        "kind" => format!("kind-{name}"),
        _ => format!("k3d-{name}"),
    };
    ClusterView {
        key: format!("{name}@{created}"),
        name: name.to_string(),
        kubelet_version: rec["kubelet_version"].as_str().unwrap_or("v1.36.4").to_string(),
        provider,
        context,
        created,
        nodes,
        up,
        started,
        images: rec["images"].as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect(),
    }
}

fn release_views(c: &ClusterView, releases_json: &Value) -> Vec<ReleaseView> {
    let Some(map) = releases_json[&c.context].as_object() else { return Vec::new() };
    map.iter()
        .filter(|(_, rec)| rec["status"].as_str() != Some("uninstalled"))
        .map(|(key, rec)| {
            let (ns, name) = key.split_once('/').unwrap_or(("default", key));
            let texts: Vec<String> = match rec["values_files"].as_array() {
                Some(list) => list.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
                None => rec["values"].as_str().map(|t| vec![t.to_string()]).unwrap_or_default(),
            };
            let mut values = json!({});
            for text in texts {
                if let Ok(v) = serde_norway::from_str::<Value>(&text) {
                    merge_values(&mut values, v);
                }
            }
            let updated = rec["updated"].as_f64().unwrap_or(0.0);
            ReleaseView {
                context: c.context.clone(),
                node: c.nodes.first().map(|n| n.name.clone()).unwrap_or_default(),
                ns: ns.to_string(),
                name: name.to_string(),
                values,
                rolled_at: rec["rolled_at"].as_f64().unwrap_or(updated),
                jobs_at: rec["jobs_at"].as_f64().or(rec["rolled_at"].as_f64()).unwrap_or(updated),
                updated,
                rolled_before: rec["rolled_before"].as_f64(),
                chart_version: rec["version"].as_str().unwrap_or("1.22.0").to_string(),
                cluster_started: c.started,
            }
        })
        .collect()
}
