//! The project resolved once: `devflow.toml` (or the defaults), the command-line flags, the
//! environment and the files they name (the profile, the production values) read and checked
//! into one [`Project`], every path absolute, before any work starts. Every mistake in the file is
//! reported with its file, line and column. Nothing here touches Docker, the network or a cluster.

mod assignments;
mod checks;
pub mod edit;
mod env_vars;
mod file;
pub mod production;
mod standin_values;
pub mod template;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use checks::{
    check_airflow_version, check_chart_version, check_executor, check_image, check_k3d_mount_source, check_namespace,
    default_namespace, parse_set_flag,
};
pub use checks::{check_cluster_name, name_from_folder};
use file::{AirflowTable, ClusterTable, ProjectFile, Source};

use crate::env::Env;
use crate::profile::{self, Profile, ProfileRef};
use crate::values::{self, Value};

pub const FILE_NAME: &str = "devflow.toml";
pub use standin_values::FILE as STANDIN_VALUES;

/// k3d prefixes container names and refuses cluster names longer than this; kind accepts it too.
pub const MAX_NAME_LEN: usize = 32;

pub const DEFAULT_UI_PORT: u16 = 8080;
pub const DEFAULT_PROFILE: &str = "local";
pub const MAX_WORKERS: u8 = 8;
/// Said once by every command whose profile runs Airflow 2 (FACTS.md: end of life 2026-04-22).
pub const AIRFLOW2_END_OF_LIFE: &str = "Airflow 2 reached end of life in April 2026 (no more fixes, security ones included); `devflow upgrade --airflow 3.x --profile local --rehearse` rehearses the move to Airflow 3 on this project's database";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Kubernetes in Docker (kubernetes-sigs/kind)
    #[default]
    Kind,
    /// k3s in Docker (k3d-io/k3d)
    K3d,
    /// A cluster you already have (EKS, GKE, AKS, a shared dev cluster), in a namespace of its own
    Existing,
}

/// How the DAG folder reaches the Airflow pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// The folder is mounted into the cluster's node containers (kind and k3d): zero copy.
    Mount,
    /// devflow copies the folder into a volume in the cluster through exec, file by file as it changes.
    Push,
}

/// The tool that makes a cluster of Docker containers (its nodes) on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterTool {
    Kind,
    K3d,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Kind => "kind",
            Provider::K3d => "k3d",
            Provider::Existing => "existing",
        }
    }

    /// Whether devflow makes (and so may remove) the cluster itself.
    pub fn makes_cluster(self) -> bool {
        self.cluster_tool().is_some()
    }

    /// The tool that makes the cluster in Docker, unless the cluster already exists.
    pub fn cluster_tool(self) -> Option<ClusterTool> {
        match self {
            Provider::Kind => Some(ClusterTool::Kind),
            Provider::K3d => Some(ClusterTool::K3d),
            Provider::Existing => None,
        }
    }
}

impl fmt::Display for ClusterTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClusterTool::Kind => "kind",
            ClusterTool::K3d => "k3d",
        })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Delivery {
    /// How the DAG folder reaches the pods, in a status line: `mounted`, `pushed by devflow`.
    pub fn described(self) -> &'static str {
        match self {
            Delivery::Mount => "mounted",
            Delivery::Push => "pushed by devflow",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mistake at a known place in a file the user wrote.
    #[error("{file}:{line}:{column}: {message}")]
    At { file: String, line: usize, column: usize, message: String },
    /// A mistake in a setting that has no line: a flag, a folder, a name taken from the folder.
    #[error("{message}")]
    Setting { message: String },
    #[error("cannot read {path}: {io}")]
    Read { path: String, io: std::io::Error },
    #[error(transparent)]
    Profile(#[from] profile::Error),
    /// The chart version's values schema is not in devflow's cache yet: the command edge pulls
    /// the chart (`session::resolve`) and resolves again.
    #[error("the values schema of the Airflow chart {version} is not in devflow's cache ({})", cache.display())]
    ChartSchemaMissing { version: String, oci: Option<String>, cache: PathBuf },
    #[error(
        "the values schema of the Airflow chart in devflow's cache is broken: {why}\n  remove the file; devflow pulls the chart again"
    )]
    ChartSchemaBroken { why: String },
}

impl crate::error::Kind for Error {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            Error::Read { .. } => crate::error::ErrorKind::Environment,
            Error::Profile(e) => e.kind(),
            Error::ChartSchemaMissing { .. } | Error::ChartSchemaBroken { .. } => crate::error::ErrorKind::Environment,
            _ => crate::error::ErrorKind::Input,
        }
    }
}

/// The settings given on the command line: they win over devflow.toml; `values` and `set` are
/// added after the file's own.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub provider: Option<Provider>,
    /// `--context`, `--namespace`: an existing cluster's, winning over devflow.toml's.
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// `--ui-port`, winning over devflow.toml's.
    pub ui_port: Option<u16>,
    /// A built-in profile's name or a profile file, relative to where devflow runs.
    pub profile: Option<String>,
    pub values: Vec<PathBuf>,
    /// `--set KEY=VALUE`, applied last.
    pub set: Vec<String>,
    /// `upgrade --airflow`, `--chart`: the versions to plan for, winning over devflow.toml's.
    pub airflow_version: Option<String>,
    pub chart_version: Option<String>,
}

/// The project: devflow.toml (or the defaults) merged with the command-line flags, checked, with
/// every path absolute and the files it names read. Nothing here has touched Docker, the network
/// or a cluster.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// The devflow.toml read, or None when the project runs on defaults.
    pub file: Option<PathBuf>,
    pub name: String,
    pub dags: PathBuf,
    /// The plugins folder, when it exists: only an existing folder can be mounted.
    pub plugins: Option<PathBuf>,
    pub requirements: PathBuf,
    pub provider: Provider,
    /// `existing` only: the kube context of the cluster, and the namespace devflow owns in it.
    pub shared: Option<SharedCluster>,
    pub delivery: Delivery,
    /// The Kubernetes minor version asked for, if any; the plan picks the pinned image.
    pub kubernetes: Option<String>,
    pub workers: u8,
    pub ui_port: u16,
    pub profile: Profile,
    /// The chart version to install (devflow.toml's `chart_version`, `upgrade --chart`, else the
    /// embedded schema's), and its values schema.
    pub chart_version: String,
    pub chart_schema: crate::schemas::ChartSchema,
    /// Where the chart comes from: None for the Apache Airflow repository; else a local chart
    /// (folder or .tgz, made absolute) or an `oci://` reference.
    pub chart: Option<String>,
    pub airflow_version: Option<String>,
    pub image: Option<String>,
    pub executor: Option<String>,
    pub values_files: Vec<PathBuf>,
    /// The production values files, read, checked against the chart and merged in order.
    pub production: Value,
    /// The files the project's own image is built from, those that exist.
    pub image_files: ImageFiles,
    /// Chart value overrides in the order they apply: [airflow.config], [airflow.set], then --set.
    pub overrides: Vec<Override>,
    /// The values of the Secrets and ConfigMaps devflow stands in for (`.devflow/secrets.env`),
    /// by `name/key`.
    pub stand_in_values: std::collections::BTreeMap<String, String>,
    /// What the fence and the sidecar rules leave as production has it, by name (`[airflow] keep`).
    pub keep: Vec<String>,
    /// Environment variables for every Airflow pod (`.env`, then `[airflow.env]`), by name.
    pub env: std::collections::BTreeMap<String, String>,
    pub state_dir: StateDir,
}

/// A cluster devflow did not make: where it is, and the namespace devflow owns in it.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedCluster {
    pub context: String,
    pub namespace: String,
    /// The StorageClass of the pushed DAG volume; None: the cluster's default.
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: values::Path,
    pub value: Value,
    /// Where it was written, for the parity report: `devflow.toml [airflow.set]`, `--set`, ...
    pub origin: String,
}

impl Project {
    /// The secret values in the user's files and settings: production values and overrides.
    pub fn secrets(&self) -> crate::redact::Secrets {
        let mut overrides = Value::Object(values::Map::new());
        for o in &self.overrides {
            values::set(&mut overrides, &o.path, o.value.clone());
        }
        let mut secrets = crate::redact::Secrets::of(&self.production);
        secrets.extend(crate::redact::Secrets::of(&overrides));
        let stand_ins: Vec<Value> = self.stand_in_values.values().map(|v| Value::String(v.clone())).collect();
        let env = self.env.iter().map(|(name, value)| serde_json::json!({"name": name, "value": value}));
        secrets.extend(crate::redact::Secrets::of(&serde_json::json!({"env": env.collect::<Vec<_>>()})));
        secrets.extend(crate::redact::Secrets::of(
            &serde_json::json!({"extraSecrets": {"stand-ins": {"data": stand_ins}}}),
        ));
        secrets
    }
}

/// Of the files a project's own image is built from, the ones it has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageFiles {
    /// The project's own Dockerfile: it builds the image from the project folder.
    pub dockerfile: Option<PathBuf>,
    pub requirements: Option<PathBuf>,
    pub packages: Option<PathBuf>,
}

impl Project {
    /// The files whose change means a new image: requirements.txt, packages.txt, the Dockerfile.
    pub fn image_inputs(&self) -> [PathBuf; 3] {
        [self.requirements.clone(), self.root.join("packages.txt"), self.root.join("Dockerfile")]
    }
}

impl ImageFiles {
    fn find(project: &[PathBuf; 3]) -> ImageFiles {
        let existing = |path: &PathBuf| path.is_file().then(|| path.clone());
        // `init` writes requirements.txt and packages.txt empty (or only comments): an image is
        // built once they name something.
        let listing = |path: &PathBuf| {
            let text = std::fs::read_to_string(path).ok()?;
            text.lines()
                .any(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
                .then(|| path.clone())
        };
        let [requirements, packages, dockerfile] = project;
        ImageFiles {
            dockerfile: existing(dockerfile),
            requirements: listing(requirements),
            packages: listing(packages),
        }
    }
}

/// devflow's state folder of one project: what `up` has made, the generated secrets and the
/// files handed to the tools. Outside the project, so devflow never writes into the user's folders.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct StateDir {
    dir: PathBuf,
}

/// The files of a state folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFile {
    /// What `up` has made, phase by phase.
    State,
    Secrets,
    /// The Helm values with the secrets filled in (0600).
    Values,
    /// k3d reads its config from a file.
    K3dConfig,
    /// The ownership marker every node container mounts.
    OwnerMarker,
    /// The chart's workloads `db restore` scaled to 0, with their replicas, until it starts them
    /// again (so that an interrupted restore is finished by the next one).
    StoppedComponents,
    /// The last `devflow upgrade`: where `--rollback` returns.
    Upgrade,
}

impl StateFile {
    pub fn name(self) -> &'static str {
        match self {
            StateFile::State => "state.json",
            StateFile::Secrets => "secrets.json",
            StateFile::Values => "values.yaml",
            StateFile::K3dConfig => "k3d.yaml",
            StateFile::OwnerMarker => "owner",
            StateFile::StoppedComponents => "stopped-components.json",
            StateFile::Upgrade => "upgrade.json",
        }
    }
}

impl StateDir {
    /// `<base>/<name>-<hash of the root>`: two projects in folders of the same name must not
    /// share a state folder.
    pub fn of(base: &Path, root: &Path, name: &str) -> StateDir {
        let hash = root
            .to_string_lossy()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        StateDir { dir: base.join(format!("{name}-{:08x}", hash as u32)) }
    }

    /// A state folder found on disk (`devflow list`).
    pub fn at(dir: PathBuf) -> StateDir {
        StateDir { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The project's name, as the folder was named for it (`<name>-<hash>`).
    pub fn project_name(&self) -> String {
        let folder = self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match folder.rsplit_once('-') {
            Some((name, hash)) if hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_string(),
            _ => folder,
        }
    }

    pub fn file(&self, file: StateFile) -> PathBuf {
        self.dir.join(file.name())
    }
}

/// Where the project is: the nearest folder at or above `start` with a devflow.toml, else `start`
/// itself (then the project runs on defaults).
pub fn find_root(start: &Path) -> (PathBuf, Option<PathBuf>) {
    for dir in start.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            return (dir.to_path_buf(), Some(candidate));
        }
    }
    (start.to_path_buf(), None)
}

/// Reads the project at or above the working folder and resolves it with the flags. What it had to
/// assume goes to `notes`, for the user, also when it then fails.
pub fn load(env: &Env, flags: &Flags, notes: &mut Vec<String>) -> Result<Project, Error> {
    let (root, file) = find_root(&env.cwd);
    let text = match &file {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|io| Error::Read { path: path.display().to_string(), io })?
        }
        None => String::new(),
    };
    let source = Source { name: FILE_NAME.to_string(), text: &text };
    let project_file = if file.is_some() { source.parse()? } else { ProjectFile::default() };
    let origin = if file.is_some() { Origin::File } else { Origin::Defaults };
    Resolve { env, root: &root, src: &source, origin }.project(project_file, flags, file, notes)
}

/// The project an environment was made for, from what its state folder recorded, for removing it
/// when its folder is gone or now holds another project (`down --project`): its name, provider
/// and kube context, with the defaults for the rest, and a DAG folder that need not exist.
pub fn load_recorded(env: &Env, root: &Path, name: &str, provider: Provider, context: &str) -> Result<Project, Error> {
    let mut text = format!("name = {}\n[cluster]\nprovider = \"{provider}\"\n", toml::Value::from(name));
    if provider == Provider::Existing {
        text.push_str(&format!("context = {}\n", toml::Value::from(context)));
    }
    let source = Source { name: format!("the state of project `{name}`"), text: &text };
    let env = Env { cwd: root.to_path_buf(), ..env.clone() };
    Resolve { env: &env, root, src: &source, origin: Origin::Recorded }.project(
        source.parse()?,
        &Flags::default(),
        None,
        &mut Vec::new(),
    )
}

/// Where a resolution's settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// devflow.toml.
    File,
    /// No devflow.toml here or above: the defaults.
    Defaults,
    /// What a state folder recorded ([`load_recorded`]).
    Recorded,
}

/// One resolution: what every setting is checked against.
struct Resolve<'a> {
    env: &'a Env,
    root: &'a Path,
    src: &'a Source<'a>,
    origin: Origin,
}

/// What [airflow] resolves to, before the files it names are read.
struct AirflowSettings {
    chart: Option<String>,
    values_files: Vec<PathBuf>,
    overrides: Vec<Override>,
    airflow_version: Option<String>,
    chart_version: Option<String>,
    image: Option<String>,
    executor: Option<String>,
    profile: ProfileRef,
}

/// What [cluster] resolves to.
struct ClusterSettings {
    provider: Provider,
    shared: Option<SharedCluster>,
    delivery: Delivery,
    workers: u8,
    ui_port: u16,
}

impl Resolve<'_> {
    fn project(
        &self,
        pf: ProjectFile,
        flags: &Flags,
        file: Option<PathBuf>,
        notes: &mut Vec<String>,
    ) -> Result<Project, Error> {
        let name = match &pf.name {
            Some(name) => {
                check_cluster_name(name.get_ref()).map_err(|why| self.src.at(name.span(), format!("`name` {why}")))?;
                name.get_ref().clone()
            }
            None => name_from_folder(self.root)?,
        };
        let dags = self.dags(pf.dags.as_ref())?;
        let plugins = self.plugins(pf.plugins.as_ref())?;
        let requirements =
            self.root.join(pf.requirements.as_ref().map_or("requirements.txt", |p| p.get_ref().as_str()));
        let cluster = self.cluster(&pf.cluster, flags, &name, [Some(&dags), plugins.as_ref()], notes)?;
        let airflow = self.airflow(&pf.airflow, flags)?;
        if self.origin == Origin::Defaults {
            notes.push(format!(
                "no {FILE_NAME} here or above: using defaults (project `{name}`, DAGs in {}); `devflow init` writes one",
                dags.strip_prefix(&self.env.cwd).unwrap_or(&dags).display()
            ));
        }
        let profile = profile::load(&airflow.profile)?;
        if profile.airflow_major() == 2 {
            notes.push(AIRFLOW2_END_OF_LIFE.to_string());
        }
        let chart_schema = self.chart_schema(airflow.chart_version.as_deref(), airflow.chart.as_deref())?;
        let production = production::load(&airflow.values_files, &self.env.cwd, chart_schema)?;
        let stand_in_values = standin_values::read(self.root)?;
        let mut project = Project {
            stand_in_values,
            keep: pf.airflow.keep.clone(),
            env: env_vars::read(self.root, &pf.airflow.env)?,
            state_dir: StateDir::of(&self.env.state_base(), self.root, &name),
            root: self.root.to_path_buf(),
            file,
            name,
            dags,
            plugins,
            requirements,
            provider: cluster.provider,
            shared: cluster.shared,
            delivery: cluster.delivery,
            kubernetes: pf.cluster.kubernetes.map(Spanned::into_inner),
            workers: cluster.workers,
            ui_port: cluster.ui_port,
            profile,
            chart_version: chart_schema.version.to_string(),
            chart_schema,
            chart: airflow.chart,
            airflow_version: airflow.airflow_version,
            image: airflow.image,
            executor: airflow.executor,
            values_files: airflow.values_files,
            production,
            image_files: ImageFiles::default(),
            overrides: airflow.overrides,
        };
        project.image_files = ImageFiles::find(&project.image_inputs());
        Ok(project)
    }

    /// The DAG folder: it must exist, because the cluster mounts it.
    fn dags(&self, setting: Option<&Spanned<String>>) -> Result<PathBuf, Error> {
        let path = self.root.join(setting.map_or("dags", |s| s.get_ref().as_str()));
        // Removing an environment needs no DAGs, and its folder may be gone.
        if path.is_dir() || self.origin == Origin::Recorded {
            return Ok(path);
        }
        let what = if path.exists() { "is not a folder" } else { "does not exist" };
        Err(match setting {
            Some(s) => self.src.at(
                s.span(),
                format!(
                    "`dags` = {:?} {what} ({})\n  point `dags` at the folder that holds your DAG files",
                    s.get_ref(),
                    path.display()
                ),
            ),
            None if self.origin == Origin::File => Error::Setting {
                message: format!(
                    "the DAG folder {} {what}\n  create it, or set `dags = \"path/to/dags\"` in {FILE_NAME}",
                    path.display()
                ),
            },
            None => Error::Setting {
                message: format!(
                    "the DAG folder {} {what}\n  run `devflow init` here to create devflow.toml and dags/ with an example DAG",
                    path.display()
                ),
            },
        })
    }

    /// The plugins folder when it exists; one named in devflow.toml must exist.
    fn plugins(&self, setting: Option<&Spanned<String>>) -> Result<Option<PathBuf>, Error> {
        let path = self.root.join(setting.map_or("plugins", |p| p.get_ref().as_str()));
        if let (Some(p), false) = (setting, path.is_dir()) {
            let what = if path.exists() { "is not a folder" } else { "does not exist" };
            return Err(self.src.at(
                p.span(),
                format!(
                    "`plugins` = {:?} {what} ({})\n  create the folder, or remove `plugins` (devflow then mounts plugins/ when it exists)",
                    p.get_ref(),
                    path.display()
                ),
            ));
        }
        Ok(path.is_dir().then_some(path))
    }

    fn cluster(
        &self,
        table: &ClusterTable,
        flags: &Flags,
        name: &str,
        folders: [Option<&PathBuf>; 2],
        notes: &mut Vec<String>,
    ) -> Result<ClusterSettings, Error> {
        let provider = flags.provider.or(table.provider).unwrap_or_default();
        check_cluster_flags(flags, provider)?;
        let ui_port = self.ui_port(table, flags)?;
        let left_aside = ClusterTable::default();
        let table = match SharedFlags::check(flags, table, provider, notes)? {
            SharedFlags::FromFile => table,
            SharedFlags::FileIgnored => &left_aside,
        };
        let shared = shared(table, provider, name, &self.env.user, self.src, flags)?;
        let delivery = delivery(table, provider)?;
        if provider == Provider::K3d && delivery == Delivery::Mount {
            for folder in folders.into_iter().flatten() {
                check_k3d_mount_source(folder)?;
            }
        }
        let workers = match &table.workers {
            Some(w) if *w.get_ref() > MAX_WORKERS => {
                return Err(self.src.at(
                    w.span(),
                    format!("`workers` = {} is more than a laptop cluster holds\n  expected 0 to {MAX_WORKERS} extra worker nodes (each is a Docker container running a kubelet)", w.get_ref()),
                ));
            }
            Some(w) => *w.get_ref(),
            None => 0,
        };
        Ok(ClusterSettings { provider, shared, delivery, workers, ui_port })
    }

    /// `--ui-port` (checked with the other flags), else devflow.toml's, else the default; whatever
    /// the provider.
    fn ui_port(&self, table: &ClusterTable, flags: &Flags) -> Result<u16, Error> {
        Ok(match (&table.ui_port, flags.ui_port) {
            (_, Some(port)) => port,
            (Some(p), None) if *p.get_ref() == 0 => {
                return Err(self
                    .src
                    .at(p.span(), "`ui_port` cannot be 0\n  expected a port from 1 to 65535 on 127.0.0.1, e.g. 8080"));
            }
            (Some(p), None) => *p.get_ref(),
            (None, None) => DEFAULT_UI_PORT,
        })
    }

    fn airflow(&self, table: &AirflowTable, flags: &Flags) -> Result<AirflowSettings, Error> {
        let chart = self.chart(table.chart.as_ref())?;
        let values_files = self.values_files(&table.values, &flags.values)?;
        let overrides = self.overrides(table, &flags.set)?;
        let checked = |setting: &Option<Spanned<String>>, check: fn(&str) -> Result<(), String>| {
            setting
                .as_ref()
                .map(|s| check(s.get_ref()).map(|()| s.get_ref().clone()).map_err(|why| self.src.at(s.span(), why)))
                .transpose()
        };
        let airflow_version = match &flags.airflow_version {
            Some(version) => {
                check_airflow_version(version)
                    .map_err(|why| Error::Setting { message: format!("--airflow: {why}") })?;
                Some(version.clone())
            }
            None => checked(&table.version, check_airflow_version)?,
        };
        let chart_version = match &flags.chart_version {
            Some(version) => Some(version.clone()),
            None => table.chart_version.clone(),
        };
        if let Some(version) = &chart_version {
            check_chart_version(version).map_err(|message| Error::Setting { message })?;
        }
        let image = checked(&table.image, check_image)?;
        let executor = checked(&table.executor, check_executor)?;
        // A profile file named on the command line is relative to where the user stands; one
        // named in devflow.toml to the project.
        let profile = match (&flags.profile, &table.profile) {
            (Some(flag), _) => ProfileRef::new(flag, &self.env.cwd),
            (None, Some(file)) => ProfileRef::new(file, self.root),
            (None, None) => ProfileRef::new(DEFAULT_PROFILE, self.root),
        };
        Ok(AirflowSettings { chart, values_files, overrides, airflow_version, chart_version, image, executor, profile })
    }

    /// The values schema of the chart version asked for: the embedded one (also for a local
    /// chart, whose version is its own), else the one cached from that version's package.
    fn chart_schema(&self, version: Option<&str>, chart: Option<&str>) -> Result<crate::schemas::ChartSchema, Error> {
        let local = chart.is_some_and(|c| !c.starts_with("oci://"));
        let Some(version) = version.filter(|v| *v != crate::schemas::EMBEDDED_CHART && !local) else {
            return Ok(crate::schemas::ChartSchema::embedded());
        };
        let cache = self.env.chart_cache();
        match crate::schemas::chart_for(version, &cache) {
            Ok(Some(schema)) => Ok(schema),
            Ok(None) => {
                Err(Error::ChartSchemaMissing { version: version.to_string(), oci: chart.map(str::to_string), cache })
            }
            Err(why) => Err(Error::ChartSchemaBroken { why }),
        }
    }

    fn chart(&self, setting: Option<&Spanned<String>>) -> Result<Option<String>, Error> {
        let Some(c) = setting else { return Ok(None) };
        if c.get_ref().starts_with("oci://") {
            return Ok(Some(c.get_ref().clone()));
        }
        let path = self.root.join(c.get_ref());
        if !path.exists() {
            return Err(self.src.at(
                c.span(),
                format!(
                    "`chart` = {:?} does not exist ({})\n  expected a chart folder or .tgz (relative to {FILE_NAME}) or an oci:// reference; remove the line to use the Apache Airflow repository",
                    c.get_ref(),
                    path.display()
                ),
            ));
        }
        Ok(Some(path.display().to_string()))
    }

    /// devflow.toml's `values` (relative to it), then the `--values` flags (relative to where the
    /// user runs devflow).
    fn values_files(&self, listed: &[Spanned<String>], flags: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
        let mut files = Vec::new();
        for v in listed {
            let path = self.root.join(v.get_ref());
            if !path.is_file() {
                return Err(self.src.at(
                    v.span(),
                    format!(
                        "values file {:?} does not exist ({})\n  fix the path (relative to {FILE_NAME}) or remove it from `values`",
                        v.get_ref(),
                        path.display()
                    ),
                ));
            }
            files.push(path);
        }
        for v in flags {
            files.push(values_flag(&self.env.cwd, v)?);
        }
        Ok(files)
    }

    fn overrides(&self, table: &AirflowTable, set_flags: &[String]) -> Result<Vec<Override>, Error> {
        let mut overrides = Vec::new();
        for (section, keys) in &table.config {
            for (key, value) in keys.get_ref() {
                if matches!(value, toml::Value::Table(_) | toml::Value::Array(_)) {
                    return Err(self.src.at(
                        keys.span(),
                        format!("[airflow.config.{section}] `{key}` must be a string, number or boolean: airflow.cfg has no nested values"),
                    ));
                }
                overrides.push(Override {
                    path: values::Path::from_keys(["config", section.as_str(), key.as_str()]),
                    value: values::from_toml(value.clone()),
                    origin: "devflow.toml [airflow.config]".into(),
                });
            }
        }
        for (key, value) in &table.set {
            let path = values::Path::parse(key)
                .map_err(|why| Error::Setting { message: format!("{FILE_NAME} [airflow.set] key {key:?}: {why}") })?;
            overrides.push(Override {
                path,
                value: values::from_toml(value.clone()),
                origin: "devflow.toml [airflow.set]".into(),
            });
        }
        for arg in set_flags {
            overrides.push(parse_set_flag(arg)?);
        }
        Ok(overrides)
    }
}

/// `provider = "existing"` needs the context of the cluster; the other providers make their own.
/// `--context` and `--namespace` name an existing cluster's: with kind or k3d they are a mistake.
pub fn check_cluster_flags(flags: &Flags, provider: Provider) -> Result<(), Error> {
    if flags.ui_port == Some(0) {
        return Err(Error::Setting {
            message: "--ui-port cannot be 0\n  expected a port from 1 to 65535 on 127.0.0.1, e.g. 8080".into(),
        });
    }
    if provider == Provider::Existing {
        if let Some(ns) = &flags.namespace {
            check_namespace(ns).map_err(|why| Error::Setting { message: format!("--namespace {why}") })?;
        }
        return Ok(());
    }
    let misplaced = [("--context", flags.context.is_some()), ("--namespace", flags.namespace.is_some())];
    match misplaced.into_iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(Error::Setting {
            message: format!(
                "{flag} is for an existing cluster: devflow makes the {provider} cluster and its context itself\n  add `--provider existing`, or drop {flag}"
            ),
        }),
        None => Ok(()),
    }
}

/// How `--provider` and devflow.toml's [cluster] go together.
enum SharedFlags {
    /// The file's settings apply (its provider, or a flag that agrees with it).
    FromFile,
    /// `--provider` names another family than the file's `provider` line: the file's settings for its
    /// own provider (`context`, `namespace`, `workers`, …) are left aside, with a note.
    FileIgnored,
}

impl SharedFlags {
    fn check(
        flags: &Flags,
        table: &ClusterTable,
        provider: Provider,
        notes: &mut Vec<String>,
    ) -> Result<SharedFlags, Error> {
        // Only a file that names its provider is for another one; without `provider`, its
        // [cluster] settings are for whichever the flag picks.
        let Some(file) = table.provider else { return Ok(SharedFlags::FromFile) };
        let flag_differs =
            flags.provider.is_some_and(|flag| (flag == Provider::Existing) != (file == Provider::Existing));
        if !flag_differs {
            return Ok(SharedFlags::FromFile);
        }
        notes.push(format!(
            "--provider {provider}: {FILE_NAME}'s [cluster] settings for provider `{file}` are left aside (`ui_port` apart)"
        ));
        Ok(SharedFlags::FileIgnored)
    }
}

fn shared(
    table: &ClusterTable,
    provider: Provider,
    project: &str,
    user: &str,
    src: &Source<'_>,
    flags: &Flags,
) -> Result<Option<SharedCluster>, Error> {
    if provider != Provider::Existing {
        let only_existing =
            [("context", &table.context), ("namespace", &table.namespace), ("storage_class", &table.storage_class)];
        if let Some((key, Some(value))) = only_existing.into_iter().find(|(_, v)| v.is_some()) {
            return Err(src.at(
                value.span(),
                format!("`{key}` is for `provider = \"existing\"`: devflow makes the {provider} cluster and its context itself\n  remove `{key}`, or set `provider = \"existing\"` to use a cluster you already have"),
            ));
        }
        return Ok(None);
    }
    // What `devflow init` writes for kind (`workers = 0`, the default Kubernetes) shapes nothing
    // on an existing cluster: no conflict.
    let for_laptops = [
        ("workers", table.workers.as_ref().filter(|w| *w.get_ref() != 0).map(Spanned::span)),
        (
            "kubernetes",
            table.kubernetes.as_ref().filter(|k| k.get_ref() != crate::pins::DEFAULT_KUBERNETES).map(Spanned::span),
        ),
    ];
    if let Some((key, Some(span))) = for_laptops.into_iter().find(|(_, s)| s.is_some()) {
        return Err(src.at(
            span,
            format!("`{key}` shapes a cluster devflow makes; with `provider = \"existing\"` the cluster is already there\n  remove `{key}`"),
        ));
    }
    let context = match (&flags.context, &table.context) {
        (Some(flag), _) if flag.trim().is_empty() => {
            return Err(Error::Setting {
                message:
                    "--context is empty\n  give the name of a kube context (`kubectl config get-contexts` lists them)"
                        .into(),
            });
        }
        (Some(flag), _) => flag.clone(),
        (None, Some(context)) if context.get_ref().trim().is_empty() => {
            return Err(src.at(
                context.span(),
                "`context` is empty\n  give the name of a kube context (`kubectl config get-contexts` lists them)",
            ));
        }
        (None, Some(context)) => context.get_ref().clone(),
        (None, None) if flags.provider == Some(Provider::Existing) => {
            return Err(Error::Setting {
                message: "--provider existing needs the kube context of the cluster\n  add `--context NAME` (`kubectl config get-contexts` lists them)".into(),
            });
        }
        (None, None) => {
            return Err(Error::Setting {
                message: format!(
                    "{FILE_NAME}: `provider = \"existing\"` needs the kube context of the cluster\n  add `context = \"<name>\"` to [cluster] (`kubectl config get-contexts` lists them)"
                ),
            });
        }
    };
    let namespace = match (&flags.namespace, &table.namespace) {
        // Checked with the other flags.
        (Some(flag), _) => flag.clone(),
        (None, Some(ns)) => {
            check_namespace(ns.get_ref()).map_err(|why| src.at(ns.span(), format!("`namespace` {why}")))?;
            ns.get_ref().clone()
        }
        (None, None) => default_namespace(user, project),
    };
    let storage_class = match &table.storage_class {
        Some(class) if class.get_ref().trim().is_empty() => {
            return Err(src.at(class.span(), "`storage_class` is empty\n  name a StorageClass (`kubectl get storageclass`), or remove the line for the cluster's default"));
        }
        Some(class) => Some(class.get_ref().clone()),
        None => None,
    };
    Ok(Some(SharedCluster { context, namespace, storage_class }))
}

/// An existing cluster can only be pushed to; a kind or k3d cluster mounts unless told to push.
fn delivery(table: &ClusterTable, provider: Provider) -> Result<Delivery, Error> {
    match (provider, table.dag_delivery) {
        (Provider::Existing, Some(Delivery::Mount)) => Err(Error::Setting {
            message: format!(
                "{FILE_NAME}: `dag_delivery = \"mount\"` needs a cluster in Docker on this machine; an existing cluster cannot see your folders\n  remove `dag_delivery` (an existing cluster is pushed to) or use `provider = \"kind\"`"
            ),
        }),
        (Provider::Existing, _) => Ok(Delivery::Push),
        (_, Some(Delivery::Push)) if table.workers.as_ref().is_some_and(|w| *w.get_ref() > 0) => Err(Error::Setting {
            message: format!(
                "{FILE_NAME}: `dag_delivery = \"push\"` on {provider} keeps the DAG volume on one node, and `workers` adds more nodes\n  remove `workers`, or use `dag_delivery = \"mount\"`"
            ),
        }),
        (_, delivery) => Ok(delivery.unwrap_or(Delivery::Mount)),
    }
}

/// A `--values FILE` flag: the file, relative to where the user runs devflow, must exist.
pub fn values_flag(cwd: &Path, given: &Path) -> Result<PathBuf, Error> {
    let path = cwd.join(given);
    if !path.is_file() {
        return Err(Error::Setting {
            message: format!(
                "--values {}: no such file\n  give the path of a Helm values YAML file, relative to the current folder",
                given.display()
            ),
        });
    }
    Ok(path)
}
