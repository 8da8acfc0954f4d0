//! Every command-line type in one place: what a user can type, and nothing about doing it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, Provider};

#[derive(Debug, Parser)]
#[command(
    name = "devflow",
    version,
    about = "Production-parity Apache Airflow on your laptop: a kind or k3d cluster (or a namespace of a shared one), the official Helm chart, your DAGs hot-reloaded.",
    long_about = None,
    after_help = "A first session:\n  devflow init                  write devflow.toml and dags/ (with an example DAG)\n  devflow render                see the cluster config, Helm values and steps `up` will use\n  devflow render --values deploy/prod-values.yaml --explain\n                                what devflow changes in your production values, and why\n  devflow up                    create the cluster, install Airflow, report each saved DAG\n  devflow down                  remove everything devflow made\n\nWithout a devflow.toml, commands use defaults: the project is named after the folder and its DAGs are in ./dags.",
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// List every external command devflow runs (kind, k3d, helm…): its command line (secrets
    /// redacted, never its input), how long it took and how it ended
    #[arg(long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented devflow.toml here, and dags/ with an example DAG if there is none.
    Init(InitArgs),
    /// Print what `up` will create: the cluster config, the Helm values, devflow's own manifests and the steps.
    Render(RenderArgs),
    /// Create the cluster (on a shared one: a namespace), install Airflow with your DAGs, wait until it is ready, and watch.
    #[command(after_help = UP_HELP)]
    Up(UpArgs),
    /// Remove everything devflow created for this project (cluster or namespace, state), and nothing else.
    Down(DownArgs),
    /// Pause the cluster to free memory, keeping its database.
    Stop(JsonFlag),
    /// Resume a stopped cluster and wait until Airflow is ready.
    Start(StartArgs),
    /// Show the cluster, each Airflow component, the URL and the DAG mount.
    Status(JsonFlag),
    /// List every environment devflow made on this machine, whatever folder you are in, and
    /// those whose project folder is gone or renamed (`down --project` removes them).
    List(JsonFlag),
    /// Check Docker, kind/k3d, helm, ports and the DAG folder, with a fix for each problem.
    Doctor(DoctorArgs),
    /// Report every saved DAG file as Airflow parses it: its DAGs, or the import error and line.
    #[command(after_help = WATCH_HELP)]
    Watch(WatchArgs),
    /// Trigger a DAG run and follow it: each task's state and log as it runs, then the run's
    /// result (exit 0 when it succeeds, 1 when it fails).
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Show the logs of one or all Airflow components, each line prefixed with its component.
    Logs(LogsArgs),
    /// Run the Airflow CLI inside the cluster, in the scheduler's pod: `devflow airflow -- dags list`.
    #[command(after_help = AIRFLOW_HELP)]
    Airflow(AirflowArgs),
    /// Open a shell in an Airflow component's pod (the scheduler's unless you name another).
    Shell(ShellArgs),
    /// Open the Airflow UI in your browser (on an existing cluster, forwarding it until Ctrl-C).
    Open(OpenArgs),
    /// Copy the DAG (and plugins) folder into the cluster now, when it is pushed rather than
    /// mounted (an existing cluster, or `dag_delivery = "push"`); `watch` does it on every save.
    Push(JsonFlag),
    /// Load connections, variables and pools from a YAML file into Airflow.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Snapshots of Airflow's metadata database: take, list, restore, delete; import a dump
    /// taken elsewhere.
    #[command(subcommand, after_help = DB_HELP)]
    Db(DbCommand),
    /// Import every DAG in the cluster's own image and report import errors and DAG problems;
    /// exits 1 when there is one (for CI).
    Test(JsonFlag),
    /// Upgrade Airflow (and the chart) on this project's database, or rehearse it: snapshot,
    /// upgrade, the migration timed, every DAG imported before and after, a report.
    #[command(after_help = UPGRADE_HELP)]
    Upgrade(UpgradeArgs),
    /// Print the Airflow admin user name and password.
    Creds(JsonFlag),
    /// Print a completion script for your shell: `devflow completions bash > ~/.local/share/bash-completion/completions/devflow`.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
}

impl Command {
    /// Whether the user asked for JSON (`--json`): the result, progress events and the error as
    /// the contract in schemas/devflow-output.schema.json says. The commands that hand the
    /// terminal to what they run, or print a script, have no JSON.
    pub fn json(&self) -> bool {
        match self {
            Command::Init(args) => args.output.json,
            Command::Render(args) => args.json,
            Command::Up(args) => args.output.json,
            Command::Down(args) => args.output.json,
            Command::Start(args) => args.output.json,
            Command::Stop(flag)
            | Command::Status(flag)
            | Command::List(flag)
            | Command::Push(flag)
            | Command::Test(flag)
            | Command::Creds(flag) => flag.json,
            Command::Doctor(args) => args.json,
            Command::Watch(args) => args.json,
            Command::Run(args) => args.json,
            Command::Logs(args) => args.output.json,
            Command::Settings(SettingsCommand::Import(args)) => args.json,
            Command::Db(DbCommand::Snapshot(args)) => args.json,
            Command::Db(DbCommand::List(flag)) => flag.json,
            Command::Db(DbCommand::Seed(args)) => args.json,
            Command::Db(DbCommand::Restore(args) | DbCommand::Delete(args)) => args.json,
            Command::Db(DbCommand::Import(args)) => args.json,
            Command::Db(_) => false,
            Command::Upgrade(args) => args.json,
            Command::Airflow(_) | Command::Shell(_) | Command::Open(_) | Command::Completions(_) => false,
        }
    }

    /// The name a user typed, for messages about a command.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Render(_) => "render",
            Command::Up(_) => "up",
            Command::Down(_) => "down",
            Command::Stop(_) => "stop",
            Command::Start(_) => "start",
            Command::Status(_) => "status",
            Command::List(_) => "list",
            Command::Doctor(_) => "doctor",
            Command::Watch(_) => "watch",
            Command::Run(_) => "run",
            Command::Logs(_) => "logs",
            Command::Airflow(_) => "airflow",
            Command::Shell(_) => "shell",
            Command::Open(_) => "open",
            Command::Settings(_) => "settings",
            Command::Db(_) => "db",
            Command::Push(_) => "push",
            Command::Test(_) => "test",
            Command::Upgrade(_) => "upgrade",
            Command::Creds(_) => "creds",
            Command::Completions(_) => "completions",
        }
    }
}

const COMPLETIONS_HELP: &str = "Where each shell reads it from:
  bash  devflow completions bash > ~/.local/share/bash-completion/completions/devflow
  zsh   devflow completions zsh > ~/.zfunc/_devflow   (with `fpath+=~/.zfunc` before `compinit` in ~/.zshrc)
  fish  devflow completions fish > ~/.config/fish/completions/devflow.fish";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const UP_HELP: &str = "What `up` does, step by step (`devflow up --dry-run` prints the exact commands):
  1. preflight: Docker, kind/k3d and helm (offered for install when missing), the UI port
  2. create the cluster unless it exists: pinned node image, your DAG folder mounted read-only
  3. wait for the nodes, then apply devflow's objects: namespace, PostgreSQL, the DAG volume
  4. helm upgrade --install the Airflow chart with the values from `devflow render --only values`
  5. wait for the migration job and every component, reporting a failing pod at once
  6. stay and report each saved DAG file as Airflow parses it (Ctrl-C ends it; --no-watch skips it)
A second `up` with nothing changed creates nothing and runs no Helm upgrade. Ctrl-C stops
cleanly; the next `up` carries on.";

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub project: ProjectFlags,

    /// Override one chart value, as for `devflow render` (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Print the steps and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Return once Airflow is ready instead of staying to report each saved DAG (`devflow watch`)
    #[arg(long)]
    pub no_watch: bool,

    /// Answer yes: install missing kind/k3d/helm (pinned, checksum-verified) and carry over the
    /// environment of a project that moved or was renamed, without asking
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Give up waiting for the cluster and Airflow after this long (e.g. 90s, 15m)
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    #[command(flatten)]
    pub output: JsonFlag,
}

const WATCH_HELP: &str = "Each saved .py file gets one line as soon as Airflow has parsed it:
  ✓ dags/etl.py  etl_daily, etl_hourly  parse 0.6 s, 0.9 s after save
  ✗ dags/etl.py  ModuleNotFoundError: No module named 'foo' (line 3)  1.1 s after save
A file that already has DAGs is reparsed at once; a new file is seen within the profile's 1 s
refresh. Files .airflowignore excludes, and files without both `airflow` and `dag` in them, are
said to be skipped; a file still unparsed after 30 s gets a line saying why that may be.
Under a file's line: a dag_id another file defines too, a parse over 2 s, Airflow's DAG warnings.
At start: the import errors Airflow has now, and a --dags folder Airflow does not read.

Without --airflow-url, devflow watches this project's Airflow (after `devflow up`). With it, any
Airflow 3 or 2 (a local `airflow standalone`, another cluster):
  devflow watch --airflow-url http://127.0.0.1:8080 --dags ./dags --username admin
with the password in AIRFLOW_PASSWORD (or --password).";

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// An Airflow devflow did not start, e.g. http://127.0.0.1:8080 [default: this project's]
    #[arg(long, value_name = "URL")]
    pub airflow_url: Option<String>,

    /// The DAG folder that Airflow reads [default: the project's]
    #[arg(long, value_name = "DIR")]
    pub dags: Option<PathBuf>,

    /// The Airflow user
    #[arg(long, value_name = "USER", default_value = "admin")]
    pub username: String,

    /// The Airflow password [default: devflow's, for this project's Airflow]
    #[arg(long, value_name = "PASSWORD", env = "AIRFLOW_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// One JSON object per line per file: {"file","status","dags","error","line","seconds_after_save",
    /// "parse_seconds","warnings","before_watch"}
    #[arg(long)]
    pub json: bool,

    /// Print only problems and each batch's summary
    #[arg(long, short = 'q', conflicts_with = "json")]
    pub quiet: bool,
}

const RUN_HELP: &str = "One live line per task (state, try, time), each task's log as it is written:
  ✓ extract    success  try 1  2.1s
  ▸ transform  running  try 1
  transform | rows read: 1000
and at the end the run's result, with the failing tasks' last log lines. A paused DAG (every new
DAG is) is unpaused for the run, and devflow says so. Ctrl-C leaves the run as it is.

Without --airflow-url, devflow runs the DAG on this project's Airflow (after `devflow up`). With
it, on any Airflow 3 or 2, the password in AIRFLOW_PASSWORD:
  devflow run etl_daily --airflow-url http://127.0.0.1:8080 --username admin
  devflow run etl_daily --conf '{\"day\": \"2025-01-01\"}' --task load";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The DAG to run
    #[arg(value_name = "DAG_ID")]
    pub dag_id: String,

    /// The run's conf: a JSON object, or @FILE for a file holding one
    #[arg(long, value_name = "JSON|@FILE")]
    pub conf: Option<String>,

    /// Run only this task of the new run (repeatable); the others are marked success without running
    #[arg(long = "task", value_name = "TASK_ID")]
    pub tasks: Vec<String>,

    /// The run's logical date: RFC 3339 (2025-01-01T06:00:00Z) or a day (2025-01-01, midnight UTC)
    /// [default: none on Airflow 3, now on Airflow 2]
    #[arg(long, value_name = "DATE")]
    pub logical_date: Option<String>,

    /// An Airflow devflow did not start, e.g. http://127.0.0.1:8080; the password is read from
    /// AIRFLOW_PASSWORD [default: this project's]
    #[arg(long, value_name = "URL")]
    pub airflow_url: Option<String>,

    /// The Airflow user (with --airflow-url)
    #[arg(long, value_name = "USER", default_value = "admin", requires = "airflow_url")]
    pub username: String,

    /// One JSON object per line per event: {"event": "triggered"|"task"|"log"|"run", …}
    #[arg(long)]
    pub json: bool,
}

const UPGRADE_HELP: &str =
    "What `upgrade` does, step by step (`devflow upgrade --airflow 3.3.2 --dry-run` prints them):
  1. snapshot the database (`devflow db list` shows it)
  2. import every DAG on the Airflow that runs now
  3. build the project's image on the new Airflow (when it has requirements), upgrade the release
  4. time the migration job and show its log; wait for every component
  5. import every DAG on the new Airflow, and report: the migration's time, DAGs that imported
     before and fail now (file and line), new deprecation warnings, components not up
With --rehearse the snapshot and the previous release are restored afterwards. Without it the new
version is kept and written to devflow.toml (asked on a terminal; --yes elsewhere). A failed
migration restores the old release and database at once. `devflow upgrade --rollback` returns to
the last upgrade's snapshot and release.";

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The Airflow version to upgrade to, e.g. 3.3.2
    #[arg(long, value_name = "VERSION", required_unless_present = "rollback", conflicts_with = "rollback")]
    pub airflow: Option<String>,

    /// The chart version to upgrade to, 1.19.0 or later [default: the project's]
    #[arg(long, value_name = "VERSION", conflicts_with = "rollback")]
    pub chart: Option<String>,

    /// The profile to upgrade to (from Airflow 2: one for Airflow 3, e.g. local) [default: the project's]
    #[arg(long, value_name = "NAME|FILE", conflicts_with = "rollback")]
    pub profile: Option<String>,

    /// Restore the snapshot and the previous release afterwards, leaving everything as it was
    #[arg(long, conflicts_with = "rollback")]
    pub rehearse: bool,

    /// Return to the snapshot and the release of the last upgrade
    #[arg(long)]
    pub rollback: bool,

    /// Keep the new version and write it to devflow.toml without asking
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the steps and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print the report as JSON, for CI
    #[arg(long)]
    pub json: bool,

    /// Give up waiting for the upgraded Airflow after this long (e.g. 90s, 30m)
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// One component: scheduler, dag-processor, api-server, triggerer, worker, postgresql, …
    /// [default: all of them]
    pub component: Option<String>,

    /// Keep printing lines as they are written, until Ctrl-C
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Only lines newer than this (e.g. 90s, 10m, 1h)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,

    /// How many of the last lines of each pod to show first
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub tail: i64,

    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Keep the cluster: remove only the Airflow release and devflow's objects in it
    #[arg(long)]
    pub keep_cluster: bool,

    /// Remove the environment of this project, from any folder (`devflow list` names them):
    /// for one whose folder is gone or renamed
    #[arg(long, value_name = "NAME", conflicts_with = "path")]
    pub project: Option<String>,

    /// Remove the environment made for the project in this folder, from any folder
    #[arg(long, value_name = "FOLDER")]
    pub path: Option<PathBuf>,

    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Give up waiting for Airflow after this long (e.g. 90s, 15m)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub project: ProjectFlags,

    /// Print JSON, for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Default)]
pub struct JsonFlag {
    /// Print JSON, for scripts: the result on standard output, progress and errors as one JSON
    /// object a line on standard error (the README's "JSON output")
    #[arg(long)]
    pub json: bool,
}

/// `90s`, `15m`, `1h`, or a number of seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("expected a duration such as 90s, 15m or 1h, not {text:?}")),
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 => Ok(std::time::Duration::from_secs(n * seconds)),
        _ => Err(format!("expected a duration such as 90s, 15m or 1h, not {text:?}")),
    }
}

const AIRFLOW_HELP: &str = "Examples:
  devflow airflow -- dags list
  devflow airflow -- tasks test etl_daily extract 2025-01-01
  devflow airflow -c dag-processor -- dags list-import-errors
Interactive (a terminal) when standard input is one; the exit code is the command's own.";

#[derive(Debug, Args)]
pub struct AirflowArgs {
    /// The component whose pod runs the command
    #[arg(long, short = 'c', default_value = "scheduler")]
    pub component: String,

    /// The Airflow CLI's arguments, after `--`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// scheduler, dag-processor, api-server, triggerer, worker, … [default: scheduler]
    #[arg(default_value = "scheduler")]
    pub component: String,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Print the URL instead of opening a browser
    #[arg(long)]
    pub print: bool,
}

const DB_HELP: &str = "Snapshots are pg_dump archives (custom format) in devflow's state folder for the project,
readable only by you; `devflow down` removes them with the rest of the state.
  devflow db snapshot before-upgrade     take one (a name is made from the time if you give none)
  devflow db list                        what there is, with size and Airflow version
  devflow db restore before-upgrade      Airflow's components stop, the database is replaced, they start again
  devflow db import prod-sanitised.dump  the same with a dump taken elsewhere (`pg_dump -Fc`)
  devflow db reset                       an empty database, migrated (its runs and settings go)
  devflow db seed --runs 5000            add DAG runs, to time a migration on a database of some size";

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Dump the database into a snapshot (prints its size and the time it took).
    Snapshot(DbSnapshotArgs),
    /// Replace the database with a snapshot; Airflow's components are stopped meanwhile.
    Restore(DbNameArgs),
    /// List the snapshots.
    List(JsonFlag),
    /// Delete a snapshot.
    Delete(DbNameArgs),
    /// Replace the database with a dump taken elsewhere (`pg_dump --format=custom`), e.g. a
    /// sanitised copy of production's.
    Import(DbImportArgs),
    /// Replace the database with an empty one and migrate it (as `up` does: the chart's
    /// migration and create-user jobs run again); the snapshots stay.
    Reset(YesFlag),
    /// Fill the database with DAG runs (and their task instances) of the project's DAGs, made
    /// by Airflow's own models in the scheduler's pod: a migration timed on a realistic size.
    Seed(DbSeedArgs),
}

#[derive(Debug, Args)]
pub struct YesFlag {
    /// Do it without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct DbSeedArgs {
    /// How many DAG runs to make, spread over the DAGs Airflow has parsed
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub runs: u32,

    /// Print what was made as JSON, for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DbSnapshotArgs {
    /// The snapshot's name [default: snap-<UTC date>-<time>]
    pub name: Option<String>,

    /// Print the snapshot as JSON, for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DbNameArgs {
    /// The snapshot's name (`devflow db list` shows them)
    pub name: String,

    /// Print progress events and the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DbImportArgs {
    /// The dump file (`pg_dump --format=custom`)
    pub file: PathBuf,

    /// Print progress events and the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Create or update the connections, variables and pools a YAML file lists (idempotent;
    /// secrets are never printed).
    #[command(after_help = SETTINGS_HELP)]
    Import(SettingsImportArgs),
}

const SETTINGS_HELP: &str = "The file (every section optional):
  connections:
    warehouse:                     # the connection id
      conn_type: postgres
      host: db.internal
      port: 5432
      login: etl
      password: s3cret             # or any other connection field: schema, extra (a mapping or JSON text)
  variables:
    env: dev
    limits: {rows: 1000}           # a mapping or list is stored as JSON
  pools:
    heavy: {slots: 2, description: big jobs}
A second import of the same file changes nothing and says so.";

#[derive(Debug, Args)]
pub struct SettingsImportArgs {
    /// The YAML file
    pub file: PathBuf,

    /// Print what was done as JSON, for scripts
    #[arg(long)]
    pub json: bool,
}

/// The settings a user can give on the command line as well as in devflow.toml. Flags win over the
/// file; `--values` and `--set` are added after the file's own.
#[derive(Debug, Args, Default, Clone)]
pub struct ProjectFlags {
    /// Where the cluster runs [default: devflow.toml's, else kind]
    #[arg(long, value_enum)]
    pub provider: Option<Provider>,

    /// A built-in profile (local, celery, kubernetes, airflow2) or a path to a profile YAML file
    /// [default: devflow.toml's, else local]
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,

    /// Your production Helm values, layered under devflow's laptop overlay (repeatable; later
    /// files win)
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,

    /// An existing cluster's kube context [default: devflow.toml's `context`]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// The namespace devflow owns in an existing cluster [default: devflow.toml's, else
    /// devflow-<user>-<project>]
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,

    /// The Airflow UI's port on 127.0.0.1 [default: devflow.toml's `ui_port`, else 8080]
    #[arg(long, value_name = "PORT")]
    pub ui_port: Option<u16>,
}

impl ProjectFlags {
    /// The flags as the project's settings, with the `--set` flags of the command that has them.
    pub fn settings(&self, set: &[String]) -> config::Flags {
        config::Flags {
            provider: self.provider,
            context: self.context.clone(),
            namespace: self.namespace.clone(),
            ui_port: self.ui_port,
            profile: self.profile.clone(),
            values: self.values.clone(),
            set: set.to_vec(),
            ..config::Flags::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub project: ProjectFlags,

    /// The project's name, which names the cluster [default: the folder's name, made
    /// cluster-safe]
    #[arg(long)]
    pub name: Option<String>,

    /// Overwrite an existing devflow.toml (dags/ is never touched when it exists)
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub project: ProjectFlags,

    /// Override one chart value, e.g. `--set workers.replicas=2`; VALUE is read as YAML, KEY is
    /// dotted (escape a literal dot as `\.`) (repeatable; applied last)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Print only one part
    #[arg(long, value_enum, conflicts_with = "explain")]
    pub only: Option<RenderPart>,

    /// Print the parity report: every chart value devflow changes from your production values,
    /// the production value, the laptop value and why
    #[arg(long)]
    pub explain: bool,

    /// Print JSON instead of YAML and text, for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderPart {
    /// The kind or k3d config file, exactly as `up` passes it to the tool
    Cluster,
    /// The merged Helm values, exactly as `up` passes them to Helm
    Values,
    /// The Kubernetes objects devflow applies itself (namespace, database, DAG volume)
    Manifests,
    /// The ordered steps of `up`, as the commands they will run
    Plan,
}
