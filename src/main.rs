//! devflow: production-parity Apache Airflow on a laptop. This file only parses the command line,
//! runs the command and turns its error, printed once, into the exit code.

// No function of devflow's is over 80 lines (clippy.toml): CI's `-D warnings` keeps it so.
#![warn(clippy::too_many_lines)]

mod airflow;
mod cli;
mod commands;
mod config;
mod dagrun;
mod database;
mod docker;
mod env;
mod error;
mod executor;
mod helm;
mod kube;
mod pins;
mod plan;
mod profile;
mod provider;
mod redact;
mod runtime;
mod schemas;
mod session;
mod state;
mod sync;
mod tool;
mod ui;
mod upgrade;
mod values;
mod version;
mod watch;
mod words;

use std::process::ExitCode;

use clap::Parser;

use error::{ErrorKind, Kind};

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(refused) => return ui::refused_command_line(refused),
    };
    // Under `--json` everything the command says is JSON, from its first word to its error.
    let mode = if cli.command.json() { ui::Mode::Json } else { ui::Mode::Text };
    let env = match env::Env::read() {
        Ok(env) => env,
        Err(error) => {
            let mut printer = ui::Printer::terminal(&env::Env::default());
            printer.set_mode(mode);
            printer.failure(&error, ErrorKind::Environment);
            return ExitCode::from(ErrorKind::Environment.exit_code());
        }
    };
    let mut printer = ui::Printer::terminal(&env);
    printer.set_mode(mode);
    printer.set_verbose(cli.verbose);
    let result = commands::run(&cli.command, &env, &mut printer);
    printer.show_records();
    match result {
        Ok(commands::Exit(code)) => ExitCode::from(code),
        Err(error) => {
            let kind = kind(&error);
            printer.failure(&error, kind);
            ExitCode::from(kind.exit_code())
        }
    }
}

/// The kind of the first error along the chain whose type is one of devflow's own (each says the
/// kind of each of its errors); an error devflow did not type is the environment's.
fn kind(error: &anyhow::Error) -> ErrorKind {
    error.chain().find_map(kind_of).unwrap_or(ErrorKind::Environment)
}

fn kind_of(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    macro_rules! first_of {
        ($($type:ty),* $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$type>() {
                return Some(e.kind());
            })*
        };
    }
    first_of!(
        config::Error,
        profile::Error,
        plan::Error,
        state::Error,
        tool::Error,
        tool::install::Error,
        docker::Error,
        kube::Error,
        helm::Error,
        provider::Error,
        provider::nodes::OutputError,
        executor::Error,
        sync::Error,
        airflow::Error,
        airflow::incluster::Error,
        database::Error,
        watch::Error,
        commands::Error,
        commands::down::Error,
        commands::doctor::Blocked,
        commands::watch::WatchError,
        commands::run::RunError,
        commands::upgrade::UpgradeError,
    );
    None
}
