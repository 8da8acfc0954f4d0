//! The Helm values of the release, layered as DESIGN.md says: the profile's behaviour defaults,
//! the production values, the laptop overlay, devflow's wiring, then the user's overrides.

use serde_json::json;

use super::cluster::{NODE_DAGS, NODE_PLUGINS, UI_NODE_PORT};
use super::layers::{Layers, rule_reason};
use super::names::{DAGS_CLAIM, ENV_SECRET, PLUGINS_CLAIM, POSTGRES};
use super::{Error, GENERATED};
use crate::config::{Delivery, Project};
use crate::profile::Profile;
use crate::values::{Path, Value};
use crate::version::supported_airflow_major;

pub const ADMIN_USER: &str = "admin";

/// Where the DAGs and plugins are inside every Airflow container.
pub struct Mounts {
    pub dags: String,
    pub plugins: Option<String>,
}

pub struct ReleaseValues {
    pub layers: Layers,
    /// The values before the user's own overrides: what devflow alone produced.
    pub before_overrides: Value,
    pub airflow_major: u32,
    pub mounts: Mounts,
    /// Keys whose values are secrets devflow generates at `up`; they render as `<generated>`.
    pub secrets: Vec<Path>,
    /// The production endpoints fenced off, by name.
    pub fenced: Vec<String>,
    /// The project's environment variables that are secrets: they go through devflow's Secret.
    pub env_secrets: Vec<String>,
}

fn path(dotted: &str) -> Path {
    Path::parse(dotted).expect("devflow's own keys are dotted paths")
}

pub fn build(project: &Project, namespace: &str) -> Result<ReleaseValues, Error> {
    let (profile, production) = (&project.profile, &project.production);
    let mut layers = Layers::new();
    let name = profile.name();
    layers.merge(&profile.defaults, |_| format!("profile `{name}` chooses it where production values are silent"));
    layers.merge(production, |_| "production values".into());

    let airflow_major = check_airflow_version(project, profile, &layers)?;
    check_executor_exists(project, &layers, airflow_major)?;

    layers.apply_laptop_rules();
    let fenced = super::fence::apply(&mut layers, &project.keep);
    super::sidecars::apply(&mut layers, &project.keep);
    layers.merge(&profile.laptop, |p| {
        rule_reason(p).map_or_else(|| format!("profile `{name}` sizes it for a laptop"), str::to_string)
    });

    size_config(&mut layers, profile.needs.cpus, airflow_major);
    let mounts = wire_folders(project, &mut layers);
    wire_parsing(&mut layers, airflow_major);
    wire_api_auth(&mut layers, airflow_major);
    if project.provider.makes_cluster() {
        wire_ui(&mut layers, airflow_major);
    }
    wire_database(&mut layers, namespace);
    let (executor, _) = effective(project, &layers, "executor");
    wire_broker(&mut layers, &executor);
    let secrets = wire_secrets(&mut layers, airflow_major, project.provider.makes_cluster());
    let env_secrets = wire_env(&mut layers, &project.env);

    let before_overrides = layers.values.clone();
    for (path, value, origin) in user_settings(project) {
        layers.set(&path, value, format!("set by {origin}"));
    }
    if project.provider.makes_cluster() {
        wire_private_image(&mut layers);
    }
    Ok(ReleaseValues { layers, before_overrides, airflow_major, mounts, secrets, fenced, env_secrets })
}

/// What a top-level value will be once the user's overrides apply, and who set it: devflow's
/// wiring depends on it but comes before those overrides.
fn effective(project: &Project, layers: &Layers, key: &str) -> (String, String) {
    let key_path = path(key);
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if let Some((_, value, origin)) = user_settings(project).into_iter().rfind(|(p, _, _)| *p == key_path) {
        return (text(&value), origin);
    }
    layers
        .get(&key_path)
        .map_or_else(Default::default, |v| (text(v), layers.reason(&key_path).unwrap_or_default().to_string()))
}

/// The Airflow version that will run must suit the profile's parse settings and the chart.
fn check_airflow_version(project: &Project, profile: &Profile, layers: &Layers) -> Result<u32, Error> {
    let (version, origin) = effective(project, layers, "airflowVersion");
    if version.is_empty() {
        return Ok(profile.airflow_major());
    }
    let Some(major) = supported_airflow_major(&version) else {
        return Err(Error::Input {
            message: format!(
                "airflowVersion {version:?} (from {origin}) is not supported\n  the Airflow chart runs Airflow 2.11 and later: use 2.11.x or 3.x"
            ),
        });
    };
    if major != profile.airflow_major() {
        let hint = if major == 2 {
            "use `--profile airflow2` (or a profile that extends it)"
        } else {
            "use a profile for Airflow 3 (local, celery or kubernetes)"
        };
        return Err(Error::Input {
            message: format!(
                "Airflow {version} (from {origin}) is Airflow {major}, but profile `{}` is written for Airflow {}\n  {hint}",
                profile.name(),
                profile.airflow_major()
            ),
        });
    }
    Ok(major)
}

/// Airflow 3 removed the hybrid executors (it runs several executors from a comma list instead):
/// the chart would render them and the scheduler would not start.
fn check_executor_exists(project: &Project, layers: &Layers, major: u32) -> Result<(), Error> {
    let (executor, origin) = effective(project, layers, "executor");
    if major < 3 {
        return Ok(());
    }
    let hybrid = [
        ("CeleryKubernetesExecutor", "CeleryExecutor,KubernetesExecutor"),
        ("LocalKubernetesExecutor", "LocalExecutor,KubernetesExecutor"),
    ];
    for (removed, instead) in hybrid {
        if executor.split(',').any(|part| part.trim() == removed) {
            return Err(Error::Input {
                message: format!(
                    "executor `{removed}` (from {origin}) does not exist in Airflow 3: Airflow 3 runs several executors from a comma list\n  set `executor = \"{instead}\"` (in [airflow] of devflow.toml, or in your production values when you move them to Airflow 3), or use `--profile airflow2` for Airflow 2"
                ),
            });
        }
    }
    Ok(())
}

/// DAGs (and plugins) reach every Airflow container, and the KubernetesExecutor's pod template,
/// through the chart's top-level volumes, read-only.
fn wire_folders(project: &Project, layers: &mut Layers) -> Mounts {
    let home = layers.get(&path("airflowHome")).and_then(Value::as_str).unwrap_or("/opt/airflow").to_string();
    let dags = layers
        .get(&path("dags.mountPath"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("{home}/dags"), str::to_string);
    let mut folders = vec![(DAGS_CLAIM, dags.clone(), NODE_DAGS)];
    let plugins = project.plugins.as_ref().map(|_| format!("{home}/plugins"));
    if let Some(plugins) = &plugins {
        folders.push((PLUGINS_CLAIM, plugins.clone(), NODE_PLUGINS));
    }
    for (claim, mount_path, node_path) in folders {
        let reason = match project.delivery {
            Delivery::Mount => format!(
                "your folder ({node_path} on every node) mounted read-only at {mount_path} in every Airflow container and task pod"
            ),
            Delivery::Push => format!(
                "devflow's copy of your folder (the volume {claim}, which it pushes to) mounted read-only at {mount_path} in every Airflow container and task pod"
            ),
        };
        append(
            layers,
            "volumes",
            json!({"name": claim, "persistentVolumeClaim": {"claimName": claim, "readOnly": true}}),
            &reason,
        );
        append(layers, "volumeMounts", json!({"name": claim, "mountPath": mount_path, "readOnly": true}), &reason);
    }
    let dags_folder = path("config.core.dags_folder");
    if layers.get(&dags_folder).is_some_and(|v| v.as_str() != Some(dags.as_str())) {
        layers.set(&dags_folder, json!(dags), "the DAGs are mounted there");
    }
    Mounts { dags, plugins }
}

/// airflow.cfg settings sized for a fleet, brought down to what the profile's CPUs can run: only
/// those set above it (Airflow's own defaults already fit: parallelism 32, worker_concurrency 16).
fn size_config(layers: &mut Layers, cpus: u32, major: u32) {
    let cpus = u64::from(cpus.max(1));
    let parsing =
        if major >= 3 { "config.dag_processor.parsing_processes" } else { "config.scheduler.parsing_processes" };
    let caps = [
        ("config.core.parallelism", (8 * cpus).max(16), "tasks at once across the laptop"),
        ("config.celery.worker_concurrency", 4 * cpus, "tasks at once in the one worker"),
        ("config.kubernetes_executor.worker_pods_creation_batch_size", cpus, "task pods created per scheduler loop"),
        (parsing, cpus, "DAG-parsing processes"),
    ];
    for (key, cap, what) in caps {
        let key = path(key);
        let set = layers.get(&key).and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
        if set.is_some_and(|value| value > cap) {
            let why = format!(
                "sized for a laptop: {cap} {what} for the profile's {cpus} CPUs; production's fleet-sized value would starve it"
            );
            layers.set(&key, json!(cap), why);
        }
    }
}

/// The project's environment variables (`.env`, `[airflow.env]`) reach every Airflow container
/// and the KubernetesExecutor's pod template: the chart's `env` (a plain value) and `secret`
/// (`secretKeyRef`, `templates/_helpers.yaml` `custom_airflow_environment`, which
/// `files/pod-template-file.kubernetes-helm-yaml` includes too). A secret among them goes through
/// devflow's Secret, never as a plain value in the rendered manifests. Returns the secret ones.
fn wire_env(layers: &mut Layers, env: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut secret_names = Vec::new();
    for (name, value) in env {
        let entry = json!({"name": name, "value": value});
        let secret = !crate::redact::Secrets::of(&json!({"env": [entry.clone()]})).is_empty();
        if secret {
            let reason = format!(
                "your `{name}` (a secret): read from devflow's Secret {ENV_SECRET}, never written in the values"
            );
            let item = json!({"envName": name, "secretName": ENV_SECRET, "secretKey": name});
            append_by(layers, "secret", item, "envName", &reason);
            secret_names.push(name.clone());
        } else {
            append(layers, "env", entry, &format!("your `{name}` from .env or [airflow.env] in devflow.toml"));
        }
    }
    secret_names
}

/// A private-registry image is loaded onto the nodes from this machine's Docker: `Always` would
/// make the kubelet pull it anyway, and fail (`ErrImagePull`).
fn wire_private_image(layers: &mut Layers) {
    let version = layers.get(&path("airflowVersion")).and_then(Value::as_str).unwrap_or_default().to_string();
    let policy = path("images.airflow.pullPolicy");
    if super::image::private_registry(&super::image::base_image(&layers.values, &version))
        && layers.get(&policy).and_then(Value::as_str) == Some("Always")
    {
        let why = "the image is private: devflow loads it onto the nodes from this machine's Docker, so the kubelet must not pull it";
        layers.set(&policy, json!("IfNotPresent"), why);
    }
}

/// Adds an item to a list value, keeping the production items and replacing an earlier one of ours.
fn append(layers: &mut Layers, key: &str, item: Value, reason: &str) {
    append_by(layers, key, item, "name", reason);
}

/// [`append`] for a list whose items are named by `field`.
fn append_by(layers: &mut Layers, key: &str, item: Value, field: &str, reason: &str) {
    let key = path(key);
    let mut list: Vec<Value> = layers.get(&key).and_then(Value::as_array).cloned().unwrap_or_default();
    list.retain(|existing| existing[field] != item[field]);
    list.push(item);
    // What was dropped from the production list stays in the report beside devflow's addition.
    let reason = match layers.reason(&key).filter(|earlier| earlier.starts_with("dropped: ")) {
        Some(earlier) => format!("{reason}; {earlier}"),
        None => reason.to_string(),
    };
    layers.set(&key, Value::Array(list), reason);
}

/// Airflow lists a DAG folder every five minutes by default: a new file would take that long to appear.
fn wire_parsing(layers: &mut Layers, major: u32) {
    let reason = "a new DAG file is picked up within a second, not after Airflow's 5-minute folder listing";
    let keys: &[&str] = if major >= 3 {
        &["config.dag_processor.refresh_interval", "config.dag_processor.bundle_refresh_check_interval"]
    } else {
        &["config.scheduler.dag_dir_list_interval"]
    };
    for key in keys {
        layers.set(&path(key), json!(1), reason);
    }
}

/// Airflow 2's API takes the session backend alone by default (`[api] auth_backends`, Airflow
/// 2.11.2 `config_templates/config.yml`), and the chart 1.22.0 sets none: basic auth on `/api/v1`,
/// which the watch logs in with, would be refused. The FAB provider's basic-auth backend
/// (`airflow/providers/fab/auth_manager/api/auth/backend/basic_auth.py`, FAB 1.5) comes first;
/// the session backend stays for the UI. Airflow 3's API takes a JWT and has no such setting.
pub const AIRFLOW2_AUTH_BACKENDS: &str =
    "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,airflow.api.auth.backend.session";

fn wire_api_auth(layers: &mut Layers, major: u32) {
    if major < 3 {
        layers.set(
            &path("config.api.auth_backends"),
            json!(AIRFLOW2_AUTH_BACKENDS),
            "devflow's watch logs in to Airflow 2's /api/v1 with basic auth, which Airflow 2's default (the session backend only) refuses",
        );
    }
}

fn wire_ui(layers: &mut Layers, major: u32) {
    let (component, port_name, port_key) = if major >= 3 {
        ("apiServer", "api-server", "ports.apiServer")
    } else {
        ("webserver", "airflow-ui", "ports.airflowUI")
    };
    let port = layers.get(&path(port_key)).cloned().unwrap_or(json!(8080));
    let reason = "a NodePort the cluster maps to 127.0.0.1 on your machine (kind and k3d have no load balancer)";
    layers.set(&path(&format!("{component}.service.type")), json!("NodePort"), reason);
    layers.set(
        &path(&format!("{component}.service.ports")),
        json!([{"name": port_name, "port": port, "targetPort": port_name, "nodePort": UI_NODE_PORT}]),
        reason,
    );
}

fn wire_database(layers: &mut Layers, namespace: &str) {
    layers.set(
        &path("postgresql.enabled"),
        json!(false),
        "the chart's bundled Bitnami PostgreSQL images no longer pull (chart issues #55069, #57328): devflow runs the official postgres image",
    );
    layers.set(
        &path("data.metadataConnection"),
        json!({
            "user": super::names::POSTGRES_USER,
            "pass": GENERATED,
            "protocol": "postgresql",
            "host": format!("{POSTGRES}.{namespace}"),
            "port": 5432,
            "db": super::names::POSTGRES_DB,
            "sslmode": "disable",
        }),
        "devflow's PostgreSQL in the cluster (its password is generated and kept in devflow's state folder)",
    );
    let hooks = "as Helm hooks these jobs would deadlock with waiting for the pods that wait for them; devflow runs and waits for them itself";
    for job in ["migrateDatabaseJob", "createUserJob"] {
        layers.set(&path(&format!("{job}.useHelmHooks")), json!(false), hooks);
        layers.set(&path(&format!("{job}.applyCustomEnv")), json!(false), hooks);
    }
}

/// The CeleryExecutor needs a broker; the production one (its URL was removed) is not reachable.
fn wire_broker(layers: &mut Layers, executor: &str) {
    if executor.contains("Celery") {
        let reason =
            "the CeleryExecutor's broker: the chart's Redis in the cluster (the production broker is not reachable)";
        layers.set(&path("redis.enabled"), json!(true), reason);
        layers.set(&path("redis.persistence.enabled"), json!(false), "a laptop's broker keeps nothing worth a volume");
    }
}

fn wire_secrets(layers: &mut Layers, major: u32, own_cluster: bool) -> Vec<Path> {
    let admin = "devflow creates the admin user you log in with; `devflow creds` prints it";
    // The chart's job passes the password as a literal `-p` argument (chart 1.22.0
    // `templates/jobs/create-user-job.yaml`), readable by whoever reads Jobs in the namespace: on a
    // shared cluster devflow creates the user itself, through exec with the password on stdin.
    let (job, job_reason) = if own_cluster {
        (true, admin)
    } else {
        (
            false,
            "on a shared cluster the chart's job would carry the admin password as a literal `-p` argument in its Job spec; devflow creates the admin user itself through exec into the UI pod, the password on standard input",
        )
    };
    layers.set(&path("createUserJob.enabled"), json!(job), job_reason);
    for (key, value) in
        [("createUserJob.defaultUser.enabled", json!(true)), ("createUserJob.defaultUser.username", json!(ADMIN_USER))]
    {
        layers.set(&path(key), value, admin);
    }
    let mut secrets = vec![path(super::ADMIN_PASSWORD_KEY), path("fernetKey"), path(super::DATABASE_PASSWORD_KEY)];
    if major >= 3 {
        secrets.extend([path("apiSecretKey"), path("jwtSecret")]);
    } else {
        secrets.push(path("webserverSecretKey"));
    }
    for key in &secrets {
        layers.set(key, json!(GENERATED), "generated once by devflow and kept (mode 0600) in its state folder, so the database and logins survive upgrades");
    }
    secrets
}

/// The user's own chart values, in the order they apply: devflow.toml's [airflow] executor,
/// version and image, then [airflow.config], [airflow.set] and --set. Each with where it was written.
fn user_settings(project: &Project) -> Vec<(Path, Value, String)> {
    let mut out = Vec::new();
    let mut explicit = |key: &str, value: &str, origin: &str| out.push((path(key), json!(value), origin.to_string()));
    if let Some(executor) = &project.executor {
        explicit("executor", executor, "devflow.toml [airflow] executor");
    }
    if let Some(version) = &project.airflow_version {
        // config has checked that it is MAJOR.MINOR.PATCH, so it is also the image's tag.
        explicit("airflowVersion", version, "devflow.toml [airflow] version");
        if project.image.is_none() {
            explicit("defaultAirflowTag", version, "devflow.toml [airflow] version");
        }
    }
    if let Some(image) = &project.image {
        let (repository, reference) = split_image(image);
        explicit("images.airflow.repository", repository, "devflow.toml [airflow] image");
        let key = if reference.starts_with("sha256:") { "images.airflow.digest" } else { "images.airflow.tag" };
        explicit(key, reference, "devflow.toml [airflow] image");
    }
    out.extend(project.overrides.iter().map(|o| (o.path.clone(), o.value.clone(), o.origin.clone())));
    out
}

/// `registry:5000/team/airflow:2.1` → (`registry:5000/team/airflow`, `2.1`); a digest wins over a tag.
fn split_image(image: &str) -> (&str, &str) {
    if let Some((repository, digest)) = image.split_once('@') {
        let repository =
            repository.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).map_or(repository, |(r, _)| r);
        return (repository, digest);
    }
    image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).unwrap_or((image, "latest"))
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn images_split_into_repository_and_tag_or_digest() {
        assert_eq!(split_image("registry:5000/team/airflow:2.1"), ("registry:5000/team/airflow", "2.1"));
        assert_eq!(split_image("apache/airflow:3.2.2@sha256:abc"), ("apache/airflow", "sha256:abc"));
    }
}
