//! Real Airflow 3 from PyPI (the venv `scripts/airflow-venv.sh` makes): `airflow dag-processor`
//! and `airflow api-server` on a free 127.0.0.1 port, SQLite, in a temporary AIRFLOW_HOME; and
//! `devflow watch --json` against it, read line by line.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub const PASSWORD: &str = "devflow-test-password";

/// The venv with Airflow, or None (after saying so loudly) outside CI when it is missing.
pub fn venv(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("DEVFLOW_AIRFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/airflow-3.3.2"));
    found(test, venv)
}

/// The venv with Airflow 2.11.2 (`scripts/airflow-venv.sh 2.11.2`): `DEVFLOW_VENVS/airflow-2.11.2`,
/// else `target/airflow-2.11.2`.
pub fn venv_airflow2(test: &str) -> Option<PathBuf> {
    venv_of(test, "2.11.2")
}

/// The venv with that Airflow version (`scripts/airflow-venv.sh VERSION`):
/// `DEVFLOW_VENVS/airflow-VERSION`, else `target/airflow-VERSION`.
pub fn venv_of(test: &str, version: &str) -> Option<PathBuf> {
    let base = std::env::var_os("DEVFLOW_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    found(test, base.join(format!("airflow-{version}")))
}

fn found(test: &str, venv: PathBuf) -> Option<PathBuf> {
    if venv.join("bin/airflow").is_file() {
        return Some(venv);
    }
    let why = format!("{test}: no Airflow at {} (scripts/airflow-venv.sh makes it)", venv.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

pub struct Airflow {
    pub url: String,
    pub dags: PathBuf,
    /// `admin`'s password.
    pub password: String,
    home: TempDir,
    processes: Vec<Child>,
}

impl Airflow {
    /// Starts Airflow with the given `[dag_processor]` settings (name, value) and waits until its
    /// API answers and the dag-processor is healthy.
    pub fn start(venv: &Path, settings: &[(&str, &str)]) -> Airflow {
        Airflow::start_with(venv, settings, None, crate::lifecycle::free_port(), PASSWORD)
    }

    /// Airflow reading `dags` (else a folder of its own), serving on `port`, with `admin`'s
    /// password.
    pub fn start_with(
        venv: &Path,
        settings: &[(&str, &str)],
        dags: Option<&Path>,
        port: u16,
        password: &str,
    ) -> Airflow {
        Airflow::launch(venv, settings, dags, port, password, &["dag-processor"], false)
    }

    /// Airflow 3 as the chart 1.22.0 configures it: the FAB auth manager (`[core] auth_manager`,
    /// the chart's `config.core.auth_manager` for Airflow 3) and the admin made by `airflow users
    /// create` after `airflow db migrate`, as the chart's create-user and migration jobs do.
    pub fn start_fab(venv: &Path, settings: &[(&str, &str)], password: &str) -> Airflow {
        Airflow::launch(venv, settings, None, crate::lifecycle::free_port(), password, &["dag-processor"], true)
    }

    /// Airflow that runs DAGs too: its scheduler with the LocalExecutor (the local profile's),
    /// whose task runners reach the api-server's execution API on 127.0.0.1.
    pub fn start_running_dags(venv: &Path, settings: &[(&str, &str)]) -> Airflow {
        Airflow::start_running_dags_with(venv, settings, None, crate::lifecycle::free_port(), PASSWORD)
    }

    /// The same, reading `dags` (else a folder of its own), serving on `port`, with `admin`'s password.
    pub fn start_running_dags_with(
        venv: &Path,
        settings: &[(&str, &str)],
        dags: Option<&Path>,
        port: u16,
        password: &str,
    ) -> Airflow {
        Airflow::launch(venv, settings, dags, port, password, &["dag-processor", "scheduler"], false)
    }

    /// The api-server and the given components; with `fab`, the FAB auth manager and its admin.
    fn launch(
        venv: &Path,
        settings: &[(&str, &str)],
        dags: Option<&Path>,
        port: u16,
        password: &str,
        components: &[&str],
        fab: bool,
    ) -> Airflow {
        let home = tempfile::Builder::new().prefix("devflow-airflow").tempdir().unwrap();
        let dags = match dags {
            Some(dags) => dags.to_path_buf(),
            None => {
                std::fs::create_dir(home.path().join("dags")).unwrap();
                home.path().join("dags")
            }
        };
        let log_port = crate::lifecycle::free_port();
        std::fs::write(home.path().join("passwords.json"), serde_json::json!({"admin": password}).to_string()).unwrap();
        let airflow = |args: &[&str]| {
            let mut command = Command::new(venv.join("bin/airflow"));
            command
                .args(args)
                .env("AIRFLOW_HOME", home.path())
                .env("AIRFLOW__CORE__DAGS_FOLDER", &dags)
                .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
                .env("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
                .env("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", home.path().join("passwords.json"))
                .env("AIRFLOW__API__PORT", port.to_string())
                .env("AIRFLOW__API__HOST", "127.0.0.1")
                .env("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
                // Its default is http://localhost:8080/execution/: task runners must reach this port.
                .env("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", format!("http://127.0.0.1:{port}/execution/"))
                // The scheduler serves task logs on 8793 by default: one port per test.
                .env("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", log_port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so that the api-server's workers stop with it.
                .process_group(0);
            for (key, value) in settings {
                command.env(format!("AIRFLOW__DAG_PROCESSOR__{}", key.to_uppercase()), value);
            }
            if fab {
                command.env(
                    "AIRFLOW__CORE__AUTH_MANAGER",
                    "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
                );
            }
            command
        };
        let migrated = airflow(&["db", "migrate"]).status().unwrap();
        assert!(migrated.success(), "airflow db migrate failed");
        if fab {
            let user = ["users", "create", "-r", "Admin", "-u", "admin", "-e", "admin@example.com", "-f", "admin"];
            let made = airflow(&user).args(["-l", "user", "-p", password]).status().unwrap();
            assert!(made.success(), "airflow users create failed");
        }
        let mut processes: Vec<Child> = components.iter().map(|c| airflow(&[c]).spawn().unwrap()).collect();
        processes.push(airflow(&["api-server", "--port", &port.to_string(), "--host", "127.0.0.1"]).spawn().unwrap());
        let url = format!("http://127.0.0.1:{port}");
        let started = Airflow { url, dags, password: password.to_string(), home, processes };
        started.wait_healthy();
        started
    }

    /// Airflow 2.11 as the chart 1.22.0 runs it: the FAB auth manager (Airflow 2's only one), an
    /// admin made with `airflow users create` as the chart's create-user job does
    /// (`templates/jobs/create-user-job.yaml`), the webserver, and the scheduler (which parses DAGs
    /// in Airflow 2) listing the folder every second as devflow's airflow2 wiring sets. `[api]
    /// auth_backends` is set only when given: the chart sets none.
    pub fn start_airflow2(venv: &Path, auth_backends: Option<&str>, password: &str) -> Airflow {
        let port = crate::lifecycle::free_port();
        let home = tempfile::Builder::new().prefix("devflow-airflow2").tempdir().unwrap();
        let dags = home.path().join("dags");
        std::fs::create_dir(&dags).unwrap();
        let airflow = |args: &[&str]| {
            let mut command = Command::new(venv.join("bin/airflow"));
            command
                .args(args)
                .env("AIRFLOW_HOME", home.path())
                .env("AIRFLOW__CORE__DAGS_FOLDER", &dags)
                .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
                .env("AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0);
            if let Some(backends) = auth_backends {
                command.env("AIRFLOW__API__AUTH_BACKENDS", backends);
            }
            command
        };
        assert!(airflow(&["db", "migrate"]).status().unwrap().success(), "airflow db migrate failed");
        let user = ["users", "create", "-r", "Admin", "-u", "admin", "-e", "admin@example.com", "-f", "admin"];
        assert!(airflow(&user).args(["-l", "user", "-p", password]).status().unwrap().success(), "users create failed");
        let processes = vec![
            airflow(&["scheduler"]).spawn().unwrap(),
            airflow(&["webserver", "--port", &port.to_string(), "--hostname", "127.0.0.1"]).spawn().unwrap(),
        ];
        let started =
            Airflow { url: format!("http://127.0.0.1:{port}"), dags, password: password.to_string(), home, processes };
        let deadline = Instant::now() + Duration::from_secs(180);
        while ureq::get(&format!("{}/health", started.url)).call().is_err() {
            assert!(Instant::now() < deadline, "Airflow 2 did not answer at {} within 180 s", started.url);
            std::thread::sleep(Duration::from_millis(500));
        }
        started
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let health = ureq::get(&format!("{}/api/v2/monitor/health", self.url))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|text| serde_json::from_str::<Value>(&text).ok());
            if health.is_some_and(|h| h["dag_processor"]["status"] == "healthy") {
                return;
            }
            assert!(Instant::now() < deadline, "Airflow did not become healthy at {} within 180 s", self.url);
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }
}

/// Signals a process group: each Airflow process leads its own (see `process_group(0)`). Not
/// through the `kill` command: procps-ng's `kill -TERM -<pgid>` signalled every process (-1).
fn signal_group(leader: &Child, signal: i32) {
    let pgid = i32::try_from(leader.id()).expect("a pid fits in i32");
    assert!(pgid > 1, "never signal init or every process");
    // SAFETY: killpg only sends a signal; the group is one this test started.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

impl Drop for Airflow {
    fn drop(&mut self) {
        for child in &self.processes {
            signal_group(child, libc::SIGTERM);
        }
        for child in &mut self.processes {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            signal_group(child, libc::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// `devflow watch --json` against an Airflow, its report lines read as they come.
pub struct Watch {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Watch {
    pub fn start(airflow: &Airflow, cwd: &Path) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_devflow"))
            .args(["watch", "--json", "--airflow-url", &airflow.url, "--dags"])
            .arg(&airflow.dags)
            .env("AIRFLOW_PASSWORD", PASSWORD)
            .env("NO_COLOR", "1")
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        // The watcher is in place once devflow has read Airflow's first snapshot.
        std::thread::sleep(Duration::from_secs(2));
        Watch { child, lines }
    }

    /// The next report, which must be about `file`.
    pub fn next(&self, file: &str, within: Duration) -> Value {
        let report =
            self.lines.recv_timeout(within).unwrap_or_else(|_| panic!("no report for {file} within {within:?}"));
        assert_eq!(report["file"], file, "{report}");
        report
    }

    /// The next report, whatever its file (None when none comes within this time).
    pub fn any(&self, within: Duration) -> Option<Value> {
        self.lines.recv_timeout(within).ok()
    }

    /// Every report that arrives within this time.
    pub fn lines_within(&self, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            lines.push(line);
        }
        lines
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
