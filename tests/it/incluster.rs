//! The scripts devflow runs inside an Airflow pod (`devflow test`, `devflow settings import`),
//! run here by real Airflow 3's Python (tier 6), as the pod's `python -c SCRIPT` would.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::real_airflow::venv;
use crate::support::Expect;
use crate::test_name;

const TEST_DAGS: &str = include_str!("../../src/airflow/test_dags.py");
const IMPORT_SETTINGS: &str = include_str!("../../src/airflow/import_settings.py");

/// `python -c script args…` with the venv's Airflow, an AIRFLOW_HOME of its own, `stdin` piped in.
fn python(venv: &Path, home: &Path, script: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .env("AIRFLOW_HOME", home)
        .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        .env("AIRFLOW__CORE__FERNET_KEY", "N6aVR8Y2GQ7Ot2iN3ymlrzKqkU9mKSmP0sCGVUfkD_s=")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn last_json(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{') || l.starts_with('['))
        .unwrap_or_else(|| panic!("no JSON in the output:\n{text}\n{}", String::from_utf8_lossy(&output.stderr)));
    serde_json::from_str(line).unwrap()
}

#[test]
fn the_test_script_reports_dags_import_errors_and_dags_without_tasks() {
    let Some(venv) = venv(test_name!()) else { return };
    let home = tempfile::tempdir().unwrap();
    let dags = home.path().join("dags");
    std::fs::create_dir(&dags).unwrap();
    let dag = |id: &str, tasks: &str| {
        format!(
            "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import EmptyOperator\nwith DAG(dag_id={id:?}, schedule=None):\n{tasks}"
        )
    };
    std::fs::write(
        dags.join("good.py"),
        dag("good", "    EmptyOperator(task_id='a')\n    EmptyOperator(task_id='b')\n"),
    )
    .unwrap();
    std::fs::write(dags.join("empty.py"), dag("empty", "    pass\n")).unwrap();
    std::fs::write(dags.join("broken.py"), "from airflow.sdk import DAG\nimport not_a_module_anywhere\n").unwrap();

    let output = python(&venv, home.path(), TEST_DAGS, &[dags.to_str().unwrap()], b"");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = last_json(&output);
    let ids: Vec<&str> = report["dags"].as_array().unwrap().iter().map(|d| d["dag_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["empty", "good"], "{report}");
    assert_eq!(report["dags"][1]["tasks"], 2);
    let errors = report["import_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert!(errors[0]["file"].as_str().unwrap().ends_with("broken.py"));
    let error = errors[0]["error"].as_str().unwrap();
    assert!(error.contains("No module named 'not_a_module_anywhere'") && error.contains("line 2"), "{error}");
    assert_eq!(
        report["problems"],
        json!([{"dag_id": "empty", "file": dags.join("empty.py").to_str().unwrap(), "problem": "the DAG has no tasks"}])
    );
}

#[test]
fn the_settings_script_creates_then_leaves_unchanged_then_updates_and_never_prints_a_secret() {
    let Some(venv) = venv(test_name!()) else { return };
    let home = tempfile::tempdir().unwrap();
    let migrated = Command::new(venv.join("bin/airflow"))
        .args(["db", "migrate"])
        .env("AIRFLOW_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(migrated.success(), "airflow db migrate failed");
    let secret = "s3cret-password-in-the-payload";
    let settings = |host: &str| {
        json!({
            "connections": {"warehouse": {"conn_type": "postgres", "host": host, "port": 5432, "login": "etl", "password": secret, "extra": "{\"sslmode\": \"require\"}"}},
            "variables": {"env": "dev", "limits": "{\"rows\":10}"},
            "pools": {"heavy": {"slots": 2, "description": "big jobs"}},
        })
        .to_string()
    };
    let run = |payload: String| {
        let output = python(&venv, home.path(), IMPORT_SETTINGS, &[], payload.as_bytes());
        let everything =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{everything}");
        assert!(!everything.contains(secret), "the password was printed:\n{everything}");
        last_json(&output)
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                format!(
                    "{} {} {}",
                    o["kind"].as_str().unwrap(),
                    o["name"].as_str().unwrap(),
                    o["result"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run(settings("db.internal")),
        ["connection warehouse created", "variable env created", "variable limits created", "pool heavy created"]
    );
    assert_eq!(
        run(settings("db.internal")),
        [
            "connection warehouse unchanged",
            "variable env unchanged",
            "variable limits unchanged",
            "pool heavy unchanged"
        ]
    );
    assert_eq!(
        run(settings("db2.internal")),
        ["connection warehouse updated", "variable env unchanged", "variable limits unchanged", "pool heavy unchanged"]
    );
    // What Airflow itself now reads back.
    let got = Command::new(venv.join("bin/airflow"))
        .args(["connections", "get", "warehouse", "-o", "json"])
        .env("AIRFLOW_HOME", home.path())
        .env("AIRFLOW__CORE__FERNET_KEY", "N6aVR8Y2GQ7Ot2iN3ymlrzKqkU9mKSmP0sCGVUfkD_s=")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&got.stdout);
    assert!(text.contains("db2.internal") && text.contains(secret), "{text}");
}

/// The DAG import test `devflow init` writes into tests/ passes on its example DAG and fails,
/// naming the file, on a DAG that does not import, with real Airflow 3.
#[test]
fn the_dag_import_test_init_writes_runs_on_real_airflow() {
    let Some(venv) = venv(test_name!()) else { return };
    let project = crate::support::Test::empty();
    project.devflow(&["init"]).status(0).run();
    let home = tempfile::tempdir().unwrap();
    let run = || {
        let script = "import sys; sys.path.insert(0, 'tests'); import test_dag_imports as t; t.test_every_dag_imports_and_has_tasks(); print('passed')";
        let out = Command::new(venv.join("bin/python"))
            .args(["-c", script])
            .current_dir(project.dir())
            .env("AIRFLOW_HOME", home.path())
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (passed, output) = run();
    assert!(passed && output.contains("passed"), "{output}");
    std::fs::write(project.dir().join("dags/broken.py"), "from airflow.sdk import dag\nimport not_installed\n")
        .unwrap();
    let (passed, output) = run();
    assert!(!passed, "{output}");
    assert!(
        output.contains("AssertionError")
            && output.contains("dags/broken.py")
            && output.contains("No module named 'not_installed'"),
        "{output}"
    );
}
