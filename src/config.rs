//! The project file, `devflow.toml`, and the settings resolved from it and the command line before
//! any work starts. Every mistake in the file is reported with its file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::cli::ProjectFlags;
use crate::profile::ProfileRef;
use crate::values::{self, Value};

pub const FILE_NAME: &str = "devflow.toml";

/// k3d prefixes container names and refuses cluster names longer than this; kind accepts it too.
pub const MAX_NAME_LEN: usize = 32;

pub const DEFAULT_UI_PORT: u16 = 8080;
pub const DEFAULT_PROFILE: &str = "local";
pub const MAX_WORKERS: u8 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Kubernetes in Docker (kubernetes-sigs/kind)
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
        self.laptop().is_some()
    }

    /// The tool that makes the cluster in Docker, unless the cluster already exists.
    pub fn laptop(self) -> Option<Laptop> {
        match self {
            Provider::Kind => Some(Laptop::Kind),
            Provider::K3d => Some(Laptop::K3d),
            Provider::Existing => None,
        }
    }
}

/// A provider whose cluster devflow makes in Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Laptop {
    Kind,
    K3d,
}

impl fmt::Display for Laptop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Laptop::Kind => "kind",
            Laptop::K3d => "k3d",
        })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
}

/// The project: devflow.toml (or the defaults) merged with the command-line flags, checked, with
/// every path absolute. Nothing here has touched Docker, the network or a cluster.
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
    pub existing: Option<Existing>,
    pub delivery: Delivery,
    /// The Kubernetes minor version asked for, if any; the plan picks the pinned image.
    pub kubernetes: Option<String>,
    pub workers: u8,
    pub ui_port: u16,
    pub profile: ProfileRef,
    pub chart_version: Option<String>,
    /// Where the chart comes from: None for the Apache Airflow repository; else a local chart
    /// (folder or .tgz, made absolute) or an `oci://` reference.
    pub chart: Option<String>,
    pub airflow_version: Option<String>,
    pub image: Option<String>,
    pub executor: Option<String>,
    pub values_files: Vec<PathBuf>,
    /// Chart value overrides in the order they apply: [airflow.config], [airflow.set], then --set.
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
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

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    name: Option<Spanned<String>>,
    dags: Option<Spanned<String>>,
    plugins: Option<Spanned<String>>,
    requirements: Option<Spanned<String>>,
    #[serde(default)]
    cluster: ClusterTable,
    #[serde(default)]
    airflow: AirflowTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterTable {
    provider: Option<Provider>,
    kubernetes: Option<Spanned<String>>,
    workers: Option<Spanned<u8>>,
    ui_port: Option<Spanned<u16>>,
    context: Option<Spanned<String>>,
    namespace: Option<Spanned<String>>,
    dag_delivery: Option<Delivery>,
    storage_class: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AirflowTable {
    profile: Option<String>,
    chart_version: Option<String>,
    chart: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    executor: Option<Spanned<String>>,
    #[serde(default)]
    values: Vec<Spanned<String>>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    config: std::collections::BTreeMap<String, Spanned<toml::Table>>,
}

// ---------------------------------------------------------------------------------------------
// Finding and reading the project.

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

/// Reads the project at or above `cwd` and resolves it with the flags.
pub fn load(cwd: &Path, flags: &ProjectFlags, set_flags: &[String]) -> Result<Project, Error> {
    let (root, file) = find_root(cwd);
    let text = match &file {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|io| Error::Read { path: path.display().to_string(), io })?
        }
        None => String::new(),
    };
    let source = Source { name: FILE_NAME.to_string(), text: &text };
    let project_file = if file.is_some() { source.parse()? } else { ProjectFile::default() };
    resolve(cwd, root, file, project_file, &source, flags, set_flags)
}

/// The text of devflow.toml, to turn a byte span into a line and column.
struct Source<'a> {
    name: String,
    text: &'a str,
}

impl Source<'_> {
    fn at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Error {
        let (line, column) = line_column(self.text, span.start);
        Error::At { file: self.name.clone(), line, column, message: message.into() }
    }

    fn parse(&self) -> Result<ProjectFile, Error> {
        let deserializer = toml::Deserializer::parse(self.text)
            .map_err(|e| self.at(e.span().unwrap_or(0..0), format!("this is not valid TOML: {}", e.message())))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = key_path(&e.path().to_string());
            let inner = e.into_inner();
            self.at(inner.span().unwrap_or(0..0), describe_serde_error(&path, inner.message()))
        })
    }
}

pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `cluster.ui_port.$__serde_spanned_private_value` → `cluster.ui_port`.
fn key_path(path: &str) -> String {
    path.split('.').filter(|s| !s.starts_with("$__")).collect::<Vec<_>>().join(".")
}

/// Turns serde's wording (fields, variants, Rust types) into the user's (keys, values, numbers).
/// `path` is the dotted key the message is about, empty when it is not known.
pub fn describe_serde_error(path: &str, message: &str) -> String {
    let (table, key) = match path.rsplit_once('.') {
        Some((table, key)) => (format!("in [{table}]"), key),
        None => ("at the top level".to_string(), path),
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (unknown, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let choices = backticked(expected);
        let mut out = format!("unknown key `{unknown}` {table}");
        if let Some(near) = nearest(unknown, choices.iter().map(String::as_str)) {
            out.push_str(&format!("; did you mean `{near}`?"));
        }
        out.push_str(&format!("\n  expected one of: {}", choices.join(", ")));
        return out;
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (unknown, expected) = rest.split_once('`').unwrap_or((rest, ""));
        return format!("`{key}` cannot be `{unknown}`\n  expected one of: {}", backticked(expected).join(", "));
    }
    let friendly = message
        .replace("expected u16", "expected a whole number from 1 to 65535")
        .replace("expected u8", "expected a whole number")
        .replace("expected a sequence", "expected a list")
        .replace("expected a map", "expected a table")
        .replace("invalid type: ", "")
        .replace("invalid value: ", "");
    format!("`{key}` {table}: {friendly}")
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The closest of `choices` to `word`, when it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, choices: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    choices
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------------
// Resolution: file + flags → Project.

fn resolve(
    cwd: &Path,
    root: PathBuf,
    file: Option<PathBuf>,
    pf: ProjectFile,
    src: &Source<'_>,
    flags: &ProjectFlags,
    set_flags: &[String],
) -> Result<Project, Error> {
    let name = match &pf.name {
        Some(name) => {
            check_cluster_name(name.get_ref()).map_err(|why| src.at(name.span(), format!("`name` {why}")))?;
            name.get_ref().clone()
        }
        None => name_from_folder(&root)?,
    };

    let dags = folder(&root, pf.dags.as_ref(), "dags", src, file.is_some())?;
    let plugins = {
        let path = root.join(pf.plugins.as_ref().map_or("plugins", |p| p.get_ref().as_str()));
        if let (Some(p), false) = (&pf.plugins, path.is_dir()) {
            let what = if path.exists() { "is not a folder" } else { "does not exist" };
            return Err(src.at(
                p.span(),
                format!(
                    "`plugins` = {:?} {what} ({})\n  create the folder, or remove `plugins` (devflow then mounts plugins/ when it exists)",
                    p.get_ref(),
                    path.display()
                ),
            ));
        }
        path.is_dir().then_some(path)
    };
    let requirements = root.join(pf.requirements.as_ref().map_or("requirements.txt", |p| p.get_ref().as_str()));

    let provider = flags.provider.or(pf.cluster.provider).unwrap_or(Provider::Kind);
    let existing = existing(&pf.cluster, provider, &name, src)?;
    let delivery = delivery(&pf.cluster, provider)?;
    if provider == Provider::K3d && delivery == Delivery::Mount {
        check_k3d_mount_source(&dags)?;
        if let Some(p) = &plugins {
            check_k3d_mount_source(p)?;
        }
    }

    let workers = match &pf.cluster.workers {
        Some(w) if *w.get_ref() > MAX_WORKERS => {
            return Err(src.at(
                w.span(),
                format!("`workers` = {} is more than a laptop cluster holds\n  expected 0 to {MAX_WORKERS} extra worker nodes (each is a Docker container running a kubelet)", w.get_ref()),
            ));
        }
        Some(w) => *w.get_ref(),
        None => 0,
    };
    let ui_port = match &pf.cluster.ui_port {
        Some(p) if *p.get_ref() == 0 => {
            return Err(
                src.at(p.span(), "`ui_port` cannot be 0\n  expected a port from 1 to 65535 on 127.0.0.1, e.g. 8080")
            );
        }
        Some(p) => *p.get_ref(),
        None => DEFAULT_UI_PORT,
    };

    let chart = match &pf.airflow.chart {
        Some(c) if c.get_ref().starts_with("oci://") => Some(c.get_ref().clone()),
        Some(c) => {
            let path = root.join(c.get_ref());
            if !path.exists() {
                return Err(src.at(
                    c.span(),
                    format!(
                        "`chart` = {:?} does not exist ({})\n  expected a chart folder or .tgz (relative to {FILE_NAME}) or an oci:// reference; remove the line to use the Apache Airflow repository",
                        c.get_ref(),
                        path.display()
                    ),
                ));
            }
            Some(path.display().to_string())
        }
        None => None,
    };

    let mut values_files = Vec::new();
    for v in &pf.airflow.values {
        let path = root.join(v.get_ref());
        if !path.is_file() {
            return Err(src.at(
                v.span(),
                format!(
                    "values file {:?} does not exist ({})\n  fix the path (relative to {FILE_NAME}) or remove it from `values`",
                    v.get_ref(),
                    path.display()
                ),
            ));
        }
        values_files.push(path);
    }
    for v in &flags.values {
        values_files.push(values_flag(cwd, v)?);
    }

    let mut overrides = Vec::new();
    for (section, keys) in &pf.airflow.config {
        for (key, value) in keys.get_ref() {
            if matches!(value, toml::Value::Table(_) | toml::Value::Array(_)) {
                return Err(src.at(
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
    for (key, value) in &pf.airflow.set {
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

    let executor = pf.airflow.executor.as_ref().map(|e| {
        check_executor(e.get_ref()).map_err(|why| src.at(e.span(), why))?;
        Ok::<_, Error>(e.get_ref().clone())
    });
    let image = pf.airflow.image.as_ref().map(|i| {
        check_image(i.get_ref()).map_err(|why| src.at(i.span(), why))?;
        Ok::<_, Error>(i.get_ref().clone())
    });
    let airflow_version = pf.airflow.version.as_ref().map(|v| {
        check_airflow_version(v.get_ref()).map_err(|why| src.at(v.span(), why))?;
        Ok::<_, Error>(v.get_ref().clone())
    });

    Ok(Project {
        name,
        dags,
        plugins,
        requirements,
        provider,
        existing,
        delivery,
        kubernetes: pf.cluster.kubernetes.map(Spanned::into_inner),
        workers,
        ui_port,
        // A profile file named on the command line is relative to where the user stands; one
        // named in devflow.toml to the project.
        profile: match (&flags.profile, &pf.airflow.profile) {
            (Some(flag), _) => ProfileRef::new(flag, cwd),
            (None, Some(file)) => ProfileRef::new(file, &root),
            (None, None) => ProfileRef::new(DEFAULT_PROFILE, &root),
        },
        chart_version: pf.airflow.chart_version,
        chart,
        airflow_version: airflow_version.transpose()?,
        image: image.transpose()?,
        executor: executor.transpose()?,
        values_files,
        overrides,
        root,
        file,
    })
}

/// `provider = "existing"` needs the context of the cluster; the other providers make their own.
fn existing(
    table: &ClusterTable,
    provider: Provider,
    project: &str,
    src: &Source<'_>,
) -> Result<Option<Existing>, Error> {
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
    let for_laptops = [
        ("workers", table.workers.as_ref().map(Spanned::span)),
        ("kubernetes", table.kubernetes.as_ref().map(Spanned::span)),
    ];
    if let Some((key, Some(span))) = for_laptops.into_iter().find(|(_, s)| s.is_some()) {
        return Err(src.at(
            span,
            format!("`{key}` shapes a cluster devflow makes; with `provider = \"existing\"` the cluster is already there\n  remove `{key}`"),
        ));
    }
    let Some(context) = &table.context else {
        return Err(Error::Setting {
            message: format!(
                "{FILE_NAME}: `provider = \"existing\"` needs the kube context of the cluster\n  add `context = \"<name>\"` to [cluster] (`kubectl config get-contexts` lists them)"
            ),
        });
    };
    if context.get_ref().trim().is_empty() {
        return Err(src.at(
            context.span(),
            "`context` is empty\n  give the name of a kube context (`kubectl config get-contexts` lists them)",
        ));
    }
    let namespace = match &table.namespace {
        Some(ns) => {
            check_namespace(ns.get_ref()).map_err(|why| src.at(ns.span(), format!("`namespace` {why}")))?;
            ns.get_ref().clone()
        }
        None => default_namespace(&std::env::var("USER").unwrap_or_default(), project),
    };
    let storage_class = match &table.storage_class {
        Some(class) if class.get_ref().trim().is_empty() => {
            return Err(src.at(class.span(), "`storage_class` is empty\n  name a StorageClass (`kubectl get storageclass`), or remove the line for the cluster's default"));
        }
        Some(class) => Some(class.get_ref().clone()),
        None => None,
    };
    Ok(Some(Existing { context: context.get_ref().clone(), namespace, storage_class }))
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

/// `devflow-<user>-<project>`: one namespace per developer and project on a shared cluster.
pub fn default_namespace(user: &str, project: &str) -> String {
    let user: String = user.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let user = user.trim_matches('-');
    let user = if user.is_empty() { "dev" } else { user };
    // A namespace is a DNS label: 63 characters at most; the project name is at most 32.
    let room = 63 - "devflow-".len() - 1 - project.len();
    let user = user[..user.len().min(room)].trim_end_matches('-');
    format!("devflow-{user}-{project}")
}

fn check_namespace(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a Kubernetes namespace name\n  expected lowercase letters, digits and `-`, at most 63, starting and ending with a letter or digit"
        ))
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

/// The DAG folder: it must exist, because the cluster mounts it.
fn folder(
    root: &Path,
    setting: Option<&Spanned<String>>,
    default: &str,
    src: &Source<'_>,
    has_file: bool,
) -> Result<PathBuf, Error> {
    let path = root.join(setting.map_or(default, |s| s.get_ref().as_str()));
    if path.is_dir() {
        return Ok(path);
    }
    let what = if path.exists() { "is not a folder" } else { "does not exist" };
    Err(match setting {
        Some(s) => src.at(
            s.span(),
            format!(
                "`dags` = {:?} {what} ({})\n  point `dags` at the folder that holds your DAG files",
                s.get_ref(),
                path.display()
            ),
        ),
        None if has_file => Error::Setting {
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

/// k3d reads volumes as `SRC:DEST[:MODE]` and expands `$VAR` in its config file, with no escape.
fn check_k3d_mount_source(path: &Path) -> Result<(), Error> {
    let text = path.to_string_lossy();
    if let Some(c) = text.chars().find(|c| matches!(c, ':' | '$' | ',')) {
        return Err(Error::Setting {
            message: format!(
                "k3d cannot mount {text}: its path contains `{c}`, which k3d's volume syntax (SRC:DEST, $VAR expansion) cannot carry\n  move the project to a path without `:`, `$` or `,`, or use `provider = \"kind\"`"
            ),
        });
    }
    Ok(())
}

/// The cluster name is a DNS-1123 label, short enough for k3d.
pub fn check_cluster_name(name: &str) -> Result<(), String> {
    let valid_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ends_ok =
        name.starts_with(|c: char| c.is_ascii_alphanumeric()) && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.is_empty() || !valid_chars || !ends_ok {
        let suggestion = sanitize_name(name);
        let hint = if suggestion.is_empty() { String::new() } else { format!(", e.g. {suggestion:?}") };
        return Err(format!(
            "= {name:?} cannot be a cluster name\n  expected lowercase letters, digits and `-`, starting and ending with a letter or digit{hint}"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "= {name:?} is {} characters long\n  expected at most {MAX_NAME_LEN} (k3d's limit for a cluster name), e.g. {:?}",
            name.len(),
            sanitize_name(name)
        ));
    }
    Ok(())
}

/// A folder name made into a cluster name: lowercase, runs of other characters become `-`, cut to
/// k3d's length. Empty when nothing usable is left.
pub fn sanitize_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    out[..out.len().min(MAX_NAME_LEN)].trim_end_matches('-').to_string()
}

pub fn name_from_folder(root: &Path) -> Result<String, Error> {
    let folder = root.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let name = sanitize_name(&folder);
    if name.is_empty() {
        return Err(Error::Setting {
            message: format!(
                "the folder name {folder:?} cannot become a cluster name (no letters or digits)\n  set `name = \"my-project\"` in {FILE_NAME} (run `devflow init` to write one)"
            ),
        });
    }
    Ok(name)
}

const KNOWN_EXECUTORS: [&str; 6] = [
    "LocalExecutor",
    "CeleryExecutor",
    "KubernetesExecutor",
    "CeleryKubernetesExecutor",
    "LocalKubernetesExecutor",
    "EdgeExecutor",
];

/// `executor` is one executor or a comma list (Airflow 3); a dotted path names a custom class.
pub fn check_executor(executor: &str) -> Result<(), String> {
    for part in executor.split(',') {
        let part = part.trim();
        if part.contains('.') && part.ends_with("Executor") || KNOWN_EXECUTORS.contains(&part) {
            continue;
        }
        let near = nearest(part, KNOWN_EXECUTORS).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
        return Err(format!(
            "`executor` = {executor:?}: `{part}` is not an executor{near}\n  expected one of {} (or a comma list of them, or a custom class as module.path.NameExecutor)",
            KNOWN_EXECUTORS.join(", ")
        ));
    }
    Ok(())
}

/// An image reference must name its tag or digest: `latest` would drift away from production.
pub fn check_image(image: &str) -> Result<(), String> {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.is_empty() || image.contains(char::is_whitespace) || !(last.contains(':') || image.contains('@')) {
        return Err(format!(
            "`image` = {image:?} has no tag\n  expected REPOSITORY:TAG or REPOSITORY@sha256:DIGEST, e.g. \"registry.example.com/data/airflow:2025.11.1\""
        ));
    }
    Ok(())
}

/// An Airflow version is MAJOR.MINOR.PATCH, 2.11 or later (the chart's floor).
pub fn check_airflow_version(version: &str) -> Result<(), String> {
    match parse_version(version) {
        Some(_) if supported_airflow_major(version).is_some() => Ok(()),
        Some(_) => Err(format!(
            "`version` = {version:?} is not supported\n  the Airflow chart 1.22 runs Airflow 2.11 and later: use 2.11.x or 3.x"
        )),
        None => Err(format!(
            "`version` = {version:?} is not an Airflow version\n  expected MAJOR.MINOR.PATCH, e.g. \"3.2.2\""
        )),
    }
}

/// The major version of an Airflow the chart runs (2.11 and later, 3.x), or None. `2.11` without
/// a patch counts, as the chart accepts it.
pub fn supported_airflow_major(version: &str) -> Option<u32> {
    let parts: Vec<u32> = version.split('.').map_while(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [2, minor, ..] if *minor >= 11 => Some(2),
        [3, _, ..] => Some(3),
        _ => None,
    }
}

pub fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

/// `--set KEY=VALUE`, VALUE read as YAML (so `2` is a number, `true` a boolean, `[a, b]` a list).
pub fn parse_set_flag(arg: &str) -> Result<Override, Error> {
    let bad = |why: String| Error::Setting { message: format!("--set {arg:?}: {why}") };
    let (key, raw) =
        arg.split_once('=').ok_or_else(|| bad("expected KEY=VALUE, e.g. --set workers.replicas=2".into()))?;
    let path = values::Path::parse(key).map_err(bad)?;
    let value = values::from_yaml_str(raw).map_err(|e| bad(format!("the value is not YAML: {e}")))?;
    Ok(Override { path, value, origin: "--set".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_become_cluster_names() {
        assert_eq!(sanitize_name("My_Project.v2"), "my-project-v2");
        assert_eq!(sanitize_name("--data--pipelines--"), "data-pipelines");
        assert_eq!(sanitize_name("___"), "");
        assert_eq!(sanitize_name("Ünïcode Täst"), "n-code-t-st");
        let long = sanitize_name("an-extremely-long-project-name-for-a-data-team");
        assert!(long.len() <= MAX_NAME_LEN && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn line_and_column_count_from_one() {
        assert_eq!(line_column("a = 1\nbb = 2\n", 6), (2, 1));
        assert_eq!(line_column("a = 1\nbb = 2\n", 11), (2, 6));
    }

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        assert_eq!(nearest("provder", ["provider", "workers"]), Some("provider"));
        assert_eq!(nearest("zzz", ["provider", "workers"]), None);
    }

    #[test]
    fn the_default_namespace_is_a_dns_label_of_the_user_and_the_project() {
        assert_eq!(default_namespace("alice", "etl"), "devflow-alice-etl");
        assert_eq!(default_namespace("Alice.Smith", "etl"), "devflow-alice-smith-etl");
        assert_eq!(default_namespace("", "etl"), "devflow-dev-etl");
        let long = default_namespace(&"x".repeat(80), &"p".repeat(32));
        assert_eq!(long.len(), 63, "{long}");
        assert!(check_namespace(&long).is_ok() && check_namespace("Team_A").is_err());
    }
}
