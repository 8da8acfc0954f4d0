//! devflow: production-parity Apache Airflow on a laptop. This file only parses the command line,
//! runs the command and turns its error, printed once, into the exit code.

mod airflow;
mod cli;
mod cluster;
mod commands;
mod config;
mod docker;
mod helm;
mod kube;
mod plan;
mod profile;
mod state;
mod sync;
mod tool;
mod ui;
mod values;
mod watch;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes: 2 when the user's input is wrong (a file, key or flag), 1 when the environment
/// fails or devflow itself does.
const INPUT_ERROR: u8 = 2;
const FAILURE: u8 = 1;
/// The shell's convention for a program stopped by Ctrl-C (128 + SIGINT).
const INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let mut printer = ui::Printer::terminal();
    match commands::run(&cli.command, &mut printer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(commands::Error::Exited { code }) = error.downcast_ref::<commands::Error>() {
                return ExitCode::from(*code);
            }
            printer.error(&error);
            ExitCode::from(exit_code(&error))
        }
    }
}

fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<config::Error>() {
            return if matches!(e, config::Error::Read { .. }) { FAILURE } else { INPUT_ERROR };
        }
        if let Some(e) = cause.downcast_ref::<plan::Error>() {
            return if e.is_bug() { FAILURE } else { INPUT_ERROR };
        }
        if cause.downcast_ref::<commands::watch::WatchError>().is_some()
            || cause.downcast_ref::<commands::ComponentError>().is_some()
        {
            return INPUT_ERROR;
        }
        if cause.downcast_ref::<commands::down::DownError>().is_some() {
            return INPUT_ERROR;
        }
        if cause.downcast_ref::<profile::Error>().is_some() {
            return INPUT_ERROR;
        }
        if let Some(e) = cause.downcast_ref::<commands::Error>() {
            return match e {
                commands::Error::AlreadyInitialised { .. } => INPUT_ERROR,
                commands::Error::Interrupted { .. } => INTERRUPTED,
                commands::Error::Exited { code } => *code,
            };
        }
        if let Some(e) = cause.downcast_ref::<airflow::incluster::Error>() {
            return if matches!(e, airflow::incluster::Error::Output { .. }) { FAILURE } else { INPUT_ERROR };
        }
    }
    FAILURE
}
