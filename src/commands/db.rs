//! `devflow db …`: the database's snapshots taken, listed, restored and deleted, and a dump from
//! elsewhere imported (the work is `database`'s).

use anyhow::{Context, Result};

use crate::cli::{DbCommand, YesFlag};
use crate::config::{Flags, StateFile};
use crate::database::{self, Database, Snapshots, components};
use crate::env::Env;
use crate::executor;
use crate::session::Session;
use crate::state::Phase;
use crate::ui::Printer;

pub async fn run(command: &DbCommand, env: &Env, printer: &mut Printer) -> Result<()> {
    match command {
        DbCommand::Snapshot(args) => {
            let session = Session::open_made(env, printer)?;
            let info = database::snapshot(&session, args.name.as_deref(), printer)
                .await
                .context("cannot take a snapshot of the database")?;
            printer.set_mode(super::json_mode(args.json));
            printer.result(&info, database::described)?;
        }
        DbCommand::Restore(args) => {
            let session = Session::open_made(env, printer)?;
            let restored = database::restore(&session, &args.name, printer)
                .await
                .with_context(|| format!("cannot restore snapshot {}", args.name))?;
            printer.done(&format!("Restored {} ({:.1}s to load)", restored.from, restored.seconds));
            printer.json_result(&restored)?;
        }
        DbCommand::Import(args) => {
            let session = Session::open_made(env, printer)?;
            let restored = database::import(&session, &args.file, printer)
                .await
                .with_context(|| format!("cannot import {}", args.file.display()))?;
            printer.done(&format!("Imported {} ({:.1}s to load)", restored.from, restored.seconds));
            printer.json_result(&restored)?;
        }
        DbCommand::Reset(args) => reset(args, env, printer).await?,
        DbCommand::Seed(args) => {
            let session = Session::open_made(env, printer)?;
            let seeded = database::seed(&session, args.runs, printer).await.context("cannot seed DAG runs")?;
            printer.set_mode(super::json_mode(args.json));
            printer.result(&seeded, seeded_text)?;
        }
        DbCommand::List(args) => {
            let session = Session::open_made(env, printer)?;
            let all = Snapshots::in_state_dir(session.store.dir()).list()?;
            printer.set_mode(super::json_mode(args.json));
            printer.result(&all, |all| list_text(all))?;
        }
        DbCommand::Delete(args) => {
            let session = Session::open_made(env, printer)?;
            let gone = Snapshots::in_state_dir(session.store.dir()).delete(&args.name)?;
            printer.done(&format!("Deleted snapshot {} ({})", gone.name, database::files::size(gone.bytes)));
            printer.json_result(&gone)?;
        }
    }
    Ok(())
}

fn list_text(all: &[database::SnapshotInfo]) -> String {
    if all.is_empty() {
        return "no snapshots yet: `devflow db snapshot NAME` takes one".to_string();
    }
    let mut lines = vec![format!("{:<24} {:>9}  {:<20}  {:<8} {}", "NAME", "SIZE", "TAKEN", "AIRFLOW", "CHART")];
    for s in all {
        lines.push(format!(
            "{:<24} {:>9}  {:<20}  {:<8} {}",
            s.name,
            database::files::size(s.bytes),
            s.created,
            s.airflow_version,
            s.chart_version
        ));
    }
    lines.join("\n")
}

fn seeded_text(seeded: &database::Seeded) -> String {
    let rate = if seeded.seconds > 0.0 { seeded.runs as f64 / seeded.seconds } else { 0.0 };
    let mut lines = vec![format!(
        "{} DAG runs, {} task instances of {} DAGs in {:.1}s ({rate:.0} runs/s)",
        seeded.runs,
        seeded.task_instances,
        seeded.dags.len(),
        seeded.seconds
    )];
    lines.extend(seeded.skipped.iter().map(|(dag, why)| format!("skipped {dag}: {why}")));
    lines.join("\n")
}

/// An empty database, migrated: the components stop, the database is swapped for an empty one,
/// and `up`'s release step runs again: it deletes the chart's finished jobs and upgrades the
/// release, so the migration and create-user jobs run once more, and Helm's three-way merge puts
/// the components' replicas back.
async fn reset(args: &YesFlag, env: &Env, printer: &mut Printer) -> Result<()> {
    let session = Session::open_made(env, printer)?;
    if !args.yes {
        let question = "Replace Airflow's database with an empty one (its runs, connections and variables go; the snapshots stay)?";
        match printer.confirm(question) {
            Some(true) => {}
            Some(false) => {
                printer.note("nothing was changed");
                return Ok(());
            }
            None => return Err(database::Error::NotConfirmed.into()),
        }
    }
    let database = Database::open(&session).await?;
    let (plan, store) = (&session.plan, &session.store);
    components::stop(&database.kube, plan, store, printer).await?;
    printer
        .step("Replacing the database with an empty one", database.empty(), |()| "Emptied the database".into())
        .await?;
    // The release is upgraded again even though its values did not change.
    session.record(|state| state.release = Phase::Started { digest: String::new() })?;
    let again = Session::open_made(env, printer)?;
    let options = executor::Options { flags: Flags::default(), ..executor::Options::from_project_files() };
    executor::run(&again, &options, printer).await.context("cannot migrate the empty database")?;
    store.remove_file(StateFile::StoppedComponents)?;
    printer.done("The database is new and migrated (`devflow creds` prints the admin's login)");
    Ok(())
}
