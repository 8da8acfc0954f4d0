//! The project's Airflow metadata database, as devflow's PostgreSQL holds it: snapshots taken
//! with `pg_dump --format=custom` and restored with `pg_restore`, both run through exec in the
//! PostgreSQL pod and streamed to and from files in the state folder; a dump from elsewhere
//! imported the same way; runs seeded through Airflow's own models. A restore stops Airflow's
//! components first and starts them after, so that nothing writes while the database changes.
//! `commands::db` is the edge; `upgrade` calls [`snapshot`], [`restore`] and [`components`].

pub mod components;
pub mod files;

use std::path::Path;
use std::time::Instant;

use crate::kube::{self, ApiClient, ExecTarget};
use crate::plan::names::{POSTGRES, POSTGRES_DB, POSTGRES_USER};
use crate::plan::{Plan, selector};
use crate::session::Session;
use crate::ui::{self, Printer};
use crate::values::{self, Value};

pub use files::{SnapshotInfo, Snapshots};

/// Loads the dump on standard input into a new database and swaps it in (see the script).
const RESTORE: &str = include_str!("restore.sh");
/// Argument: the number of runs. Prints JSON last.
pub const SEED: &str = include_str!("seed.py");
/// The component whose pod seeds runs: it has the project's image and the database.
const SEEDER: &str = "scheduler";
/// The first bytes of every pg_dump custom-format archive (PostgreSQL `pg_backup_archiver.c`,
/// `WriteHead`: `AH->WriteBufPtr(AH, "PGDMP", 5)`).
const ARCHIVE_MAGIC: &[u8] = b"PGDMP";
/// The exit code of the restore script when the dump did not load (the old database is kept).
const NOT_LOADED: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "`{name}` is not a snapshot name\n  use letters, digits, `-`, `_` and `.` (at most 64, starting with a letter or digit), e.g. `before-upgrade`"
    )]
    BadName { name: String },
    #[error("no snapshot named `{name}`{near}\n  {}", known_line(known))]
    UnknownSnapshot { name: String, near: String, known: Vec<String> },
    #[error("a snapshot named `{name}` exists already\n  choose another name, or `devflow db delete {name}` first")]
    SnapshotExists { name: String },
    #[error(
        "{path} is not a pg_dump archive in custom format ({why})\n  take the dump with `pg_dump --format=custom` (`-Fc`); a plain SQL dump can be converted by loading it into a PostgreSQL and dumping it again"
    )]
    NotAnArchive { path: String, why: String },
    #[error(
        "this environment's Airflow uses another database ({what}): devflow's snapshots need devflow's own PostgreSQL\n  remove the `data.metadataConnection`/`data.metadataSecretName` override to use it"
    )]
    ExternalDatabase { what: String },
    #[error(
        "no pod of devflow's PostgreSQL is running in the namespace {namespace}\n  `devflow status` shows it; `devflow up` or `devflow start` starts it"
    )]
    NoDatabasePod { namespace: String },
    #[error("{what} failed in the pod {pod} (exit code {code}):\n    {stderr}")]
    Failed { what: String, pod: String, code: i32, stderr: String },
    #[error("seeding runs did not work: {0}")]
    Seed(String),
    #[error("cannot use {path}: {io}")]
    Files { path: String, io: std::io::Error },
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    State(#[from] crate::state::Error),
    #[error(transparent)]
    Output(#[from] crate::airflow::incluster::Error),
}

fn known_line(known: &[String]) -> String {
    if known.is_empty() {
        "there are no snapshots yet: `devflow db snapshot NAME` takes one".to_string()
    } else {
        format!("the snapshots: {} (`devflow db list` shows them)", known.join(", "))
    }
}

impl crate::error::Kind for Error {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind::{Environment, Input};
        match self {
            Error::BadName { .. }
            | Error::UnknownSnapshot { .. }
            | Error::SnapshotExists { .. }
            | Error::NotAnArchive { .. }
            | Error::ExternalDatabase { .. } => Input,
            Error::NoDatabasePod { .. } | Error::Failed { .. } | Error::Seed(_) | Error::Files { .. } => Environment,
            Error::Kube(e) => crate::error::Kind::kind(e),
            Error::State(e) => crate::error::Kind::kind(e),
            Error::Output(e) => crate::error::Kind::kind(e),
        }
    }
}

/// The command that writes the database to standard output as a custom-format archive. It
/// connects over the pod's Unix socket as the database's owner: the official image's
/// docker-entrypoint.sh runs `initdb` without `--auth-local`, so local connections are `trust`,
/// and adds a password rule only for `host` connections (docker-library/postgres
/// 17/bookworm/docker-entrypoint.sh, `docker_init_database_dir` and `pg_setup_hba_conf`); the
/// password is never needed, on a command line or anywhere else.
pub fn dump_argv() -> Vec<String> {
    [
        "pg_dump",
        "--format=custom",
        "--no-password",
        &format!("--username={POSTGRES_USER}"),
        &format!("--dbname={POSTGRES_DB}"),
    ]
    .map(String::from)
    .to_vec()
}

/// The command that replaces the database with the archive on its standard input.
pub fn restore_argv() -> Vec<String> {
    ["sh", "-c", RESTORE, "devflow-restore", POSTGRES_USER, POSTGRES_DB].map(String::from).to_vec()
}

/// devflow's PostgreSQL in the environment: where its commands run.
pub struct Database {
    pub kube: ApiClient,
    namespace: String,
    pod: String,
    container: Option<String>,
}

impl Database {
    /// The running PostgreSQL pod of the session's environment; refused when Airflow's values
    /// point at a database devflow does not run.
    pub async fn open(session: &Session) -> Result<Database, Error> {
        let plan = &session.plan;
        uses_devflow_postgres(plan)?;
        let kube = ApiClient::connect(&session.env, &plan.context).await?;
        let running = kube.running_pod(&plan.namespace, &selector::named(POSTGRES), "postgres").await?;
        let (pod, container) = running.ok_or_else(|| Error::NoDatabasePod { namespace: plan.namespace.clone() })?;
        Ok(Database { kube, namespace: plan.namespace.clone(), pod, container })
    }

    fn target(&self) -> ExecTarget<'_> {
        ExecTarget { namespace: &self.namespace, pod: &self.pod, container: self.container.as_deref() }
    }

    /// Dumps the database into `out`.
    async fn dump(&self, out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send)) -> Result<(), Error> {
        let ran = self.kube.exec_streaming(&self.target(), &dump_argv(), None, out).await?;
        succeeded("pg_dump", &self.pod, &ran)
    }

    /// Replaces the database with the archive `input` reads; when it does not load, the old
    /// database is kept.
    async fn load(&self, input: &mut (dyn tokio::io::AsyncRead + Unpin + Send)) -> Result<(), Error> {
        let mut sink = tokio::io::sink();
        let ran = self.kube.exec_streaming(&self.target(), &restore_argv(), Some(input), &mut sink).await?;
        let what = if ran.code == NOT_LOADED { "pg_restore (the database is as it was)" } else { "the restore" };
        succeeded(what, &self.pod, &ran)
    }
}

/// An error with the end of its standard error when the command in the pod failed.
fn succeeded(what: &str, pod: &str, ran: &kube::ExecOutput) -> Result<(), Error> {
    if ran.code == 0 {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&ran.stderr);
    let lines: Vec<&str> = text.trim().lines().collect();
    Err(Error::Failed {
        what: what.to_string(),
        pod: pod.to_string(),
        code: ran.code,
        stderr: lines[lines.len().saturating_sub(8)..].join("\n    "),
    })
}

/// Whether Airflow's metadata connection is devflow's PostgreSQL (the values devflow wires it
/// with), not a database the user's values point at.
fn uses_devflow_postgres(plan: &Plan) -> Result<(), Error> {
    let at = |key: &str| values::get(&plan.values, &values::Path::parse(key).expect("a dotted path")).cloned();
    if let Some(secret) = at("data.metadataSecretName").filter(|v| !v.is_null()) {
        return Err(Error::ExternalDatabase { what: format!("the Secret {}", secret.as_str().unwrap_or_default()) });
    }
    let ours = format!("{POSTGRES}.{}", plan.namespace);
    match at("data.metadataConnection.host") {
        Some(Value::String(host)) if host == ours || host.starts_with(&format!("{ours}.")) => Ok(()),
        Some(Value::String(host)) => Err(Error::ExternalDatabase { what: format!("host {host}") }),
        _ => Err(Error::ExternalDatabase { what: "no devflow PostgreSQL host in the values".into() }),
    }
}

/// Takes a snapshot of the database: `name`, or one named after the time.
pub async fn snapshot(session: &Session, name: Option<&str>, printer: &mut Printer) -> anyhow::Result<SnapshotInfo> {
    let snapshots = Snapshots::in_state_dir(session.store.dir());
    let name = name.map_or_else(|| files::default_name(jiff::Timestamp::now()), str::to_string);
    let mut partial = snapshots.create(&name)?;
    let database = Database::open(session).await?;
    let started = Instant::now();
    let file = partial.take_file().expect("a new dump's file");
    let mut out = tokio::fs::File::from_std(file);
    let doing = format!("Dumping the database into snapshot {name} (pod {})", database.pod);
    printer.step(&doing, database.dump(&mut out), |()| format!("Dumped the database into snapshot {name}")).await?;
    out.sync_all().await.map_err(|io| Error::Files { path: snapshots.dir().display().to_string(), io })?;
    let plan = &session.plan;
    let info = SnapshotInfo {
        name: name.clone(),
        file: Default::default(),
        bytes: 0,
        created: jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        seconds: started.elapsed().as_secs_f64(),
        airflow_version: plan.airflow_version.clone(),
        chart_version: plan.chart_version.clone(),
    };
    Ok(partial.keep(&info)?)
}

/// What a restore or an import loaded, and how long it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    /// The snapshot's name, or the imported file.
    pub from: String,
    pub bytes: u64,
    /// How long loading the dump took (the components' stop and start not included).
    pub seconds: f64,
}

/// Replaces the database with a snapshot, Airflow's components stopped meanwhile. When the
/// snapshot does not load, the database is as it was and the components start again.
pub async fn restore(session: &Session, name: &str, printer: &mut Printer) -> anyhow::Result<Restored> {
    let snapshot = Snapshots::in_state_dir(session.store.dir()).find(name)?;
    let airflow = &session.plan.airflow_version;
    if !snapshot.airflow_version.is_empty() && &snapshot.airflow_version != airflow {
        printer.warn(&format!(
            "snapshot {name} was taken on Airflow {}; this environment runs {airflow}: its components may not start on it",
            snapshot.airflow_version
        ));
    }
    replace_with(session, &snapshot.file, &format!("snapshot {name}"), printer).await
}

/// Replaces the database with a dump taken elsewhere (`pg_dump --format=custom`).
pub async fn import(session: &Session, file: &Path, printer: &mut Printer) -> anyhow::Result<Restored> {
    check_archive(file)?;
    replace_with(session, file, &file.display().to_string(), printer).await
}

/// A readable file that starts as a custom-format archive does.
fn check_archive(file: &Path) -> Result<(), Error> {
    use std::io::Read;
    let not = |why: String| Error::NotAnArchive { path: file.display().to_string(), why };
    let mut head = [0u8; 5];
    let mut opened = std::fs::File::open(file).map_err(|e| not(e.to_string()))?;
    match opened.read_exact(&mut head) {
        Ok(()) if head == ARCHIVE_MAGIC => Ok(()),
        Ok(()) => Err(not("it does not start with PGDMP".into())),
        Err(e) => Err(not(e.to_string())),
    }
}

async fn replace_with(session: &Session, file: &Path, from: &str, printer: &mut Printer) -> anyhow::Result<Restored> {
    let database = Database::open(session).await?;
    let files = |io| Error::Files { path: file.display().to_string(), io };
    let mut input = tokio::fs::File::open(file).await.map_err(files)?;
    let bytes = input.metadata().await.map_err(files)?.len();
    let (plan, store) = (&session.plan, &session.store);
    let stopped = components::stop(&database.kube, plan, store, printer).await?;
    let started = Instant::now();
    let doing = format!("Loading {from} ({}) into the database", files::size(bytes));
    let loaded = printer.step(&doing, database.load(&mut input), |()| format!("Loaded {from}")).await;
    let seconds = started.elapsed().as_secs_f64();
    // Started again whether it loaded or not: a failed load left the old database.
    let restarted = components::start(&database.kube, plan, store, &stopped, printer).await;
    loaded?;
    restarted?;
    Ok(Restored { from: from.to_string(), bytes, seconds })
}

/// A line for a snapshot taken: its name, size and time.
pub fn described(info: &SnapshotInfo) -> String {
    format!(
        "snapshot {}: {} in {} ({})",
        info.name,
        files::size(info.bytes),
        ui::seconds(std::time::Duration::from_secs_f64(info.seconds)),
        info.file.display()
    )
}

/// The command that seeds `runs` DAG runs in the scheduler's pod.
pub fn seed_argv(runs: u32) -> Vec<String> {
    vec!["python".into(), "-c".into(), SEED.into(), runs.to_string()]
}

/// What seeding made.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Seeded {
    pub runs: u64,
    pub task_instances: u64,
    /// The DAGs the runs were spread over.
    pub dags: Vec<String>,
    /// DAGs no run could be made for, with why (a param without a default, say).
    #[serde(default)]
    pub skipped: std::collections::BTreeMap<String, String>,
    pub seconds: f64,
}

/// What the seed script says when it cannot start.
#[derive(serde::Deserialize)]
struct SeedRefused {
    error: String,
}

/// Makes `runs` DAG runs of the project's DAGs, with their task instances, through Airflow's own
/// models in the scheduler's pod, so that a migration is timed on a database of some size.
pub async fn seed(session: &Session, runs: u32, printer: &mut Printer) -> anyhow::Result<Seeded> {
    let plan = &session.plan;
    uses_devflow_postgres(plan)?;
    let kube = ApiClient::connect(&session.env, &plan.context).await?;
    let (selector, container) = plan.component(SEEDER)?;
    let running = kube.running_pod(&plan.namespace, &selector, container).await?;
    let Some((pod, container)) = running else {
        return Err(Error::Seed(format!(
            "no pod of the {SEEDER} is running in {}: `devflow status` shows the components",
            plan.namespace
        ))
        .into());
    };
    let doing = format!("Seeding {runs} DAG runs (pod {pod})");
    let argv = seed_argv(runs);
    let exec = kube.exec(&plan.namespace, &pod, container.as_deref(), &argv, None);
    let out = printer.step(&doing, exec, |_| format!("Seeded {runs} DAG runs")).await?;
    if let Ok(refused) = crate::airflow::incluster::last_json_line::<SeedRefused>(&out.stdout) {
        return Err(Error::Seed(refused.error).into());
    }
    succeeded("the seed script", &pod, &out)?;
    Ok(crate::airflow::incluster::last_json_line::<Seeded>(&out.stdout).map_err(Error::from)?)
}
