//! `devflow upgrade`: the steps of an upgrade, its rehearsal or a rollback, planned from the
//! release that runs and the versions asked for; what the state folder records of an upgrade so
//! that a rollback knows what to return to; and the report that compares the DAG imports before
//! and after. Pure: `run` carries the steps out, the command prints them (`--dry-run`).

pub mod run;

use serde::{Deserialize, Serialize};

use crate::airflow::incluster::TestReport;

/// An Airflow and chart version, and the Helm revision that ran them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub airflow: String,
    pub chart: String,
    /// None before the release is installed (or when it is not known: a plan for `--dry-run`).
    pub revision: Option<u64>,
}

/// What the state folder keeps of the last upgrade (`upgrade.json`): where `--rollback` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub from: Release,
    pub to: Release,
    pub snapshot: String,
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub ending: Ending,
    /// The state file as it was before the upgrade, restored with the old release.
    pub state_before: serde_json::Value,
}

/// How the upgrade ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The snapshot and the old release are restored: nothing changed.
    Rehearse,
    /// The new version stays and is written to devflow.toml.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Before,
    After,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `devflow db snapshot NAME`.
    Snapshot { name: String },
    /// `devflow test`'s import of every DAG, in the scheduler's pod of the version that runs.
    ImportDags { when: When, airflow: String },
    /// `up`'s steps for the new versions: the image built on the new Airflow (when the project has
    /// requirements), `helm upgrade`, the wait for the migration job and the components.
    UpgradeRelease { to: Release },
    /// The migration job's time (its start to its completion, as Kubernetes records them) and log.
    TimeMigration,
    /// The Airflow components stopped, the snapshot restored, them started again, and the wait
    /// for every component; the state folder as it was before the upgrade.
    Restore { snapshot: String },
    /// `helm rollback` to the revision that ran before.
    RollbackRelease { to: Release },
    /// The new versions written to devflow.toml's [airflow] (the chart's when it changes, the
    /// profile when one was given).
    WriteVersions { airflow: String, chart: Option<String>, profile: Option<String> },
    /// The upgrade recorded in the state folder, for `--rollback`.
    Record,
}

impl Step {
    /// The step as `--dry-run` prints it.
    pub fn describe(&self) -> String {
        match self {
            Step::Snapshot { name } => format!("snapshot the database as `{name}` (devflow db snapshot)"),
            Step::ImportDags { when, airflow } => {
                let when = if *when == When::Before { "before" } else { "after" };
                format!("import every DAG on Airflow {airflow}, {when} the upgrade (devflow test)")
            }
            Step::UpgradeRelease { to } => format!(
                "upgrade the release to Airflow {} (chart {}): build the image on it when the project has requirements, helm upgrade, wait for the migration job and every component",
                to.airflow, to.chart
            ),
            Step::TimeMigration => "time the migration job (run-airflow-migrations) and show its log".into(),
            Step::Restore { snapshot } => format!(
                "stop the Airflow components, restore the snapshot `{snapshot}` (devflow db restore), start them again and wait for every component"
            ),
            Step::RollbackRelease { to } => format!(
                "helm rollback to revision {} (Airflow {}, chart {})",
                to.revision.map_or_else(|| "before the upgrade".to_string(), |r| r.to_string()),
                to.airflow,
                to.chart
            ),
            Step::WriteVersions { airflow, chart, profile } => {
                let chart = chart.as_ref().map(|c| format!(", chart_version = \"{c}\"")).unwrap_or_default();
                let profile = profile.as_ref().map(|p| format!(", profile = \"{p}\"")).unwrap_or_default();
                format!("write version = \"{airflow}\"{chart}{profile} to devflow.toml's [airflow]")
            }
            Step::Record => "record the upgrade in the state folder (for `devflow upgrade --rollback`)".into(),
        }
    }
}

/// The snapshot an upgrade takes first, named after what it upgrades and when.
pub fn snapshot_name(from: &Release, to: &Release, at: u64) -> String {
    format!("before-{}-to-{}-{at}", from.airflow, to.airflow)
}

/// The steps of an upgrade from the release that runs to the versions asked for.
pub fn steps(from: &Release, to: &Release, snapshot: &str, ending: Ending) -> Vec<Step> {
    let mut steps = vec![
        Step::Snapshot { name: snapshot.to_string() },
        Step::ImportDags { when: When::Before, airflow: from.airflow.clone() },
        Step::Record,
        Step::UpgradeRelease { to: to.clone() },
        Step::TimeMigration,
        Step::ImportDags { when: When::After, airflow: to.airflow.clone() },
    ];
    match ending {
        Ending::Rehearse => steps.extend(back_to(from, snapshot)),
        Ending::Keep => steps.push(write_versions(from, to)),
    }
    steps
}

/// devflow.toml's versions moved from one release to another.
pub fn write_versions(from: &Release, to: &Release) -> Step {
    Step::WriteVersions {
        airflow: to.airflow.clone(),
        chart: (to.chart != from.chart).then(|| to.chart.clone()),
        profile: None,
    }
}

/// The steps back to a release and its snapshot: a rehearsal's end, a failed migration's
/// recovery, `--rollback`. The release first, then the database: a restore stops the components
/// and starts them again on the release installed then (`database::restore`), so they start on
/// the old version and the old schema together; the old pods that meet the new schema meanwhile
/// only wait (the chart's `wait-for-airflow-migrations`).
pub fn back_to(release: &Release, snapshot: &str) -> Vec<Step> {
    vec![Step::RollbackRelease { to: release.clone() }, Step::Restore { snapshot: snapshot.to_string() }]
}

/// The migration job as it ran.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    pub seconds: f64,
    /// The job has ended (completed or failed for good).
    pub finished: bool,
    pub succeeded: bool,
    /// The job pod's log.
    pub log: Vec<String>,
}

/// A DAG file that imported before the upgrade and fails after it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Broken {
    pub file: String,
    pub line: Option<u32>,
    pub error: String,
}

/// What the upgrade found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub from: Release,
    pub to: Release,
    pub snapshot: String,
    pub ending: Ending,
    pub migration: Option<Migration>,
    /// DAG files that imported before and fail now, with the line.
    pub broken: Vec<Broken>,
    /// Deprecation warnings the new version gives and the old did not.
    pub new_deprecations: Vec<String>,
    /// Components that did not come up on the new version, with why.
    pub not_up: Vec<String>,
    /// The environment is as it was before the upgrade (a rehearsal, a recovered failure).
    pub restored: bool,
}

/// The DAG files that imported before and fail after, each with its error's line; and the
/// deprecation warnings after that were not there before.
pub fn compare(before: &TestReport, after: &TestReport, folder: &str) -> (Vec<Broken>, Vec<String>) {
    let relative =
        |file: &str| file.strip_prefix(folder).map(|f| f.trim_start_matches('/')).unwrap_or(file).to_string();
    let imported: Vec<String> = before.dags.iter().map(|d| relative(&d.file)).collect();
    let broken = after
        .import_errors
        .iter()
        .map(|e| (relative(&e.file), &e.error))
        .filter(|(file, _)| imported.contains(file))
        .map(|(file, error)| {
            let (message, line) = crate::airflow::describe_error(error, &file);
            Broken { file, line, error: message }
        })
        .collect();
    let deprecation = |text: &str| text.contains("Deprecat") || text.contains("RemovedIn");
    let new_deprecations = after
        .warnings
        .iter()
        .filter(|w| deprecation(&w.warning) && !before.warnings.contains(w))
        .map(|w| w.warning.replace(folder, "").trim_start_matches('/').to_string())
        .collect();
    (broken, new_deprecations)
}

impl Report {
    /// The report as text: one line a finding.
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "Upgrade {} from Airflow {} (chart {}) to Airflow {} (chart {})",
            if self.ending == Ending::Rehearse { "rehearsed" } else { "done" },
            self.from.airflow,
            self.from.chart,
            self.to.airflow,
            self.to.chart
        )];
        match &self.migration {
            Some(m) if m.succeeded => lines.push(format!("  migration: {:.1}s", m.seconds)),
            Some(m) if m.finished => lines.push(format!("  migration: FAILED after {:.1}s", m.seconds)),
            Some(m) => lines.push(format!("  migration: not finished after {:.1}s", m.seconds)),
            None => lines.push("  migration: not run".into()),
        }
        if self.broken.is_empty() {
            lines.push("  DAGs: every DAG that imported before imports now".into());
        }
        for b in &self.broken {
            let at = b.line.map(|l| format!(":{l}")).unwrap_or_default();
            lines.push(format!("  ✗ {}{at}  {} (imported before the upgrade)", b.file, b.error));
        }
        lines.extend(self.new_deprecations.iter().map(|d| format!("  ! new deprecation: {d}")));
        lines.extend(self.not_up.iter().map(|c| format!("  ✗ not up: {c}")));
        lines.push(if self.restored {
            format!("  the database (snapshot {}) and the release are back as they were", self.snapshot)
        } else {
            format!("  snapshot {} kept: `devflow upgrade --rollback` returns to it", self.snapshot)
        });
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airflow::incluster::TestReport;

    fn release(airflow: &str, revision: u64) -> Release {
        Release { airflow: airflow.into(), chart: "1.22.0".into(), revision: Some(revision) }
    }

    #[test]
    fn a_snapshot_comes_first_and_a_rehearsal_ends_where_it_began() {
        let (from, to) = (release("3.2.2", 1), release("3.3.2", 2));
        let rehearsal = steps(&from, &to, "s", Ending::Rehearse);
        assert_eq!(rehearsal[0], Step::Snapshot { name: "s".into() });
        let upgrade = rehearsal.iter().position(|s| matches!(s, Step::UpgradeRelease { .. })).unwrap();
        let before = rehearsal.iter().position(|s| matches!(s, Step::ImportDags { when: When::Before, .. })).unwrap();
        assert!(before < upgrade);
        assert_eq!(rehearsal[rehearsal.len() - 2..], back_to(&from, "s")[..]);
        let kept = steps(&from, &to, "s", Ending::Keep);
        assert!(matches!(kept.last(), Some(Step::WriteVersions { airflow, .. }) if airflow == "3.3.2"));
        assert!(!kept.iter().any(|s| matches!(s, Step::Restore { .. })));
    }

    #[test]
    fn only_dags_that_imported_before_and_fail_now_are_broken() {
        let before: TestReport = serde_json::from_str(
            r#"{"dags": [{"dag_id": "a", "file": "/dags/a.py", "tasks": 1}], "import_errors": [{"file": "/dags/old.py", "error": "x"}], "problems": [], "warnings": [{"file": "/dags/a.py", "warning": "/dags/a.py:2: DeprecationWarning: old"}], "seconds": 1}"#,
        )
        .unwrap();
        let after: TestReport = serde_json::from_str(
            r#"{"dags": [], "import_errors": [{"file": "/dags/a.py", "error": "Traceback (most recent call last):\n  File \"/dags/a.py\", line 4, in <module>\n    from airflow.x import y\nImportError: cannot import name 'y'\n"}, {"file": "/dags/old.py", "error": "x"}], "problems": [], "warnings": [{"file": "/dags/a.py", "warning": "/dags/a.py:2: DeprecationWarning: old"}, {"file": "/dags/a.py", "warning": "/dags/a.py:3: RemovedInAirflow4Warning: new"}, {"file": "/dags/a.py", "warning": "/dags/a.py:5: UserWarning: not one"}], "seconds": 1}"#,
        )
        .unwrap();
        let (broken, deprecations) = compare(&before, &after, "/dags");
        assert_eq!(
            broken,
            [Broken { file: "a.py".into(), line: Some(4), error: "ImportError: cannot import name 'y'".into() }]
        );
        assert_eq!(deprecations, ["a.py:3: RemovedInAirflow4Warning: new"]);
    }
}
