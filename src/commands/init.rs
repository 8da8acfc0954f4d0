//! `devflow init`: a commented devflow.toml, and dags/ with one example DAG when there is none.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::Error;
use crate::cli::InitArgs;
use crate::config::{self, Provider};
use crate::env::Env;
use crate::plan::cluster::{DEFAULT_KUBERNETES, supported_minors};
use crate::profile::{self, ProfileRef};
use crate::ui::Printer;

const EXAMPLE_DAG: &str = "example_dag.py";

pub fn run(args: &InitArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let cwd = &env.cwd;
    let target = cwd.join(config::FILE_NAME);
    if target.exists() && !args.force {
        return Err(Error::AlreadyInitialised { path: target.display().to_string() }.into());
    }

    // Everything is checked before anything is written.
    let flags = &args.project;
    let profile_name = flags.profile.clone().unwrap_or_else(|| config::DEFAULT_PROFILE.to_string());
    let profile = profile::load(&ProfileRef::new(&profile_name, cwd))?;
    let name = match &args.name {
        Some(name) => {
            config::check_cluster_name(name)
                .map_err(|why| config::Error::Setting { message: format!("--name {why}") })?;
            name.clone()
        }
        None => config::name_from_folder(cwd).map_err(|_| config::Error::Setting {
            message: format!(
                "the folder name {:?} cannot become a cluster name (no letters or digits)\n  give one with `devflow init --name my-project`",
                cwd.file_name().unwrap_or_default().to_string_lossy()
            ),
        })?,
    };
    let mut values = Vec::new();
    for file in &flags.values {
        let path = config::values_flag(cwd, file)?;
        values.push(path.strip_prefix(cwd).unwrap_or(&path).display().to_string());
    }
    let provider = flags.provider.unwrap_or(Provider::Kind);
    // A shared cluster is named by a kube context: the one kubectl uses now is the likely one.
    let context = (provider == Provider::Existing).then(|| crate::kube::current_context(env)).flatten();
    let text = project_file(&name, provider, context.as_deref(), &profile_name, &values);

    let dags = cwd.join("dags");
    let created_dags = !dags.exists();
    if created_dags {
        fs::create_dir(&dags).with_context(|| format!("cannot create {}", dags.display()))?;
        let module = if profile.airflow_major() >= 3 { "airflow.sdk" } else { "airflow.decorators" };
        fs::write(dags.join(EXAMPLE_DAG), EXAMPLE_DAG_TEXT.replacen("IMPORT", module, 1))
            .with_context(|| format!("cannot write {}", dags.join(EXAMPLE_DAG).display()))?;
    }
    if let Err(e) = write_atomically(&target, &text) {
        if created_dags {
            let _ = fs::remove_dir_all(&dags);
        }
        return Err(e).with_context(|| format!("cannot write {}", target.display()));
    }

    printer.done(&format!("wrote {} (project `{name}`, profile `{profile_name}`)", config::FILE_NAME));
    match (provider, &context) {
        (Provider::Existing, Some(context)) => printer.note(&format!(
            "the cluster is your current kube context `{context}`: change `context` in {} for another",
            config::FILE_NAME
        )),
        (Provider::Existing, None) => printer.note(&format!(
            "no current kube context: set `context` under [cluster] in {} (`kubectl config get-contexts` lists them)",
            config::FILE_NAME
        )),
        _ => {}
    }
    if created_dags {
        printer.done(&format!("created dags/{EXAMPLE_DAG}"));
    } else {
        printer.note("dags/ exists: left as it is");
    }
    printer.out("next: `devflow up` starts Airflow; `devflow doctor` checks this machine first, `devflow render` shows what `up` will create")?;
    Ok(())
}

/// Written next to the target and renamed over it, so a failure leaves no half-written file.
fn write_atomically(target: &Path, text: &str) -> std::io::Result<()> {
    let temporary = target.with_extension("toml.tmp");
    fs::write(&temporary, text)?;
    fs::rename(&temporary, target).inspect_err(|_| {
        let _ = fs::remove_file(&temporary);
    })
}

fn project_file(name: &str, provider: Provider, context: Option<&str>, profile: &str, values: &[String]) -> String {
    let values_line = if values.is_empty() {
        "# values = [\"deploy/prod-values.yaml\"]   # your production Helm values, shrunk to laptop size".to_string()
    } else {
        let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        format!("values = [{}]   # your production Helm values, shrunk to laptop size", quoted.join(", "))
    };
    format!(
        r#"# devflow.toml: the project file of devflow. `devflow render` shows what it makes of it.
# Every key is optional; the values written here are the defaults unless noted.

name = "{name}"   # the cluster's name: lowercase letters, digits and -, at most 32 characters
dags = "dags"                      # mounted read-only into every Airflow pod
# plugins = "plugins"              # mounted too when the folder exists (the default)
requirements = "requirements.txt"  # baked into the Airflow image when it exists

[cluster]
{cluster}

[airflow]
profile = "{profile}"   # {profiles}, or a path to your own profile YAML (it can `extends:` one)
chart_version = "1.22.0"
# chart = "charts/airflow"   # a local chart folder or .tgz, or oci://…; default: https://airflow.apache.org
# version = "3.2.2"   # the Airflow version (default: the profile's)
# image = "registry.example.com/data/airflow:2025.11.1"   # your own image instead of apache/airflow
# executor = "CeleryExecutor"   # wins over the profile and your production values
{values_line}

[airflow.set]   # chart values, applied last, e.g.
# "workers.replicas" = 2

[airflow.config]   # airflow.cfg settings, e.g.
# core = {{ parallelism = 8 }}
"#,
        cluster = cluster_table(provider, context),
        profiles = profile::built_in_names(),
    )
}

fn cluster_table(provider: Provider, context: Option<&str>) -> String {
    match provider {
        Provider::Existing => format!(
            r#"provider = "existing"   # a cluster you already have; devflow works in a namespace of its own
context = {context:?}   # the kube context of the cluster (`kubectl config get-contexts`)
# namespace = "devflow-<your user>-<name>"   # the default; devflow creates it and marks it as this project's
# storage_class = "efs-sc"   # a ReadWriteMany StorageClass for the pushed DAGs (default: the cluster's default)
ui_port = 8080         # the Airflow UI at http://127.0.0.1:8080, through devflow's port-forward"#,
            context = context.unwrap_or_default()
        ),
        _ => format!(
            r#"provider = "{provider}"   # kind, k3d, or existing (a cluster you already have)
kubernetes = "{DEFAULT_KUBERNETES}"   # one of {minors}: each maps to a pinned node image
workers = 0            # extra worker nodes besides the control plane
ui_port = 8080         # the Airflow UI at http://127.0.0.1:8080
# dag_delivery = "push"   # copy the DAGs in through exec instead of mounting them (workers = 0 only)"#,
            minors = supported_minors()
        ),
    }
}

/// The example DAG; only its import differs between Airflow 3 (`airflow.sdk`) and Airflow 2.
const EXAMPLE_DAG_TEXT: &str = r#""""An example DAG from `devflow init`: save a change and devflow reports what Airflow made of it."""

from datetime import datetime

from IMPORT import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["devflow"])
def example_devflow():
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    def report(numbers: list[int]) -> None:
        print(f"{len(numbers)} numbers, total {sum(numbers)}")

    report(extract())


example_devflow()
"#;
