//! The plan: from a resolved project, everything `up` will create and the steps to create it. Pure
//! and fast: nothing here touches Docker, the network or a cluster.

pub mod cluster;
pub mod command;
mod fence;
pub mod image;
mod layers;
pub mod manifests;
pub mod names;
pub mod release;
pub use release::AIRFLOW2_AUTH_BACKENDS;
pub mod selector;
mod sidecars;
pub mod standins;
pub mod steps;

use std::path::PathBuf;

use serde::Serialize;

pub use steps::Step;

use crate::config::{ClusterTool, Delivery, Project, Provider, StateDir, StateFile};
use crate::error::ErrorKind;
use crate::pins;
use crate::profile;
use crate::redact::{self, Secrets};
use crate::schemas::ChartSchema;
use crate::values::{self, Path, Value};

pub use crate::redact::GENERATED;
/// The namespace in a cluster devflow makes; in an existing cluster each project has its own.
pub const NAMESPACE: &str = "airflow";
pub const RELEASE: &str = "airflow";
pub const CHART_REPO: &str = "https://airflow.apache.org";
pub const CHART_NAME: &str = "airflow";
/// The `component` pod labels of the chart's two jobs (its Helm hooks, as devflow runs them).
pub const MIGRATIONS_JOB: &str = "run-airflow-migrations";
pub const CREATE_USER_JOB: &str = "create-user-job";
pub const ADMIN_PASSWORD_KEY: &str = "createUserJob.defaultUser.password";
pub const DATABASE_PASSWORD_KEY: &str = "data.metadataConnection.pass";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Input { message: String },
    #[error(
        "devflow generated {what} that does not validate against {schema}:\n  {}\n  this is a bug in devflow, not in your project: please report it with the output of `devflow render`",
        problems.join("\n  ")
    )]
    Bug { what: &'static str, schema: &'static str, problems: Vec<String> },
}

impl crate::error::Kind for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Input { .. } => ErrorKind::Input,
            Error::Bug { .. } => ErrorKind::Bug,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Plan {
    pub project: String,
    /// In `--json`, inside `cluster` ([`Plan::cluster_ref`]), as are `cluster_name` and `context`.
    #[serde(skip)]
    pub provider: Provider,
    pub profile: String,
    pub profile_description: String,
    pub needs: profile::Needs,
    /// When the watch flags a parse as slow, and Airflow's own limit for one.
    pub slow_parse: profile::SlowParse,
    pub kubernetes: &'static str,
    pub chart_version: String,
    /// Its values schema, which the values are checked against.
    #[serde(skip)]
    pub chart_schema: ChartSchema,
    /// A local chart or an `oci://` reference; None: the Apache Airflow repository.
    pub chart: Option<String>,
    pub airflow_version: String,
    pub executor: String,
    /// The chart components `up` waits for (their `component` pod label); in `--json` objects,
    /// as `status` shows them.
    #[serde(skip)]
    pub components: Vec<&'static str>,
    /// kind's or k3d's cluster name; for an existing cluster, its context.
    #[serde(skip)]
    pub cluster_name: String,
    #[serde(skip)]
    pub context: String,
    pub namespace: String,
    /// The value of the namespace's ownership annotation: this project's state folder.
    pub owner: String,
    pub delivery: Delivery,
    pub release: &'static str,
    pub url: String,
    pub ui_port: u16,
    pub admin_user: &'static str,
    /// The project's DAG folder on this machine, and where every Airflow pod sees it.
    pub dags_folder: PathBuf,
    pub dags_mount: String,
    pub plugins_mount: Option<String>,
    pub state_dir: StateDir,
    pub production_files: Vec<PathBuf>,
    /// The kind or k3d config file (null for an existing cluster).
    #[serde(rename = "cluster_config")]
    pub cluster: Value,
    /// The Helm values, with generated secrets shown as `<generated>`. Shown (and serialised)
    /// with the user's secrets redacted: the values Helm reads are written by `up` alone.
    #[serde(serialize_with = "serialize_redacted")]
    pub values: Value,
    pub manifests: Vec<Value>,
    pub steps: Vec<Step>,
    /// Every chart value that differs from the production values, and why.
    pub parity: Vec<Change>,
    /// The values keys `up` fills with generated secrets (they render as `<generated>`).
    pub generated_secrets: Vec<String>,
    /// The project's own image (requirements.txt, packages.txt or a Dockerfile), when it needs one.
    pub image: Option<image::ImageBuild>,
    /// The production endpoints fenced off (env var names, config keys), each a line of the report.
    pub fenced: Vec<String>,
    /// The Airflow image, when it is in a private registry the nodes cannot pull from: `up` loads
    /// it from the local Docker daemon, and refuses to start when the daemon does not have it.
    pub private_image: Option<String>,
    /// The Secrets and ConfigMaps the values reference that devflow stands in for.
    pub stand_ins: Vec<standins::StandIn>,
    /// Their `name/key` entries `.devflow/secrets.env` has no value for: `up` refuses to start.
    pub stand_in_missing: Vec<String>,
    /// The values of the stand-ins, by `name/key`; never shown.
    #[serde(skip)]
    pub stand_in_values: std::collections::BTreeMap<String, String>,
    /// The project's environment variables (their secret ones fill devflow's env Secret); never shown.
    #[serde(skip)]
    pub env: std::collections::BTreeMap<String, String>,
}

/// The cluster as every command's `--json` names it: kind's or k3d's cluster name (for an
/// existing cluster, its context), where it runs and its kube context.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterRef {
    pub name: String,
    pub provider: Provider,
    pub context: String,
}

/// What `up` and `start` wait for: a long-running component (its pods) or a job that must complete.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Pods selected by one label.
    Pods { name: String, label: (String, String) },
    /// A job, by its pods' `component` label.
    Job { name: String, component: String },
}

impl Expect {
    /// The pods of one of the chart's components.
    pub fn component(component: &str) -> Expect {
        Expect::Pods { name: component.to_string(), label: ("component".to_string(), component.to_string()) }
    }

    fn named(shown: &str, name: &str) -> Expect {
        Expect::Pods { name: shown.to_string(), label: (manifests::NAME_LABEL.to_string(), name.to_string()) }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Change {
    pub key: String,
    /// None: production values do not set it (the chart's default applies).
    pub production: Option<Value>,
    /// None: removed.
    pub laptop: Option<Value>,
    pub reason: String,
}

/// The plan of a resolved project. Pure: it reads no file and no environment variable.
pub fn build(project: &Project) -> Result<Plan, Error> {
    let images = pins::node_images(project.kubernetes.as_deref().unwrap_or(pins::DEFAULT_KUBERNETES))
        .map_err(|message| Error::Input { message })?;
    let (context, namespace, cluster_name) = match (&project.shared, project.provider.cluster_tool()) {
        (Some(shared), _) => (shared.context.clone(), shared.namespace.clone(), shared.context.clone()),
        (None, tool) => (
            cluster::context(tool.unwrap_or(ClusterTool::Kind), &project.name),
            NAMESPACE.to_string(),
            project.name.clone(),
        ),
    };
    let profile = &project.profile;
    let release = release::build(project, &namespace)?;

    let state_dir = project.state_dir.clone();
    let marker = state_dir.file(StateFile::OwnerMarker);
    let cluster_config =
        project.provider.cluster_tool().map_or(Value::Null, |t| cluster::config(t, project, images, &marker));
    let values = release.layers.values.clone();
    let owner = state_dir.dir().display().to_string();
    let text = |key: &str| release_text(&values, key);
    let stand_ins = standins::find(&values);
    let manifests = manifests::build(&manifests::Objects {
        project: &project.name,
        namespace: &namespace,
        owner: &owner,
        with_plugins: project.plugins.is_some(),
        volumes: volumes(project, &image::base_image(&values, &text("airflowVersion"))),
        stand_ins: &stand_ins,
        env_secrets: &release.env_secrets,
    });
    let parity = parity(&project.production, &release.layers, &stand_ins);
    let image = own_image(project, &values, &text("airflowVersion"))?;

    let mut plan = Plan {
        project: project.name.clone(),
        provider: project.provider,
        profile: profile.name().to_string(),
        profile_description: profile.description.clone(),
        needs: profile.needs,
        slow_parse: slow_parse(profile, &values),
        kubernetes: if project.provider == Provider::Existing { "of the existing cluster" } else { images.minor },
        chart_version: project.chart_version.clone(),
        chart_schema: project.chart_schema,
        chart: project.chart.clone(),
        airflow_version: text("airflowVersion"),
        executor: text("executor"),
        components: components(release.airflow_major, &text("executor")),
        cluster_name,
        namespace,
        owner,
        delivery: project.delivery,
        release: RELEASE,
        url: format!("http://127.0.0.1:{}", project.ui_port),
        ui_port: project.ui_port,
        admin_user: release::ADMIN_USER,
        dags_folder: project.dags.clone(),
        dags_mount: release.mounts.dags.clone(),
        plugins_mount: release.mounts.plugins.clone(),
        state_dir,
        production_files: project.values_files.clone(),
        cluster: cluster_config,
        values,
        manifests,
        steps: Vec::new(),
        parity,
        generated_secrets: release.secrets.iter().map(ToString::to_string).collect(),
        stand_in_missing: standins::missing(&stand_ins, &project.stand_in_values),
        fenced: release.fenced.clone(),
        private_image: private_image(project, &release.layers.values, &image),
        stand_ins,
        stand_in_values: project.stand_in_values.clone(),
        env: project.env.clone(),
        image,
        context,
    };
    plan.steps = steps::of(&plan, project);
    validate(&plan, &release)?;
    Ok(plan)
}

/// The release's image, when devflow makes the cluster, builds no image of its own, and the image
/// is in a private registry.
fn private_image(project: &Project, values: &Value, own: &Option<image::ImageBuild>) -> Option<String> {
    let base = image::base_image(values, &release_text(values, "airflowVersion"));
    (project.provider.makes_cluster() && own.is_none() && image::private_registry(&base)).then_some(base)
}

/// How the project's folders become volumes: mounted from the nodes, or claims devflow pushes to.
fn volumes<'a>(project: &'a Project, receiver_image: &'a str) -> manifests::Volumes<'a> {
    match (project.delivery, project.provider) {
        (Delivery::Mount, _) => manifests::Volumes::Mounted,
        (Delivery::Push, provider) => manifests::Volumes::Pushed {
            storage_class: project.shared.as_ref().and_then(|e| e.storage_class.as_deref()),
            // On a shared cluster the pods land on many nodes; kind's and k3d's one node is enough.
            access_mode: if provider == Provider::Existing { "ReadWriteMany" } else { "ReadWriteOnce" },
            receiver_image,
        },
    }
}

/// The profile's threshold for a slow parse, and Airflow's hard limit as the values set it
/// (`config.core.dagbag_import_timeout`, a number or its text; Airflow's default otherwise).
fn slow_parse(profile: &profile::Profile, values: &Value) -> profile::SlowParse {
    let limit = values::get(values, &Path::from_keys(["config", "core", "dagbag_import_timeout"]));
    let import_timeout = limit.and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())));
    profile::SlowParse {
        seconds: profile.slow_parse_seconds,
        import_timeout: import_timeout.unwrap_or(profile::SlowParse::default().import_timeout),
    }
}

/// The project's own image, when it needs one and devflow can build it for the cluster.
fn own_image(project: &Project, values: &Value, airflow_version: &str) -> Result<Option<image::ImageBuild>, Error> {
    let image = image::build(&project.root, &project.image_files, values, airflow_version);
    if project.provider != Provider::Existing {
        return Ok(image);
    }
    // The image named in devflow.toml is the one that has the requirements: the registry's.
    let Some(build) = image.filter(|_| project.image.is_none()) else { return Ok(None) };
    let what = match &build.dockerfile {
        image::Dockerfile::Project(path) => path.display().to_string(),
        image::Dockerfile::Generated(_) => "requirements.txt or packages.txt".to_string(),
    };
    Err(Error::Input {
        message: format!(
            "the project's {what} asks devflow to build an image on this machine, which an existing cluster cannot use: it pulls its images from a registry\n  build and push the image (as your CI does), then set `image = \"registry/team/airflow:tag\"` in [airflow] of devflow.toml; or use `provider = \"kind\"`"
        ),
    })
}

fn release_text(values: &Value, key: &str) -> String {
    values::get(values, &Path::parse(key).unwrap()).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl Plan {
    /// The Helm values fit to show: the user's secrets redacted, devflow's as `<generated>`.
    pub fn shown_values(&self) -> Value {
        Secrets::of(&self.values).redact(&self.values)
    }

    /// The port Airflow's UI and API listen on inside their pod.
    pub fn ui_pod_port(&self) -> u16 {
        let key = if self.components[0] == "webserver" { "ports.airflowUI" } else { "ports.apiServer" };
        values::get(&self.values, &Path::parse(key).unwrap())
            .and_then(Value::as_u64)
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or(8080)
    }

    /// `helm` arguments that install or upgrade the release with the given values file.
    pub fn helm_args<'a>(&'a self, values_file: &'a str) -> Vec<&'a str> {
        let mut args = vec!["upgrade", "--install", RELEASE];
        match &self.chart {
            // A local chart is the version it is.
            Some(local) if !local.starts_with("oci://") => args.push(local),
            Some(oci) => args.extend([oci.as_str(), "--version", &self.chart_version]),
            None => args.extend([CHART_NAME, "--repo", CHART_REPO, "--version", &self.chart_version]),
        }
        args.extend(["--namespace", &self.namespace, "--kube-context", &self.context, "--values", values_file]);
        args
    }
}

impl Plan {
    /// Whether the UI is reached through devflow's port-forward (an existing cluster) rather than
    /// a port the cluster maps to this machine.
    pub fn ui_forwarded(&self) -> bool {
        !self.provider.makes_cluster()
    }

    /// What `up` and `start` wait for, in the order they become ready.
    pub fn expectations(&self) -> Vec<Expect> {
        let mut expect = vec![Expect::named("postgresql", names::POSTGRES)];
        if self.delivery == Delivery::Push {
            expect.push(Expect::named("dag receiver", manifests::RECEIVER));
        }
        expect.push(Expect::Job { name: "migrations".into(), component: MIGRATIONS_JOB.into() });
        expect.extend(self.components.iter().map(|c| Expect::component(c)));
        // On a shared cluster the chart's create-user job is off: devflow's CreateAdmin step does it.
        if self.provider.makes_cluster() {
            expect.push(Expect::Job { name: "create-user".into(), component: CREATE_USER_JOB.into() });
        }
        expect
    }

    /// `airflow users create` for the admin user, as the chart's job runs it (chart 1.22.0
    /// `templates/jobs/create-user-job.yaml`) but without `-p`: the FAB provider's `users create`
    /// then asks for the password twice with `getpass` (providers/fab/auth_manager/cli_commands/
    /// user_command.py `_create_password`), which without a terminal reads standard input. A user
    /// that exists already is left as it is (`already exists in the db`, exit 0). Checked on
    /// Airflow 3.3.2 with FAB provider 3.10.2.
    pub fn create_admin_argv(&self) -> Vec<String> {
        let user = |field: &str| {
            let key = Path::parse(&format!("createUserJob.defaultUser.{field}")).expect("a dotted path");
            values::get(&self.values, &key)
                .or_else(|| crate::schemas::chart_default(&key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut argv = vec!["airflow".to_string(), "users".into(), "create".into()];
        for (flag, field) in [
            ("--username", "username"),
            ("--firstname", "firstName"),
            ("--lastname", "lastName"),
            ("--email", "email"),
            ("--role", "role"),
        ] {
            argv.extend([flag.to_string(), user(field)]);
        }
        argv
    }

    /// The components a user can name (`logs`, `shell`, `airflow -c`): devflow's PostgreSQL and
    /// the chart's components.
    pub fn known_components(&self) -> Vec<String> {
        let mut known = vec!["postgresql".to_string()];
        known.extend(self.components.iter().map(|c| c.to_string()));
        known
    }

    /// The label selector of a component's pods and its main container (the chart's and
    /// devflow's naming); an unknown name is the user's mistake.
    pub fn component<'a>(&self, component: &'a str) -> Result<(String, &'a str), Error> {
        let known = self.known_components();
        if !known.iter().any(|k| k == component) {
            return Err(Error::Input {
                message: format!(
                    "`{component}` is not a component of this Airflow{}\n  expected one of: {}",
                    crate::words::did_you_mean(component, known.iter().map(String::as_str)),
                    known.join(", ")
                ),
            });
        }
        Ok(match component {
            "postgresql" => (selector::named(names::POSTGRES), "postgres"),
            _ => (selector::component(component), component),
        })
    }

    /// The executor runs each task in a pod of its own (alone, or in a comma list, or hybrid).
    pub fn runs_task_pods(&self) -> bool {
        self.executor.contains("KubernetesExecutor")
    }

    /// The chart components that load plugins at start, and so restart when a plugin changes.
    pub fn plugin_loaders(&self) -> Vec<&'static str> {
        self.components.iter().copied().filter(|c| *c != "redis").collect()
    }

    /// The cluster part of `devflow render`: the kind or k3d config, introduced by a comment
    /// that says what reads it; for an existing cluster, which one and where.
    pub fn cluster_part(&self) -> String {
        match self.provider.cluster_tool() {
            Some(tool) => format!(
                "\n# ── cluster: the {tool} config, for `{}` ──\n---\n{}",
                cluster::reads_config(tool),
                values::to_yaml(&self.cluster)
            ),
            None => format!(
                "\n# ── cluster: none to make: the existing cluster of kube context {}, namespace {} ──\n",
                self.context, self.namespace
            ),
        }
    }

    /// How many nodes the cluster devflow makes has.
    pub fn nodes(&self) -> usize {
        self.cluster["nodes"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_else(|| 1 + self.cluster["agents"].as_u64().unwrap_or(0) as usize)
    }

    /// The steps, numbered, one line each: what `up --dry-run` prints.
    pub fn cluster_ref(&self) -> ClusterRef {
        ClusterRef { name: self.cluster_name.clone(), provider: self.provider, context: self.context.clone() }
    }

    pub fn steps_text(&self) -> String {
        steps::text(&self.steps)
    }
}

/// The chart's long-running components (its `component` pod label) for an Airflow major version
/// and executor.
fn components(airflow_major: u32, executor: &str) -> Vec<&'static str> {
    let mut components = vec![if airflow_major >= 3 { "api-server" } else { "webserver" }, "scheduler"];
    if airflow_major >= 3 {
        components.push("dag-processor");
    }
    components.push("triggerer");
    if executor.contains("Celery") {
        components.extend(["worker", "redis"]);
    }
    components
}

fn serialize_redacted<S: serde::Serializer>(values: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&Secrets::of(values).redact(values), serializer)
}

/// One line per chart value that differs from the production values (missing and `{}` alike),
/// each side read as the chart's default where it is unset (the chart's values.schema.json).
/// A secret shows only that it differs: `<redacted>` and `<redacted, changed>`.
/// Then one line per object only production has, which devflow stands in for.
fn parity(production: &Value, layers: &layers::Layers, stand_ins: &[standins::StandIn]) -> Vec<Change> {
    let mut secrets = Secrets::of(production);
    secrets.extend(Secrets::of(&layers.values));
    let normalise = |v: Option<&Value>| v.filter(|v| !matches!(v, Value::Object(m) if m.is_empty())).cloned();
    let mut keys: Vec<Path> = values::leaves(production).into_iter().map(|(p, _)| p).collect();
    keys.extend(values::leaves(&layers.values).into_iter().map(|(p, _)| p));
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let before = normalise(values::get(production, &key));
            let after = normalise(values::get(&layers.values, &key));
            // Unset is the chart's default: setting a key to its default changes nothing.
            let default = crate::schemas::chart_default(&key).cloned();
            let differs = before.clone().or_else(|| default.clone()) != after.clone().or(default);
            differs.then(|| {
                let secret = Secrets::is_secret_key(&key);
                let laptop = match after {
                    Some(Value::String(s)) if secret && s != GENERATED => Value::String(redact::CHANGED.into()),
                    Some(value) => secrets.redact_at(&key, &value),
                    None => Value::Null,
                };
                Change {
                    reason: layers.reason(&key).unwrap_or("devflow's wiring").to_string(),
                    production: before.map(|v| secrets.redact_at(&key, &v)),
                    laptop: (!laptop.is_null()).then_some(laptop),
                    key: key.to_string(),
                }
            })
        })
        .chain(stand_ins.iter().map(stand_in_change))
        .collect()
}

/// The report's line for a stand-in: what production names, what devflow makes instead.
fn stand_in_change(stand_in: &standins::StandIn) -> Change {
    let kind = format!("{:?}", stand_in.kind);
    let keys = if stand_in.keys.is_empty() {
        "any keys you add".to_string()
    } else {
        stand_in.keys.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    Change {
        key: stand_in.used_by.join(", "),
        production: Some(Value::String(format!("{kind} {}", stand_in.name))),
        laptop: Some(Value::String(format!("stand-in {kind} {}", stand_in.name))),
        reason: format!(
            "the {kind} exists only in production: devflow creates one of the same name, its values ({keys}) from {}",
            standins::FILE
        ),
    }
}

/// devflow checks what it generated before anyone sees it. What fails only after the user's own
/// overrides is the user's to fix; anything else is devflow's bug.
fn validate(plan: &Plan, release: &release::ReleaseValues) -> Result<(), Error> {
    check_cluster(plan.provider, &plan.cluster)?;
    check_values(&plan.values, &release.before_overrides, plan.chart_schema)
}

fn check_cluster(provider: Provider, cluster: &Value) -> Result<(), Error> {
    let (schema, name) = match provider {
        Provider::Kind => (crate::schemas::kind(), "kind's v1alpha4 config schema"),
        Provider::K3d => (crate::schemas::k3d(), "k3d's v1alpha5 config schema"),
        Provider::Existing => return Ok(()),
    };
    let problems = schema.problems(cluster, 5);
    if problems.is_empty() { Ok(()) } else { Err(Error::Bug { what: "a cluster config", schema: name, problems }) }
}

/// `values` are the final values; `before_overrides` what devflow produced before the user's own.
fn check_values(values: &Value, before_overrides: &Value, schema: ChartSchema) -> Result<(), Error> {
    let (chart, version) = (schema.schema, schema.version);
    let known: Vec<&str> = chart.top_level_keys().collect();
    let unknown_keys = |v: &Value| -> Vec<String> {
        v.as_object().into_iter().flat_map(|m| m.keys()).filter(|k| !known.contains(&k.as_str())).cloned().collect()
    };
    let unknown = unknown_keys(values);
    let problems = chart.problems(values, 5);
    if unknown.is_empty() && problems.is_empty() {
        return Ok(());
    }
    if !chart.problems(before_overrides, 1).is_empty() || !unknown_keys(before_overrides).is_empty() {
        let mut problems = problems;
        problems.extend(unknown.iter().map(|k| format!("{k}: not a value of the chart")));
        return Err(Error::Bug { what: "Helm values", schema: "the Airflow chart's values schema", problems });
    }
    let message = match unknown.first() {
        Some(key) => {
            let near = crate::words::did_you_mean(key, known.iter().copied());
            format!(
                "your overrides set `{key}`, which is not a value the Airflow chart {version} knows{near}\n  fix the key in [airflow.set] or --set"
            )
        }
        None => format!(
            "your overrides make the Helm values invalid for the Airflow chart {version}:\n  {}\n  fix the value in [airflow.set], [airflow.config] or --set",
            problems.join("\n  ")
        ),
    };
    Err(Error::Input { message })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::SharedCluster;
    use crate::error::Kind;
    use crate::profile::ProfileRef;

    /// A resolved project made in memory: its folders exist nowhere, no environment is set.
    fn project(provider: Provider) -> Project {
        let root = PathBuf::from("/nowhere/acme");
        let shared = (provider == Provider::Existing).then(|| SharedCluster {
            context: "team-dev".into(),
            namespace: "devflow-alice-acme".into(),
            storage_class: None,
        });
        Project {
            file: None,
            name: "acme".into(),
            dags: root.join("dags"),
            plugins: None,
            requirements: root.join("requirements.txt"),
            provider,
            shared,
            delivery: if provider == Provider::Existing { Delivery::Push } else { Delivery::Mount },
            kubernetes: None,
            workers: 0,
            ui_port: 8080,
            profile: profile::load(&ProfileRef::BuiltIn("local".into())).unwrap(),
            chart_version: crate::schemas::EMBEDDED_CHART.to_string(),
            chart_schema: ChartSchema::embedded(),
            chart: None,
            airflow_version: None,
            image: None,
            executor: None,
            values_files: Vec::new(),
            production: json!({}),
            image_files: Default::default(),
            overrides: Vec::new(),
            stand_in_values: Default::default(),
            keep: Vec::new(),
            env: Default::default(),
            state_dir: StateDir::of(std::path::Path::new("/state/devflow"), &root, "acme"),
            root,
        }
    }

    #[test]
    fn a_plan_is_made_from_a_project_in_memory_alone() {
        let plan = build(&project(Provider::Kind)).unwrap();
        let mounts = &plan.cluster["nodes"][0]["extraMounts"];
        assert_eq!(mounts[1]["hostPath"], "/nowhere/acme/dags", "{mounts}");
        assert!(mounts[0]["hostPath"].as_str().unwrap().starts_with("/state/devflow/acme-"), "{mounts}");
        assert_eq!((plan.context.as_str(), plan.namespace.as_str()), ("kind-acme", NAMESPACE));
        assert_eq!(plan.components, ["api-server", "scheduler", "dag-processor", "triggerer"]);

        let shared = build(&project(Provider::Existing)).unwrap();
        assert_eq!(shared.cluster, Value::Null);
        assert_eq!((shared.context.as_str(), shared.namespace.as_str()), ("team-dev", "devflow-alice-acme"));
        assert_eq!(shared.manifests[0]["metadata"]["annotations"][manifests::OWNER_ANNOTATION], shared.owner);
    }

    #[test]
    fn an_invalid_cluster_config_is_devflows_bug() {
        let broken = json!({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "nodes": [{"role": "leader"}]});
        let error = check_cluster(Provider::Kind, &broken).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Bug);
        assert!(error.to_string().contains("this is a bug in devflow"), "{error}");
        let k3d = json!({"apiVersion": "k3d.io/v1alpha5", "kind": "Simple", "servers": 0});
        assert_eq!(check_cluster(Provider::K3d, &k3d).unwrap_err().kind(), ErrorKind::Bug);
    }

    #[test]
    fn invalid_values_are_a_bug_unless_the_users_overrides_made_them_so() {
        let devflow_broke_it = json!({"workers": {"replicas": "one"}});
        assert!(
            check_values(&devflow_broke_it, &devflow_broke_it, ChartSchema::embedded()).unwrap_err().kind()
                == ErrorKind::Bug
        );
        assert!(
            check_values(&json!({"wrokers": {}}), &json!({"wrokers": {}}), ChartSchema::embedded()).unwrap_err().kind()
                == ErrorKind::Bug
        );

        let fine = json!({"workers": {"replicas": 1}});
        let error = check_values(&devflow_broke_it, &fine, ChartSchema::embedded()).unwrap_err();
        assert!(error.kind() == ErrorKind::Input && error.to_string().contains("your overrides"), "{error}");
        assert!(check_values(&fine, &fine, ChartSchema::embedded()).is_ok());
    }
}
