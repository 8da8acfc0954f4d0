//! Long silences and broken connections on the API's streams (exec, a followed log): `shell`,
//! `logs -f` and `test` outlast a minute without a byte, and a connection cut under `shell` or
//! `airflow` ends them with a message rather than a wait for ever.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::day2::{answer, in_container, up_with_scheduler};
use crate::support::Expect;
use crate::test_name;

/// How long the streams stay silent: well beyond the 20 s read timeout devflow once set on every
/// connection, and beyond kube's 60 s WebSocket ping.
const SILENCE: Duration = Duration::from_secs(65);

/// The child's end, or None (and the child killed) when it takes longer than `limit`.
fn wait_at_most(mut child: Child, limit: Duration) -> Option<Output> {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(child.wait_with_output().unwrap())
}

#[test]
fn shell_logs_and_test_survive_a_minute_of_silence() {
    let Some((lab, container)) = up_with_scheduler(test_name!()) else { return };
    let late = "the scheduler speaks again";
    lab.world.scenario(json!({
        "exec": {"scheduler": container},
        "follow_logs": {"silent_s": SILENCE.as_secs_f64(), "then": late},
    }));
    answer(
        &container,
        r#"{"dags": [{"dag_id": "hello", "file": "/opt/airflow/dags/hello.py", "tasks": 2}], "import_errors": [], "problems": [], "seconds": 65.0}"#,
    );
    assert!(in_container(&container, &format!("echo {} > /tmp/delay && echo ok", SILENCE.as_secs())).contains("ok"));
    let limit = SILENCE + Duration::from_secs(40);
    std::thread::scope(|scope| {
        let shell = scope.spawn(|| {
            let mut shell =
                lab.devflow(&["shell"]).command().stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
            let script = format!("sleep {}\necho still here\nexit 0\n", SILENCE.as_secs());
            shell.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
            let out = wait_at_most(shell, limit).expect("`shell` ends");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "still here\n",
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(0));
        });
        let test = scope.spawn(|| {
            let run = lab.devflow(&["test"]).status(0).stdout_contains("✓ hello.py  hello (2 tasks)");
            let child = run.command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            run.check(wait_at_most(child, limit).expect("`test` ends"));
        });
        let logs = scope.spawn(|| {
            let run = lab.devflow(&["logs", "-f", "scheduler"]);
            let mut child = run.command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            let mut seen = Vec::new();
            for line in BufReader::new(child.stdout.take().unwrap()).lines() {
                let line = line.unwrap();
                seen.push(line.clone());
                if line.contains(late) {
                    break;
                }
            }
            // SAFETY: SIGINT, as Ctrl-C sends, to the devflow this test started.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let out = wait_at_most(child, Duration::from_secs(10)).expect("`logs -f` stops on Ctrl-C");
            assert!(seen.iter().any(|l| l == &format!("scheduler | {late}")), "the late line never came: {seen:?}");
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        });
        for thread in [shell, test, logs] {
            thread.join().unwrap();
        }
    });
}

#[test]
fn a_dropped_exec_connection_ends_airflow_and_shell_with_a_message() {
    let Some((lab, container)) = up_with_scheduler(test_name!()) else { return };
    lab.world.scenario(json!({"exec": {"scheduler": container}, "drop_exec_after_s": 2}));
    let broke = "the connection to the pod broke";

    let airflow = lab.devflow(&["airflow", "--", "wait", "60"]).status(1).stderr_contains(broke);
    let child = airflow.command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = wait_at_most(child, Duration::from_secs(20)).expect("`airflow` ends once its connection is cut");
    airflow.check(out);

    let shell = lab.devflow(&["shell"]).status(1).stderr_contains(broke);
    let mut child =
        shell.command().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Standard input stays open, as a terminal's does.
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"sleep 60\n").unwrap();
    let out = wait_at_most(child, Duration::from_secs(20)).expect("`shell` ends once its connection is cut");
    drop(input);
    shell.check(out);
}
