//! One module per command. Each takes its parsed arguments and the `Printer`, and returns an
//! error with context for `main` to print once.

pub mod init;
pub mod render;

use std::path::Path;

use anyhow::Result;

use crate::cli::{Command, ProjectFlags};
use crate::config::{self, Project};
use crate::ui::Printer;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "`devflow {command}` is not built yet: this release plans the environment but does not create it\n  `devflow render --only plan` shows the steps `{command}` will run"
    )]
    NotBuilt { command: &'static str },
    #[error("{path} already exists\n  use `devflow init --force` to overwrite it (dags/ is left as it is)")]
    AlreadyInitialised { path: String },
}

pub fn run(command: &Command, printer: &mut Printer) -> Result<()> {
    match command {
        Command::Init(args) => init::run(args, printer),
        Command::Render(args) => render::run(args, printer),
        other => Err(Error::NotBuilt { command: other.name() }.into()),
    }
}

/// The project at or above `cwd`, with a note (once) when there is no devflow.toml.
pub fn load_project(cwd: &Path, flags: &ProjectFlags, set: &[String], printer: &mut Printer) -> Result<Project> {
    let project = config::load(cwd, flags, set)?;
    if project.file.is_none() {
        printer.note(&format!(
            "no {} here or above: using defaults (project `{}`, DAGs in {}); `devflow init` writes one",
            config::FILE_NAME,
            project.name,
            project.dags.strip_prefix(cwd).unwrap_or(&project.dags).display()
        ));
    }
    Ok(project)
}
