//! `devflow up`: the plan's steps carried out by the executor (`--dry-run` prints them and changes
//! nothing), then, unless `--no-watch`, the reload loop, which keeps the flags `up` was given.

use anyhow::{Context, Result};

use crate::cli::UpArgs;
use crate::env::Env;
use crate::executor::{self, Options};
use crate::session::{Follow, Session};
use crate::ui::Printer;

pub fn run(args: &UpArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let options = Options { flags: args.project.settings(&args.set), yes: args.yes, timeout: args.timeout };
    let session = Session::open(env, &options.flags, Follow::Settings, printer)?;
    if args.dry_run {
        return printer.out(&session.plan.steps_text()).context("cannot write to standard output");
    }
    let pushers = super::block_on("up", executor::run(&session, &options, printer))?;
    if args.no_watch {
        return Ok(());
    }
    let watching = super::watch::for_session(&session, pushers, options, printer)?;
    super::watch::until_ctrl_c(watching, printer)
}
