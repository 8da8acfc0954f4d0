//! A test's world: fake `kind`, `k3d` and `helm` executables on PATH, their state folder, a
//! kubeconfig, a fake Kubernetes API server, and real Docker containers standing in for nodes.
//!
//! ```ignore
//! let Some(world) = World::for_test(test_name!()) else { return }; // skips without Docker
//! let mut test = Test::new().args(["up"]);
//! for (k, v) in world.env() { test = test.env(&k, v); }
//! ```
//!
//! A world is named after its test: its temporary folder (`devflow-world-<test>-…`, which holds
//! the fakes' log), the `devflow-test-name` label of every container and network it makes, and
//! the `test` of every line of the fakes' log say which test made them.
//!
//! Environment for devflow and the fakes (`World::env`):
//! - `PATH` = `<bin>:` + the test's PATH (docker and python3 stay reachable)
//! - `FAKE_HOME` the fakes' state: `log.jsonl`, `clusters.json`, `releases.json`, `scenario.json`,
//!   `hang.pid`
//! - `FAKE_KUBE_URL` the FakeKube URL written as every context's server
//! - `KUBECONFIG` `<temp>/kubeconfig` (the fakes write JSON, which is valid YAML)
//! - `FAKE_NODE_IMAGE` `devflow-test-node:1`, `FAKE_LABEL` `devflow-test-world=<id>`, `FAKE_TEST`
//!   the test's name
//!
//! Scenario keys (`World::scenario`, re-read by every fake call and every API request):
//! - `fail`: `{"kind create": "<stderr>", "helm upgrade": "..."}`: the fake prints it, exits 1
//! - `hang`: `["kind create", ...]`: the fake logs, writes `hang.pid`, sleeps forever
//! - `slow`: `{"kind create": 2.5}`: seconds to sleep before proceeding
//!   (keys are the tool and its first words; the longest matching key wins)
//! - `api`: `"down"` (503 on every request) or `"up"` (answer even with no running cluster)
//! - `node_ready_after_s` (default 0.3), `pod_ready_after_s` (default 0.3)
//! - `pods`: `{"<component or pod-name prefix>": {"waiting": "ImagePullBackOff", "message": "...",
//!   "restarts": 4, "last_terminated": {"reason": "OOMKilled", "exitCode": 137},
//!   "unschedulable": "0/1 nodes are available: ..."}}`
//!   `"pull_error": "<containerd's error>"` (ErrImagePull for each try, ImagePullBackOff between),
//!   `"heals_after_s": 2` (the entry's unschedulable/pull_error lasts that long, then heals),
//!   `"evicted": "<kubelet message>"` (a Failed Evicted pod beside a Deployment's pod)
//! - `jobs`: `{"run-airflow-migrations": "failed"}` (also `create-user`)
//! - the clock of transient states (fake_kube/timeline.rs), compressed in proportion by a test:
//!   `migration_s` (how long the migration job runs), `migration_wait_timeout_s` (default 0.6: the
//!   chart's 60 s `--migration-wait-timeout` compressed a hundredfold, as `pod_ready_after_s` is),
//!   `crash_backoff_s` (default 0.1: the kubelet's first 10 s back-off), `create_user_fails` (failed tries before the create-user job succeeds; it also
//!   fails until the migrations are done), `job_finish_s` (default 0.1, from
//!   SuccessCriteriaMet/FailureTarget to Complete/Failed), `stale_status_s` (default 0: how long
//!   after a node container starts the pods' status from before the stop is served),
//!   `rollout_terminate_s` (default 0: how long an old pod of a rollout terminates), `node_cpu`
//!   (default 4; ≤ 2 makes a rollout's new Deployment pods wait `Insufficient cpu`)
//! - `logs` / `previous_logs`: `{"<component, container or pod name>": "line1\nline2"}`
//! - `helm_install_s`: how long the fake helm's `upgrade` works (its pid in `FAKE_HOME/helm.pid`
//!   meanwhile), the release recorded `pending-install`/`pending-upgrade` until it ends; SIGTERM or
//!   SIGINT then records it `failed`, as Helm does; SIGKILL leaves it pending
//! - `helm_wait_cap_s` (default 2): how long `helm upgrade --wait` waits (at most its
//!   `--timeout`) before `UPGRADE FAILED: context deadline exceeded` when `pods`/`jobs` fail
//! - `exec`: `{"<component label, container name, pod name or pod-name prefix>": "<docker
//!   container>", "*": "<default>"}`: where `pods/exec` runs a command (`docker exec -i`, see
//!   `World::exec_container`). Exact keys first (the pod's `component` label, then
//!   `app.kubernetes.io/component`, `app.kubernetes.io/name`, the container, the pod), then the
//!   longest pod-name prefix, then `*`. A pod without a mapping, not Running yet, or whose Docker
//!   container is not running answers like a container that is not running: the WebSocket opens,
//!   then an `InternalError` Status (code 500, `unable to upgrade connection: container not found
//!   ("<container>")`) on the status channel. An entry `{"host": {"PATH": "...", ...}}` runs the
//!   command on this machine instead, with only that environment (fake_kube/exec.rs says why).
//! - `scale_down_s` (default 0.3): how long a pod of the chart's workload scaled to 0 terminates
//! - `forward`: `{"<pod port>": "127.0.0.1:<port>"}`: where `pods/portforward` connects. A port
//!   without an entry, or whose address refuses, gets the kubelet's error text on the port's
//!   error channel (`error forwarding port 8080 to pod <sandbox>, uid : ... connect: connection
//!   refused`).
//! - `follow_logs`: `{"silent_s": 60, "then": "a line"}`: a followed log (`follow=true`) sends
//!   what is there, stays silent that long, sends the line, and stays open until the client goes
//! - `namespace_terminating_s` (default 1): a deleted namespace stays `Terminating` (contents
//!   gone at once, new objects refused with 403, a second delete 409) that long, then goes
//! - `drop_exec_after_s`: every exec's connection is cut after that long (no Status, no close)
//!
//! Clusters devflow did not create (`provider = "existing"`, `World::existing_cluster`): a
//! `clusters.json` record `{"provider": "existing", "context": "<kube context>", "nodes": [...]}`
//! is a running cluster whose context is that name (not `kind-<name>`/`k3d-<name>`); its nodes
//! are the listed containers, and with none it is up when scenario `api` is `"up"`. The fake helm
//! installs releases under that context, and FakeKube synthesises their pods as for kind.
//!
//! Docker container names are global: tests running in parallel must use different cluster
//! names (`World::unique_name`).

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use tempfile::TempDir;

use crate::fake_kube::FakeKube;

pub const NODE_IMAGE: &str = "devflow-test-node:1";
pub const WORLD_LABEL_KEY: &str = "devflow-test-world";
/// The label naming the test that made a container or network.
pub const TEST_LABEL_KEY: &str = "devflow-test-name";

const FAKES: [(&str, &str); 4] = [
    ("kind", include_str!("fakes/kind")),
    ("k3d", include_str!("fakes/k3d")),
    ("helm", include_str!("fakes/helm")),
    ("fakelib.py", include_str!("fakes/fakelib.py")),
];

/// A cluster devflow did not create, registered by `World::existing_cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingCluster {
    /// Its key in clusters.json (unique to the world).
    pub name: String,
    /// The kube context naming it in the world's kubeconfig.
    pub context: String,
    /// The Docker container standing in for its one node (also its Node's name), if any.
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub tool: String,
    pub argv: Vec<String>,
    pub stdin: Option<String>,
}

pub struct World {
    kube: FakeKube,
    id: String,
    /// The test that made it (`module::function`).
    test: String,
    bin: PathBuf,
    home: PathBuf,
    kubeconfig: PathBuf,
    // last: the folder goes after the containers are removed
    temp: TempDir,
}

/// Whether Docker can run the test nodes: `docker info` works and the node image exists or can be
/// built (from the static busybox). Checked once per process.
pub fn docker_available() -> bool {
    node_tier_missing().is_none()
}

/// What the node tier lacks here, said as the reason a test is skipped.
fn node_tier_missing() -> Option<&'static str> {
    static MISSING: OnceLock<Option<&'static str>> = OnceLock::new();
    *MISSING.get_or_init(|| {
        let ok = |args: &[&str]| {
            Command::new("docker")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["info", "--format", "{{.ServerVersion}}"]) {
            Some("no Docker: `docker info` failed")
        } else if !Path::new("/bin/busybox").exists() && !ok(&["image", "inspect", NODE_IMAGE]) {
            Some("no /bin/busybox to build the node image from: install busybox-static (scripts/test.sh does)")
        } else {
            None
        }
    })
}

/// True when the test must stop because the node tier is missing: panics under `CI=true`,
/// otherwise says loudly on stderr that the test was skipped.
pub fn skip_without_docker(test: &str) -> bool {
    let Some(missing) = node_tier_missing() else { return false };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: the node tier is required (CI=true): {missing}");
    }
    // Written to the process's stderr directly: the test harness captures `eprintln!`, and a skip
    // must not be silent.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED ({missing}): {test}");
    true
}

/// Builds `devflow-test-node:1` (FROM scratch + the static busybox) once per process, or reuses it.
pub fn node_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exists = Command::new("docker").args(["image", "inspect", NODE_IMAGE]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if exists.is_ok_and(|s| s.success()) {
            return;
        }
        let busybox = Path::new("/bin/busybox");
        let ctx = tempfile::Builder::new().prefix("devflow-node-image").tempdir().expect("a temporary directory");
        std::fs::copy(busybox, ctx.path().join("busybox")).expect("copy /bin/busybox");
        // The applet links make `sh`, `tar`, `cat`... callable by name in `docker exec`.
        std::fs::write(
            ctx.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"/bin/busybox\",\"sleep\",\"2147483647\"]\n",
        )
        .unwrap();
        let out = Command::new("docker")
            .args(["build", "-q", "--label", "devflow-test=1", "-t", NODE_IMAGE])
            .arg(ctx.path())
            .output()
            .expect("docker build runs");
        assert!(out.status.success(), "docker build of {NODE_IMAGE} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    });
    NODE_IMAGE
}

fn unique_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{:x}{:x}{:04x}", std::process::id(), n, nanos & 0xffff)
}

impl World {
    /// A new world of the test `test` (`test_name!()`); builds the node image when Docker is
    /// there (tests that need Docker should start with `World::for_test` or `skip_without_docker`).
    pub fn named(test: &str) -> World {
        if docker_available() {
            node_image();
        }
        let prefix = format!("devflow-world-{}-", test.replace("::", "."));
        let temp = tempfile::Builder::new().prefix(&prefix).tempdir().expect("a temporary directory");
        let bin = temp.path().join("bin");
        let home = temp.path().join("fake");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        for (name, text) in FAKES {
            let path = bin.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let kube = FakeKube::start(home.clone());
        let kubeconfig = temp.path().join("kubeconfig");
        World { kube, id: unique_id(), test: test.to_string(), bin, home, kubeconfig, temp }
    }

    /// A new world of the test `test` (`test_name!()`), or None (after saying so) when Docker is
    /// missing outside CI.
    pub fn for_test(test: &str) -> Option<World> {
        if skip_without_docker(test) {
            return None;
        }
        Some(World::named(test))
    }

    /// `base-<id>` cut to k3d's 32-character limit: a cluster name no parallel test shares.
    pub fn unique_name(&self, base: &str) -> String {
        let tail: String = self.id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
        let head: String = base.chars().take(32 - tail.len() - 1).collect();
        format!("{}-{tail}", head.trim_end_matches('-'))
    }

    /// `devflow-test-world=<id>`: what the world's cleanup removes by.
    pub fn label(&self) -> String {
        format!("{WORLD_LABEL_KEY}={}", self.id)
    }

    /// `docker run` arguments putting this world's labels on a container: `devflow-test=1`, the
    /// world's, and the test's name.
    pub fn label_args(&self) -> Vec<String> {
        ["devflow-test=1".to_string(), self.label(), format!("{TEST_LABEL_KEY}={}", self.test)]
            .into_iter()
            .flat_map(|label| ["--label".to_string(), label])
            .collect()
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// FAKE_HOME.
    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn temp(&self) -> &Path {
        self.temp.path()
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn kube(&self) -> &FakeKube {
        &self.kube
    }

    pub fn env(&self) -> Vec<(String, OsString)> {
        let mut path = OsString::from(&self.bin);
        if let Some(orig) = std::env::var_os("PATH") {
            path.push(":");
            path.push(orig);
        }
        vec![
            ("PATH".into(), path),
            ("FAKE_HOME".into(), self.home.clone().into()),
            ("FAKE_KUBE_URL".into(), self.kube.url().into()),
            ("KUBECONFIG".into(), self.kubeconfig.clone().into()),
            ("FAKE_NODE_IMAGE".into(), NODE_IMAGE.into()),
            ("FAKE_LABEL".into(), self.label().into()),
            ("FAKE_TEST".into(), self.test.clone().into()),
        ]
    }

    /// Writes FAKE_HOME/scenario.json.
    pub fn scenario(&self, json: Value) {
        let path = self.home.join("scenario.json");
        let tmp = self.home.join("scenario.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    /// Every fake call so far, from FAKE_HOME/log.jsonl.
    pub fn log(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.home.join("log.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}"));
                Call {
                    tool: v["tool"].as_str().unwrap_or_default().to_string(),
                    argv: v["argv"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(String::from))
                        .collect(),
                    stdin: v["stdin"].as_str().map(String::from),
                }
            })
            .collect()
    }

    /// FAKE_HOME/releases.json: {"<context>": {"<ns>/<release>": {...}}}.
    pub fn releases(&self) -> Value {
        read_json(&self.home.join("releases.json"))
    }

    /// Names of this world's Docker containers, running or not.
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args(["ps", "-a", "--filter", &format!("label={}", self.label()), "--format", "{{.Names}}"])
            .output()
            .expect("docker ps runs");
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        names.sort();
        names
    }

    /// The kubeconfig as data: the fakes write JSON, kind and devflow YAML (JSON is YAML).
    pub fn kubeconfig_json(&self) -> Value {
        std::fs::read_to_string(&self.kubeconfig)
            .ok()
            .and_then(|t| serde_norway::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({}))
    }

    pub fn kubeconfig_contexts(&self) -> Vec<String> {
        self.kubeconfig_json()["contexts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(String::from))
            .collect()
    }

    pub fn current_context(&self) -> String {
        self.kubeconfig_json()["current-context"].as_str().unwrap_or_default().to_string()
    }

    /// Registers a running cluster devflow did not create (a shared EKS/GKE cluster):
    /// `provider: "existing"` in clusters.json, its node a labelled container of this world, and a
    /// kubeconfig context `context` pointing at FakeKube, made the current context (as
    /// `aws eks update-kubeconfig` does). Needs Docker.
    pub fn existing_cluster(&self, context: &str) -> ExistingCluster {
        let name = self.unique_name("existing");
        let node = format!("{name}-node");
        self.start_container(&node, &[("devflow-test-role", "existing-node")]);
        self.register_existing(&name, context, Some(&node));
        ExistingCluster { name, context: context.to_string(), node: Some(node) }
    }

    /// Like `existing_cluster`, with no node container: the cluster (and FakeKube) answers only
    /// while scenario `api` is `"up"`, and lists no nodes. Needs no Docker.
    pub fn existing_cluster_without_nodes(&self, context: &str) -> ExistingCluster {
        let name = self.unique_name("existing");
        self.register_existing(&name, context, None);
        ExistingCluster { name, context: context.to_string(), node: None }
    }

    /// Starts a long-running busybox container (`node_image()`, labelled with this world and
    /// removed with it) for scenario `exec`; returns its name (`name` made unique). Needs Docker.
    pub fn exec_container(&self, name: &str) -> String {
        let container = self.unique_name(name);
        self.start_container(&container, &[("devflow-test-role", "exec")]);
        container
    }

    fn start_container(&self, name: &str, labels: &[(&str, &str)]) {
        let image = node_image();
        let mut cmd = Command::new("docker");
        cmd.args(["run", "-d", "--init", "--name", name, "--hostname", name]);
        cmd.args(self.label_args());
        for (k, v) in labels {
            cmd.args(["--label", &format!("{k}={v}")]);
        }
        let out = cmd.args([image, "/bin/busybox", "sleep", "2147483647"]).output().expect("docker run runs");
        assert!(out.status.success(), "docker run {name} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }

    fn register_existing(&self, name: &str, context: &str, node: Option<&str>) {
        with_fakes_lock(&self.home, || {
            let path = self.home.join("clusters.json");
            let mut clusters = read_json(&path);
            let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
            let nodes: Vec<&str> = node.into_iter().collect();
            let roles: serde_json::Map<String, Value> =
                nodes.iter().map(|n| (n.to_string(), Value::from("worker"))).collect();
            clusters[name] = serde_json::json!({
                "provider": "existing", "context": context, "nodes": nodes, "roles": roles,
                "created": created, "kubelet_version": "v1.36.4"
            });
            write_json(&path, &clusters);

            let mut cfg = read_json(&self.kubeconfig);
            for key in ["clusters", "contexts", "users"] {
                let kept: Vec<Value> = cfg[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["name"].as_str() != Some(context))
                    .cloned()
                    .collect();
                cfg[key] = Value::Array(kept);
            }
            cfg["apiVersion"] = "v1".into();
            cfg["kind"] = "Config".into();
            if cfg["preferences"].is_null() {
                cfg["preferences"] = serde_json::json!({});
            }
            let arrays = [
                ("clusters", serde_json::json!({"name": context, "cluster": {"server": self.kube.url()}})),
                ("users", serde_json::json!({"name": context, "user": {"token": "fake"}})),
                ("contexts", serde_json::json!({"name": context, "context": {"cluster": context, "user": context}})),
            ];
            for (key, entry) in arrays {
                cfg[key].as_array_mut().expect("an array").push(entry);
            }
            cfg["current-context"] = context.into();
            write_json(&self.kubeconfig, &cfg);
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.kubeconfig, std::fs::Permissions::from_mode(0o600));
        });
    }

    /// Runs one of the fakes directly (for the fakes' own tests).
    pub fn run(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args).env_clear().env("HOME", self.temp.path()).envs(self.env()).current_dir(self.temp.path());
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run fake {tool}: {e}"));
        if let Some(text) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }
}

fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| serde_json::json!({}))
}

/// Writes JSON atomically (the fakes and FakeKube may read it at any moment).
fn write_json(path: &Path, value: &Value) {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut bytes = serde_json::to_vec_pretty(value).unwrap();
    bytes.push(b'\n');
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

/// Runs `f` holding FAKE_HOME/.lock, the flock the Python fakes take around their state.
fn with_fakes_lock<T>(home: &Path, f: impl FnOnce() -> T) -> T {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(home.join(".lock"));
    let file = file.expect("open FAKE_HOME/.lock");
    file.lock().expect("lock FAKE_HOME/.lock");
    let out = f();
    let _ = file.unlock();
    out
}

impl Drop for World {
    fn drop(&mut self) {
        // a fake left hanging by a `hang` scenario
        if let Ok(pid) = std::fs::read_to_string(self.home.join("hang.pid")) {
            let pid = pid.trim();
            if let Ok(pid) = pid.parse::<i32>()
                && pid > 1
            {
                // SAFETY: only sends SIGKILL to the fake this world left hanging.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        if !docker_available() {
            return;
        }
        let filter = format!("label={}", self.label());
        let ids = Command::new("docker").args(["ps", "-aq", "--filter", &filter]).output();
        if let Ok(out) = ids {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .arg("rm")
                    .arg("-f")
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let nets = Command::new("docker").args(["network", "ls", "-q", "--filter", &filter]).output();
        if let Ok(out) = nets {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["network", "rm"])
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}
