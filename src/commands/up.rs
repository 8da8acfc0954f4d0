//! `devflow up`: the plan's steps carried out by the executor (`--dry-run` prints them and changes
//! nothing), then, unless `--no-watch`, the reload loop, which keeps the flags `up` was given.

use anyhow::{Context, Result};

use crate::cli::UpArgs;
use crate::env::Env;
use crate::executor::{self, Options};
use crate::plan::standins;
use crate::session::{Follow, Session};
use crate::ui::Printer;

pub fn run(args: &UpArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let options = Options { flags: args.project.settings(&args.set), yes: args.yes, timeout: args.timeout };
    let session = Session::open(env, &options.flags, Follow::Settings, printer)?;
    if args.dry_run {
        let plan = &session.plan;
        let steps = DryRun {
            project: &plan.project,
            cluster: plan.cluster_ref(),
            namespace: &plan.namespace,
            steps: &plan.steps,
        };
        return printer.result(&steps, |_| plan.steps_text()).context("cannot write to standard output");
    }
    stand_in_values_ready(&session)?;
    super::block_on("up", super::moved::before_up(&session, args.yes, printer))?;
    let pushers = super::block_on("up", executor::run(&session, &options, printer))?;
    if args.no_watch {
        return Ok(());
    }
    let watching = super::watch::for_session(&session, pushers, options, printer)?;
    super::watch::until_ctrl_c(watching, printer)
}

/// `up --dry-run --json`: the steps `up` would take, each as the plan holds it.
#[derive(serde::Serialize)]
struct DryRun<'a> {
    project: &'a str,
    cluster: crate::plan::ClusterRef,
    namespace: &'a str,
    steps: &'a [crate::plan::Step],
}

/// Every value the stand-ins need is in `.devflow/secrets.env`, before anything starts. When the
/// file does not exist, devflow writes it (0600, git-ignored) with the lines to fill.
fn stand_in_values_ready(session: &Session) -> Result<()> {
    let plan = &session.plan;
    if plan.stand_in_missing.is_empty() {
        return Ok(());
    }
    let file = session.project.root.join(standins::FILE);
    let wrote = !file.exists();
    if wrote {
        write_template(&file, &plan.stand_in_missing)?;
    }
    let names: Vec<String> = plan.stand_ins.iter().map(|s| format!("{:?} {}", s.kind, s.name)).collect();
    Err(super::Error::StandInValues {
        what: names.join(", "),
        file: standins::FILE,
        missing: plan.stand_in_missing.iter().map(|entry| format!("{entry}=")).collect(),
        hint: format!(
            "{} each line with the value your DAGs need on the laptop (not production's), then run `devflow up` again",
            if wrote {
                format!("devflow wrote {} (mode 0600, git-ignored) with these lines: fill", standins::FILE)
            } else {
                format!("add to {}", standins::FILE)
            }
        ),
    }
    .into())
}

fn write_template(file: &std::path::Path, missing: &[String]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = file.parent().expect("the file is in .devflow/");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "# devflow: what is in here stays on this machine\n*\n")
            .with_context(|| format!("cannot write {}", ignore.display()))?;
    }
    let mut text = String::from(
        "# Values of the Secrets and ConfigMaps your production values reference, for the laptop only.\n# One `name/key=value` a line. This file is git-ignored and must stay mode 0600.\n",
    );
    for entry in missing {
        text.push_str(&format!("{entry}=\n"));
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot create {}", file.display()))?;
    out.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", file.display()))
}
