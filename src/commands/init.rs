//! `devflow init`: a commented devflow.toml, and dags/ with one example DAG when there is none.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::Error;
use crate::cli::InitArgs;
use crate::config::{self, template};
use crate::env::Env;
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
    let provider = flags.provider.unwrap_or_default();
    let settings = flags.settings(&[]);
    config::check_cluster_flags(&settings, provider)?;
    // A shared cluster is named by a kube context: the one kubectl uses now is the likely one.
    let current = if flags.context.is_none() { crate::kube::current_context(env) } else { None };
    let cluster = template::ClusterChoice {
        provider,
        context: flags.context.as_deref().or(current.as_deref()),
        namespace: flags.namespace.as_deref(),
        ui_port: flags.ui_port.unwrap_or(config::DEFAULT_UI_PORT),
    };
    let text = template::project_file(&name, &cluster, &profile_name, &values);

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
    if let Some(note) = template::context_note(provider, flags.context.is_some(), current.as_deref()) {
        printer.note(&note);
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
