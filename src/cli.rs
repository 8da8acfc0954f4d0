//! Every command-line type in one place: what a user can type, and nothing about doing it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Provider;

#[derive(Debug, Parser)]
#[command(
    name = "devflow",
    version,
    about = "Production-parity Apache Airflow on your laptop: a kind or k3d cluster, the official Helm chart, your DAGs hot-reloaded.",
    long_about = None,
    after_help = "A first session:\n  devflow init                  write devflow.toml and dags/ (with an example DAG)\n  devflow render                see the cluster config, Helm values and steps `up` will use\n  devflow render --values deploy/prod-values.yaml --explain\n                                what devflow changes in your production values, and why\n\nWithout a devflow.toml, commands use defaults: the project is named after the folder and its DAGs are in ./dags.",
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented devflow.toml here, and dags/ with an example DAG if there is none.
    Init(InitArgs),
    /// Print what `up` will create: the cluster config, the Helm values, devflow's own manifests and the steps.
    Render(RenderArgs),
    /// Create the cluster, install Airflow and watch the project (not built yet).
    Up(Unbuilt),
    /// Remove everything devflow created, and nothing else (not built yet).
    Down(Unbuilt),
    /// Pause the cluster to free memory, keeping its database (not built yet).
    Stop(Unbuilt),
    /// Resume a stopped cluster and wait until Airflow is ready (not built yet).
    Start(Unbuilt),
    /// Show the cluster, each Airflow component, the URL and the DAG mount (not built yet).
    Status(Unbuilt),
    /// Check Docker, kind/k3d, helm, ports and the DAG folder, with a fix for each problem (not built yet).
    Doctor(Unbuilt),
    /// Report every saved DAG file as Airflow parses it (not built yet).
    Watch(Unbuilt),
    /// Show the logs of one or all Airflow components (not built yet).
    Logs(Unbuilt),
    /// Run the Airflow CLI inside the cluster: `devflow airflow -- dags list` (not built yet).
    Airflow(Unbuilt),
    /// Open a shell in an Airflow component (not built yet).
    Shell(Unbuilt),
    /// Open the Airflow UI in a browser (not built yet).
    Open(Unbuilt),
    /// Print the Airflow admin user name and password (not built yet).
    Creds(Unbuilt),
}

impl Command {
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
            Command::Doctor(_) => "doctor",
            Command::Watch(_) => "watch",
            Command::Logs(_) => "logs",
            Command::Airflow(_) => "airflow",
            Command::Shell(_) => "shell",
            Command::Open(_) => "open",
            Command::Creds(_) => "creds",
        }
    }
}

/// A command that exists in the product but not yet in this build. It takes whatever follows so
/// that a user trying, say, `devflow up --dry-run` learns that `up` is not built rather than
/// getting a usage error about a flag.
#[derive(Debug, Args)]
pub struct Unbuilt {
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
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
