//! Namespaces that take time to go: a deleted namespace stays `Terminating` while its contents go
//! and refuses anything new, so `down --keep-cluster` waits for it, and an `up` that meets one
//! waits rather than fails.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

/// How long the fake namespace controller takes to empty a deleted namespace.
const TERMINATING_S: f64 = 3.0;

fn namespace_status(lab: &Lab) -> u16 {
    match ureq::get(&format!("{}/api/v1/namespaces/airflow", lab.world.kube().url())).call() {
        Ok(answer) => answer.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => code,
        Err(e) => panic!("the fake API answers: {e}"),
    }
}

#[test]
fn down_keep_cluster_waits_for_the_namespace_and_an_up_at_once_ends_ready() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.world.scenario(json!({"namespace_terminating_s": TERMINATING_S}));
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    let started = Instant::now();
    lab.devflow(&["down", "--keep-cluster", "--yes"]).status(0).stderr_contains("✓ Deleted devflow's objects").run();
    assert!(started.elapsed() >= Duration::from_secs_f64(TERMINATING_S), "down waited for the namespace to go");
    assert_eq!(namespace_status(&lab), 404, "the namespace is gone when `down` says so");
    lab.devflow(&["up", "--no-watch"])
        .status(0)
        .stderr_contains("✓ Applied 7 objects")
        .stdout_contains("Airflow is up")
        .run();
}

#[test]
fn up_meeting_a_terminating_namespace_waits_for_it() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.world.scenario(json!({"namespace_terminating_s": TERMINATING_S}));
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    // Deleted by hand (`kubectl delete namespace airflow --wait=false`), and `up` at once.
    ureq::delete(&format!("{}/api/v1/namespaces/airflow", lab.world.kube().url())).call().unwrap();
    assert_eq!(namespace_status(&lab), 200, "the namespace is still there, terminating");
    lab.devflow(&["up", "--no-watch", "--timeout", "90s"])
        .status(0)
        .stderr_contains("✓ The namespace airflow is gone: devflow makes it again")
        .stderr_contains("✓ Applied 7 objects")
        .stdout_contains("Airflow is up")
        .run();
}
