//! The thin edge: one module per command. Each maps its parsed arguments to the settings of the
//! parts below (`config::Flags`, `executor::Options`, a Printer mode), opens a `Session` for the
//! project when it acts on one, asks the parts (the provider's `Backend`, the `executor`, `kube`,
//! `sync`, `watch`) to do the work, and returns an error with context, or how it ended, for
//! `main` to print once. A new command is a file here, a variant in `cli::Command` and a line in
//! `run`.

pub mod completions;
pub mod creds;
mod db;
pub mod doctor;
pub mod down;
pub mod init;
mod inside;
pub mod list;
pub mod logs;
mod moved;
pub mod pause;
mod push;
pub mod render;
pub mod run;
pub mod status;
pub mod up;
pub mod upgrade;
pub mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;

use crate::cli::{Command, SettingsCommand};
use crate::env::Env;
use crate::error::ErrorKind;
use crate::ui::{Mode, Printer};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path} already exists\n  use `devflow init --force` to overwrite it (dags/ is left as it is)")]
    AlreadyInitialised { path: String },
    #[error(
        "interrupted: devflow stopped `{command}` and what it was running; its state is saved\n  run `devflow {command}` again to carry on"
    )]
    Interrupted { command: &'static str },
    #[error(
        "your production values reference {what} that only production has; devflow stands in for them, but {file} has no value for:\n  {}\n  {hint}",
        missing.join("\n  ")
    )]
    StandInValues { what: String, file: &'static str, missing: Vec<String>, hint: String },
    #[error(
        "{what}, and it is in the way: this project's cluster would have the same name\n  run `devflow up --yes` to carry it over (devflow removes it and makes this project's in its place), or `devflow down --path {folder}` to remove it first"
    )]
    InTheWay { what: String, folder: String },
}

impl crate::error::Kind for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::AlreadyInitialised { .. } => ErrorKind::Input,
            Error::Interrupted { .. } => ErrorKind::Interrupted,
            Error::StandInValues { .. } => ErrorKind::Input,
            Error::InTheWay { .. } => ErrorKind::Input,
        }
    }
}

/// How a command ended without an error: 0, or the exit code of what it ran in the cluster
/// (`airflow`, `shell`) or of what it found (`test`). devflow ends with it, and says nothing more:
/// the command said why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(pub u8);

impl Exit {
    pub const SUCCESS: Exit = Exit(0);
}

pub fn run(command: &Command, env: &Env, printer: &mut Printer) -> Result<Exit> {
    let name = command.name();
    let done = |result: Result<()>| result.map(|()| Exit::SUCCESS);
    match command {
        Command::Init(args) => done(init::run(args, env, printer)),
        Command::Render(args) => done(render::run(args, env, printer)),
        Command::Creds(args) => done(creds::run(args, env, printer)),
        Command::Completions(args) => done(completions::run(args, printer)),
        Command::Up(args) => done(up::run(args, env, printer)),
        Command::Down(args) => done(block_on(name, down::run(args, env, printer))),
        Command::Stop(_) => done(block_on(name, pause::stop(env, printer))),
        Command::Start(args) => done(block_on(name, pause::start(args, env, printer))),
        Command::Status(args) => done(block_on(name, status::run(args, env, printer))),
        Command::List(args) => done(block_on(name, list::run(args, env, printer))),
        Command::Doctor(args) => done(block_on(name, doctor::run(args, env, printer))),
        Command::Watch(args) => done(watch::run(args, env, printer)),
        Command::Run(args) => run::run(args, env, printer),
        Command::Logs(args) => done(block_on(name, logs::run(args, env, printer))),
        Command::Airflow(args) => block_on(name, inside::airflow(args, env, printer)),
        Command::Shell(args) => block_on(name, inside::shell(args, env, printer)),
        Command::Open(args) => done(block_on(name, inside::open(args, env, printer))),
        Command::Test(args) => block_on(name, inside::test(args, env, printer)),
        Command::Upgrade(args) => done(block_on(name, upgrade::run(args, env, printer))),
        Command::Push(args) => done(block_on(name, push::run(args, env, printer))),
        Command::Db(command) => done(block_on(name, db::run(command, env, printer))),
        Command::Settings(SettingsCommand::Import(args)) => {
            done(block_on(name, inside::settings_import(args, env, printer)))
        }
    }
}

/// Runs a command's async work; Ctrl-C drops it, which stops any tool it was running (SIGTERM to
/// the tool's process group, SIGKILL a few seconds later: `tool::Program::run`) and leaves the
/// state as last saved.
fn block_on<T>(command: &'static str, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let runtime = crate::runtime::new().map_err(|e| anyhow::anyhow!("cannot start devflow's async runtime: {e}"))?;
    runtime.block_on(async {
        tokio::select! {
            // Work that ends quietly on Ctrl-C itself (`logs -f`) wins over the interruption.
            biased;
            result = work => result,
            _ = tokio::signal::ctrl_c() => Err(Error::Interrupted { command }.into()),
        }
    })
}

/// A flag set when Ctrl-C is pressed, for a loop that ends on it in its own way (a watch, a run
/// followed): a runtime of its own on a thread of its own hears the signal.
fn ctrl_c_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let runtime = crate::runtime::new()?;
    std::thread::spawn(move || {
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    Ok(stop)
}

/// The output mode of a command with a `--json` flag.
fn json_mode(json: bool) -> Mode {
    if json { Mode::Json } else { Mode::Text }
}
