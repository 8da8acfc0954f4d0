//! `devflow upgrade` on the fake tier (issue 13, item 2): the steps in order (a snapshot before
//! the upgrade), a rehearsal that leaves the release and the database as they were, a failed
//! migration that puts them back, the new version kept in devflow.toml with --yes, `--rollback`.

use serde_json::{Value, json};

use crate::database::Postgres;
use crate::day2::{answer, up_with_scheduler};
use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

/// What the scheduler's stand-in `python` answers for `devflow test`'s import: one DAG.
const IMPORTED: &str = r#"{"dags": [{"dag_id": "etl", "file": "/opt/airflow/dags/etl.py", "tasks": 2}], "import_errors": [], "problems": [], "warnings": [], "seconds": 0.3}"#;

/// A kind project that is up, its PostgreSQL pod's commands going to a real server (with a
/// table of two rows) and its scheduler's to a container with stand-ins; `scenario` is added to
/// the fake's scenario.
fn up_for_upgrade(test: &str, scenario: Value) -> Option<(Lab, Postgres)> {
    let postgres = Postgres::start(test)?;
    let (lab, container) = up_with_scheduler(test)?;
    let mut all = json!({"exec": {"scheduler": container, "devflow-postgres": {"host": postgres.env(&[])}}});
    all.as_object_mut().unwrap().extend(scenario.as_object().unwrap().clone());
    lab.world.scenario(all);
    postgres.psql("airflow", "CREATE TABLE runs (id int); INSERT INTO runs VALUES (1), (2)");
    answer(&container, IMPORTED);
    Some((lab, postgres))
}

/// The release as the fake Helm keeps it.
fn release(lab: &Lab) -> Value {
    let releases = lab.world.releases();
    let (_, by_key) = releases.as_object().unwrap().iter().next().expect("a context with releases");
    by_key["airflow/airflow"].clone()
}

/// The Airflow version in the release's values and its revision.
fn release_version(lab: &Lab) -> (String, u64) {
    let release = release(lab);
    (
        release["config"]["airflowVersion"].as_str().unwrap_or_default().to_string(),
        release["revision"].as_u64().unwrap(),
    )
}

fn state_file(lab: &Lab) -> String {
    std::fs::read_to_string(lab.state_dir().join("state.json")).unwrap()
}

fn helm_upgrades(lab: &Lab) -> usize {
    lab.calls("helm", &["upgrade"]).len()
}

#[test]
fn upgrade_plans_a_snapshot_first_and_keeps_nothing_without_yes() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let upgrades = helm_upgrades(&lab);

    let plan = lab.devflow(&["upgrade", "--airflow", "3.3.2", "--dry-run"]).status(0).run().stdout;
    let lines: Vec<&str> = plan.lines().collect();
    assert!(lines[0].starts_with("1. snapshot the database as `before-3.2.2-to-3.3.2-"), "{plan}");
    assert!(lines[1].starts_with("2. import every DAG on Airflow 3.2.2, before the upgrade"), "{plan}");
    assert!(plan.contains("upgrade the release to Airflow 3.3.2 (chart 1.22.0)"), "{plan}");
    assert!(lines.last().unwrap().contains("write version = \"3.3.2\" to devflow.toml"), "{plan}");
    // From Airflow 2 the profile changes too (here: another Airflow 3 one), and devflow.toml says so.
    let profile =
        lab.devflow(&["upgrade", "--airflow", "3.3.2", "--profile", "celery", "--dry-run"]).status(0).run().stdout;
    assert!(profile.lines().last().unwrap().contains("version = \"3.3.2\", profile = \"celery\""), "{profile}");
    let rehearsal = lab.devflow(&["upgrade", "--airflow", "3.3.2", "--rehearse", "--dry-run"]).status(0).run().stdout;
    let tail: Vec<&str> = rehearsal.lines().rev().take(2).collect();
    assert!(tail[1].contains("helm rollback to revision 1 (Airflow 3.2.2, chart 1.22.0)"), "{rehearsal}");
    assert!(tail[0].contains("restore the snapshot `before-3.2.2-to-3.3.2-"), "{rehearsal}");

    lab.devflow(&["upgrade", "--airflow", "3.3.2"])
        .status(2)
        .stderr_contains("there is no terminal to ask on\n  pass --yes to keep it, or --rehearse")
        .run();
    lab.devflow(&["upgrade", "--airflow", "3.2.2", "--yes"])
        .status(2)
        .stderr_contains("already runs Airflow 3.2.2 on the chart 1.22.0")
        .run();
    lab.devflow(&["upgrade", "--rollback"]).status(2).stderr_contains("no upgrade to roll back").run();
    assert_eq!(helm_upgrades(&lab), upgrades, "nothing was upgraded");
    assert!(!lab.state_dir().join("upgrade.json").exists());
}

#[test]
fn a_rehearsal_leaves_the_release_and_the_database_as_they_were() {
    // Kubernetes records a job's start and completion to the second (metav1.Time, RFC 3339
    // without fractions): a migration of 1.5 s is at least a second apart in them.
    let Some((lab, postgres)) = up_for_upgrade(test_name!(), json!({"migration_s": 1.5})) else { return };
    let (before, revision) = release_version(&lab);
    let values = release(&lab)["config"].clone();
    let state = state_file(&lab);
    let toml = std::fs::read_to_string(lab.test().dir().join("devflow.toml")).unwrap();

    let out = lab.devflow(&["upgrade", "--airflow", "3.3.2", "--rehearse"]).status(0).run();
    assert!(
        out.stdout.starts_with(
            "Upgrade rehearsed from Airflow 3.2.2 (chart 1.22.0) to Airflow 3.3.2 (chart 1.22.0)\n  migration: "
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("every DAG that imported before imports now"), "{}", out.stdout);
    assert!(out.stdout.contains("are back as they were"), "{}", out.stdout);
    // The snapshot is taken before the release is upgraded; the restore comes after the rollback.
    let at = |text: &str| out.stderr.find(text).unwrap_or_else(|| panic!("no {text:?} in:\n{}", out.stderr));
    assert!(at("Dumped") < at("Installed the Airflow chart 1.22.0 (Airflow 3.3.2"));
    assert!(at("Rolled the release back to revision") < at("Loaded snapshot before-3.2.2-to-3.3.2-"));

    let (after, now) = release_version(&lab);
    assert_eq!((before.as_str(), after.as_str()), ("3.2.2", "3.2.2"));
    assert_eq!(now, revision + 2, "the upgrade and the rollback are Helm revisions of their own");
    assert_eq!(release(&lab)["config"], values, "the release's values are the old ones");
    assert_eq!(release(&lab)["status"], "deployed");
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM runs"), "2");
    assert_eq!(state_file(&lab), state, "the state folder says what it said");
    assert_eq!(std::fs::read_to_string(lab.test().dir().join("devflow.toml")).unwrap(), toml);

    let json = lab.devflow(&["upgrade", "--airflow", "3.3.2", "--rehearse", "--json"]).status(0).run();
    crate::contract::Contract::load().document("upgrade", &json);
    let json = json.json();
    assert_eq!(json["to"]["airflow"], "3.3.2");
    assert_eq!(json["migration"]["succeeded"], true);
    assert!(json["migration"]["seconds"].as_f64().unwrap() > 0.0, "{json}");
    assert_eq!(json["restored"], true);
}

#[test]
fn a_failed_migration_puts_the_old_release_and_the_database_back() {
    let failing = json!({"jobs_on_image": {"apache/airflow:3.3.2": {"run-airflow-migrations": "failed"}}});
    let Some((lab, postgres)) = up_for_upgrade(test_name!(), failing) else { return };
    let toml = std::fs::read_to_string(lab.test().dir().join("devflow.toml")).unwrap();
    let state = state_file(&lab);
    let out = lab
        .devflow(&["upgrade", "--airflow", "3.3.2", "--yes"])
        .status(1)
        .stderr_contains("the upgrade to Airflow 3.3.2 failed; the old release (Airflow 3.2.2) and the database (snapshot before-3.2.2-to-3.3.2-")
        .run();
    let at = |text: &str| out.stderr.find(text).unwrap_or_else(|| panic!("no {text:?} in:\n{}", out.stderr));
    assert!(at("Rolled the release back") < at("Loaded snapshot"));
    assert_eq!(release_version(&lab).0, "3.2.2");
    assert_eq!(release(&lab)["status"], "deployed");
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM runs"), "2");
    assert_eq!(state_file(&lab), state);
    assert_eq!(std::fs::read_to_string(lab.test().dir().join("devflow.toml")).unwrap(), toml, "devflow.toml untouched");
}

#[test]
fn a_kept_upgrade_is_written_to_devflow_toml_and_rolled_back() {
    let Some((lab, postgres)) = up_for_upgrade(test_name!(), json!({})) else { return };
    let toml = lab.test().dir().join("devflow.toml");
    let out = lab.devflow(&["upgrade", "--airflow", "3.3.2", "--yes"]).status(0).run();
    assert!(out.stdout.starts_with("Upgrade done from Airflow 3.2.2"), "{}", out.stdout);
    assert!(out.stdout.contains("`devflow upgrade --rollback` returns to it"), "{}", out.stdout);
    assert!(std::fs::read_to_string(&toml).unwrap().contains("[airflow]\nversion = \"3.3.2\"\n"));
    assert_eq!(release_version(&lab).0, "3.3.2");
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(lab.state_dir().join("upgrade.json")).unwrap()).unwrap();
    assert_eq!(record["from"]["airflow"], "3.2.2");
    // A second `up` keeps the new version: devflow.toml says it.
    lab.devflow(&["up", "--no-watch"]).status(0).stderr_contains("unchanged").run();

    postgres.psql("airflow", "INSERT INTO runs VALUES (3)");
    lab.devflow(&["upgrade", "--rollback"])
        .status(0)
        .stdout_contains("Rolled back to Airflow 3.2.2 (chart 1.22.0)")
        .run();
    assert_eq!(release_version(&lab).0, "3.2.2");
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM runs"), "2", "the snapshot's rows");
    assert!(std::fs::read_to_string(&toml).unwrap().contains("version = \"3.2.2\""));
    assert!(!lab.state_dir().join("upgrade.json").exists());
}

/// Issue 13's "Done when", on the fake tier with real PostgreSQL and real Airflow behind the exec:
/// 3.2.2 migrates the database and devflow seeds runs; `upgrade --airflow 3.3.2 --rehearse`
/// snapshots it, imports the DAGs with 3.2.2 (the scheduler's exec), runs the chart's migration
/// job with 3.3.2 (`host_jobs`: `airflow db migrate`, timed), imports them with 3.3.2, rolls the
/// release back and restores the snapshot; 3.2.2 then finds its schema and its runs again.
/// (The rollback's own migration job is the fake's, not 3.2.2's: see the README.)
#[test]
fn a_rehearsal_on_real_postgres_times_the_3_3_migration_and_leaves_3_2_as_it_was() {
    use crate::database::{AirflowOn, TWO_DAGS};
    let test = test_name!();
    let (Some(old), Some(new)) =
        (crate::real_airflow::venv_of(test, "3.2.2"), crate::real_airflow::venv_of(test, "3.3.2"))
    else {
        return;
    };
    let Some(postgres) = Postgres::start(test) else { return };
    let Some(lab) = Lab::with_project(test, "provider = \"kind\"", "", |t| t.file("dags/two.py", TWO_DAGS)) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let dags = lab.test().dir().join("dags");
    let on = |venv: &std::path::PathBuf| AirflowOn {
        venv: venv.clone(),
        postgres: &postgres,
        db: "airflow",
        home: home.path().into(),
        dags: dags.clone(),
    };
    let (before, after) = (on(&old), on(&new));
    before.ok(&["db", "migrate"]);
    before.ok(&["dags", "reserialize"]);
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let runs: usize = std::env::var("DEVFLOW_UPGRADE_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    lab.world.scenario(json!({
        "exec": {
            "devflow-postgres": {"host": postgres.env(&[])},
            "scheduler": {
                "host": before.env(),
                "images": {"apache/airflow:3.3.2": after.env()},
                "mounts": {"/opt/airflow/dags": dags.display().to_string()},
            },
        },
        "host_jobs": {"apache/airflow:3.3.2": after.env()},
        // The kubelet's back-off compressed 5 times, not 100 (once for thousands of runs, which
        // migrate for minutes): the chart's create-user job retries (backoffLimit 6) for as long
        // as a real migration takes, as on a real cluster.
        "crash_backoff_s": if runs > 1000 { 10.0 } else { 2.0 },
    }));
    lab.devflow(&["db", "seed", "--runs", &runs.to_string()]).status(0).run();
    let schema = postgres.psql("airflow", "SELECT version_num FROM alembic_version");
    let (revision, values) = (release_version(&lab).1, release(&lab)["config"].clone());

    let report = lab.devflow(&["upgrade", "--airflow", "3.3.2", "--rehearse", "--json"]).status(0).run();
    crate::contract::Contract::load().document("upgrade", &report);
    let report = report.json();
    let migration = &report["migration"];
    assert_eq!(migration["succeeded"], true, "{report}");
    let seconds = migration["seconds"].as_f64().unwrap();
    assert!(seconds > 1.0, "a real migration takes seconds: {report}");
    assert!(migration["log"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("igrat")), "{report}");
    assert_eq!(report["broken"], json!([]), "{report}");
    assert_eq!(report["not_up"], json!([]), "{report}");
    assert_eq!(report["restored"], true);

    assert_eq!(postgres.psql("airflow", "SELECT version_num FROM alembic_version"), schema, "3.2.2's schema again");
    assert_eq!(postgres.psql("airflow", "SELECT count(*) FROM dag_run"), runs.to_string());
    before.ok(&["db", "check-migrations", "--migration-wait-timeout", "1"]);
    assert_eq!(release_version(&lab), ("3.2.2".to_string(), revision + 2));
    assert_eq!(release(&lab)["config"], values);
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "FIGURES: {runs} runs: migration 3.2.2 -> 3.3.2 {seconds:.1}s");
}

/// The report's findings: a DAG file that imported on the old version and fails on the new one
/// (with its line), and a deprecation warning only the new one gives. The scheduler's stand-in
/// answers the import before the upgrade with /tmp/answer1 and after it with /tmp/answer2.
#[test]
fn the_report_names_the_dags_broken_since_and_the_new_deprecations() {
    let Some((lab, _postgres)) = up_for_upgrade(test_name!(), json!({})) else { return };
    // The container with the stand-ins is the one the scenario's exec sends the scheduler to.
    let scenario: Value =
        serde_json::from_str(&std::fs::read_to_string(lab.world.home().join("scenario.json")).unwrap()).unwrap();
    let container = scenario["exec"]["scheduler"].as_str().unwrap().to_string();
    let rotate = "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; cat /tmp/answer$n";
    crate::day2::in_container(
        &container,
        &format!("printf '#!/bin/sh\\n{rotate}\\n' > /bin/python && chmod 755 /bin/python"),
    );
    let old = "/opt/airflow/dags/etl.py:2: DeprecationWarning: old";
    let new = "/opt/airflow/dags/etl.py:5: RemovedInAirflow4Warning: `schedule_interval` is gone";
    let before = json!({"dags": [{"dag_id": "etl", "file": "/opt/airflow/dags/etl.py", "tasks": 2}], "import_errors": [], "problems": [],
        "warnings": [{"file": "/opt/airflow/dags/etl.py", "warning": old}], "seconds": 0.3});
    let trace = "Traceback (most recent call last):\n  File \"/opt/airflow/dags/etl.py\", line 3, in <module>\n    from airflow.operators.bash import BashOperator\nModuleNotFoundError: No module named 'airflow.operators.bash'\n";
    let after = json!({"dags": [], "import_errors": [{"file": "/opt/airflow/dags/etl.py", "error": trace}], "problems": [],
        "warnings": [{"file": "/opt/airflow/dags/etl.py", "warning": old}, {"file": "/opt/airflow/dags/etl.py", "warning": new}], "seconds": 0.3});
    for (n, answer) in [(1, before), (2, after)] {
        let mut write = std::process::Command::new("docker")
            .args(["exec", "-i", &container, "sh", "-c", &format!("cat > /tmp/answer{n}")])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        write.stdin.take().unwrap().write_all(answer.to_string().as_bytes()).unwrap();
        assert!(write.wait().unwrap().success());
    }
    let out = lab.devflow(&["upgrade", "--airflow", "3.3.2", "--rehearse"]).status(0).run().stdout;
    assert!(
        out.contains(
            "  ✗ etl.py:3  ModuleNotFoundError: No module named 'airflow.operators.bash' (imported before the upgrade)"
        ),
        "{out}"
    );
    assert!(
        out.contains("  ! new deprecation: etl.py:5: RemovedInAirflow4Warning: `schedule_interval` is gone"),
        "{out}"
    );
    assert!(!out.contains("DeprecationWarning: old"), "a warning the old version gave too is not new: {out}");
}
