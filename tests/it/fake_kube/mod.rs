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
//! - `pods/exec` and `pods/portforward` as WebSockets of the Kubernetes channel protocols, bridged
//!   to `docker exec` and to a local port.
//!
//! Scenario keys read here: `api`, `node_ready_after_s`, `pod_ready_after_s`, `pods`, `jobs`,
//! `logs`, `previous_logs`, `exec`, `forward` (see tests/it/world.rs for the full list).
//!
//! The parts: `server` (HTTP on hyper, one request at a time into the API), `api` (routes,
//! Status answers, the query), `view` (the world one request sees: FAKE_HOME and Docker),
//! `store` (what clients applied, and the verbs on it), `selector`, `controllers` (the status the
//! controllers give stored objects, and every object the cluster itself has), `kubelet` (nodes,
//! pods' lifecycle, events), `chart` (the Airflow chart's workloads, from the values Helm got),
//! `logs`, `watch`, `ws` (the WebSocket upgrade), `exec`, `portforward`, `identity` (uids,
//! generated names, resource versions).

mod api;
mod chart;
mod controllers;
mod envrefs;
mod exec;
mod hostjobs;
mod identity;
mod kubelet;
mod logs;
mod portforward;
mod refusals;
mod selector;
mod server;
mod store;
mod timeline;
mod view;
mod watch;
mod ws;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

pub struct FakeKube {
    url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What every request shares.
struct Shared {
    home: PathBuf,
    state: Mutex<State>,
    requests: Mutex<Vec<String>>,
    docker: Mutex<view::DockerCache>,
    /// Every terminal size a client sent on an exec's resize channel, as the kubelet read it.
    resizes: Mutex<Vec<Value>>,
}

/// What clients did to the API.
#[derive(Default)]
struct State {
    objects: BTreeMap<String, Stored>,
    rv: u64,
    /// Synthesised pods deleted by a client: (namespace, owner) -> (time, count); they come back.
    restarts: HashMap<(String, String), (f64, u32)>,
    /// The chart's workloads a client scaled (a merge patch of `spec.replicas`, as `db restore`
    /// sends): (namespace, workload) -> (when, replicas).
    scaled: HashMap<(String, String), (f64, i32)>,
    /// Synthesised jobs deleted by a client: "ns/name@jobs_at".
    deleted_jobs: HashSet<String>,
    /// Namespaces being deleted: name -> when the namespace controller has removed the last of
    /// their contents and the namespace itself goes.
    terminating: HashMap<String, f64>,
}

#[derive(Clone)]
struct Stored {
    obj: Value,
    /// The `name@created` of the cluster it was applied to ("" when none ran).
    cluster: String,
    /// When its spec last changed: the clock of pods synthesised for it.
    since: f64,
}

impl FakeKube {
    pub fn start(fake_home: PathBuf) -> FakeKube {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("FakeKube binds 127.0.0.1:0");
        let port = listener.local_addr().expect("a bound address").port();
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let shared = Arc::new(Shared {
            home: fake_home,
            state: Mutex::new(State::default()),
            requests: Mutex::new(Vec::new()),
            docker: Mutex::new(view::DockerCache::default()),
            resizes: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(server::serve(listener, sh, stopped));
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        FakeKube { url: format!("http://127.0.0.1:{port}"), shared, stop: Some(stop), thread: Some(thread) }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// "METHOD /path?query" of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// `{"pod", "tty", "Width", "Height"}` of every resize an exec's client sent, in order.
    pub fn resizes(&self) -> Vec<Value> {
        self.shared.resizes.lock().unwrap().clone()
    }

    /// The objects applied/created so far (stored ones only, not the synthesised ones), by path.
    pub fn stored(&self) -> BTreeMap<String, Value> {
        self.shared.state.lock().unwrap().objects.iter().map(|(k, v)| (k.clone(), v.obj.clone())).collect()
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
