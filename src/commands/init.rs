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
    let scaffolded = scaffold(cwd, created_dags)?;
    if let Some(note) = template::context_note(provider, flags.context.is_some(), current.as_deref()) {
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
    if !scaffolded.is_empty() {
        printer.done(&format!("created {} (each only where it was missing)", scaffolded.join(", ")));
    }
    let mut created = vec![config::FILE_NAME.to_string()];
    created.extend(created_dags.then(|| format!("dags/{EXAMPLE_DAG}")));
    created.extend(scaffolded);
    let result = Initialised { project: name, profile: profile_name, created, next: NEXT };
    printer.result(&result, |result| format!("next: {}", result.next))?;
    Ok(())
}

const NEXT: &str = "`devflow up` starts Airflow; `devflow doctor` checks this machine first, `devflow render` shows what `up` will create";

/// `init --json`: the project written, and every file and folder made for it.
#[derive(serde::Serialize)]
struct Initialised {
    project: String,
    profile: String,
    created: Vec<String>,
    next: &'static str,
}

/// What an Astro project has beside its DAGs, written only where missing, never over a file:
/// the image's inputs (empty: devflow builds an image only once they list something), a
/// plugins folder, the DAG folder's ignore file, a DAG import test, the .gitignore lines for
/// devflow's local files, and a CI example. Returns what it created. Inside the DAG folder only
/// when `init` made it.
fn scaffold(root: &Path, created_dags: bool) -> Result<Vec<String>> {
    let mut created = Vec::new();
    // A DAG folder that was there is left as it is.
    for (path, text) in SCAFFOLD.into_iter().filter(|(path, _)| created_dags || !path.starts_with("dags/")) {
        let target = root.join(path);
        if target.exists() {
            continue;
        }
        let folder = if path.ends_with('/') { Some(target.as_path()) } else { target.parent() };
        if let Some(folder) = folder {
            fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
        }
        if !path.ends_with('/') {
            fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))?;
        }
        created.push(path.to_string());
    }
    let gitignore = root.join(".gitignore");
    let existing = fs::read_to_string(&gitignore).unwrap_or_default();
    let missing: Vec<&str> =
        GITIGNORED.iter().copied().filter(|line| !existing.lines().any(|l| l.trim() == *line)).collect();
    if !missing.is_empty() {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# devflow's local files: stand-in secrets and environment\n");
        text.extend(missing.iter().map(|line| format!("{line}\n")));
        fs::write(&gitignore, text).with_context(|| format!("cannot write {}", gitignore.display()))?;
        created.push(if existing.is_empty() {
            ".gitignore".to_string()
        } else {
            format!(".gitignore ({} line(s) added)", missing.len())
        });
    }
    Ok(created)
}

/// Paths relative to the project; a trailing `/` is a folder.
const SCAFFOLD: [(&str, &str); 6] = [
    (
        "requirements.txt",
        "# Python packages for the Airflow image, one per line as pip reads them, e.g.\n# apache-airflow-providers-postgres\n# devflow builds the image once a line here names one (Airflow itself stays the profile's).\n",
    ),
    ("packages.txt", ""),
    ("plugins/", ""),
    (
        "dags/.airflowignore",
        "# Files in dags/ that Airflow does not parse, one pattern per line (.gitignore's syntax), e.g.\n# helpers/\n",
    ),
    ("tests/test_dag_imports.py", DAG_IMPORT_TEST),
    (".github/workflows/devflow.yml.example", CI_EXAMPLE),
];

const GITIGNORED: [&str; 3] = [".devflow/", ".env", "__pycache__/"];

/// A DAG import test: the check `devflow test` runs in the cluster's own image, for pytest where
/// Airflow is installed.
const DAG_IMPORT_TEST: &str = r#""""Every DAG in dags/ imports, and has tasks: what `devflow test` checks in the cluster's image.

Run it where Airflow is installed with `pytest tests/`; `devflow test` runs the same check inside
the cluster, with the project's image and Airflow version.
"""

from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_every_dag_imports_and_has_tasks():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2, and Airflow 3 before 3.1
        from airflow.models.dagbag import DagBag
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    assert all(dag.tasks for dag in bag.dags.values())
"#;

const CI_EXAMPLE: &str = r#"# A CI job for this project's DAGs (rename to devflow.yml to use it): an Airflow on kind, with
# the production chart and values, and every DAG imported in the cluster's own image.
name: devflow
on: [push, pull_request]
jobs:
  dags:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: devflow
        run: cargo install --locked --git <devflow's repository URL> devflow
      - run: devflow up --yes --no-watch
      - run: devflow test
      - if: always()
        run: devflow down --yes
"#;

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
