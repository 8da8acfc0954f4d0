//! `devflow upgrade`: the project opened as it runs and as planned on the new versions, the user's
//! yes before a new version is kept, the steps planned (`upgrade::steps`), printed (`--dry-run`)
//! or run, and the report. `--rollback` returns to the last upgrade's snapshot and release.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::cli::UpgradeArgs;
use crate::config::{Flags, StateFile};
use crate::env::Env;
use crate::error::ErrorKind;
use crate::executor;
use crate::helm::Helm;
use crate::session::{Follow, Session};
use crate::tool::{self, Tool};
use crate::ui::Printer;
use crate::upgrade::run::{self, Upgrade};
use crate::upgrade::{self, Ending, Record, Release, Report, Step};

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(
        "`devflow upgrade` without --rehearse keeps Airflow {to} and writes it to devflow.toml, and there is no terminal to ask on\n  pass --yes to keep it, or --rehearse to try it and return to Airflow {from}"
    )]
    NeedsYes { from: String, to: String },
    #[error(
        "nothing changed: Airflow {from} keeps running\n  `devflow upgrade --airflow {to} --rehearse` tries the upgrade and returns to Airflow {from}"
    )]
    Declined { from: String, to: String },
    #[error(
        "this project already runs Airflow {airflow} on the chart {chart}\n  give another version: --airflow 3.x.y (or --chart 1.x.y)"
    )]
    Same { airflow: String, chart: String },
    #[error("the Airflow release is not installed: there is nothing to upgrade\n  `devflow up` installs it")]
    NoRelease,
    #[error("no upgrade to roll back: {0} holds none\n  `devflow upgrade --airflow VERSION` records one")]
    NoUpgrade(String),
}

impl crate::error::Kind for UpgradeError {
    fn kind(&self) -> ErrorKind {
        match self {
            UpgradeError::NoRelease => ErrorKind::Environment,
            _ => ErrorKind::Input,
        }
    }
}

pub async fn run(args: &UpgradeArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    if args.rollback {
        return rollback(args, env, printer).await;
    }
    let old = Session::open_made(env, printer)?;
    let flags = Flags {
        airflow_version: args.airflow.clone(),
        chart_version: args.chart.clone(),
        profile: args.profile.clone(),
        ..Flags::default()
    };
    let new = Session::open(env, &flags, Follow::Made, printer)?;
    let helm = Helm { tool: tool::usable(Tool::Helm, env).await? };
    let installed = helm.status(&old.plan).await.context("cannot ask Helm for the release that runs")?;
    let from = Release {
        airflow: old.plan.airflow_version.clone(),
        chart: old.plan.chart_version.clone(),
        revision: installed.map(|r| r.revision),
    };
    let to =
        Release { airflow: new.plan.airflow_version.clone(), chart: new.plan.chart_version.clone(), revision: None };
    if (&from.airflow, &from.chart) == (&to.airflow, &to.chart) && args.profile.is_none() {
        return Err(UpgradeError::Same { airflow: to.airflow, chart: to.chart }.into());
    }
    let ending = if args.rehearse { Ending::Rehearse } else { Ending::Keep };
    let at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let snapshot = upgrade::snapshot_name(&from, &to, at);
    let mut steps = upgrade::steps(&from, &to, &snapshot, ending);
    if let (Some(profile), Some(Step::WriteVersions { profile: written, .. })) = (&args.profile, steps.last_mut()) {
        *written = Some(profile.clone());
    }
    if args.dry_run {
        return print_steps(&steps, printer);
    }
    if from.revision.is_none() {
        return Err(UpgradeError::NoRelease.into());
    }
    if ending == Ending::Keep && !args.yes {
        let question = format!("Upgrade to Airflow {} and keep it (devflow.toml is written)?", to.airflow);
        let (from, to) = (from.airflow.clone(), to.airflow.clone());
        match printer.confirm(&question) {
            Some(true) => {}
            Some(false) => return Err(UpgradeError::Declined { from, to }.into()),
            None => return Err(UpgradeError::NeedsYes { from, to }.into()),
        }
    }
    let state_before = serde_json::to_value(&old.state).context("cannot read the state")?;
    let record = Record { from, to, snapshot, at, ending, state_before };
    let options = executor::Options { flags, yes: args.yes, timeout: args.timeout };
    let up = Upgrade { old: &old, new: &new, options, record, ending };
    let report = run::upgrade(&up, &steps, printer).await?;
    printer.set_mode(super::json_mode(args.json));
    printer.result(&report, Report::text)?;
    Ok(())
}

/// Back to the snapshot and the release of the last upgrade, and devflow.toml's versions of then.
async fn rollback(args: &UpgradeArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let session = Session::open_made(env, printer)?;
    let file = session.store.path(StateFile::Upgrade);
    let record: Record = match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{} is not devflow's", file.display()))?,
        Err(_) => return Err(UpgradeError::NoUpgrade(session.store.dir().display().to_string()).into()),
    };
    let mut steps = upgrade::back_to(&record.from, &record.snapshot);
    if record.ending == Ending::Keep {
        steps.push(upgrade::write_versions(&record.to, &record.from));
    }
    if args.dry_run {
        return print_steps(&steps, printer);
    }
    let options = executor::Options { flags: Flags::default(), yes: args.yes, timeout: args.timeout };
    let up = Upgrade { old: &session, new: &session, options, record: record.clone(), ending: Ending::Rehearse };
    run::upgrade(&up, &steps, printer).await?;
    std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
    printer.set_mode(super::json_mode(args.json));
    printer.result(&record.from, |from| {
        format!("Rolled back to Airflow {} (chart {}) and the snapshot {}", from.airflow, from.chart, record.snapshot)
    })?;
    Ok(())
}

fn print_steps(steps: &[Step], printer: &mut Printer) -> Result<()> {
    let lines: Vec<String> = steps.iter().enumerate().map(|(i, s)| format!("{}. {}", i + 1, s.describe())).collect();
    printer.out(&lines.join("\n"))?;
    Ok(())
}
