//! One module per command. Each takes its parsed arguments and the `Printer`, and returns an
//! error with context for `main` to print once.

pub mod creds;
pub mod doctor;
pub mod down;
mod forward;
pub mod init;
mod inside;
mod lifecycle;
pub mod logs;
pub mod pause;
mod push;
pub mod render;
pub mod status;
pub mod up;
pub mod watch;

use std::path::Path;

use anyhow::Result;

pub use lifecycle::ComponentError;

use crate::cli::{Command, ProjectFlags, SettingsCommand};
use crate::config::{self, Project};
use crate::ui::Printer;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path} already exists\n  use `devflow init --force` to overwrite it (dags/ is left as it is)")]
    AlreadyInitialised { path: String },
    #[error(
        "interrupted: devflow stopped `{command}` and what it was running; its state is saved\n  run `devflow {command}` again to carry on"
    )]
    Interrupted { command: &'static str },
    /// A command run in the cluster ended with this exit code; devflow ends with it too, and
    /// says nothing more (the command said why).
    #[error("the command exited with code {code}")]
    Exited { code: u8 },
}

pub fn run(command: &Command, printer: &mut Printer) -> Result<()> {
    match command {
        Command::Init(args) => init::run(args, printer),
        Command::Render(args) => render::run(args, printer),
        Command::Creds(args) => creds::run(args, printer),
        Command::Up(args) => {
            let watch = block_on(command, up::run(args, printer))?;
            match watch {
                Some(settings) => watch::until_ctrl_c(settings, printer),
                None => Ok(()),
            }
        }
        Command::Down(args) => block_on(command, down::run(args, printer)),
        Command::Stop => block_on(command, pause::stop(printer)),
        Command::Start(args) => block_on(command, pause::start(args, printer)),
        Command::Status(args) => block_on(command, status::run(args, printer)),
        Command::Doctor(args) => block_on(command, doctor::run(args, printer)),
        Command::Watch(args) => watch::run(args, printer),
        Command::Logs(args) => block_on(command, logs::run(args, printer)),
        Command::Airflow(args) => block_on(command, inside::airflow(args, printer)),
        Command::Shell(args) => block_on(command, inside::shell(args, printer)),
        Command::Open(args) => block_on(command, inside::open(args, printer)),
        Command::Test(args) => block_on(command, inside::test(args, printer)),
        Command::Push(args) => block_on(command, push::run(args, printer)),
        Command::Settings(SettingsCommand::Import(args)) => block_on(command, inside::settings_import(args, printer)),
    }
}

/// Runs a command's async work; Ctrl-C drops it, which kills any tool it was running (they are
/// spawned kill-on-drop) and leaves the state as last saved.
fn block_on<T>(command: &Command, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    runtime()?.block_on(async {
        tokio::select! {
            // Work that ends quietly on Ctrl-C itself (`logs -f`) wins over the interruption.
            biased;
            result = work => result,
            _ = tokio::signal::ctrl_c() => Err(Error::Interrupted { command: command.name() }.into()),
        }
    })
}

/// The single-threaded runtime devflow's async work runs on (Docker, Kubernetes, the tools).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start devflow's async runtime: {e}"))
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
