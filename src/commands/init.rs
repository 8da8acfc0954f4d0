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
    // A shared cluster is named by a kube context: the one kubectl uses now is the likely one.
    let context = crate::kube::current_context(env);
    let text = template::project_file(&name, provider, context.as_deref(), &profile_name, &values);

    let dags = cwd.join("dags");
    let created_dags = !dags.exists();
    let major = profile.airflow_major();
    if created_dags {
        fs::create_dir(&dags).with_context(|| format!("cannot create {}", dags.display()))?;
        fs::write(dags.join(EXAMPLE_DAG), example_dag(major))
            .with_context(|| format!("cannot write {}", dags.join(EXAMPLE_DAG).display()))?;
    }
    let swapped = !created_dags && swap_example(&dags.join(EXAMPLE_DAG), major)?;
    if let Err(e) = write_atomically(&target, &text) {
        if created_dags {
            let _ = fs::remove_dir_all(&dags);
        }
        return Err(e).with_context(|| format!("cannot write {}", target.display()));
    }

    printer.done(&format!("wrote {} (project `{name}`, profile `{profile_name}`)", config::FILE_NAME));
    if let Some(note) = template::context_note(provider, context.as_deref()) {
        printer.note(&note);
    }
    if created_dags {
        printer.done(&format!("created dags/{EXAMPLE_DAG}"));
    } else if swapped {
        let other = if major >= 3 { 2 } else { 3 };
        printer.done(&format!(
            "replaced dags/{EXAMPLE_DAG}, devflow's untouched Airflow {other} example, with the Airflow {major} one; the rest of dags/ is left as it is"
        ));
    } else {
        printer.note("dags/ exists: left as it is");
    }
    printer.out("next: `devflow up` starts Airflow; `devflow doctor` checks this machine first, `devflow render` shows what `up` will create")?;
    Ok(())
}

/// devflow's example DAG for an Airflow major version.
fn example_dag(major: u32) -> String {
    EXAMPLE_DAG_TEXT.replacen("IMPORT", if major >= 3 { "airflow.sdk" } else { "airflow.decorators" }, 1)
}

/// Replaces devflow's own example for the other Airflow major, untouched, with this major's; a
/// file the user edited (or wrote) is left alone. True when it replaced it.
fn swap_example(file: &Path, major: u32) -> Result<bool> {
    let other = if major >= 3 { 2 } else { 3 };
    let Ok(text) = fs::read_to_string(file) else { return Ok(false) };
    if text != example_dag(other) {
        return Ok(false);
    }
    write_atomically(file, &example_dag(major)).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(true)
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
