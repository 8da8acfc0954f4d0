//! `devflow db …` against the fake tier with a real PostgreSQL behind the exec: Debian's
//! PostgreSQL 15, started by the test on 127.0.0.1 (and its Unix socket), is what the PostgreSQL
//! pod's commands reach (scenario `exec` `{"host": …}`), so the pg_dump and pg_restore devflow
//! sends are run for real.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server of its own in a temporary folder, as the official image sets it up:
/// superuser and database `airflow`, local (socket) connections trusted, TCP ones by password
/// (docker-library/postgres docker-entrypoint.sh: `initdb` without `--auth-local`, then
/// `host all all all scram-sha-256`). Stopped and removed when dropped.
pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
}

/// Debian's PostgreSQL 15 (scripts/test.sh installs it): absent, the test fails under CI=true
/// and says loudly that it was skipped elsewhere.
fn pg_available(test: &str) -> bool {
    if Path::new(PG_BIN).join("pg_ctl").is_file() {
        return true;
    }
    let why = format!("{test}: no PostgreSQL at {PG_BIN} (scripts/test.sh installs postgresql)");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    false
}

/// A command of PostgreSQL's run as the `postgres` user when the tests run as root (initdb and
/// the server refuse to run as root).
fn as_postgres(program: &str) -> Command {
    let path = Path::new(PG_BIN).join(program);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn running_as_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

impl Postgres {
    pub fn start(test: &str) -> Option<Postgres> {
        if !pg_available(test) {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("devflow-pg-").tempdir().unwrap();
        let owner = Command::new("id").args(["-u", "postgres"]).output().unwrap();
        let uid: u32 = String::from_utf8_lossy(&owner.stdout).trim().parse().unwrap_or(0);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if running_as_root() {
            std::os::unix::fs::chown(dir.path(), Some(uid), None).unwrap();
        }
        let data = dir.path().join("data");
        let init = as_postgres("initdb")
            .args(["-D", data.to_str().unwrap(), "-U", "airflow", "--auth-local=trust", "--auth-host=scram-sha-256"])
            .output()
            .unwrap();
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let port = crate::lifecycle::free_port();
        let options = format!("-c listen_addresses=127.0.0.1 -p {port} -k {}", dir.path().display());
        let log = dir.path().join("log");
        let started = as_postgres("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(started.success(), "pg_ctl start: {}", std::fs::read_to_string(&log).unwrap_or_default());
        let postgres = Postgres { port, dir };
        postgres.psql("postgres", "CREATE DATABASE airflow");
        Some(postgres)
    }

    /// The environment a pod's command gets: PostgreSQL's programs and the server's socket.
    pub fn env(&self, extra_path: &[&Path]) -> serde_json::Map<String, serde_json::Value> {
        let mut path: Vec<String> = extra_path.iter().map(|p| p.display().to_string()).collect();
        path.extend([PG_BIN.to_string(), "/usr/bin".into(), "/bin".into()]);
        let mut env = serde_json::Map::new();
        env.insert("PATH".into(), json!(path.join(":")));
        env.insert("PGHOST".into(), json!(self.dir.path().display().to_string()));
        env.insert("PGPORT".into(), json!(self.port.to_string()));
        env.insert("HOME".into(), json!(self.dir.path().display().to_string()));
        env
    }

    /// Runs SQL in a database as `airflow`; what it printed (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(Path::new(PG_BIN).join("psql"))
            .args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-U", "airflow", "-d", db, "-c", sql])
            .env("PGHOST", self.dir.path())
            .env("PGPORT", self.port.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A kind project that is up, its PostgreSQL pod's commands going to a real server.
fn up_with_postgres(test: &str) -> Option<(Lab, Postgres)> {
    let postgres = Postgres::start(test)?;
    let lab = Lab::new(test, "kind")?;
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    lab.world.scenario(json!({"exec": {"devflow-postgres": {"host": postgres.env(&[])}}}));
    postgres.psql("airflow", "CREATE TABLE runs (id int); INSERT INTO runs VALUES (1), (2)");
    Some((lab, postgres))
}

/// The requests of the API that scaled a workload or ran a command in the PostgreSQL pod, in
/// order: `scale <workload>` or `exec <program>`.
fn scale_and_exec(lab: &Lab) -> Vec<String> {
    lab.world
        .kube()
        .requests()
        .iter()
        .filter_map(|r| {
            let (method, rest) = r.split_once(' ')?;
            let path = rest.split('?').next()?;
            if method == "PATCH" && (path.contains("/deployments/") || path.contains("/statefulsets/")) {
                return Some(format!("scale {}", path.rsplit('/').next()?));
            }
            if path.ends_with("/exec") && path.contains("devflow-postgres") {
                let program = rest.split("command=").nth(1)?.split('&').next()?;
                return Some(format!("exec {program}"));
            }
            None
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().unwrap().permissions().mode() & 0o777
}

#[test]
fn a_snapshot_is_restored_with_the_components_stopped_around_it() {
    let Some((lab, postgres)) = up_with_postgres(test_name!()) else { return };
    let taken = lab.devflow(&["db", "snapshot", "before", "--json"]).status(0).run().json();
    assert_eq!(taken["name"], "before");
    let file = PathBuf::from(taken["file"].as_str().unwrap());
    assert!(taken["bytes"].as_u64().unwrap() > 0 && std::fs::read(&file).unwrap().starts_with(b"PGDMP"));
    assert_eq!(mode(&file), 0o600);
    assert_eq!(taken["airflow_version"], "3.2.2", "{taken}");

    postgres.psql("airflow", "INSERT INTO runs VALUES (3); CREATE TABLE added_later (x int)");
    let before = scale_and_exec(&lab).len();
    let restored = lab.devflow(&["db", "restore", "before"]).status(0).run();
    assert!(
        restored.stderr.contains("Stopped") && restored.stderr.contains("Restored snapshot before"),
        "{}",
        restored.stderr
    );
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM runs"), "2");
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM pg_tables WHERE tablename = 'added_later'"), "0");

    // Every component scaled to 0 before the restore ran, and back after it.
    let steps = scale_and_exec(&lab)[before..].to_vec();
    let exec = steps.iter().position(|s| s == "exec sh").unwrap_or_else(|| panic!("{steps:?}"));
    let (down, up) = (&steps[..exec], &steps[exec + 1..]);
    assert!(down.iter().any(|s| s.ends_with("-scheduler")) && down.iter().all(|s| s.starts_with("scale")), "{steps:?}");
    let mut down_sorted = down.to_vec();
    let mut up_sorted = up.to_vec();
    down_sorted.sort();
    up_sorted.sort();
    assert_eq!(down_sorted, up_sorted, "the same workloads go down and come back: {steps:?}");
    assert!(!lab.state_dir().join("stopped-components.json").exists());

    let listed = lab.devflow(&["db", "list", "--json"]).status(0).run().json();
    assert_eq!(listed[0]["name"], "before", "{listed}");
    lab.devflow(&["db", "list"]).status(0).stdout_contains("before").run();
}

#[test]
fn a_dump_that_does_not_load_leaves_the_database_and_restarts_the_components() {
    let Some((lab, postgres)) = up_with_postgres(test_name!()) else { return };
    lab.devflow(&["db", "snapshot", "good"]).status(0).run();
    postgres.psql("airflow", "INSERT INTO runs SELECT generate_series(10, 5000)");
    // A custom-format archive cut short: pg_restore fails part way in.
    let whole = std::fs::read(lab.state_dir().join("snapshots/good.dump")).unwrap();
    let cut = lab.test().dir().join("cut.dump");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let before = scale_and_exec(&lab).len();
    let failed = lab.devflow(&["db", "import", "cut.dump"]).status(1).run();
    assert!(failed.stderr.contains("the database is as it was"), "{}", failed.stderr);
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM runs"), "4993");
    let steps = scale_and_exec(&lab)[before..].to_vec();
    let exec = steps.iter().position(|s| s == "exec sh").unwrap_or_else(|| panic!("{steps:?}"));
    assert!(steps[exec + 1..].iter().any(|s| s.ends_with("-scheduler")), "started again: {steps:?}");
    assert!(failed.stderr.contains("Airflow is ready"), "{}", failed.stderr);
    assert_eq!(
        postgres.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'airflow_devflow%'"),
        "0"
    );
}

#[test]
fn bad_names_and_files_are_input_errors_and_no_password_shows() {
    let Some((lab, _postgres)) = up_with_postgres(test_name!()) else { return };
    let mut outputs = vec![lab.devflow(&["db", "snapshot", "keep"]).status(0).run()];
    outputs.push(
        lab.devflow(&["db", "restore", "kep"])
            .status(2)
            .stderr_contains("no snapshot named `kep`; did you mean `keep`?")
            .stderr_contains("the snapshots: keep")
            .run(),
    );
    outputs.push(
        lab.devflow(&["db", "snapshot", "../etc"]).status(2).stderr_contains("`../etc` is not a snapshot name").run(),
    );
    outputs.push(
        lab.devflow(&["db", "snapshot", "keep"])
            .status(2)
            .stderr_contains("a snapshot named `keep` exists already")
            .run(),
    );
    outputs.push(
        lab.devflow(&["db", "import", "nowhere.dump"])
            .status(2)
            .stderr_contains("nowhere.dump is not a pg_dump archive")
            .run(),
    );
    std::fs::write(lab.test().dir().join("plain.sql"), "CREATE TABLE x (y int);\n").unwrap();
    outputs
        .push(lab.devflow(&["db", "import", "plain.sql"]).status(2).stderr_contains("does not start with PGDMP").run());
    outputs.push(lab.devflow(&["db", "delete", "keep"]).status(0).stderr_contains("Deleted snapshot keep").run());
    outputs.push(lab.devflow(&["db", "list"]).status(0).stdout_contains("no snapshots yet").run());
    let secrets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lab.state_dir().join("secrets.json")).unwrap()).unwrap();
    let password = secrets[devflow_password_key()].as_str().expect("a generated database password").to_string();
    for output in &outputs {
        crate::redaction::assert_hidden(output, &[&password], "db");
    }
    assert!(lab.world.kube().requests().iter().all(|r| !r.contains(&password)), "the password was in a request");
}

/// The key of the generated database password in the state folder's secrets.
fn devflow_password_key() -> &'static str {
    "data.metadataConnection.pass"
}
