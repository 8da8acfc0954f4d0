//! FakeKube: a plain-HTTP fake of the Kubernetes API for devflow's tests (kube-rs talks to it
//! through the `kind-N` / `k3d-N` contexts the fake `kind` and `k3d` write).
//!
//! What it serves, from FAKE_HOME (re-read on every request) and what was applied to it:
//! - Nodes of every cluster in `clusters.json` whose node containers run (`docker inspect`, cached
//!   for 300 ms). A node turns Ready `node_ready_after_s` (scenario, default 0.3) after the
//!   cluster's `created` time or its container's last start.
//! - **When no recorded cluster has a running node container, every request gets a 503
//!   `ServiceUnavailable` Status** (a stopped real cluster refuses connections; a 503 is what a
//!   client can tell apart deterministically). Scenario `"api": "down"` forces that, `"api": "up"`
//!   answers even with no cluster.
//! - Server-side apply (`PATCH ...?fieldManager=..` with `application/apply-patch+yaml`), merge
//!   patches, POST, PUT, GET (object, collection with `labelSelector`/`fieldSelector`, `watch`),
//!   DELETE (object and collection) over any `/api/v1/...` or `/apis/{group}/{version}/...` path.
//!   Objects belong to the cluster that ran when they were applied and vanish with it.
//! - The Airflow chart's pods, jobs, deployments and statefulsets for every release in
//!   `releases.json` on a running cluster, Pending → Running after `pod_ready_after_s`
//!   (default 0.3) from the release's roll time; pods for applied StatefulSets/Deployments
//!   (e.g. `devflow-postgres-0`); events for injected failures; pod logs.
//!
//! Scenario keys read here: `api`, `node_ready_after_s`, `pod_ready_after_s`, `pods`, `jobs`,
//! `logs`, `previous_logs` (see tests/it/world.rs for the full list).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub struct FakeKube {
    url: String,
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    home: PathBuf,
    /// The listening address (to find a connection's socket for exec and port-forward).
    addr: std::net::SocketAddr,
    stop: AtomicBool,
    state: Mutex<State>,
    requests: Mutex<Vec<String>>,
    docker: Mutex<DockerCache>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Stored>,
    rv: u64,
    /// Synthesised pods deleted by a client: (namespace, owner) -> (time, count); they come back.
    restarts: HashMap<(String, String), (f64, u32)>,
    /// Synthesised jobs deleted by a client: "ns/name@rolled_at".
    deleted_jobs: HashSet<String>,
}

#[derive(Clone)]
struct Stored {
    obj: Value,
    /// The `name@created` of the cluster it was applied to ("" when none ran).
    cluster: String,
    /// When its spec last changed: the clock of pods synthesised for it.
    since: f64,
}

#[derive(Default)]
struct DockerCache {
    at: Option<Instant>,
    names: Vec<String>,
    states: HashMap<String, CState>,
}

#[derive(Clone, Debug)]
struct CState {
    running: bool,
    started: f64,
}

impl FakeKube {
    pub fn start(fake_home: PathBuf) -> FakeKube {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("FakeKube binds 127.0.0.1:0"));
        let addr = server.server_addr().to_ip().expect("an IP listener");
        let port = addr.port();
        let shared = Arc::new(Shared {
            home: fake_home,
            addr,
            stop: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            requests: Mutex::new(Vec::new()),
            docker: Mutex::new(DockerCache::default()),
        });
        let (sh, srv) = (shared.clone(), server.clone());
        let thread = std::thread::spawn(move || {
            while !sh.stop.load(Ordering::SeqCst) {
                match srv.recv_timeout(Duration::from_millis(100)) {
                    Ok(Some(request)) => {
                        let sh = sh.clone();
                        std::thread::spawn(move || handle(&sh, request));
                    }
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        });
        FakeKube { url: format!("http://127.0.0.1:{port}"), shared, server, thread: Some(thread) }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// "METHOD /path?query" of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The objects applied/created so far (stored ones only, not the synthesised ones), by path.
    pub fn stored(&self) -> BTreeMap<String, Value> {
        self.shared.state.lock().unwrap().objects.iter().map(|(k, v)| (k.clone(), v.obj.clone())).collect()
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------------------------------ time

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let (m, d) = (i64::from(m), i64::from(d));
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 in UTC with whole seconds, as the API server writes metav1.Time.
pub fn rfc3339(t: f64) -> String {
    let secs = t.floor() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

/// Parses Docker's `2026-01-02T03:04:05.123456789Z` (UTC) to unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.len() < 20 {
        return None;
    }
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (num(0, 4)?, num(5, 7)?, num(8, 10)?, num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut frac = 0.0;
    let rest = &s[19..];
    let mut tz = rest;
    if let Some(r) = rest.strip_prefix('.') {
        let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
        frac = format!("0.{digits}").parse().unwrap_or(0.0);
        tz = &r[digits.len()..];
    }
    let mut offset = 0i64;
    if tz.len() >= 6 && (tz.starts_with('+') || tz.starts_with('-')) {
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        let oh: i64 = tz[1..3].parse().ok()?;
        let om: i64 = tz[4..6].parse().ok()?;
        offset = sign * (oh * 3600 + om * 60);
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

// ------------------------------------------------------------------------------------------ hashing

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Kubernetes' safe alphabet for generated name suffixes.
fn suffix(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv(seed);
    (0..len)
        .map(|i| {
            if i % 8 == 7 {
                h = fnv(&format!("{seed}{h}"));
            }
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn uid(seed: &str) -> String {
    let a = fnv(seed);
    let b = fnv(&format!("{seed}/uid"));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

// ------------------------------------------------------------------------------------------ files

fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}))
}

fn scenario_f64(scenario: &Value, key: &str, default: f64) -> f64 {
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

// ------------------------------------------------------------------------------------------ the world as seen by one request

struct NodeView {
    name: String,
    role: String,
    labels: Map<String, Value>,
    state: Option<CState>,
}

struct ClusterView {
    name: String,
    provider: String,
    context: String,
    key: String,
    created: f64,
    kubelet_version: String,
    nodes: Vec<NodeView>,
    up: bool,
    /// The last time one of its node containers started: pods restart with the cluster.
    started: f64,
}

struct ReleaseView {
    context: String,
    node: String,
    ns: String,
    name: String,
    values: Value,
    rolled_at: f64,
    chart_version: String,
    cluster_started: f64,
}

struct Ctx {
    now: f64,
    scenario: Value,
    clusters: Vec<ClusterView>,
    running: HashSet<String>,
    releases: Vec<ReleaseView>,
    api_up: bool,
}

impl Shared {
    fn docker_states(&self, names: &[String]) -> HashMap<String, CState> {
        let mut cache = self.docker.lock().unwrap();
        let mut sorted = names.to_vec();
        sorted.sort();
        let fresh = cache.at.is_some_and(|at| at.elapsed() < Duration::from_millis(300)) && cache.names == sorted;
        if !fresh {
            let mut states = HashMap::new();
            if !sorted.is_empty() {
                let out = Command::new("docker")
                    .args(["inspect", "-f", "{{.Name}}|{{.State.Running}}|{{.State.StartedAt}}"])
                    .args(&sorted)
                    .output();
                if let Ok(out) = out {
                    for line in String::from_utf8_lossy(&out.stdout).lines() {
                        let parts: Vec<&str> = line.trim().split('|').collect();
                        if parts.len() == 3 {
                            states.insert(
                                parts[0].trim_start_matches('/').to_string(),
                                CState { running: parts[1] == "true", started: parse_rfc3339(parts[2]).unwrap_or(0.0) },
                            );
                        }
                    }
                }
            }
            cache.at = Some(Instant::now());
            cache.names = sorted;
            cache.states = states;
        }
        cache.states.clone()
    }

    fn ctx(&self) -> Ctx {
        let scenario = read_json(&self.home.join("scenario.json"));
        let clusters_json = read_json(&self.home.join("clusters.json"));
        let mut all_nodes = Vec::new();
        if let Some(map) = clusters_json.as_object() {
            for rec in map.values() {
                if let Some(nodes) = rec["nodes"].as_array() {
                    all_nodes.extend(nodes.iter().filter_map(|n| n.as_str().map(String::from)));
                }
            }
        }
        let states = self.docker_states(&all_nodes);
        let mut clusters = Vec::new();
        if let Some(map) = clusters_json.as_object() {
            for (name, rec) in map {
                if rec["creating"].as_bool() == Some(true) {
                    continue;
                }
                let provider = rec["provider"].as_str().unwrap_or("kind").to_string();
                let created = rec["created"].as_f64().unwrap_or(0.0);
                let mut nodes = Vec::new();
                for n in rec["nodes"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let role = rec["roles"][n].as_str().unwrap_or("control-plane").to_string();
                    if role == "loadbalancer" || role == "external-load-balancer" {
                        continue;
                    }
                    let labels = rec["node_labels"][n].as_object().cloned().unwrap_or_default();
                    nodes.push(NodeView { name: n.to_string(), role, labels, state: states.get(n).cloned() });
                }
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
                clusters.push(ClusterView {
                    key: format!("{name}@{created}"),
                    name: name.clone(),
                    kubelet_version: rec["kubelet_version"].as_str().unwrap_or("v1.36.4").to_string(),
                    provider,
                    context,
                    created,
                    nodes,
                    up,
                    started,
                });
            }
        }
        let running: HashSet<String> = clusters.iter().filter(|c| c.up).map(|c| c.key.clone()).collect();
        let api_up = match scenario["api"].as_str() {
            Some("down") => false,
            Some("up") => true,
            _ => !running.is_empty(),
        };
        let releases_json = read_json(&self.home.join("releases.json"));
        let mut releases = Vec::new();
        for c in clusters.iter().filter(|c| c.up) {
            let Some(map) = releases_json[&c.context].as_object() else { continue };
            for (key, rec) in map {
                if rec["status"].as_str() == Some("uninstalled") {
                    continue;
                }
                let (ns, name) = key.split_once('/').unwrap_or(("default", key));
                let mut values = json!({});
                let texts: Vec<String> = match rec["values_files"].as_array() {
                    Some(list) => list.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
                    None => rec["values"].as_str().map(|t| vec![t.to_string()]).unwrap_or_default(),
                };
                for text in texts {
                    if let Ok(v) = serde_norway::from_str::<Value>(&text) {
                        deep_merge(&mut values, v);
                    }
                }
                let updated = rec["updated"].as_f64().unwrap_or(0.0);
                releases.push(ReleaseView {
                    context: c.context.clone(),
                    node: c.nodes.first().map(|n| n.name.clone()).unwrap_or_default(),
                    ns: ns.to_string(),
                    name: name.to_string(),
                    values,
                    rolled_at: rec["rolled_at"].as_f64().unwrap_or(updated),
                    chart_version: rec["version"].as_str().unwrap_or("1.22.0").to_string(),
                    cluster_started: c.started,
                });
            }
        }
        Ctx { now: now(), scenario, clusters, running, releases, api_up }
    }
}

fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// JSON merge patch (RFC 7386).
fn merge_patch(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

// ------------------------------------------------------------------------------------------ routes

#[derive(Clone, Debug)]
struct Route {
    /// "/api/v1" or "/apis/apps/v1"
    prefix: String,
    group: String,
    version: String,
    namespace: Option<String>,
    resource: String,
    name: Option<String>,
    sub: Option<String>,
}

impl Route {
    fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
    fn collection_path(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/namespaces/{ns}/{}", self.prefix, self.resource),
            None => format!("{}/{}", self.prefix, self.resource),
        }
    }
    fn object_path(&self, name: &str) -> String {
        format!("{}/{name}", self.collection_path())
    }
}

fn parse_route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (prefix, group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => (format!("/api/{v}"), String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (format!("/apis/{g}/{v}"), g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let s = |i: usize| rest.get(i).map(|x| x.to_string());
    let r = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        Route { prefix, group, version, namespace: s(1), resource: rest[2].to_string(), name: s(3), sub: s(4) }
    } else if !rest.is_empty() {
        Route { prefix, group, version, namespace: None, resource: rest[0].to_string(), name: s(1), sub: s(2) }
    } else {
        return None;
    };
    Some(r)
}

fn kind_of(resource: &str) -> String {
    let known = [
        ("pods", "Pod"),
        ("jobs", "Job"),
        ("cronjobs", "CronJob"),
        ("namespaces", "Namespace"),
        ("nodes", "Node"),
        ("persistentvolumes", "PersistentVolume"),
        ("persistentvolumeclaims", "PersistentVolumeClaim"),
        ("secrets", "Secret"),
        ("services", "Service"),
        ("configmaps", "ConfigMap"),
        ("statefulsets", "StatefulSet"),
        ("deployments", "Deployment"),
        ("replicasets", "ReplicaSet"),
        ("daemonsets", "DaemonSet"),
        ("events", "Event"),
        ("serviceaccounts", "ServiceAccount"),
        ("storageclasses", "StorageClass"),
        ("endpoints", "Endpoints"),
        ("ingresses", "Ingress"),
        ("networkpolicies", "NetworkPolicy"),
        ("roles", "Role"),
        ("rolebindings", "RoleBinding"),
        ("clusterroles", "ClusterRole"),
        ("clusterrolebindings", "ClusterRoleBinding"),
    ];
    for (r, k) in known {
        if r == resource {
            return k.to_string();
        }
    }
    let singular = resource.strip_suffix('s').unwrap_or(resource);
    let mut c = singular.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

// ------------------------------------------------------------------------------------------ replies

enum Reply {
    Json(u16, Value),
    Text(u16, String),
    Watch(Box<(Route, Query)>),
}

fn status(code: u16, reason: &str, message: String, details: Value) -> Reply {
    Reply::Json(
        code,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": details, "code": code
        }),
    )
}

fn details(route: &Route, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": route.resource});
    if !route.group.is_empty() {
        d["group"] = json!(route.group);
    }
    d
}

fn qualified(route: &Route) -> String {
    if route.group.is_empty() { route.resource.clone() } else { format!("{}.{}", route.resource, route.group) }
}

fn not_found(route: &Route, name: &str) -> Reply {
    status(404, "NotFound", format!("{} \"{name}\" not found", qualified(route)), details(route, name))
}

type Query = HashMap<String, String>;

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query as a map: the last of repeated keys wins (see `query_pairs` for all of them).
fn parse_query(q: &str) -> Query {
    query_pairs(q).into_iter().collect()
}

fn truthy(q: &Query, key: &str) -> bool {
    q.get(key).is_some_and(|v| v == "true" || v == "1")
}

// ------------------------------------------------------------------------------------------ selectors

enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn split_terms(sel: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in sel.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
}

fn parse_selector(sel: &str) -> Vec<Req> {
    let set = |s: &str| -> Vec<String> {
        s.trim().trim_start_matches('(').trim_end_matches(')').split(',').map(|x| x.trim().to_string()).collect()
    };
    split_terms(sel)
        .into_iter()
        .map(|t| {
            if let Some((k, v)) = t.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once(" notin ") {
                Req::NotIn(k.trim().into(), set(v))
            } else if let Some((k, v)) = t.split_once(" in ") {
                Req::In(k.trim().into(), set(v))
            } else if let Some(k) = t.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else {
                Req::Exists(t)
            }
        })
        .collect()
}

fn matches(reqs: &[Req], get: impl Fn(&str) -> Option<String>) -> bool {
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
        Req::NotEq(k, v) => get(k).as_deref() != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

fn field(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn selected(obj: &Value, q: &Query) -> bool {
    if let Some(sel) = q.get("labelSelector").filter(|s| !s.is_empty()) {
        let labels = &obj["metadata"]["labels"];
        if !matches(&parse_selector(sel), |k| labels.get(k).and_then(Value::as_str).map(String::from)) {
            return false;
        }
    }
    if let Some(sel) = q.get("fieldSelector").filter(|s| !s.is_empty())
        && !matches(&parse_selector(sel), |k| field(obj, k))
    {
        return false;
    }
    true
}

// ------------------------------------------------------------------------------------------ request handling

fn header(req: &tiny_http::Request, name: &str) -> String {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default()
}

fn handle(sh: &Arc<Shared>, mut req: tiny_http::Request) {
    let method = req.method().as_str().to_ascii_uppercase();
    let url = req.url().to_string();
    sh.requests.lock().unwrap().push(format!("{method} {url}"));
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    // With `Connection: Upgrade` tiny_http hands the rest of the connection over as the body:
    // never read it.
    if header(&req, "Upgrade").eq_ignore_ascii_case("websocket") {
        if method == "GET" {
            upgrade(sh, req, path, query);
        } else {
            refuse(sh, req, status(400, "BadRequest", format!("{method} cannot upgrade a connection"), json!({})));
        }
        return;
    }
    let mut body = Vec::new();
    let _ = req.as_reader().read_to_end(&mut body);
    let content_type = header(&req, "Content-Type");
    let q = parse_query(query);
    match route(sh, &method, path, &q, &body, &content_type) {
        Reply::Watch(stream) => {
            let (route, q) = *stream;
            watch(sh, req, route, q);
        }
        reply => respond(req, reply),
    }
}

fn respond(req: tiny_http::Request, reply: Reply) {
    let (code, ctype, bytes) = match reply {
        Reply::Json(code, v) => (code, "application/json", serde_json::to_vec(&v).unwrap()),
        Reply::Text(code, t) => (code, "text/plain", t.into_bytes()),
        Reply::Watch(stream) => {
            (500, "text/plain", format!("a watch of {} cannot be answered here", stream.0.resource).into_bytes())
        }
    };
    let response = tiny_http::Response::from_data(bytes)
        .with_status_code(code)
        .with_header(tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes()).unwrap());
    let _ = req.respond(response);
}

fn route(sh: &Arc<Shared>, method: &str, path: &str, q: &Query, body: &[u8], ct: &str) -> Reply {
    let ctx = sh.ctx();
    if !ctx.api_up {
        return status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request (no cluster of the fake API server is running)"
                .into(),
            json!({}),
        );
    }
    match path.trim_end_matches('/') {
        "/version" => {
            let v = ctx.clusters.iter().find(|c| c.up).map(|c| c.kubelet_version.clone()).unwrap_or("v1.36.4".into());
            let core = v.trim_start_matches('v');
            let mut parts = core.split(['.', '+']);
            let major = parts.next().unwrap_or("1").to_string();
            let minor = parts.next().unwrap_or("36").to_string();
            return Reply::Json(
                200,
                json!({
                    "major": major, "minor": minor, "gitVersion": v, "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.5",
                    "compiler": "gc", "platform": "linux/amd64"
                }),
            );
        }
        "/healthz" | "/readyz" | "/livez" => return Reply::Text(200, "ok".into()),
        "/api" => {
            return Reply::Json(
                200,
                json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]}),
            );
        }
        "/apis" => {
            let groups: Vec<Value> = [
                ("apps", "v1"),
                ("batch", "v1"),
                ("storage.k8s.io", "v1"),
                ("rbac.authorization.k8s.io", "v1"),
                ("networking.k8s.io", "v1"),
            ]
            .iter()
            .map(|(g, v)| {
                let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
            })
            .collect();
            return Reply::Json(200, json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
        }
        _ => {}
    }
    let Some(route) = parse_route(path) else {
        return status(404, "NotFound", "the server could not find the requested resource".into(), json!({}));
    };
    let mut state = sh.state.lock().unwrap();
    match (method, &route.name, route.sub.as_deref()) {
        ("GET", Some(name), Some("log")) if route.resource == "pods" => logs(&ctx, &state, &route, name, q),
        ("GET" | "POST", Some(_), Some("exec" | "attach" | "portforward")) if route.resource == "pods" => {
            bad_request("Upgrade request required".into())
        }
        ("GET", Some(name), Some("status")) | ("GET", Some(name), None) => get_one(&ctx, &state, &route, name),
        ("GET", None, _) if truthy(q, "watch") => {
            drop(state);
            Reply::Watch(Box::new((route, q.clone())))
        }
        ("GET", None, _) => list(&ctx, &state, &route, q),
        ("PATCH", Some(name), None) | ("PATCH", Some(name), Some("status")) => {
            patch(sh, &ctx, &mut state, &route, name, q, body, ct)
        }
        ("POST", None, _) => create(&ctx, &mut state, &route, q, body),
        ("PUT", Some(name), None) | ("PUT", Some(name), Some("status")) => {
            replace(&ctx, &mut state, &route, name, q, body)
        }
        ("DELETE", Some(name), None) => delete(sh, &ctx, &mut state, &route, name, q),
        ("DELETE", None, _) => delete_collection(sh, &ctx, &mut state, &route, q),
        _ => status(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method} {path})"),
            json!({}),
        ),
    }
}

// ------------------------------------------------------------------------------------------ the objects

fn visible(ctx: &Ctx, s: &Stored) -> bool {
    s.cluster.is_empty() || ctx.running.contains(&s.cluster)
}

fn current_cluster(ctx: &Ctx) -> String {
    let mut keys: Vec<&String> = ctx.running.iter().collect();
    keys.sort();
    keys.first().map(|k| k.to_string()).unwrap_or_default()
}

fn builtin_namespaces(ctx: &Ctx) -> Vec<&'static str> {
    let mut out = vec!["default", "kube-node-lease", "kube-public", "kube-system"];
    if ctx.clusters.iter().any(|c| c.up && c.provider == "kind") {
        out.push("local-path-storage");
    }
    out
}

fn meta(name: &str, ns: Option<&str>, created: f64, seed: &str) -> Value {
    let mut m = json!({"name": name, "uid": uid(seed), "resourceVersion": "1", "creationTimestamp": rfc3339(created)});
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

/// Every object of a collection (stored + synthesised), with kind and apiVersion.
fn collection(ctx: &Ctx, state: &State, route: &Route, ns: Option<&str>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let api = route.api_version();
    let base = route.collection_path();
    let stored_prefix = match ns {
        Some(_) => format!("{base}/"),
        None => format!("{}/", route.prefix),
    };
    for (path, s) in &state.objects {
        if !visible(ctx, s) || !path.starts_with(&stored_prefix) {
            continue;
        }
        let Some(p) = parse_route(path) else { continue };
        if p.resource != route.resource || (ns.is_some() && p.namespace.as_deref() != ns) {
            continue;
        }
        out.push(with_status(ctx, state, s));
    }
    let synth = synthesised(ctx, state, &route.prefix, &route.resource);
    for obj in synth {
        let ons = obj["metadata"]["namespace"].as_str();
        if ns.is_none() || ons == ns {
            out.push(obj);
        }
    }
    for o in out.iter_mut() {
        if o["apiVersion"].is_null() {
            o["apiVersion"] = json!(api);
        }
        if o["kind"].is_null() {
            o["kind"] = json!(kind_of(&route.resource));
        }
    }
    out.sort_by(|a, b| {
        let k = |o: &Value| {
            (
                o["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        };
        k(a).cmp(&k(b))
    });
    out
}

fn find(ctx: &Ctx, state: &State, route: &Route, name: &str) -> Option<Value> {
    let path = route.object_path(name);
    if let Some(s) = state.objects.get(&path).filter(|s| visible(ctx, s)) {
        let mut o = with_status(ctx, state, s);
        if o["kind"].is_null() {
            o["kind"] = json!(kind_of(&route.resource));
        }
        return Some(o);
    }
    collection(ctx, state, route, route.namespace.as_deref())
        .into_iter()
        .find(|o| o["metadata"]["name"].as_str() == Some(name))
}

fn namespace_exists(ctx: &Ctx, state: &State, ns: &str) -> bool {
    if builtin_namespaces(ctx).contains(&ns) {
        return true;
    }
    state.objects.get(&format!("/api/v1/namespaces/{ns}")).is_some_and(|s| visible(ctx, s))
}

/// A stored object with the status the cluster would have given it by now.
fn with_status(ctx: &Ctx, state: &State, s: &Stored) -> Value {
    let mut o = s.obj.clone();
    let kind = o["kind"].as_str().unwrap_or("").to_string();
    let ready_after = scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3);
    let ready = ctx.now >= s.since + ready_after;
    match kind.as_str() {
        "Namespace" if o["status"].is_null() => {
            o["status"] = json!({"phase": "Active"});
        }
        "PersistentVolumeClaim" => {
            let ns = o["metadata"]["namespace"].as_str().unwrap_or("");
            let vol = o["spec"]["volumeName"].as_str().map(String::from).or_else(|| {
                state.objects.values().filter(|p| visible(ctx, p) && p.obj["kind"] == "PersistentVolume").find_map(
                    |p| {
                        let cr = &p.obj["spec"]["claimRef"];
                        (cr["name"] == o["metadata"]["name"] && cr["namespace"].as_str() == Some(ns))
                            .then(|| p.obj["metadata"]["name"].as_str().unwrap_or("").to_string())
                    },
                )
            });
            let pv = vol.as_ref().and_then(|v| state.objects.get(&format!("/api/v1/persistentvolumes/{v}")));
            match pv {
                Some(pv) => {
                    o["spec"]["volumeName"] = json!(vol);
                    o["status"] = json!({
                        "phase": "Bound",
                        "accessModes": pv.obj["spec"]["accessModes"].clone(),
                        "capacity": pv.obj["spec"]["capacity"].clone(),
                    });
                }
                None => o["status"] = json!({"phase": "Pending"}),
            }
        }
        "PersistentVolume" => {
            let cr = &o["spec"]["claimRef"];
            let bound = cr["name"].as_str().is_some_and(|n| {
                state.objects.contains_key(&format!(
                    "/api/v1/namespaces/{}/persistentvolumeclaims/{n}",
                    cr["namespace"].as_str().unwrap_or("default")
                ))
            });
            o["status"] = json!({"phase": if bound { "Bound" } else { "Available" }});
        }
        "StatefulSet" | "Deployment" => {
            let replicas = o["spec"]["replicas"].as_i64().unwrap_or(1);
            let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
            let failing = pod_scenario(ctx, &name, &name)
                .is_some_and(|s| s.get("waiting").is_some() || s.get("unschedulable").is_some());
            let ready_n = if ready && !failing { replicas } else { 0 };
            let generation = o["metadata"]["generation"].as_i64().unwrap_or(1);
            o["status"] = workload_status(&kind, replicas, ready_n, generation, &name);
        }
        "Job" => {
            let failed = ctx.scenario["jobs"][o["metadata"]["name"].as_str().unwrap_or("")].as_str() == Some("failed");
            o["status"] = job_status(ctx, s.since, s.since + ready_after, failed);
        }
        "Pod" if o["status"].is_null() => {
            let containers: Vec<(String, String)> = o["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (c["name"].as_str().unwrap_or("main").to_string(), c["image"].as_str().unwrap_or("").to_string())
                })
                .collect();
            let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
            let st = pod_status(ctx, &PodPlan::simple(&name, containers, s.since, node_name(ctx)));
            o["status"] = st.0;
            if o["spec"]["nodeName"].is_null()
                && let Some(n) = st.1
            {
                o["spec"]["nodeName"] = json!(n);
            }
        }
        _ => {}
    }
    o
}

fn workload_status(kind: &str, replicas: i64, ready: i64, generation: i64, name: &str) -> Value {
    if kind == "StatefulSet" {
        json!({
            "replicas": replicas, "readyReplicas": ready, "currentReplicas": replicas, "updatedReplicas": replicas,
            "availableReplicas": ready, "observedGeneration": generation, "collisionCount": 0,
            "currentRevision": format!("{name}-{}", suffix(name, 10)), "updateRevision": format!("{name}-{}", suffix(name, 10))
        })
    } else {
        let mut conditions = vec![json!({
            "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
            "message": format!("ReplicaSet \"{name}-{}\" has successfully progressed.", suffix(name, 10))
        })];
        conditions.insert(
            0,
            if ready >= replicas {
                json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."})
            } else {
                json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."})
            },
        );
        let mut st = json!({
            "replicas": replicas, "updatedReplicas": replicas, "observedGeneration": generation, "conditions": conditions
        });
        if ready > 0 {
            st["readyReplicas"] = json!(ready);
            st["availableReplicas"] = json!(ready);
        }
        if replicas - ready > 0 {
            st["unavailableReplicas"] = json!(replicas - ready);
        }
        st
    }
}

fn job_status(ctx: &Ctx, start: f64, done_at: f64, failed: bool) -> Value {
    if ctx.now < done_at {
        return json!({"active": 1, "startTime": rfc3339(start), "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
    }
    let t = rfc3339(done_at);
    if failed {
        json!({
            "failed": 1, "startTime": rfc3339(start), "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": t, "lastTransitionTime": t},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": t, "lastTransitionTime": t}
            ]
        })
    } else {
        json!({
            "succeeded": 1, "startTime": rfc3339(start), "completionTime": t, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": t, "lastTransitionTime": t},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": t, "lastTransitionTime": t}
            ]
        })
    }
}

fn node_name(ctx: &Ctx) -> String {
    ctx.clusters.iter().find(|c| c.up).and_then(|c| c.nodes.first()).map(|n| n.name.clone()).unwrap_or_default()
}

// ------------------------------------------------------------------------------------------ synthesised objects

/// A pod the fake cluster runs.
struct PodPlan {
    name: String,
    ns: String,
    labels: Map<String, Value>,
    /// (name, image); the first is the main container scenario failures apply to.
    containers: Vec<(String, String)>,
    init: Vec<(String, String)>,
    since: f64,
    /// scenario keys that address it: its component, then its owner's name.
    keys: Vec<String>,
    /// Some(failed) for a job's pod.
    job: Option<bool>,
    owner: Option<(String, String, String)>,
    node: String,
}

impl PodPlan {
    fn simple(name: &str, containers: Vec<(String, String)>, since: f64, node: String) -> PodPlan {
        PodPlan {
            name: name.to_string(),
            ns: String::new(),
            labels: Map::new(),
            containers,
            init: Vec::new(),
            since,
            keys: vec![name.to_string()],
            job: None,
            owner: None,
            node,
        }
    }
}

fn pod_scenario<'a>(ctx: &'a Ctx, component: &str, name: &str) -> Option<&'a Map<String, Value>> {
    let pods = ctx.scenario["pods"].as_object()?;
    if let Some(s) = pods.get(component).and_then(Value::as_object) {
        return Some(s);
    }
    pods.iter().find(|(k, _)| !k.is_empty() && name.starts_with(k.as_str())).and_then(|(_, v)| v.as_object())
}

fn cond(t: &str, status: bool, at: f64, reason: Option<&str>, message: Option<String>) -> Value {
    let mut c = json!({"type": t, "status": if status { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": rfc3339(at)});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// (status, nodeName) of a planned pod at ctx.now.
fn pod_status(ctx: &Ctx, p: &PodPlan) -> (Value, Option<String>) {
    let ready_at = p.since + scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3);
    let started = ctx.now >= ready_at;
    let sc = p.keys.iter().find_map(|k| pod_scenario(ctx, k, &p.name)).or_else(|| pod_scenario(ctx, "", &p.name));
    let sched = p.since;

    if let Some(msg) = sc.and_then(|s| s.get("unschedulable")).and_then(Value::as_str) {
        return (
            json!({
                "phase": "Pending", "qosClass": "Burstable",
                "conditions": [cond("PodScheduled", false, sched, Some("Unschedulable"), Some(msg.to_string()))]
            }),
            None,
        );
    }

    let cid = |name: &str| {
        format!(
            "containerd://{:016x}{:016x}{:016x}{:016x}",
            fnv(&p.name),
            fnv(name),
            fnv(&format!("{}{name}", p.name)),
            fnv(&format!("{name}{}", p.since))
        )
    };
    let mut statuses = Vec::new();
    let mut all_ready = true;
    let mut all_started = true;
    let mut not_ready = Vec::new();
    let mut phase = "Running";
    let restarts_of =
        |s: Option<&Map<String, Value>>| s.and_then(|s| s.get("restarts")).and_then(Value::as_i64).unwrap_or(0);

    for (i, (name, image)) in p.containers.iter().enumerate() {
        let is_main = i == 0;
        let s = if is_main { sc } else { None };
        let mut cs = json!({
            "name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false
        });
        let waiting = s.and_then(|s| s.get("waiting")).and_then(Value::as_str);
        let last = s.and_then(|s| s.get("last_terminated")).and_then(Value::as_object);
        let restarts = restarts_of(s);
        let last_state = |cs: &mut Value| {
            if let Some(l) = last {
                cs["lastState"] = json!({"terminated": {
                    "exitCode": l.get("exitCode").and_then(Value::as_i64).unwrap_or(1),
                    "reason": l.get("reason").and_then(Value::as_str).unwrap_or("Error"),
                    "startedAt": rfc3339(p.since), "finishedAt": rfc3339(p.since),
                    "containerID": cid(name)
                }});
            }
        };
        if let Some(job_failed) = p.job {
            if !started {
                cs["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
                phase = "Pending";
                all_ready = false;
                all_started = false;
                not_ready.push(name.clone());
            } else {
                let (code, reason) = if job_failed { (1, "Error") } else { (0, "Completed") };
                cs["state"] = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": rfc3339(p.since), "finishedAt": rfc3339(ready_at), "containerID": cid(name)}});
                cs["containerID"] = json!(cid(name));
                phase = if job_failed { "Failed" } else { "Succeeded" };
                all_ready = false;
                not_ready.push(name.clone());
            }
        } else if let Some(reason) = waiting {
            let message = s.and_then(|s| s.get("message")).and_then(Value::as_str).map(String::from);
            let crash = reason == "CrashLoopBackOff";
            let message = message.unwrap_or_else(|| {
                if crash {
                    format!("back-off 40s restarting failed container={name} pod={}_{}({})", p.name, p.ns, uid(&p.name))
                } else {
                    format!("Back-off pulling image \"{image}\"")
                }
            });
            cs["state"] = json!({"waiting": {"reason": reason, "message": message}});
            cs["restartCount"] = json!(restarts);
            if crash {
                cs["containerID"] = json!(cid(name));
                if last.is_none() {
                    cs["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": rfc3339(p.since), "finishedAt": rfc3339(p.since), "containerID": cid(name)}});
                } else {
                    last_state(&mut cs);
                }
            } else {
                all_started = false;
                phase = "Pending";
            }
            all_ready = false;
            not_ready.push(name.clone());
        } else if !started {
            cs["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
            phase = "Pending";
            all_ready = false;
            all_started = false;
            not_ready.push(name.clone());
        } else {
            cs["state"] = json!({"running": {"startedAt": rfc3339(ready_at)}});
            cs["ready"] = json!(true);
            cs["started"] = json!(true);
            cs["restartCount"] = json!(restarts);
            cs["containerID"] = json!(cid(name));
            last_state(&mut cs);
        }
        statuses.push(cs);
    }
    let _ = all_started;
    let init_statuses: Vec<Value> = p
        .init
        .iter()
        .map(|(name, image)| {
            if started {
                json!({"name": name, "image": image, "imageID": "", "ready": true, "restartCount": 0, "started": false, "containerID": cid(name),
                       "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": rfc3339(p.since), "finishedAt": rfc3339(ready_at), "containerID": cid(name)}}})
            } else {
                json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
                       "state": {"waiting": {"reason": "PodInitializing"}}})
            }
        })
        .collect();
    let unready_msg = format!("containers with unready status: [{}]", not_ready.join(" "));
    let is_job_done = p.job.is_some() && started;
    let ready_cond = if all_ready {
        cond("Ready", true, ready_at, None, None)
    } else if is_job_done {
        cond("Ready", false, ready_at, Some("PodCompleted"), None)
    } else {
        cond("Ready", false, p.since, Some("ContainersNotReady"), Some(unready_msg.clone()))
    };
    let containers_ready = if all_ready {
        cond("ContainersReady", true, ready_at, None, None)
    } else if is_job_done {
        cond("ContainersReady", false, ready_at, Some("PodCompleted"), None)
    } else {
        cond("ContainersReady", false, p.since, Some("ContainersNotReady"), Some(unready_msg))
    };
    let mut st = json!({
        "phase": phase,
        "conditions": [
            cond("PodReadyToStartContainers", started && !is_job_done, if started { ready_at } else { p.since }, None, None),
            cond("Initialized", true, p.since, None, None),
            ready_cond,
            containers_ready,
            cond("PodScheduled", true, sched, None, None),
        ],
        "hostIP": "172.18.0.2", "hostIPs": [{"ip": "172.18.0.2"}],
        "startTime": rfc3339(p.since),
        "containerStatuses": statuses,
        "qosClass": "Burstable"
    });
    if started {
        let ip = format!("10.244.0.{}", 2 + fnv(&p.name) % 250);
        st["podIP"] = json!(ip);
        st["podIPs"] = json!([{"ip": ip}]);
    }
    if !init_statuses.is_empty() {
        st["initContainerStatuses"] = json!(init_statuses);
    }
    (st, Some(p.node.clone()))
}

fn pod_json(ctx: &Ctx, p: &PodPlan) -> Value {
    let (status, node) = pod_status(ctx, p);
    let containers: Vec<Value> = p
        .containers
        .iter()
        .map(|(n, i)| json!({"name": n, "image": i, "imagePullPolicy": "IfNotPresent", "resources": {}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}))
        .collect();
    let init: Vec<Value> =
        p.init.iter().map(|(n, i)| json!({"name": n, "image": i, "imagePullPolicy": "IfNotPresent"})).collect();
    let mut spec = json!({
        "containers": containers, "restartPolicy": if p.job.is_some() { "OnFailure" } else { "Always" },
        "serviceAccountName": "default", "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst", "securityContext": {}
    });
    if !init.is_empty() {
        spec["initContainers"] = json!(init);
    }
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    let mut m = meta(&p.name, Some(&p.ns), p.since, &format!("{}/{}/{}", p.ns, p.name, p.since));
    m["labels"] = Value::Object(p.labels.clone());
    if let Some((api, kind, name)) = &p.owner {
        m["ownerReferences"] = json!([{"apiVersion": api, "kind": kind, "name": name, "uid": uid(&format!("{}/{name}", p.ns)), "controller": true, "blockOwnerDeletion": true}]);
    }
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": spec, "status": status});
    pod["metadata"]["resourceVersion"] = json!(rv_of(&pod));
    pod
}

/// A resourceVersion that changes whenever the synthesised object does.
fn rv_of(obj: &Value) -> String {
    (fnv(&obj["status"].to_string()) % 1_000_000_000 + 1000).to_string()
}

fn bool_at(v: &Value, path: &[&str], default: bool) -> bool {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_bool().unwrap_or(default)
}

struct Workload {
    component: String,
    kind: &'static str, // Deployment | StatefulSet
    containers: Vec<(String, String)>,
    labels: Map<String, Value>,
}

fn release_workloads(r: &ReleaseView) -> Vec<Workload> {
    let v = &r.values;
    let version = match &v["airflowVersion"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "3.2.2".to_string(),
    };
    let major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(3);
    let executor = v["executor"].as_str().unwrap_or("CeleryExecutor").to_string();
    let repo = v["images"]["airflow"]["repository"]
        .as_str()
        .or(v["defaultAirflowRepository"].as_str())
        .unwrap_or("apache/airflow");
    let tag = v["images"]["airflow"]["tag"]
        .as_str()
        .map(String::from)
        .or_else(|| v["defaultAirflowTag"].as_str().map(String::from))
        .unwrap_or(version.clone());
    let image = format!("{repo}:{tag}");
    let mut comps: Vec<(&str, &'static str)> = Vec::new();
    if major >= 3 {
        comps.push(("api-server", "Deployment"));
    } else if bool_at(v, &["webserver", "enabled"], true) {
        comps.push(("webserver", "Deployment"));
    }
    let workers_persistent = bool_at(v, &["workers", "persistence", "enabled"], true);
    let scheduler_kind =
        if executor.contains("LocalExecutor") && workers_persistent { "StatefulSet" } else { "Deployment" };
    comps.push(("scheduler", scheduler_kind));
    if major >= 3 && bool_at(v, &["dagProcessor", "enabled"], true)
        || major < 3 && bool_at(v, &["dagProcessor", "enabled"], false)
    {
        comps.push(("dag-processor", "Deployment"));
    }
    if bool_at(v, &["triggerer", "enabled"], true) {
        comps.push((
            "triggerer",
            if bool_at(v, &["triggerer", "persistence", "enabled"], true) { "StatefulSet" } else { "Deployment" },
        ));
    }
    if executor.contains("Celery") {
        comps.push(("worker", "StatefulSet"));
        if bool_at(v, &["redis", "enabled"], true) {
            comps.push(("redis", "StatefulSet"));
        }
    }
    if bool_at(v, &["statsd", "enabled"], true) {
        comps.push(("statsd", "Deployment"));
    }
    if bool_at(v, &["pgbouncer", "enabled"], false) {
        comps.push(("pgbouncer", "Deployment"));
    }
    let mut out = Vec::new();
    for (c, kind) in comps {
        let mut labels = Map::new();
        labels.insert("tier".into(), json!("airflow"));
        labels.insert("component".into(), json!(c));
        labels.insert("release".into(), json!(r.name));
        let groomer_key = match c {
            "scheduler" => Some("scheduler"),
            "dag-processor" => Some("dagProcessor"),
            "triggerer" => Some("triggerer"),
            "worker" => Some("workers"),
            _ => None,
        };
        let main_image = match c {
            "redis" => "redis:7.2-bookworm".to_string(),
            "statsd" => "quay.io/prometheus/statsd-exporter:v0.28.0".to_string(),
            "pgbouncer" => "apache/airflow:airflow-pgbouncer-2025.03.05-1.23.1".to_string(),
            _ => image.clone(),
        };
        let mut containers = vec![(c.to_string(), main_image)];
        if let Some(key) = groomer_key
            && bool_at(v, &[key, "logGroomerSidecar", "enabled"], true)
        {
            containers.push((format!("{c}-log-groomer"), image.clone()));
        }
        out.push(Workload { component: c.to_string(), kind, containers, labels });
    }
    if bool_at(v, &["postgresql", "enabled"], true) {
        let mut labels = Map::new();
        labels.insert("app.kubernetes.io/name".into(), json!("postgresql"));
        labels.insert("app.kubernetes.io/instance".into(), json!(r.name));
        labels.insert("app.kubernetes.io/component".into(), json!("primary"));
        out.push(Workload {
            component: "postgresql".into(),
            kind: "StatefulSet",
            containers: vec![("postgresql".into(), "bitnami/postgresql:16.1.0-debian-11-r15".into())],
            labels,
        });
    }
    out
}

fn airflow_image(r: &ReleaseView) -> String {
    release_workloads(r)
        .into_iter()
        .find(|w| w.component == "scheduler")
        .map(|w| w.containers[0].1.clone())
        .unwrap_or("apache/airflow:3.2.2".into())
}

/// (owner name, pods) of every workload the cluster runs: the releases' and the applied ones.
fn planned_pods(ctx: &Ctx, state: &State) -> Vec<PodPlan> {
    let mut out = Vec::new();
    for r in &ctx.releases {
        let image = airflow_image(r);
        for w in release_workloads(r) {
            let owner = format!("{}-{}", r.name, w.component);
            let (rt, count) = state.restarts.get(&(r.ns.clone(), owner.clone())).copied().unwrap_or((0.0, 0));
            let since = r.rolled_at.max(rt).max(r.cluster_started);
            let seed = format!("{}/{}/{}/{}/{}", r.context, r.ns, owner, r.rolled_at, count);
            let (name, owner_ref) = if w.kind == "StatefulSet" {
                (format!("{owner}-0"), ("apps/v1".to_string(), "StatefulSet".to_string(), owner.clone()))
            } else {
                let rs = format!("{owner}-{}", suffix(&format!("{}/{}/{}", r.ns, owner, r.rolled_at), 10));
                (format!("{rs}-{}", suffix(&seed, 5)), ("apps/v1".to_string(), "ReplicaSet".to_string(), rs))
            };
            let mut labels = w.labels.clone();
            if w.kind == "Deployment" {
                labels.insert(
                    "pod-template-hash".into(),
                    json!(suffix(&format!("{}/{}/{}", r.ns, owner, r.rolled_at), 10)),
                );
            } else {
                labels.insert("statefulset.kubernetes.io/pod-name".into(), json!(name));
                labels.insert("apps.kubernetes.io/pod-index".into(), json!("0"));
            }
            let init = if matches!(
                w.component.as_str(),
                "api-server" | "webserver" | "scheduler" | "dag-processor" | "triggerer" | "worker"
            ) {
                vec![("wait-for-airflow-migrations".to_string(), image.clone())]
            } else {
                Vec::new()
            };
            out.push(PodPlan {
                name,
                ns: r.ns.clone(),
                labels,
                containers: w.containers,
                init,
                since,
                keys: vec![w.component.clone(), owner.clone()],
                job: None,
                owner: Some(owner_ref),
                node: r.node.clone(),
            });
        }
        for (job, component, container) in release_jobs(r) {
            if state.deleted_jobs.contains(&format!("{}/{job}@{}", r.ns, r.rolled_at)) {
                continue;
            }
            let failed = job_failed(ctx, component, &job);
            let mut labels = Map::new();
            labels.insert("tier".into(), json!("airflow"));
            labels.insert("component".into(), json!(component));
            labels.insert("release".into(), json!(r.name));
            labels.insert("job-name".into(), json!(job));
            labels.insert("batch.kubernetes.io/job-name".into(), json!(job));
            labels.insert("controller-uid".into(), json!(uid(&format!("{}/{job}", r.ns))));
            out.push(PodPlan {
                name: format!("{job}-{}", suffix(&format!("{}/{job}/{}", r.ns, r.rolled_at), 5)),
                ns: r.ns.clone(),
                labels,
                containers: vec![(container.to_string(), image.clone())],
                init: Vec::new(),
                since: r.rolled_at,
                keys: vec![component.to_string(), job.clone()],
                job: Some(failed),
                owner: Some(("batch/v1".into(), "Job".into(), job.clone())),
                node: r.node.clone(),
            });
        }
    }
    // pods of applied StatefulSets and Deployments (e.g. devflow-postgres-0)
    for s in state.objects.values().filter(|s| visible(ctx, s)) {
        let kind = s.obj["kind"].as_str().unwrap_or("");
        if kind != "StatefulSet" && kind != "Deployment" {
            continue;
        }
        let name = s.obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = s.obj["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        let replicas = s.obj["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
        let tmpl = &s.obj["spec"]["template"];
        let labels = tmpl["metadata"]["labels"].as_object().cloned().unwrap_or_default();
        let containers: Vec<(String, String)> = tmpl["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["name"].as_str().unwrap_or("main").to_string(), c["image"].as_str().unwrap_or("").to_string()))
            .collect();
        let init: Vec<(String, String)> = tmpl["spec"]["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["name"].as_str().unwrap_or("init").to_string(), c["image"].as_str().unwrap_or("").to_string()))
            .collect();
        let (rt, count) = state.restarts.get(&(ns.clone(), name.clone())).copied().unwrap_or((0.0, 0));
        let cluster_started = ctx.clusters.iter().find(|c| c.key == s.cluster).map(|c| c.started).unwrap_or(0.0);
        let since = s.since.max(rt).max(cluster_started);
        for i in 0..replicas {
            let mut labels = labels.clone();
            let (pod_name, owner) = if kind == "StatefulSet" {
                let n = format!("{name}-{i}");
                labels.insert("statefulset.kubernetes.io/pod-name".into(), json!(n));
                labels.insert("apps.kubernetes.io/pod-index".into(), json!(i.to_string()));
                (n, ("apps/v1".to_string(), "StatefulSet".to_string(), name.clone()))
            } else {
                let hash = suffix(&format!("{ns}/{name}/{}", s.since), 10);
                labels.insert("pod-template-hash".into(), json!(hash));
                (
                    format!("{name}-{hash}-{}", suffix(&format!("{ns}/{name}/{i}/{count}/{}", s.since), 5)),
                    ("apps/v1".to_string(), "ReplicaSet".to_string(), format!("{name}-{hash}")),
                )
            };
            out.push(PodPlan {
                name: pod_name,
                ns: ns.clone(),
                labels,
                containers: containers.clone(),
                init: init.clone(),
                since,
                keys: vec![name.clone()],
                job: None,
                owner: Some(owner),
                node: node_name(ctx),
            });
        }
    }
    out
}

fn release_jobs(r: &ReleaseView) -> Vec<(String, &'static str, &'static str)> {
    let mut out = Vec::new();
    if bool_at(&r.values, &["migrateDatabaseJob", "enabled"], true) {
        out.push((format!("{}-run-airflow-migrations", r.name), "run-airflow-migrations", "run-airflow-migrations"));
    }
    if bool_at(&r.values, &["createUserJob", "enabled"], true) {
        out.push((format!("{}-create-user", r.name), "create-user-job", "create-user"));
    }
    out
}

fn job_failed(ctx: &Ctx, component: &str, job: &str) -> bool {
    let jobs = &ctx.scenario["jobs"];
    let alias = if component == "create-user-job" { "create-user" } else { component };
    [component, alias, job].iter().any(|k| jobs[*k].as_str() == Some("failed"))
}

fn synthesised(ctx: &Ctx, state: &State, prefix: &str, resource: &str) -> Vec<Value> {
    let mut out = Vec::new();
    match (prefix, resource) {
        ("/api/v1", "nodes") => {
            let after = scenario_f64(&ctx.scenario, "node_ready_after_s", 0.3);
            for c in ctx.clusters.iter().filter(|c| c.up) {
                for n in &c.nodes {
                    out.push(node_json(ctx, c, n, after));
                }
            }
        }
        ("/api/v1", "namespaces") => {
            let created = ctx.clusters.iter().filter(|c| c.up).map(|c| c.created).fold(f64::INFINITY, f64::min);
            let created = if created.is_finite() { created } else { ctx.now };
            for ns in builtin_namespaces(ctx) {
                let path = format!("/api/v1/namespaces/{ns}");
                if state.objects.get(&path).is_some_and(|s| visible(ctx, s)) {
                    continue;
                }
                let mut m = meta(ns, None, created, &path);
                m["labels"] = json!({"kubernetes.io/metadata.name": ns});
                out.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": m, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
            }
        }
        ("/apis/storage.k8s.io/v1", "storageclasses") => {
            if let Some(c) = ctx.clusters.iter().find(|c| c.up) {
                let (name, prov) = if c.provider == "kind" {
                    ("standard", "rancher.io/local-path")
                } else {
                    ("local-path", "rancher.io/local-path")
                };
                let path = format!("/apis/storage.k8s.io/v1/storageclasses/{name}");
                if !state.objects.contains_key(&path) {
                    let mut m = meta(name, None, c.created, &path);
                    m["annotations"] = json!({"storageclass.kubernetes.io/is-default-class": "true"});
                    out.push(json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": m, "provisioner": prov, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"}));
                }
            }
        }
        ("/api/v1", "pods") => {
            for p in planned_pods(ctx, state) {
                out.push(pod_json(ctx, &p));
            }
        }
        ("/api/v1", "events") => {
            out.extend(events(ctx, state));
        }
        ("/apis/batch/v1", "jobs") => {
            let after = scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3);
            for r in &ctx.releases {
                for (job, component, container) in release_jobs(r) {
                    if state.deleted_jobs.contains(&format!("{}/{job}@{}", r.ns, r.rolled_at)) {
                        continue;
                    }
                    let failed = job_failed(ctx, component, &job);
                    let mut m = meta(&job, Some(&r.ns), r.rolled_at, &format!("{}/{job}/{}", r.ns, r.rolled_at));
                    m["labels"] = json!({"tier": "airflow", "component": component, "release": r.name, "chart": format!("airflow-{}", r.chart_version), "heritage": "Helm"});
                    let spec = json!({
                        "backoffLimit": 6, "completions": 1, "parallelism": 1, "completionMode": "NonIndexed", "suspend": false,
                        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid(&format!("{}/{job}", r.ns))}},
                        "template": {
                            "metadata": {"labels": {"tier": "airflow", "component": component, "release": r.name}},
                            "spec": {"restartPolicy": "OnFailure", "containers": [{"name": container, "image": airflow_image(r)}]}
                        }
                    });
                    let mut obj = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": m, "spec": spec, "status": job_status(ctx, r.rolled_at, r.rolled_at + after, failed)});
                    obj["metadata"]["resourceVersion"] = json!(rv_of(&obj));
                    out.push(obj);
                }
            }
        }
        ("/apis/apps/v1", "deployments") | ("/apis/apps/v1", "statefulsets") => {
            let want = if resource == "deployments" { "Deployment" } else { "StatefulSet" };
            let pods = planned_pods(ctx, state);
            for r in &ctx.releases {
                for w in release_workloads(r).into_iter().filter(|w| w.kind == want) {
                    let name = format!("{}-{}", r.name, w.component);
                    let ready = pods
                        .iter()
                        .filter(|p| p.ns == r.ns && p.keys.get(1) == Some(&name))
                        .filter(|p| {
                            let st = pod_status(ctx, p).0;
                            st["conditions"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                        .count() as i64;
                    let mut m = meta(&name, Some(&r.ns), r.rolled_at, &format!("{}/{name}", r.ns));
                    m["labels"] = json!({"tier": "airflow", "component": w.component, "release": r.name, "chart": format!("airflow-{}", r.chart_version), "heritage": "Helm"});
                    m["generation"] = json!(1);
                    let spec = json!({
                        "replicas": 1,
                        "selector": {"matchLabels": {"tier": "airflow", "component": w.component, "release": r.name}},
                        "template": {
                            "metadata": {"labels": Value::Object(w.labels.clone())},
                            "spec": {"containers": w.containers.iter().map(|(n, i)| json!({"name": n, "image": i})).collect::<Vec<_>>()}
                        }
                    });
                    let mut obj = json!({"apiVersion": "apps/v1", "kind": want, "metadata": m, "spec": spec, "status": workload_status(want, 1, ready, 1, &name)});
                    obj["metadata"]["resourceVersion"] = json!(rv_of(&obj));
                    out.push(obj);
                }
            }
        }
        _ => {}
    }
    out
}

fn node_json(ctx: &Ctx, c: &ClusterView, n: &NodeView, after: f64) -> Value {
    let started = n.state.as_ref().map(|s| s.started).unwrap_or(0.0);
    let since = c.created.max(started);
    let running = n.state.as_ref().is_some_and(|s| s.running);
    let ready = running && ctx.now >= since + after;
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux"
    });
    if n.role == "control-plane" || n.role == "server" {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        if c.provider == "k3d" {
            labels["node-role.kubernetes.io/master"] = json!("true");
            labels["node.kubernetes.io/instance-type"] = json!("k3s");
        }
    }
    for (k, v) in &n.labels {
        labels[k] = v.clone();
    }
    let ready_cond = if !running {
        json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": rfc3339(since), "lastTransitionTime": rfc3339(since)})
    } else if ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": rfc3339(since + after), "lastTransitionTime": rfc3339(since + after)})
    } else {
        json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized", "lastHeartbeatTime": rfc3339(since), "lastTransitionTime": rfc3339(since)})
    };
    let pressure = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "False", "reason": reason, "message": msg, "lastHeartbeatTime": rfc3339(since), "lastTransitionTime": rfc3339(since)});
    let mut m = meta(&n.name, None, c.created, &format!("node/{}/{}", n.name, c.created));
    m["labels"] = labels;
    let provider_id = match c.provider.as_str() {
        "kind" => format!("kind://docker/{}/{}", c.name, n.name),
        "existing" => format!("aws:///eu-west-1a/i-{:017x}", fnv(&n.name) >> 4),
        _ => format!("k3s://{}", n.name),
    };
    let os_image = match c.provider.as_str() {
        "kind" => "Debian GNU/Linux 12 (bookworm)",
        "existing" => "Amazon Linux 2023.9.20251014",
        _ => "K3s v1.36.4+k3s1",
    };
    let mut obj = json!({
        "apiVersion": "v1", "kind": "Node", "metadata": m,
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "providerID": provider_id},
        "status": {
            "capacity": {"cpu": "4", "ephemeral-storage": "102687672Ki", "hugepages-2Mi": "0", "memory": "8048092Ki", "pods": "110"},
            "allocatable": {"cpu": "4", "ephemeral-storage": "102687672Ki", "hugepages-2Mi": "0", "memory": "8048092Ki", "pods": "110"},
            "conditions": [
                pressure("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ready_cond
            ],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": n.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": format!("{:032x}", u128::from(fnv(&n.name))), "systemUUID": uid(&n.name), "bootID": uid(&format!("{}/boot/{started}", n.name)),
                "kernelVersion": "6.1.0-fake", "osImage": os_image,
                "containerRuntimeVersion": "containerd://2.1.4", "kubeletVersion": c.kubelet_version, "kubeProxyVersion": c.kubelet_version,
                "operatingSystem": "linux", "architecture": "amd64"
            }
        }
    });
    obj["metadata"]["resourceVersion"] = json!(rv_of(&obj));
    obj
}

fn events(ctx: &Ctx, state: &State) -> Vec<Value> {
    let mut out = Vec::new();
    let mut push = |ns: &str, kind: &str, api: &str, name: &str, reason: &str, message: String, t: f64, count: i64| {
        let ev_name = format!("{name}.{:016x}", fnv(&format!("{reason}{message}")));
        let mut m = meta(&ev_name, Some(ns), t, &format!("{ns}/{ev_name}"));
        m["resourceVersion"] = json!((fnv(&ev_name) % 100_000 + 1000).to_string());
        out.push(json!({
            "apiVersion": "v1", "kind": "Event", "metadata": m,
            "involvedObject": {"kind": kind, "namespace": ns, "name": name, "apiVersion": api, "uid": uid(&format!("{ns}/{name}"))},
            "reason": reason, "message": message, "type": "Warning", "count": count,
            "firstTimestamp": rfc3339(t), "lastTimestamp": rfc3339(ctx.now),
            "source": {"component": if reason == "FailedScheduling" { "default-scheduler" } else { "kubelet" }},
            "reportingComponent": if reason == "FailedScheduling" { "default-scheduler" } else { "kubelet" }, "reportingInstance": ""
        }));
    };
    for p in planned_pods(ctx, state) {
        let sc = p.keys.iter().find_map(|k| pod_scenario(ctx, k, &p.name));
        let (main, image) = p.containers.first().cloned().unwrap_or_default();
        if let Some(s) = sc {
            if let Some(msg) = s.get("unschedulable").and_then(Value::as_str) {
                push(&p.ns, "Pod", "v1", &p.name, "FailedScheduling", msg.to_string(), p.since, 1);
            } else if let Some(w) = s.get("waiting").and_then(Value::as_str) {
                if w == "CrashLoopBackOff" {
                    push(
                        &p.ns,
                        "Pod",
                        "v1",
                        &p.name,
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {main} in pod {}_{}({})",
                            p.name,
                            p.ns,
                            uid(&p.name)
                        ),
                        p.since,
                        5,
                    );
                } else {
                    let msg = s
                        .get("message")
                        .and_then(Value::as_str)
                        .map(String::from)
                        .unwrap_or(format!("Back-off pulling image \"{image}\""));
                    push(
                        &p.ns,
                        "Pod",
                        "v1",
                        &p.name,
                        "Failed",
                        format!(
                            "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/{image}\": not found"
                        ),
                        p.since,
                        3,
                    );
                    push(&p.ns, "Pod", "v1", &p.name, "Failed", format!("Error: {w}"), p.since, 3);
                    push(&p.ns, "Pod", "v1", &p.name, "BackOff", msg, p.since, 3);
                }
            }
        }
        if p.job == Some(true)
            && ctx.now >= p.since + scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3)
            && let Some((_, _, job)) = &p.owner
        {
            push(
                &p.ns,
                "Job",
                "batch/v1",
                job,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit".into(),
                p.since,
                1,
            );
        }
    }
    out
}

// ------------------------------------------------------------------------------------------ verbs

fn list_kind(route: &Route, items: &[Value]) -> String {
    items.first().and_then(|i| i["kind"].as_str()).map(String::from).unwrap_or_else(|| kind_of(&route.resource))
        + "List"
}

fn list(ctx: &Ctx, state: &State, route: &Route, q: &Query) -> Reply {
    // a list in a namespace that does not exist is empty, as in the real API
    let items: Vec<Value> =
        collection(ctx, state, route, route.namespace.as_deref()).into_iter().filter(|o| selected(o, q)).collect();
    let kind = list_kind(route, &items);
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    Reply::Json(
        200,
        json!({"kind": kind, "apiVersion": route.api_version(), "metadata": {"resourceVersion": state.rv.max(1).to_string()}, "items": items}),
    )
}

fn get_one(ctx: &Ctx, state: &State, route: &Route, name: &str) -> Reply {
    match find(ctx, state, route, name) {
        Some(o) => Reply::Json(200, o),
        None => not_found(route, name),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<Value>(body)
        .or_else(|_| serde_norway::from_slice::<Value>(body).map_err(|e| e.to_string()))
}

fn bad_request(message: String) -> Reply {
    status(400, "BadRequest", message, json!({}))
}

fn check_object(route: &Route, name: Option<&str>, obj: &Value) -> Result<(), Reply> {
    if !obj.is_object() {
        return Err(bad_request("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf".into()));
    }
    if obj["kind"].as_str().unwrap_or("").is_empty() {
        return Err(bad_request(format!("Object 'Kind' is missing in '{}'", obj)));
    }
    if let Some(api) = obj["apiVersion"].as_str() {
        if api != route.api_version() {
            return Err(bad_request(format!(
                "the API version in the data ({api}) does not match the expected API version ({})",
                route.api_version()
            )));
        }
    } else {
        return Err(bad_request(format!("Object 'apiVersion' is missing in '{}'", obj)));
    }
    if let Some(name) = name
        && let Some(n) = obj["metadata"]["name"].as_str()
        && n != name
    {
        return Err(bad_request(format!("the name of the object ({n}) does not match the name on the URL ({name})")));
    }
    if let (Some(ns), Some(ons)) = (&route.namespace, obj["metadata"]["namespace"].as_str())
        && ns != ons
    {
        return Err(bad_request(
            "the namespace of the provided object does not match the namespace sent on the request".into(),
        ));
    }
    Ok(())
}

/// Stores obj at path; returns (the object as returned, created?).
fn store(
    ctx: &Ctx,
    state: &mut State,
    route: &Route,
    name: &str,
    mut obj: Value,
    (manager, operation, dry_run): (&str, &str, bool),
) -> (Value, bool) {
    let path = route.object_path(name);
    let existing = state.objects.get(&path).filter(|s| visible(ctx, s)).cloned();
    let t = ctx.now;
    state.rv += 1;
    let rv = state.rv;
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["name"] = json!(name);
    if let Some(ns) = &route.namespace {
        obj["metadata"]["namespace"] = json!(ns);
    }
    let spec_of = |o: &Value| {
        let mut o = o.clone();
        if let Some(m) = o.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        o
    };
    let (created, since, generation) = match &existing {
        Some(e) => {
            let changed = spec_of(&e.obj) != spec_of(&obj);
            let g = e.obj["metadata"]["generation"].as_i64().unwrap_or(1) + i64::from(changed);
            (false, if changed { t } else { e.since }, g)
        }
        None => (true, t, 1),
    };
    let (uid_v, created_at) = match &existing {
        Some(e) => (e.obj["metadata"]["uid"].clone(), e.obj["metadata"]["creationTimestamp"].clone()),
        None => (json!(uid(&format!("{path}/{rv}"))), json!(rfc3339(t))),
    };
    obj["metadata"]["uid"] = uid_v;
    obj["metadata"]["creationTimestamp"] = created_at;
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    obj["metadata"]["generation"] = json!(generation);
    if obj["status"].is_null()
        && let Some(e) = &existing
        && !e.obj["status"].is_null()
    {
        obj["status"] = e.obj["status"].clone();
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    obj["metadata"]["managedFields"] = json!([{
        "manager": manager, "operation": operation, "apiVersion": route.api_version(),
        "time": rfc3339(t), "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}
    }]);
    if !dry_run {
        let cluster = existing.as_ref().map(|e| e.cluster.clone()).unwrap_or_else(|| current_cluster(ctx));
        state.objects.insert(path, Stored { obj: obj.clone(), cluster, since });
        if let Some(s) = state.objects.get(&route.object_path(name)) {
            let mut out = with_status(ctx, state, s);
            if out["kind"].is_null() {
                out["kind"] = json!(kind_of(&route.resource));
            }
            return (out, created);
        }
    }
    (obj, created)
}

#[allow(clippy::too_many_arguments)]
fn patch(
    sh: &Arc<Shared>,
    ctx: &Ctx,
    state: &mut State,
    route: &Route,
    name: &str,
    q: &Query,
    body: &[u8],
    ct: &str,
) -> Reply {
    let _ = sh;
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let is_apply = ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor";
    let Some(manager) = q
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .cloned()
        .or_else(|| (!is_apply).then(|| "kubectl-patch".to_string()))
    else {
        return status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
                .into(),
            json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}),
        );
    };
    if !is_apply && !matches!(ct.as_str(), "application/merge-patch+json" | "application/strategic-merge-patch+json") {
        return status(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct})"
            ),
            json!({}),
        );
    }
    let body = match parse_body(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("error decoding patch: {e}")),
    };
    if let Some(ns) = &route.namespace
        && !namespace_exists(ctx, state, ns)
    {
        let ns_route = Route {
            namespace: None,
            resource: "namespaces".into(),
            name: Some(ns.clone()),
            sub: None,
            ..parse_route("/api/v1/namespaces").unwrap()
        };
        return not_found(&ns_route, ns);
    }
    let path = route.object_path(name);
    let existing = state.objects.get(&path).filter(|s| visible(ctx, s)).cloned();
    let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
    if is_apply {
        if let Err(reply) = check_object(route, Some(name), &body) {
            return reply;
        }
        let mut obj = body;
        if route.sub.as_deref() == Some("status") {
            let Some(e) = &existing else { return not_found(route, name) };
            let mut merged = e.obj.clone();
            merged["status"] = obj["status"].clone();
            obj = merged;
        } else if let Some(e) = &existing {
            // keep what other managers own: labels/annotations from before plus the status
            let mut merged = obj.clone();
            if merged["status"].is_null() {
                merged["status"] = e.obj["status"].clone();
            }
            obj = merged;
        }
        let (out, created) = store(ctx, state, route, name, obj, (&manager, "Apply", dry_run));
        Reply::Json(if created { 201 } else { 200 }, out)
    } else {
        let Some(e) = existing else { return not_found(route, name) };
        let mut obj = e.obj.clone();
        merge_patch(&mut obj, &body);
        let (out, _) = store(ctx, state, route, name, obj, (&manager, "Update", dry_run));
        Reply::Json(200, out)
    }
}

fn create(ctx: &Ctx, state: &mut State, route: &Route, q: &Query, body: &[u8]) -> Reply {
    let obj = match parse_body(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("error decoding body: {e}")),
    };
    if let Err(reply) = check_object(route, None, &obj) {
        return reply;
    }
    if let Some(ns) = &route.namespace
        && !namespace_exists(ctx, state, ns)
    {
        let ns_route = parse_route("/api/v1/namespaces").unwrap();
        return not_found(&ns_route, ns);
    }
    let name = match obj["metadata"]["name"].as_str() {
        Some(n) => n.to_string(),
        None => match obj["metadata"]["generateName"].as_str() {
            Some(g) => format!("{g}{}", suffix(&format!("{g}{}", state.rv), 5)),
            None => {
                return status(
                    422,
                    "Invalid",
                    format!(
                        "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                        kind_of(&route.resource)
                    ),
                    json!({}),
                );
            }
        },
    };
    if find(ctx, state, route, &name).is_some() {
        return status(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(route)),
            details(route, &name),
        );
    }
    let manager = q.get("fieldManager").cloned().unwrap_or_else(|| "unknown".into());
    let (out, _) =
        store(ctx, state, route, &name, obj, (&manager, "Update", q.get("dryRun").is_some_and(|d| d == "All")));
    Reply::Json(201, out)
}

fn replace(ctx: &Ctx, state: &mut State, route: &Route, name: &str, q: &Query, body: &[u8]) -> Reply {
    let obj = match parse_body(body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("error decoding body: {e}")),
    };
    if let Err(reply) = check_object(route, Some(name), &obj) {
        return reply;
    }
    let path = route.object_path(name);
    let Some(existing) = state.objects.get(&path).filter(|s| visible(ctx, s)).cloned() else {
        return not_found(route, name);
    };
    if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
        && existing.obj["metadata"]["resourceVersion"].as_str() != Some(rv)
    {
        return status(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(route)
            ),
            details(route, name),
        );
    }
    let manager = q.get("fieldManager").cloned().unwrap_or_else(|| "unknown".into());
    let (out, _) =
        store(ctx, state, route, name, obj, (&manager, "Update", q.get("dryRun").is_some_and(|d| d == "All")));
    Reply::Json(200, out)
}

fn remove_releases_in(sh: &Shared, ctx: &Ctx, ns: &str) {
    let path = sh.home.join("releases.json");
    with_fakes_lock(&sh.home, || {
        let mut rel = read_json(&path);
        let mut changed = false;
        for c in ctx.clusters.iter().filter(|c| c.up) {
            if let Some(map) = rel.get_mut(&c.context).and_then(Value::as_object_mut) {
                let before = map.len();
                map.retain(|k, _| !k.starts_with(&format!("{ns}/")));
                changed |= map.len() != before;
            }
        }
        if changed {
            let tmp = path.with_extension("json.tmp.fakekube");
            if std::fs::write(&tmp, serde_json::to_vec_pretty(&rel).unwrap()).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
    });
}

fn delete(sh: &Arc<Shared>, ctx: &Ctx, state: &mut State, route: &Route, name: &str, q: &Query) -> Reply {
    let _ = q;
    let path = route.object_path(name);
    if route.resource == "namespaces" && route.prefix == "/api/v1" && builtin_namespaces(ctx).contains(&name) {
        return status(
            403,
            "Forbidden",
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            details(route, name),
        );
    }
    if let Some(s) = state.objects.get(&path).filter(|s| visible(ctx, s)).cloned() {
        let mut out = with_status(ctx, state, &s);
        state.objects.remove(&path);
        if route.resource == "namespaces" && route.prefix == "/api/v1" {
            let inner = format!("/namespaces/{name}/");
            state.objects.retain(|p, _| !p.contains(&inner));
            state.restarts.retain(|(ns, _), _| ns != name);
            remove_releases_in(sh, ctx, name);
            out["metadata"]["deletionTimestamp"] = json!(rfc3339(ctx.now));
            out["status"] = json!({"phase": "Terminating"});
        } else if matches!(route.resource.as_str(), "statefulsets" | "deployments") {
            state.restarts.remove(&(route.namespace.clone().unwrap_or_default(), name.to_string()));
        }
        state.rv += 1;
        return Reply::Json(200, out);
    }
    // synthesised objects
    match (route.prefix.as_str(), route.resource.as_str()) {
        ("/api/v1", "pods") => {
            let ns = route.namespace.clone().unwrap_or_default();
            let plan = planned_pods(ctx, state).into_iter().find(|p| p.name == name && p.ns == ns);
            if let Some(p) = plan {
                let out = pod_json(ctx, &p);
                if p.job.is_none() {
                    let owner = p.keys.get(1).cloned().unwrap_or_else(|| p.keys[0].clone());
                    let entry = state.restarts.entry((ns, owner)).or_insert((0.0, 0));
                    entry.0 = ctx.now;
                    entry.1 += 1;
                }
                state.rv += 1;
                return Reply::Json(200, out);
            }
        }
        ("/apis/batch/v1", "jobs") => {
            let ns = route.namespace.clone().unwrap_or_default();
            if let Some(r) =
                ctx.releases.iter().find(|r| r.ns == ns && release_jobs(r).iter().any(|(j, _, _)| j == name))
            {
                let out = find(ctx, state, route, name).unwrap_or(json!({}));
                state.deleted_jobs.insert(format!("{ns}/{name}@{}", r.rolled_at));
                state.rv += 1;
                return Reply::Json(200, out);
            }
        }
        _ => {}
    }
    not_found(route, name)
}

fn delete_collection(sh: &Arc<Shared>, ctx: &Ctx, state: &mut State, route: &Route, q: &Query) -> Reply {
    let items: Vec<Value> =
        collection(ctx, state, route, route.namespace.as_deref()).into_iter().filter(|o| selected(o, q)).collect();
    let mut deleted = Vec::new();
    for o in items {
        let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = o["metadata"]["namespace"].as_str().map(String::from);
        let r = Route { namespace: ns.or(route.namespace.clone()), name: Some(name.clone()), ..route.clone() };
        if let Reply::Json(200, v) = delete(sh, ctx, state, &r, &name, q) {
            deleted.push(v);
        }
    }
    Reply::Json(
        200,
        json!({"kind": list_kind(route, &deleted), "apiVersion": route.api_version(), "metadata": {"resourceVersion": state.rv.to_string()}, "items": deleted}),
    )
}

fn default_logs(component: &str, previous: bool) -> String {
    if previous {
        return format!(
            "[2026-01-01T00:00:00.000+0000] {{{component}.py:1}} INFO - Starting the {component}\nTraceback (most recent call last):\n  File \"/home/airflow/.local/bin/airflow\", line 8, in <module>\n    sys.exit(main())\nRuntimeError: {component} exited\n"
        );
    }
    format!(
        "[2026-01-01T00:00:00.000+0000] {{{component}.py:1}} INFO - Starting the {component}\n[2026-01-01T00:00:01.000+0000] {{{component}.py:2}} INFO - {component} is running\n[2026-01-01T00:00:02.000+0000] {{{component}.py:3}} INFO - heartbeat\n"
    )
}

fn logs(ctx: &Ctx, state: &State, route: &Route, name: &str, q: &Query) -> Reply {
    let pods_route = Route { name: Some(name.to_string()), sub: None, ..route.clone() };
    let Some(pod) = find(ctx, state, &pods_route, name) else { return not_found(&pods_route, name) };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.clone(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            ));
        }
    };
    if !containers.contains(&container) {
        let inits: Vec<String> = pod["spec"]["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(String::from))
            .collect();
        if !inits.contains(&container) {
            return bad_request(format!("container {container} is not valid for pod {name}"));
        }
    }
    let cs = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container.as_str())
        .cloned()
        .unwrap_or(json!({}));
    let previous = truthy(q, "previous");
    if previous {
        if cs["lastState"]["terminated"].is_null() {
            return bad_request(format!("previous terminated container \"{container}\" in pod \"{name}\" not found"));
        }
    } else if let Some(reason) = cs["state"]["waiting"]["reason"].as_str() {
        if reason != "CrashLoopBackOff" {
            let why = if reason.contains("ImagePull") || reason == "ErrImagePull" {
                "trying and failing to pull image".to_string()
            } else {
                reason.to_string()
            };
            return bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: {why}"));
        }
    } else if (cs.is_null() || cs.as_object().is_some_and(|m| m.is_empty())) && pod["status"]["phase"] == "Pending" {
        return bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        ));
    }
    let component =
        pod["metadata"]["labels"]["component"].as_str().map(String::from).unwrap_or_else(|| container.clone());
    let key = if previous { "previous_logs" } else { "logs" };
    let text = [component.as_str(), container.as_str(), name]
        .iter()
        .find_map(|k| ctx.scenario[key][*k].as_str().map(String::from))
        .unwrap_or_else(|| default_logs(&component, previous));
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(n) = q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines = lines.split_off(skip);
    }
    let mut out = String::new();
    for l in lines {
        if truthy(q, "timestamps") {
            out.push_str(&rfc3339(ctx.now).replace('Z', ".000000000Z"));
            out.push(' ');
        }
        out.push_str(l);
        out.push('\n');
    }
    if let Some(n) = q.get("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
        out.truncate(n);
    }
    Reply::Text(200, out)
}

// ------------------------------------------------------------------------------------------ watch

fn watch(sh: &Arc<Shared>, req: tiny_http::Request, route: Route, q: Query) {
    let mut w = req.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n\r\n";
    if w.write_all(head.as_bytes()).and_then(|_| w.flush()).is_err() {
        return;
    }
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<f64>().ok()).unwrap_or(1800.0).min(1800.0);
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let initial_bookmark = truthy(&q, "sendInitialEvents");
    let mut sent: HashMap<String, (String, Value)> = HashMap::new();
    let mut first = true;
    let key = |o: &Value| {
        format!(
            "{}/{}",
            o["metadata"]["namespace"].as_str().unwrap_or(""),
            o["metadata"]["name"].as_str().unwrap_or("")
        )
    };
    let send = |w: &mut Box<dyn Write + Send>, event: Value| -> bool {
        let mut line = serde_json::to_vec(&event).unwrap();
        line.push(b'\n');
        let chunk = [format!("{:x}\r\n", line.len()).into_bytes(), line, b"\r\n".to_vec()].concat();
        w.write_all(&chunk).and_then(|_| w.flush()).is_ok()
    };
    while !sh.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let ctx = sh.ctx();
        let items: Vec<Value> = if ctx.api_up {
            let state = sh.state.lock().unwrap();
            collection(&ctx, &state, &route, route.namespace.as_deref())
                .into_iter()
                .filter(|o| selected(o, &q))
                .collect()
        } else {
            Vec::new()
        };
        let mut now_keys = HashSet::new();
        for o in items {
            let k = key(&o);
            now_keys.insert(k.clone());
            let rv = o["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
            let event = match sent.get(&k) {
                None => Some("ADDED"),
                Some((old, _)) if *old != rv => Some("MODIFIED"),
                _ => None,
            };
            if let Some(t) = event {
                if !send(&mut w, json!({"type": t, "object": o})) {
                    return;
                }
                sent.insert(k, (rv, o));
            }
        }
        let gone: Vec<String> = sent.keys().filter(|k| !now_keys.contains(*k)).cloned().collect();
        for k in gone {
            if let Some((_, o)) = sent.remove(&k)
                && !send(&mut w, json!({"type": "DELETED", "object": o}))
            {
                return;
            }
        }
        if first && initial_bookmark {
            let bookmark = json!({"type": "BOOKMARK", "object": {
                "kind": kind_of(&route.resource), "apiVersion": route.api_version(),
                "metadata": {"resourceVersion": "1", "annotations": {"k8s.io/initial-events-end": "true"}}
            }});
            if !send(&mut w, bookmark) {
                return;
            }
        }
        first = false;
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = w.write_all(b"0\r\n\r\n").and_then(|_| w.flush());
}

// ------------------------------------------------------------------------------------------ exec and port-forward

// `GET .../pods/{name}/exec` and `.../portforward` with `Upgrade: websocket`, as kube-rs sends
// them (`Api::exec`, `Api::portforward`). The checks a real API server makes before upgrading
// (the API is up, the pod exists, the container is one of the pod's) answer a plain Status; then
// the connection becomes a WebSocket of the Kubernetes channel protocol: every binary frame
// starts with its channel byte.
//
// tiny_http gives an upgraded connection as one `Read + Write` object, which cannot be read and
// written from two threads at once, and an exec must do both (stdin in, stdout out). So the
// request is kept (tiny_http closes the socket when it goes) and its socket is duplicated: found
// among the process's descriptors by its two addresses.

const CH_STDIN: u8 = 0;
const CH_STDOUT: u8 = 1;
const CH_STDERR: u8 = 2;
const CH_STATUS: u8 = 3;
const CH_CLOSE: u8 = 255;

/// Every `key=value` of a query, repeated keys included (`command=sh&command=-c`).
fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A duplicate of this process's socket with these two ends (tiny_http's side of a connection).
fn socket_of(local: std::net::SocketAddr, peer: std::net::SocketAddr) -> Option<std::net::TcpStream> {
    use std::os::fd::BorrowedFd;
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        if !std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")) {
            continue;
        }
        // SAFETY: the descriptor was open a moment ago and is only duplicated (F_DUPFD_CLOEXEC):
        // if another thread closed or reused the number since, the dup fails or yields another
        // socket, which the address check below rejects (and dropping it closes only the dup).
        let Ok(owned) = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned() else { continue };
        let stream = std::net::TcpStream::from(owned);
        if stream.local_addr().ok() == Some(local) && stream.peer_addr().ok() == Some(peer) {
            return Some(stream);
        }
    }
    None
}

/// The server's side of a WebSocket (RFC 6455): frames written whole under a lock, so that the
/// threads of one connection never interleave them.
struct WsOut {
    stream: Mutex<std::net::TcpStream>,
    closed: AtomicBool,
}

impl WsOut {
    fn frame(&self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(payload.len() + 10);
        buf.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => buf.push(n as u8),
            n if n <= 0xffff => {
                buf.push(126);
                buf.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                buf.push(127);
                buf.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        buf.extend_from_slice(payload);
        let mut s = self.stream.lock().unwrap();
        if self.closed.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the WebSocket is closed"));
        }
        if opcode == 0x8 {
            self.closed.store(true, Ordering::SeqCst);
        }
        s.write_all(&buf)
    }

    /// A binary frame on a channel.
    fn send(&self, channel: u8, data: &[u8]) -> std::io::Result<()> {
        let mut payload = Vec::with_capacity(data.len() + 1);
        payload.push(channel);
        payload.extend_from_slice(data);
        self.frame(0x2, &payload)
    }

    /// A normal closure (1000), once.
    fn close(&self) {
        let _ = self.frame(0x8, &1000u16.to_be_bytes());
    }
}

enum WsIn {
    Binary(Vec<u8>),
    /// The client's Close frame, or the end of the connection.
    Closed,
}

/// The next data message from the client (answering pings on the way).
fn ws_read(r: &mut impl std::io::Read, out: &WsOut) -> WsIn {
    let mut message: Vec<u8> = Vec::new();
    loop {
        let mut head = [0u8; 2];
        if r.read_exact(&mut head).is_err() {
            return WsIn::Closed;
        }
        let (fin, opcode, masked) = (head[0] & 0x80 != 0, head[0] & 0x0f, head[1] & 0x80 != 0);
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            if r.read_exact(&mut b).is_err() {
                return WsIn::Closed;
            }
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            if r.read_exact(&mut b).is_err() {
                return WsIn::Closed;
            }
            len = u64::from_be_bytes(b);
        }
        if len > 256 << 20 {
            return WsIn::Closed;
        }
        let mut mask = [0u8; 4];
        if masked && r.read_exact(&mut mask).is_err() {
            return WsIn::Closed;
        }
        let mut payload = vec![0u8; len as usize];
        if r.read_exact(&mut payload).is_err() {
            return WsIn::Closed;
        }
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i & 3];
            }
        }
        match opcode {
            0x8 => {
                out.close();
                return WsIn::Closed;
            }
            0x9 => {
                let _ = out.frame(0xA, &payload);
            }
            0xA => {}
            0x0..=0x2 => {
                message.extend_from_slice(&payload);
                if fin {
                    return WsIn::Binary(message);
                }
            }
            _ => return WsIn::Closed,
        }
    }
}

/// The protocols of a WebSocket request's `Sec-WebSocket-Protocol` list.
fn offered_protocols(req: &tiny_http::Request) -> Vec<String> {
    req.headers()
        .iter()
        .filter(|h| h.field.as_str().as_str().eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
        .flat_map(|h| h.value.as_str().split(',').map(|p| p.trim().to_string()).collect::<Vec<_>>())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Answers 101 on the connection's own socket; the request must live until the socket is done.
fn switch_protocols(sh: &Shared, req: &tiny_http::Request, protocol: Option<&str>) -> Option<std::net::TcpStream> {
    let peer = *req.remote_addr()?;
    let mut raw = socket_of(sh.addr, peer)?;
    let key = header(req, "Sec-WebSocket-Key");
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        tungstenite::handshake::derive_accept_key(key.trim().as_bytes())
    );
    if let Some(p) = protocol {
        head.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    head.push_str("\r\n");
    raw.write_all(head.as_bytes()).ok()?;
    let _ = raw.set_nodelay(true);
    Some(raw)
}

/// Answers an upgrade request without upgrading. tiny_http closes such a connection after the
/// answer but cannot say so (it drops a `Connection` header), and a client that pools connections
/// (hyper) would send its next request into the closed one: so the answer is written here, with
/// `Connection: close`.
fn refuse(sh: &Shared, req: tiny_http::Request, reply: Reply) {
    let Some(mut raw) = req.remote_addr().and_then(|peer| socket_of(sh.addr, *peer)) else {
        respond(req, reply);
        return;
    };
    let (code, ctype, body) = match reply {
        Reply::Json(code, v) => (code, "application/json", serde_json::to_vec(&v).unwrap()),
        Reply::Text(code, t) => (code, "text/plain; charset=utf-8", t.into_bytes()),
        Reply::Watch(_) => (500, "text/plain; charset=utf-8", b"not a watch".to_vec()),
    };
    let reason = tiny_http::StatusCode(code).default_reason_phrase();
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = raw.write_all(head.as_bytes()).and_then(|_| raw.write_all(&body)).and_then(|_| raw.flush());
    let _ = raw.shutdown(std::net::Shutdown::Both);
    // tiny_http's own answer (a 500 when a request goes unanswered) finds the socket shut
    drop(req);
}

/// Ends an upgraded connection: waits (a while) for the client's side to finish, then closes.
fn hang_up(raw: &std::net::TcpStream, client_done: &std::sync::mpsc::Receiver<()>, grace: Duration) {
    let _ = client_done.recv_timeout(grace);
    let _ = raw.shutdown(std::net::Shutdown::Both);
}

fn names_of(pod: &Value, key: &str) -> Vec<String> {
    pod["spec"][key].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str().map(String::from)).collect()
}

fn upgrade(sh: &Arc<Shared>, req: tiny_http::Request, path: &str, query: &str) {
    let ctx = sh.ctx();
    if !ctx.api_up {
        respond(
            req,
            status(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request (no cluster of the fake API server is running)"
                    .into(),
                json!({}),
            ),
        );
        return;
    }
    let streaming = |r: &Route| {
        r.resource == "pods" && r.name.is_some() && matches!(r.sub.as_deref(), Some("exec" | "portforward"))
    };
    let Some(route) = parse_route(path).filter(streaming) else {
        refuse(
            sh,
            req,
            bad_request(format!("FakeKube upgrades pods/exec and pods/portforward to WebSocket, not {path}")),
        );
        return;
    };
    let name = route.name.clone().unwrap_or_default();
    let sub = route.sub.clone().unwrap_or_default();
    let pod = {
        let state = sh.state.lock().unwrap();
        find(&ctx, &state, &route, &name)
    };
    let Some(pod) = pod else {
        refuse(sh, req, not_found(&route, &name));
        return;
    };
    let pairs = query_pairs(query);
    if sub == "exec" {
        exec(sh, &ctx, req, &pod, &name, &pairs);
    } else {
        portforward(sh, &ctx, req, &pod, &name, &pairs);
    }
}

// ---------------------------------------------------------------- exec

fn exec_status_ok() -> Value {
    json!({"metadata": {}, "status": "Success"})
}

fn exec_status_exit(argv: &[String], code: i32) -> Value {
    json!({
        "metadata": {}, "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", argv.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

fn exec_status_internal(message: &str) -> Value {
    json!({
        "metadata": {}, "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500
    })
}

/// The Docker container that runs a pod's container for exec: scenario `exec`, by the pod's
/// component label, the container name, the pod name, the longest pod-name prefix, then `*`.
fn exec_target(ctx: &Ctx, pod: &Value, pod_name: &str, container: &str) -> Option<String> {
    let map = ctx.scenario["exec"].as_object()?;
    let labels = &pod["metadata"]["labels"];
    let exact = [
        labels["component"].as_str(),
        labels["app.kubernetes.io/component"].as_str(),
        labels["app.kubernetes.io/name"].as_str(),
        Some(container),
        Some(pod_name),
    ];
    let hit = exact.iter().flatten().find_map(|k| map.get(*k)).or_else(|| {
        map.iter()
            .filter(|(k, _)| !k.is_empty() && k.as_str() != "*" && pod_name.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, v)| v)
    });
    hit.or_else(|| map.get("*")).and_then(Value::as_str).map(String::from)
}

fn docker_running(container: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", container])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
}

fn exec(sh: &Arc<Shared>, ctx: &Ctx, req: tiny_http::Request, pod: &Value, name: &str, pairs: &[(String, String)]) {
    let get = |k: &str| pairs.iter().filter(|(key, _)| key == k).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let flag = |k: &str| get(k).last().is_some_and(|v| v == "true" || v == "1");
    let argv = get("command");
    let (stdin, stdout, stderr, tty) = (flag("stdin"), flag("stdout"), flag("stderr"), flag("tty"));
    // the API server's checks before it upgrades
    let containers = names_of(pod, "containers");
    let container = match get("container").last().filter(|c| !c.is_empty()) {
        Some(c) => c.clone(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let msg = if containers.is_empty() {
                format!("a container name must be specified for pod {name}")
            } else {
                format!("a container name must be specified for pod {name}, choose one of: [{}]", containers.join(" "))
            };
            refuse(sh, req, bad_request(msg));
            return;
        }
    };
    if !containers.contains(&container) && !names_of(pod, "initContainers").contains(&container) {
        refuse(sh, req, bad_request(format!("container {container} is not valid for pod {name}")));
        return;
    }
    if argv.is_empty() {
        refuse(sh, req, bad_request("you must specify at least 1 command".into()));
        return;
    }
    if !stdin && !stdout && !stderr {
        refuse(sh, req, bad_request("you must specify at least one of stdin, stdout, stderr".into()));
        return;
    }
    let offered = offered_protocols(&req);
    let Some(protocol) =
        ["v5.channel.k8s.io", "v4.channel.k8s.io"].into_iter().find(|p| offered.iter().any(|o| o == p))
    else {
        refuse(
            sh,
            req,
            bad_request(format!("FakeKube speaks v5.channel.k8s.io and v4.channel.k8s.io, not {offered:?}")),
        );
        return;
    };
    // The kubelet's side: the container must run, and here a Docker container must stand in for it.
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["name"] == container.as_str() && c["state"]["running"].is_object());
    let target = exec_target(ctx, pod, name, &container).filter(|t| running && docker_running(t));
    let Some(raw) = switch_protocols(sh, &req, Some(protocol)) else {
        refuse(sh, req, status(500, "InternalError", "FakeKube could not take over the connection".into(), json!({})));
        return;
    };
    let out = Arc::new(WsOut {
        stream: Mutex::new(raw.try_clone().expect("clone a socket")),
        closed: AtomicBool::new(false),
    });
    let reader = raw.try_clone().expect("clone a socket");
    let Some(target) = target else {
        let msg = format!("unable to upgrade connection: container not found (\"{container}\")");
        let _ = out.send(CH_STATUS, &serde_json::to_vec(&exec_status_internal(&msg)).unwrap());
        out.close();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(reader);
            while let WsIn::Binary(_) = ws_read(&mut r, &out) {}
            let _ = done_tx.send(());
        });
        hang_up(&raw, &done_rx, Duration::from_secs(5));
        drop(req);
        return;
    };
    run_exec(raw, reader, out, &target, &argv, stdin, stdout, stderr, tty);
    // tiny_http's halves of the socket go last: they shut it down
    drop(req);
}

enum ExecEvent {
    PumpDone,
    ClientGone,
}

#[allow(clippy::too_many_arguments)]
fn run_exec(
    raw: std::net::TcpStream,
    reader: std::net::TcpStream,
    out: Arc<WsOut>,
    target: &str,
    argv: &[String],
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
) {
    use std::process::Stdio;
    let mut cmd = Command::new("docker");
    cmd.arg("exec");
    if stdin {
        cmd.arg("-i");
    }
    cmd.arg(target).args(argv);
    cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("error executing command in container: docker exec: {e}");
            let _ = out.send(CH_STATUS, &serde_json::to_vec(&exec_status_internal(&msg)).unwrap());
            out.close();
            let _ = raw.shutdown(std::net::Shutdown::Both);
            return;
        }
    };
    let (tx, rx) = std::sync::mpsc::channel::<ExecEvent>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();

    // client -> process stdin
    let child_stdin = child.stdin.take();
    {
        let (out, tx) = (out.clone(), tx.clone());
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::with_capacity(64 * 1024, reader);
            let mut pipe = child_stdin;
            while let WsIn::Binary(m) = ws_read(&mut r, &out) {
                match m.first() {
                    Some(&CH_STDIN) => {
                        if let Some(p) = pipe.as_mut()
                            && p.write_all(&m[1..]).is_err()
                        {
                            pipe = None;
                        }
                    }
                    // v5: the client closed a stream; stdin is the only one it writes
                    Some(&CH_CLOSE) if m.get(1) == Some(&CH_STDIN) => pipe = None,
                    _ => {}
                }
            }
            drop(pipe);
            let _ = tx.send(ExecEvent::ClientGone);
            let _ = done_tx.send(());
        });
    }
    // process stdout/stderr -> client, as they come
    let oci_error = Arc::new(Mutex::new(None::<String>));
    let mut pumps = 0;
    type Source = Option<Box<dyn std::io::Read + Send>>;
    let sources: [(Source, u8, bool); 2] = [
        (child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>), CH_STDOUT, stdout),
        (
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            if tty { CH_STDOUT } else { CH_STDERR },
            stderr || tty,
        ),
    ];
    for (source, channel, forward) in sources {
        let Some(mut source) = source else { continue };
        pumps += 1;
        let (out, tx, oci_error) = (out.clone(), tx.clone(), oci_error.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            let mut first = true;
            let mut forward = forward;
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                // docker's own complaint that the command cannot start (on either stream) is the
                // API's InternalError
                if first && buf[..n].starts_with(b"OCI runtime exec failed") {
                    *oci_error.lock().unwrap() = Some(String::from_utf8_lossy(&buf[..n]).trim().to_string());
                    first = false;
                    continue;
                }
                first = false;
                if forward && out.send(channel, &buf[..n]).is_err() {
                    forward = false;
                }
            }
            let _ = tx.send(ExecEvent::PumpDone);
        });
    }
    drop(tx);
    let mut pumps_left = pumps;
    let mut client_gone = false;
    while pumps_left > 0 {
        match rx.recv() {
            Ok(ExecEvent::PumpDone) => pumps_left -= 1,
            Ok(ExecEvent::ClientGone) => {
                if !client_gone {
                    client_gone = true;
                    // nobody listens any more: stop the process, like the kubelet does when the
                    // streams of an exec go away
                    let _ = child.kill();
                }
            }
            Err(_) => break,
        }
    }
    let exit = child.wait();
    if !client_gone {
        let code = exit.as_ref().map(|s| {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9))
        });
        let status = match (code, oci_error.lock().unwrap().take()) {
            (Ok(126 | 127), Some(oci)) => exec_status_internal(&format!(
                "error executing command in container: failed to exec in container: failed to start exec \"{:016x}{:016x}\": {oci}",
                fnv(target),
                fnv(&argv.join(" "))
            )),
            (Ok(0), _) => exec_status_ok(),
            (Ok(code), _) => exec_status_exit(argv, code),
            (Err(e), _) => exec_status_internal(&format!("error executing command in container: {e}")),
        };
        let _ = out.send(CH_STATUS, &serde_json::to_vec(&status).unwrap());
        out.close();
    }
    hang_up(&raw, &done_rx, Duration::from_secs(5));
}

// ---------------------------------------------------------------- port-forward

fn portforward(
    sh: &Arc<Shared>,
    ctx: &Ctx,
    req: tiny_http::Request,
    pod: &Value,
    name: &str,
    pairs: &[(String, String)],
) {
    let mut ports: Vec<u16> = Vec::new();
    for (k, v) in pairs.iter().filter(|(k, _)| k == "ports" || k == "port") {
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    refuse(
                        sh,
                        req,
                        bad_request(format!("invalid {k} \"{p}\": must be a port number between 1 and 65535")),
                    );
                    return;
                }
            }
        }
    }
    if ports.is_empty() {
        refuse(sh, req, bad_request("at least 1 port must be specified".into()));
        return;
    }
    // the kubelet's port-forward WebSocket speaks v4 framing (no v5), or the bare protocol
    let offered = offered_protocols(&req);
    let protocol = if offered.is_empty() {
        None
    } else if let Some(p) =
        ["v4.channel.k8s.io", "portforward.k8s.io"].into_iter().find(|p| offered.iter().any(|o| o == p))
    {
        Some(p)
    } else {
        refuse(sh, req, bad_request(format!("FakeKube forwards ports over v4.channel.k8s.io, not {offered:?}")));
        return;
    };
    let Some(raw) = switch_protocols(sh, &req, protocol) else {
        refuse(sh, req, status(500, "InternalError", "FakeKube could not take over the connection".into(), json!({})));
        return;
    };
    let out = Arc::new(WsOut {
        stream: Mutex::new(raw.try_clone().expect("clone a socket")),
        closed: AtomicBool::new(false),
    });
    for (i, port) in ports.iter().enumerate() {
        let _ = out.send(2 * i as u8, &port.to_le_bytes());
        let _ = out.send(2 * i as u8 + 1, &port.to_le_bytes());
    }
    // the pod's sandbox, as containerd names it in its errors
    let pod_uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let sandbox = format!(
        "{:016x}{:016x}{:016x}{:016x}",
        fnv(name),
        fnv(&pod_uid),
        fnv(&format!("{name}/{pod_uid}")),
        fnv(&pod_uid) ^ 1
    );
    let netns = format!("/var/run/netns/cni-{}", uid(&sandbox));
    let (tx, rx) = std::sync::mpsc::channel::<ExecEvent>();
    let mut targets: Vec<Option<std::net::TcpStream>> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let addr = ctx.scenario["forward"][port.to_string()].as_str().map(String::from);
        let conn = match addr.as_deref().map(connect) {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(e),
            None => Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        match conn {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let mut from = s.try_clone().expect("clone a socket");
                targets.push(Some(s));
                let (out, tx) = (out.clone(), tx.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match std::io::Read::read(&mut from, &mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if out.send(2 * i as u8, &buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = tx.send(ExecEvent::PumpDone);
                });
            }
            Err(e) => {
                targets.push(None);
                let why = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "i/o timeout".to_string(),
                    _ => e.to_string(),
                };
                let msg = format!(
                    "error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in network namespace \"{netns}\": failed to connect to localhost:{port} inside namespace \"{sandbox}\", IPv4: dial tcp4 127.0.0.1:{port}: {why} IPv6 dial tcp6 [::1]:{port}: {why} "
                );
                let _ = out.send(2 * i as u8 + 1, msg.as_bytes());
            }
        }
    }
    let writers: Vec<Option<std::net::TcpStream>> =
        targets.iter().map(|t| t.as_ref().and_then(|s| s.try_clone().ok())).collect();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    {
        let (out, tx) = (out.clone(), tx.clone());
        let reader = raw.try_clone().expect("clone a socket");
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::with_capacity(64 * 1024, reader);
            let mut writers = writers;
            while let WsIn::Binary(m) = ws_read(&mut r, &out) {
                let Some((&ch, data)) = m.split_first() else { continue };
                if ch % 2 == 0
                    && let Some(Some(w)) = writers.get_mut(usize::from(ch / 2))
                    && w.write_all(data).is_err()
                {
                    writers[usize::from(ch / 2)] = None;
                }
            }
            let _ = tx.send(ExecEvent::ClientGone);
            let _ = done_tx.send(());
        });
    }
    drop(tx);
    // one forwarded connection per WebSocket: it ends when either side closes
    let mut open = targets.iter().filter(|t| t.is_some()).count();
    while open > 0 {
        match rx.recv() {
            Ok(ExecEvent::PumpDone) => open -= 1,
            Ok(ExecEvent::ClientGone) | Err(_) => break,
        }
    }
    for t in targets.iter().flatten() {
        let _ = t.shutdown(std::net::Shutdown::Both);
    }
    out.close();
    hang_up(&raw, &done_rx, Duration::from_secs(5));
    drop(req);
}

fn connect(addr: &str) -> std::io::Result<std::net::TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    for a in addr.to_socket_addrs()? {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}
