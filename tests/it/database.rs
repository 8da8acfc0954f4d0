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

/// Debian's PostgreSQL programs: the newest version installed (bookworm's is 15).
fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A PostgreSQL server of its own in a temporary folder, as the official image sets it up:
/// superuser and database `airflow`, local (socket) connections trusted, TCP ones by password
/// (docker-library/postgres docker-entrypoint.sh: `initdb` without `--auth-local`, then
/// `host all all all scram-sha-256`). Stopped and removed when dropped.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

/// Debian's PostgreSQL (scripts/test.sh installs it): absent, the test fails under CI=true and
/// says loudly that it was skipped elsewhere.
fn pg_available(test: &str) -> Option<PathBuf> {
    if let Some(bin) = pg_bin() {
        return Some(bin);
    }
    let why = format!("{test}: no PostgreSQL in /usr/lib/postgresql/*/bin (scripts/test.sh installs postgresql)");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

/// A command of PostgreSQL's run as the `postgres` user when the tests run as root (initdb and
/// the server refuse to run as root).
fn as_postgres(bin: &Path, program: &str) -> Command {
    let path = bin.join(program);
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
        let bin = pg_available(test)?;
        let dir = tempfile::Builder::new().prefix("devflow-pg-").tempdir().unwrap();
        let owner = Command::new("id").args(["-u", "postgres"]).output().unwrap();
        let uid: u32 = String::from_utf8_lossy(&owner.stdout).trim().parse().unwrap_or(0);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if running_as_root() {
            std::os::unix::fs::chown(dir.path(), Some(uid), None).unwrap();
        }
        let data = dir.path().join("data");
        let init = as_postgres(&bin, "initdb")
            .args(["-D", data.to_str().unwrap(), "-U", "airflow", "--auth-local=trust", "--auth-host=scram-sha-256"])
            .output()
            .unwrap();
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let port = crate::lifecycle::free_port();
        let options = format!("-c listen_addresses=127.0.0.1 -p {port} -k {}", dir.path().display());
        let log = dir.path().join("log");
        let started = as_postgres(&bin, "pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(started.success(), "pg_ctl start: {}", std::fs::read_to_string(&log).unwrap_or_default());
        let postgres = Postgres { port, bin, dir };
        postgres.psql("postgres", "CREATE DATABASE airflow");
        Some(postgres)
    }

    /// The environment a pod's command gets: PostgreSQL's programs and the server's socket.
    pub fn env(&self, extra_path: &[&Path]) -> serde_json::Map<String, serde_json::Value> {
        let mut path: Vec<String> = extra_path.iter().map(|p| p.display().to_string()).collect();
        path.extend([self.bin.display().to_string(), "/usr/bin".into(), "/bin".into()]);
        let mut env = serde_json::Map::new();
        env.insert("PATH".into(), json!(path.join(":")));
        env.insert("PGHOST".into(), json!(self.dir.path().display().to_string()));
        env.insert("PGPORT".into(), json!(self.port.to_string()));
        env.insert("HOME".into(), json!(self.dir.path().display().to_string()));
        env
    }

    /// Runs SQL in a database as `airflow`; what it printed (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
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
        let _ = as_postgres(&self.bin, "pg_ctl")
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
    let contract = crate::contract::Contract::load();
    let taken = lab.devflow(&["db", "snapshot", "before", "--json"]).status(0).run();
    contract.document("db_snapshot", &taken);
    let taken = taken.json();
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

    let listed = lab.devflow(&["db", "list", "--json"]).status(0).run();
    contract.document("db_list", &listed);
    let listed = listed.json();
    assert_eq!(listed[0]["name"], "before", "{listed}");
    lab.devflow(&["db", "list"]).status(0).stdout_contains("before").run();

    // The same under --json: events on standard error, the result on standard output.
    let again = lab.devflow(&["db", "restore", "before", "--json"]).status(0).run();
    contract.document("db_restore", &again);
    assert!(again.json()["from"].as_str().is_some_and(|f| f.contains("before")), "{}", again.stdout);
    let deleted = lab.devflow(&["db", "delete", "before", "--json"]).status(0).run();
    contract.document("db_delete", &deleted);
    assert_eq!(deleted.json()["name"], "before", "{}", deleted.stdout);
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

/// One Airflow version's programs against the test's PostgreSQL, as the chart's pods have them:
/// its `airflow` and `python` first on PATH, the metadata connection in the environment.
pub struct AirflowOn<'a> {
    pub venv: PathBuf,
    pub postgres: &'a Postgres,
    /// The database it uses.
    pub db: &'a str,
    pub home: PathBuf,
    pub dags: PathBuf,
}

impl AirflowOn<'_> {
    /// The environment of a pod's command (scenario `exec` `{"host": …}`).
    pub fn env(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut env = self.postgres.env(&[&self.venv.join("bin")]);
        let url = format!(
            "postgresql+psycopg2://airflow@/{}?host={}&port={}",
            self.db,
            env["PGHOST"].as_str().unwrap(),
            self.postgres.port
        );
        for (key, value) in [
            ("AIRFLOW_HOME", self.home.display().to_string()),
            ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url),
            ("AIRFLOW__CORE__DAGS_FOLDER", self.dags.display().to_string()),
            ("AIRFLOW__CORE__LOAD_EXAMPLES", "False".into()),
            ("AIRFLOW__CORE__FERNET_KEY", "N6aVR8Y2GQ7Ot2iN3ymlrzKqkU9mKSmP0sCGVUfkD_s=".into()),
        ] {
            env.insert(key.into(), json!(value));
        }
        env
    }

    /// `airflow ARGS` with that environment; its output, and how long it took.
    fn airflow(&self, args: &[&str]) -> (std::process::Output, std::time::Duration) {
        let started = std::time::Instant::now();
        let out = Command::new(self.venv.join("bin/airflow"))
            .args(args)
            .env_clear()
            .envs(self.env().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())))
            .output()
            .unwrap();
        (out, started.elapsed())
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> std::time::Duration {
        let (out, took) = self.airflow(args);
        let tail = |b: &[u8]| String::from_utf8_lossy(b).lines().rev().take(15).collect::<Vec<_>>().join("\n");
        assert!(out.status.success(), "airflow {}: {}\n{}", args.join(" "), tail(&out.stdout), tail(&out.stderr));
        took
    }
}

pub const TWO_DAGS: &str = "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import EmptyOperator\nwith DAG(dag_id='etl', schedule=None):\n    EmptyOperator(task_id='extract') >> EmptyOperator(task_id='load')\nwith DAG(dag_id='report', schedule=None):\n    EmptyOperator(task_id='send')\n";

/// What one rehearsal measured.
struct Figures {
    runs: u64,
    seed_seconds: f64,
    dump_bytes: u64,
    dump_seconds: f64,
    migrate_empty: std::time::Duration,
    migrate_up: std::time::Duration,
    /// The whole `devflow db restore`: components stopped, the dump loaded, components Ready.
    restore_total: std::time::Duration,
}

/// The upgrade a team rehearses, on real PostgreSQL and two real Airflow versions: 3.2.2
/// migrates the database, devflow seeds `runs` runs (in the scheduler's pod) and snapshots it (in
/// the PostgreSQL pod), 3.3.2 migrates it (timed), devflow restores the snapshot, and 3.2.2 finds
/// its own schema and every run again. None when a venv or PostgreSQL is missing (said loudly).
fn rehearse(test: &str, runs: u64) -> Option<Figures> {
    let (old, new) = (crate::real_airflow::venv_of(test, "3.2.2")?, crate::real_airflow::venv_of(test, "3.3.2")?);
    let postgres = Postgres::start(test)?;
    let lab = Lab::with_project(test, "provider = \"kind\"", "", |t| t.file("dags/two.py", TWO_DAGS))?;
    let home = tempfile::tempdir().unwrap();
    let dags = lab.test().dir().join("dags");
    let on = |venv: &PathBuf| AirflowOn {
        venv: venv.clone(),
        postgres: &postgres,
        db: "airflow",
        home: home.path().into(),
        dags: dags.clone(),
    };
    let (before, after) = (on(&old), on(&new));
    let migrate_empty = before.ok(&["db", "migrate"]);
    before.ok(&["dags", "reserialize"]);
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    lab.world.scenario(json!({"exec": {
        "devflow-postgres": {"host": postgres.env(&[])},
        "scheduler": {"host": before.env()},
    }}));

    let seeded = lab.devflow(&["db", "seed", "--runs", &runs.to_string(), "--json"]).status(0).run();
    crate::contract::Contract::load().document("db_seed", &seeded);
    let seeded = seeded.json();
    assert_eq!(seeded["runs"], runs, "{seeded}");
    // Half the runs are etl's (2 tasks), half report's (1 task).
    assert_eq!(seeded["task_instances"], runs.div_ceil(2) * 2 + runs / 2, "{seeded}");
    assert_eq!(seeded["dags"], json!(["etl", "report"]));
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM dag_run"), runs.to_string());
    let schema_old = postgres.psql("airflow", "SELECT version_num FROM alembic_version");

    let taken = lab.devflow(&["db", "snapshot", "before-3.3", "--json"]).status(0).run().json();
    let migrate_up = after.ok(&["db", "migrate"]);
    let schema_new = postgres.psql("airflow", "SELECT version_num FROM alembic_version");
    assert_ne!(schema_old, schema_new, "3.3.2 migrated the schema");

    let started = std::time::Instant::now();
    let restored = lab.devflow(&["db", "restore", "before-3.3"]).status(0).run();
    let restore_total = started.elapsed();
    assert!(restored.stderr.contains("Restored snapshot before-3.3"), "{}", restored.stderr);
    assert_eq!(postgres.psql("airflow", "SELECT version_num FROM alembic_version"), schema_old);
    before.ok(&["db", "check-migrations", "--migration-wait-timeout", "1"]);
    let (listed, _) = before.airflow(&["dags", "list-runs", "etl", "-o", "json"]);
    // Airflow logs on standard output too: the JSON is its last line that starts as one.
    let text = String::from_utf8_lossy(&listed.stdout);
    let listed: serde_json::Value =
        text.lines().rev().find(|l| l.starts_with('[')).and_then(|l| serde_json::from_str(l).ok()).unwrap_or(json!([]));
    assert_eq!(listed.as_array().map(Vec::len), Some(runs.div_ceil(2) as usize), "3.2.2 reads its runs again");
    Some(Figures {
        runs,
        seed_seconds: seeded["seconds"].as_f64().unwrap(),
        dump_bytes: taken["bytes"].as_u64().unwrap(),
        dump_seconds: taken["seconds"].as_f64().unwrap(),
        migrate_empty,
        migrate_up,
        restore_total,
    })
}

#[test]
fn a_snapshot_taken_on_3_2_is_restored_after_the_3_3_migration_and_3_2_runs_on_it() {
    rehearse(test_name!(), 300);
}

/// `scripts/bench-db.sh`: the rehearsal at a larger size (`DEVFLOW_BENCH_RUNS`, default 3000),
/// printed as a Markdown table.
#[test]
#[ignore = "a benchmark: scripts/bench-db.sh"]
fn bench_db() {
    let runs = std::env::var("DEVFLOW_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(3000);
    let Some(f) = rehearse(test_name!(), runs) else { return };
    println!("| what | figure |\n|---|---|");
    println!("| `airflow db migrate`, 3.2.2, empty database | {:.1} s |", f.migrate_empty.as_secs_f64());
    println!(
        "| `devflow db seed --runs {}` | {:.1} s ({:.0} runs/s) |",
        f.runs,
        f.seed_seconds,
        f.runs as f64 / f.seed_seconds
    );
    println!(
        "| `devflow db snapshot`: dump size, pg_dump time | {:.2} MB, {:.2} s |",
        f.dump_bytes as f64 / 1e6,
        f.dump_seconds
    );
    println!("| `airflow db migrate`, 3.2.2 → 3.3.2, {} runs | {:.1} s |", f.runs, f.migrate_up.as_secs_f64());
    println!("| `devflow db restore` (stop, load, start) | {:.1} s |", f.restore_total.as_secs_f64());
}

const TWO_DAGS_AIRFLOW2: &str = "from airflow import DAG\nfrom airflow.operators.empty import EmptyOperator\nwith DAG(dag_id='etl', schedule=None):\n    EmptyOperator(task_id='extract') >> EmptyOperator(task_id='load')\nwith DAG(dag_id='report', schedule=None):\n    EmptyOperator(task_id='send')\n";

/// The seed script's runs on the two other versions it supports (3.2.2 is the rehearsal's), run as
/// devflow runs it in the scheduler's pod (`python -c SCRIPT N`), twice: a second seed goes on
/// after the first one's runs.
#[test]
fn the_seed_script_makes_runs_on_airflow_2_11_and_3_3() {
    let test = test_name!();
    let (Some(v2), Some(v3)) =
        (crate::real_airflow::venv_of(test, "2.11.2"), crate::real_airflow::venv_of(test, "3.3.2"))
    else {
        return;
    };
    let Some(postgres) = Postgres::start(test) else { return };
    for (venv, db, dags_text) in [(&v2, "airflow2", TWO_DAGS_AIRFLOW2), (&v3, "airflow3", TWO_DAGS)] {
        postgres.psql("postgres", &format!("CREATE DATABASE {db}"));
        let home = tempfile::tempdir().unwrap();
        let dags = home.path().join("dags");
        std::fs::create_dir(&dags).unwrap();
        std::fs::write(dags.join("two.py"), dags_text).unwrap();
        let airflow = AirflowOn { venv: venv.clone(), postgres: &postgres, db, home: home.path().into(), dags };
        airflow.ok(&["db", "migrate"]);
        airflow.ok(&["dags", "reserialize"]);
        for round in 1..=2 {
            let out = Command::new(venv.join("bin/python"))
                .args(["-c", SEED, "7"])
                .env_clear()
                .envs(airflow.env().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{db}: {text}\n{}", String::from_utf8_lossy(&out.stderr));
            let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap();
            assert_eq!((last["runs"].as_u64(), last["task_instances"].as_u64()), (Some(7), Some(11)), "{db}: {last}");
            let counts = postgres.psql(db, "SELECT count(*), count(DISTINCT state) FROM task_instance");
            assert_eq!(counts, format!("{}|1", 11 * round), "{db}: every task instance succeeded");
        }
        assert_eq!(postgres.psql(db, "SELECT count(*) FROM dag_run WHERE state = 'success'"), "14");
    }
}

const SEED: &str = include_str!("../../src/database/seed.py");

#[test]
fn reset_swaps_in_an_empty_database_and_upgrades_the_release_again_to_migrate_it() {
    let Some((lab, postgres)) = up_with_postgres(test_name!()) else { return };
    lab.devflow(&["db", "reset"]).status(2).stderr_contains("add --yes to do it").run();
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM runs"), "2", "nothing changed without --yes");
    let upgrades = lab.calls("helm", &["upgrade"]).len();
    let reset = lab.devflow(&["db", "reset", "--yes"]).status(0).stderr_contains("Emptied the database").run();
    assert!(reset.stderr.contains("Stopped") && reset.stderr.contains("Airflow is ready"), "{}", reset.stderr);
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
    assert_eq!(lab.calls("helm", &["upgrade"]).len(), upgrades + 1, "the release ran its migration job again");
    assert!(!lab.state_dir().join("stopped-components.json").exists());
    lab.devflow(&["up", "--no-watch"]).status(0).stderr_contains("unchanged").run();
}

#[test]
fn values_that_point_at_another_database_are_refused_with_a_clear_message() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let toml = lab.test().dir().join("devflow.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[airflow.set]\n\"data.metadataConnection.host\" = \"prod-db.example.com\"\n");
    std::fs::write(&toml, text).unwrap();
    for args in [&["db", "snapshot", "x"][..], &["db", "seed", "--runs", "1"], &["db", "reset", "--yes"]] {
        let out = lab.devflow(args).run();
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        let said = ["another database (host prod-db.example.com)", "need devflow's own PostgreSQL"];
        assert!(said.iter().all(|s| out.stderr.contains(s)), "{args:?}: {}", out.stderr);
    }
}

/// Ctrl-C while the dump streams in: devflow ends with 130 and leaves no file of it, not even
/// the partial one. The pod's `pg_dump` here writes the archive's first bytes and then hangs.
#[test]
fn an_interrupted_snapshot_leaves_no_file() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let bin = lab.world.temp().join("hanging-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("pg_dump"), "#!/bin/sh\nprintf PGDMP\nexec sleep 60\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("pg_dump"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    lab.world.scenario(json!({"exec": {"devflow-postgres": {"host": {"PATH": path}}}}));
    let child = lab.devflow(&["db", "snapshot", "cut"]).command().stdout(Stdio::null()).stderr(Stdio::piped()).spawn();
    let child = child.unwrap();
    let partial = lab.state_dir().join("snapshots/.cut.dump.partial");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while partial.metadata().map_or(true, |m| m.len() == 0) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(partial.exists(), "the dump was being written");
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let left: Vec<_> =
        std::fs::read_dir(lab.state_dir().join("snapshots")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
