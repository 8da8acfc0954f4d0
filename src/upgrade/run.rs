//! The steps of an upgrade carried out, one after the other, with what each found kept for the
//! report. A migration that fails (or an upgrade that stops before its migration is done) is
//! undone at once: the old release back, then the snapshot.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::batch::v1::Job;

use super::{Ending, Migration, Record, Release, Report, Step, When, back_to};
use crate::airflow::incluster::{self, TestReport};
use crate::airflow::pod;
use crate::config::StateFile;
use crate::executor;
use crate::helm::Helm;
use crate::kube::{self, ApiClient};
use crate::plan::{self, selector};
use crate::session::Session;
use crate::tool::{self, Tool};
use crate::ui::Printer;

/// One upgrade: the project as it runs, the project planned on the new versions, and how `up`'s
/// steps for the new one run.
pub struct Upgrade<'a> {
    pub old: &'a Session,
    pub new: &'a Session,
    pub options: executor::Options,
    pub record: Record,
    pub ending: Ending,
}

/// What the steps found so far.
#[derive(Default)]
struct Found {
    before: Option<TestReport>,
    after: Option<TestReport>,
    migration: Option<Migration>,
    not_up: Vec<String>,
    restored: bool,
}

/// Runs the steps; the report of what they found.
pub async fn upgrade(up: &Upgrade<'_>, steps: &[Step], printer: &mut Printer) -> Result<Report> {
    let mut found = Found::default();
    for step in steps {
        run_step(up, step, &mut found, printer).await?;
    }
    let folder = &up.new.plan.dags_mount;
    let (broken, new_deprecations) = match (&found.before, &found.after) {
        (Some(before), Some(after)) => super::compare(before, after, folder),
        _ => Default::default(),
    };
    Ok(Report {
        from: up.record.from.clone(),
        to: up.record.to.clone(),
        snapshot: up.record.snapshot.clone(),
        ending: up.ending,
        migration: found.migration,
        broken,
        new_deprecations,
        not_up: found.not_up,
        restored: found.restored,
    })
}

async fn run_step(up: &Upgrade<'_>, step: &Step, found: &mut Found, printer: &mut Printer) -> Result<()> {
    match step {
        Step::Snapshot { name } => {
            crate::database::snapshot(up.old, Some(name), printer).await?;
        }
        Step::ImportDags { when: When::Before, .. } => found.before = Some(import_dags(up.old, printer).await?),
        Step::ImportDags { when: When::After, .. } => match import_dags(up.new, printer).await {
            Ok(report) => found.after = Some(report),
            Err(e) => found.not_up.push(format!("the DAG import on the new version: {e:#}")),
        },
        Step::Record => {
            let text = serde_json::to_string_pretty(&up.record).context("cannot encode the upgrade's record")?;
            up.old.store.write(StateFile::Upgrade, text.as_bytes(), 0o600)?;
        }
        Step::UpgradeRelease { .. } => upgrade_release(up, found, printer).await?,
        Step::TimeMigration => {
            if found.migration.is_none() {
                found.migration = time_migration(up.new, printer).await?;
            }
        }
        Step::RollbackRelease { to } => rollback_release(up.old, to, printer).await?,
        Step::Restore { snapshot } => {
            restore(up.old, snapshot, &up.record, up.options.timeout, printer).await?;
            found.restored = true;
        }
        Step::WriteVersions { airflow, chart, profile } => {
            let keys = [("version", Some(airflow)), ("chart_version", chart.as_ref()), ("profile", profile.as_ref())];
            write_keys(up.new, &keys, printer)?;
        }
    }
    Ok(())
}

/// `up`'s steps on the new versions. When they fail before the migration is done, the old release
/// and the database come back before the error is returned; when the migration is done but a
/// component does not come up, the report says which.
async fn upgrade_release(up: &Upgrade<'_>, found: &mut Found, printer: &mut Printer) -> Result<()> {
    // `up`'s own summary (the URL, the login) goes with the progress, on standard error: the
    // upgrade's result is its report.
    let Err(error) = executor::run(up.new, &up.options, &mut printer.progress()).await else { return Ok(()) };
    found.migration = time_migration(up.new, printer).await.unwrap_or(None);
    if found.migration.as_ref().is_some_and(|m| m.succeeded) {
        found.not_up = not_up(up.new).await.unwrap_or_else(|_| vec![format!("{error:#}")]);
        printer.warn(&format!("the upgraded Airflow did not come up: {error:#}"));
        return Ok(());
    }
    printer
        .warn("the upgrade failed before its migration was done: devflow puts the old release and the database back");
    for step in back_to(&up.record.from, &up.record.snapshot) {
        Box::pin(run_step(up, &step, found, printer)).await?;
    }
    Err(error.context(format!(
        "the upgrade to Airflow {} failed; the old release (Airflow {}) and the database (snapshot {}) are back",
        up.record.to.airflow, up.record.from.airflow, up.record.snapshot
    )))
}

/// `devflow test`'s import of every DAG, in the scheduler's pod.
async fn import_dags(session: &Session, printer: &mut Printer) -> Result<TestReport> {
    let plan = &session.plan;
    let what = format!("Importing every DAG on Airflow {}", plan.airflow_version);
    let done = format!("Imported the DAG folder on Airflow {}", plan.airflow_version);
    let stdout =
        pod::run_script(session, &what, &done, incluster::TEST_DAGS, &[&plan.dags_mount], None, printer).await?;
    Ok(TestReport::read(&stdout)?)
}

/// The chart's migration job as Kubernetes recorded it (its start to its completion or failure)
/// and its pod's log, shown.
async fn time_migration(session: &Session, printer: &mut Printer) -> Result<Option<Migration>> {
    let plan = &session.plan;
    let kube = ApiClient::connect(&session.env, &plan.context).await?;
    let name = format!("{}-{}", plan::RELEASE, plan::MIGRATIONS_JOB);
    let Some(job) = kube.job(&plan.namespace, &name).await? else { return Ok(None) };
    let (seconds, finished, succeeded) = job_outcome(&job);
    let pods = kube.pods(&plan.namespace, &selector::component(plan::MIGRATIONS_JOB)).await?;
    let log = match pods.last().and_then(|p| p.metadata.name.clone()) {
        Some(pod) => kube.logs(&plan.namespace, &pod, Some(plan::MIGRATIONS_JOB), false).await,
        None => Vec::new(),
    };
    for line in &log {
        printer.note(&format!("migration | {line}"));
    }
    let version = &plan.airflow_version;
    match (finished, succeeded) {
        (_, true) => printer.done(&format!("The migration to Airflow {version} took {seconds:.1}s")),
        (true, false) => printer.warn(&format!("The migration to Airflow {version} failed after {seconds:.1}s")),
        (false, _) => printer.warn(&format!("The migration to Airflow {version} had not finished after {seconds:.1}s")),
    }
    Ok(Some(Migration { seconds, finished, succeeded, log }))
}

/// A job's seconds from its start to its end (or to now, while it runs), whether it has ended,
/// and whether it succeeded.
fn job_outcome(job: &Job) -> (f64, bool, bool) {
    let status = job.status.clone().unwrap_or_default();
    let failed = status.conditions.iter().flatten().find(|c| c.type_ == "Failed" && c.status == "True");
    let end = match (&status.completion_time, failed) {
        (Some(done), _) => Some(done.0),
        (None, Some(failed)) => failed.last_transition_time.as_ref().map(|t| t.0),
        (None, None) => None,
    };
    let start = status.start_time.map(|t| t.0);
    let seconds = match start {
        Some(start) => end.unwrap_or_else(k8s_openapi::jiff::Timestamp::now).duration_since(start).as_secs_f64(),
        None => 0.0,
    };
    (seconds, end.is_some(), status.completion_time.is_some() && failed.is_none())
}

/// The components of the new plan that are not ready, each with its phase.
async fn not_up(session: &Session) -> Result<Vec<String>> {
    let plan = &session.plan;
    let workloads = ApiClient::connect(&session.env, &plan.context).await?.workloads(&plan.namespace).await?;
    Ok(plan
        .expectations()
        .iter()
        .map(|expect| workloads.status(expect))
        .filter(|status| !status.done && status.ready < status.total.max(1))
        .map(|status| format!("{} ({})", status.name, status.phase))
        .collect())
}

/// `helm rollback` to the revision that ran before. The chart's jobs go first: a Job's pod
/// template is immutable, and Helm would fail to patch the upgrade's (as before every upgrade:
/// `executor`'s `write_values`).
async fn rollback_release(session: &Session, to: &Release, printer: &mut Printer) -> Result<()> {
    let plan = &session.plan;
    let revision = to.revision.context("the release before the upgrade has no revision recorded")?;
    let helm = Helm { tool: tool::usable(Tool::Helm, &session.env).await? };
    let kube = ApiClient::connect(&session.env, &plan.context).await?;
    let jobs = selector::components(&[plan::MIGRATIONS_JOB, plan::CREATE_USER_JOB]);
    kube.delete_jobs(&plan.namespace, &jobs).await?;
    let doing = format!("Rolling the release back to revision {revision} (Airflow {}, chart {})", to.airflow, to.chart);
    let done = format!("Rolled the release back to revision {revision} (Airflow {})", to.airflow);
    printer.step(&doing, helm.rollback(plan, revision), |_| done).await?;
    Ok(())
}

/// The snapshot restored (the components stopped around it), the state folder as it was before
/// the upgrade, and the wait for every component of the old release.
async fn restore(
    session: &Session,
    snapshot: &str,
    record: &Record,
    timeout: Duration,
    printer: &mut Printer,
) -> Result<()> {
    crate::database::restore(session, snapshot, printer).await?;
    let text = serde_json::to_string_pretty(&record.state_before).context("cannot encode the state")?;
    session.store.write(StateFile::State, text.as_bytes(), 0o600)?;
    let plan = &session.plan;
    let kube = ApiClient::connect(&session.env, &plan.context).await?;
    kube::wait::workloads(&kube, &plan.namespace, &plan.expectations(), Instant::now() + timeout, printer).await?;
    Ok(())
}

/// The new versions in devflow.toml's [airflow], so that the next `up` keeps them.
fn write_keys(session: &Session, keys: &[(&str, Option<&String>)], printer: &mut Printer) -> Result<()> {
    let set: Vec<(&str, &String)> = keys.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    let shown = set.iter().map(|(k, v)| format!("{k} = \"{v}\"")).collect::<Vec<_>>().join(", ");
    let Some(file) = &session.project.file else {
        printer.note(&format!(
            "this project has no devflow.toml: `devflow init` writes one; set {shown} in its [airflow]"
        ));
        return Ok(());
    };
    let mut text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    for (key, value) in &set {
        text = crate::config::edit::set_airflow_key(&text, key, value);
    }
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    printer.done(&format!("Wrote {shown} to {}", file.display()));
    Ok(())
}
