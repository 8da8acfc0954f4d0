//! The day-2 commands that run inside the cluster (`airflow`, `shell`, `test`, `settings import`)
//! against the fake tiers: the API's exec reaches a real busybox container standing in for the
//! scheduler's pod, where small stand-ins play `airflow` and `python`. (The Python that `test` and
//! `settings import` run is itself tested against real Airflow in `incluster.rs`.)

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

/// A kind project that is up, its scheduler pod's exec going to a container with stand-ins.
pub fn up_with_scheduler(test: &str) -> Option<(Lab, String)> {
    let lab = Lab::new(test, "kind")?;
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let container = lab.world.exec_container("scheduler");
    lab.world.scenario(json!({"exec": {"scheduler": container}}));
    assert!(Command::new("docker").args(["exec", &container, "mkdir", "-p", "/tmp"]).status().unwrap().success());
    let stand_ins = [
        // `airflow ARGS`: says what it got, fails with 3 when asked to, and `wait N` takes N s.
        (
            "airflow",
            "#!/bin/sh\necho \"airflow $*\"\n[ \"$1\" = fail ] && { echo 'no such DAG' >&2; exit 3; }\n[ \"$1\" = wait ] && sleep \"$2\"\nexit 0\n",
        ),
        // `python -c SCRIPT [ARGS]`: keeps what it was given, and answers as the script would
        // (after the seconds in /tmp/delay, if there are any: a script that prints only at its end).
        (
            "python",
            "#!/bin/sh\nprintf '%s' \"$2\" > /tmp/script\nshift 2\necho \"$*\" > /tmp/args\ncat > /tmp/stdin\n[ -f /tmp/delay ] && sleep \"$(cat /tmp/delay)\"\ncat /tmp/answer\n",
        ),
    ];
    for (name, text) in stand_ins {
        let mut install = Command::new("docker")
            .args(["exec", "-i", &container, "sh", "-c", &format!("cat > /bin/{name} && chmod 755 /bin/{name}")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        install.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        assert!(install.wait().unwrap().success());
    }
    Some((lab, container))
}

pub fn in_container(container: &str, command: &str) -> String {
    let out = Command::new("docker").args(["exec", container, "sh", "-c", command]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn answer(container: &str, json: &str) {
    let mut write = Command::new("docker")
        .args(["exec", "-i", container, "sh", "-c", "cat > /tmp/answer"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    write.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    assert!(write.wait().unwrap().success());
}

#[test]
fn airflow_and_shell_run_in_the_schedulers_pod_and_pass_the_exit_code_through() {
    let Some((lab, container)) = up_with_scheduler(test_name!()) else { return };
    lab.devflow(&["airflow", "--", "dags", "list", "-o", "json"]).status(0).stdout("airflow dags list -o json\n").run();
    lab.devflow(&["airflow", "--", "fail", "now"]).status(3).stdout("airflow fail now\n").stderr("no such DAG\n").run();

    // Without a terminal, the shell reads its commands from standard input.
    let mut shell = lab.devflow(&["shell"]).command().stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    shell.stdin.take().unwrap().write_all(b"echo hello from $(hostname)\nexit 4\n").unwrap();
    let out = shell.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("hello from {container}\n"));
    assert_eq!(out.status.code(), Some(4));

    lab.devflow(&["shell", "schedular"])
        .status(2)
        .stderr_contains("`schedular` is not a component of this Airflow; did you mean `scheduler`?")
        .run();
}

#[test]
fn test_imports_the_dags_in_the_cluster_and_fails_on_a_problem() {
    let Some((lab, container)) = up_with_scheduler(test_name!()) else { return };
    answer(
        &container,
        r#"{"dags": [{"dag_id": "hello", "file": "/opt/airflow/dags/hello.py", "tasks": 2}], "import_errors": [], "problems": [], "seconds": 0.4}"#,
    );
    lab.devflow(&["test"])
        .status(0)
        .stdout("✓ hello.py  hello (2 tasks)\n1 DAGs, 0 import errors, 0 DAG problems (0.4s in the cluster's image)\n")
        .run();
    assert!(in_container(&container, "cat /tmp/script").contains("DagBag"), "the test script ran");
    assert_eq!(in_container(&container, "cat /tmp/args"), "/opt/airflow/dags\n");

    answer(
        &container,
        r#"{"dags": [], "import_errors": [{"file": "/opt/airflow/dags/etl/bad.py", "error": "Traceback (most recent call last):\n  File \"/opt/airflow/dags/etl/bad.py\", line 3, in <module>\n    import foo\nModuleNotFoundError: No module named 'foo'\n"}], "problems": [{"dag_id": "empty", "file": "/opt/airflow/dags/empty.py", "problem": "the DAG has no tasks"}], "seconds": 0.5}"#,
    );
    lab.devflow(&["test"])
        .status(1)
        .stdout("✗ etl/bad.py:3  ModuleNotFoundError: No module named 'foo'\n✗ empty.py  empty: the DAG has no tasks\n0 DAGs, 1 import errors, 1 DAG problems (0.5s in the cluster's image)\n")
        .run();
    let json = lab.devflow(&["test", "--json"]).status(1).run().json();
    assert_eq!(json["import_errors"][0]["file"], "/opt/airflow/dags/etl/bad.py");
}

#[test]
fn settings_import_sends_the_file_on_stdin_and_never_shows_a_secret() {
    let Some((lab, container)) = up_with_scheduler(test_name!()) else { return };
    let secret = "pa55-word-nobody-sees";
    std::fs::write(
        lab.test().dir().join("settings.yaml"),
        format!("connections:\n  warehouse:\n    conn_type: postgres\n    host: db\n    password: {secret}\nvariables:\n  env: dev\npools:\n  heavy: {{slots: 2}}\n"),
    )
    .unwrap();
    answer(
        &container,
        r#"[{"kind": "connection", "name": "warehouse", "result": "created"}, {"kind": "variable", "name": "env", "result": "unchanged"}, {"kind": "pool", "name": "heavy", "result": "updated"}]"#,
    );
    lab.devflow(&["settings", "import", "settings.yaml"])
        .status(0)
        .stdout("connection created     warehouse\nvariable   unchanged   env\npool       updated     heavy\n3 settings, 2 created or updated\n")
        .stdout_lacks(secret)
        .stderr_lacks(secret)
        .run();
    let sent: serde_json::Value = serde_json::from_str(&in_container(&container, "cat /tmp/stdin")).unwrap();
    assert_eq!(sent["connections"]["warehouse"]["password"], secret, "the settings went through stdin");
    assert!(in_container(&container, "cat /tmp/script").contains("create_session"));
    for request in lab.world.kube().requests() {
        assert!(!request.contains(secret), "a secret on the exec's command line: {request}");
    }

    std::fs::write(lab.test().dir().join("bad.yaml"), "conections:\n  x: {conn_type: http}\n").unwrap();
    lab.devflow(&["settings", "import", "bad.yaml"])
        .status(2)
        .stderr_contains("bad.yaml:1:1: unknown field `conections`")
        .stderr_contains("did you mean `connections`?")
        .run();
    lab.devflow(&["settings", "import", "missing.yaml"]).status(2).stderr_contains("cannot read missing.yaml").run();
}
