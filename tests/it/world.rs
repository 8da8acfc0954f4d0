//! A test's world: fake `kind`, `k3d` and `helm` executables on PATH, their state folder, a
//! kubeconfig, a fake Kubernetes API server, and real Docker containers standing in for nodes.
//!
//! ```ignore
//! let Some(world) = World::for_test("up_creates_a_cluster") else { return }; // skips without Docker
//! let mut test = Test::new().args(["up"]);
//! for (k, v) in world.env() { test = test.env(&k, v); }
//! ```
//!
//! Environment for devflow and the fakes (`World::env`):
//! - `PATH` = `<bin>:` + the test's PATH (docker and python3 stay reachable)
//! - `FAKE_HOME` the fakes' state: `log.jsonl`, `clusters.json`, `releases.json`, `scenario.json`,
//!   `hang.pid`
//! - `FAKE_KUBE_URL` the FakeKube URL written as every context's server
//! - `KUBECONFIG` `<temp>/kubeconfig` (the fakes write JSON, which is valid YAML)
//! - `FAKE_NODE_IMAGE` `devflow-test-node:1`, `FAKE_LABEL` `devflow-test-world=<id>`
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
//! - `jobs`: `{"run-airflow-migrations": "failed"}` (also `create-user`)
//! - `logs` / `previous_logs`: `{"<component, container or pod name>": "line1\nline2"}`
//! - `helm_wait_cap_s` (default 2): how long `helm upgrade --wait` waits (at most its
//!   `--timeout`) before `UPGRADE FAILED: context deadline exceeded` when `pods`/`jobs` fail
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

const FAKES: [(&str, &str); 4] = [
    ("kind", include_str!("fakes/kind")),
    ("k3d", include_str!("fakes/k3d")),
    ("helm", include_str!("fakes/helm")),
    ("fakelib.py", include_str!("fakes/fakelib.py")),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub tool: String,
    pub argv: Vec<String>,
    pub stdin: Option<String>,
}

pub struct World {
    kube: FakeKube,
    id: String,
    bin: PathBuf,
    home: PathBuf,
    kubeconfig: PathBuf,
    // last: the folder goes after the containers are removed
    temp: TempDir,
}

/// Whether `docker info` works (checked once per process).
pub fn docker_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// True when the test must stop because Docker is missing: panics under `CI=true`, otherwise
/// says loudly on stderr that the test was skipped.
pub fn skip_without_docker(test: &str) -> bool {
    if docker_available() {
        return false;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: Docker is required (CI=true) but `docker info` failed");
    }
    // Written to the process's stderr directly: the test harness captures `eprintln!`, and a skip
    // must not be silent.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED (no Docker: `docker info` failed): {test}");
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
        if !busybox.exists() {
            panic!("/bin/busybox is missing: install busybox-static (the node image is built from it)");
        }
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
    /// A new world; builds the node image when Docker is there (tests that need Docker should
    /// start with `World::for_test` or `skip_without_docker`).
    pub fn new() -> World {
        if docker_available() {
            node_image();
        }
        let temp = tempfile::Builder::new().prefix("devflow-world").tempdir().expect("a temporary directory");
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
        World { kube, id: unique_id(), bin, home, kubeconfig: temp.path().join("kubeconfig"), temp }
    }

    /// A new world, or None (after saying so) when Docker is missing outside CI.
    pub fn for_test(test: &str) -> Option<World> {
        if skip_without_docker(test) {
            return None;
        }
        Some(World::new())
    }

    /// `base-<id>` cut to k3d's 32-character limit: a cluster name no parallel test shares.
    pub fn unique_name(&self, base: &str) -> String {
        let tail: String = self.id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
        let head: String = base.chars().take(32 - tail.len() - 1).collect();
        format!("{}-{tail}", head.trim_end_matches('-'))
    }

    pub fn label(&self) -> String {
        format!("{WORLD_LABEL_KEY}={}", self.id)
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

    pub fn kubeconfig_json(&self) -> Value {
        read_json(&self.kubeconfig)
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

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| serde_json::json!({}))
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
