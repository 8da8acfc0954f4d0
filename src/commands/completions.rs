//! `devflow completions SHELL`: the shell's completion script, generated from the clap types so
//! that it never falls behind the commands and flags.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::ui::Printer;

pub fn run(args: &CompletionsArgs, printer: &mut Printer) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "devflow", &mut script);
    let script = String::from_utf8(script).context("clap_complete wrote a script that is not UTF-8")?;
    printer.out(&script).context("cannot write the completion script")
}
