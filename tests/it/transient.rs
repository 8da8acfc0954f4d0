//! The transient states a real `up` goes through (issue 9, items 1–7), met as a new user meets
//! them, on the fake tier whose kubelet and controllers reproduce them from the real sources
//! (fake_kube/timeline.rs, kubelet.rs, chart.rs): each run must end in an Airflow that is really
//! ready (every job Complete, every component's current pods Ready), read from the API as soon as
//! devflow says so. The fakes' clock is compressed in proportion (60 s of
//! `--migration-wait-timeout` is 1 s here, the kubelet's 10 s back-off 0.2 s).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

/// containerd's answer for a tag that does not exist (pkg/remotes/docker/resolver.go: `%s: not found`).
pub const MISSING_IMAGE: &str = "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/apache/airflow:9.9.9\": failed to resolve reference \"docker.io/apache/airflow:9.9.9\": docker.io/apache/airflow:9.9.9: not found";

/// Docker Hub's rate limit as containerd reports it (HTTP 429, `toomanyrequests`).
const RATE_LIMITED: &str = "failed to pull and unpack image \"docker.io/apache/airflow:3.2.2\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/apache/airflow/manifests/sha256:6f1c: 429 Too Many Requests - Server message: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit";

fn get(lab: &Lab, path: &str) -> Value {
    let url = format!("{}{path}", lab.world.kube().url());
    let text = ureq::get(&url).call().unwrap().body_mut().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap()
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn unix(text: &str) -> f64 {
    let t: jiff::Timestamp = text.parse().unwrap();
    t.as_second() as f64
}

/// Right after devflow said Airflow is ready: every chart job Complete, and every current pod of
/// the release (not a job's, not terminating, not Failed history) Ready, its containers started
/// at or after `since` (unix seconds, whole: the API's metav1.Time).
fn assert_really_ready(lab: &Lab, since: f64) {
    let jobs = get(lab, "/apis/batch/v1/jobs");
    for job in jobs["items"].as_array().unwrap() {
        let complete = job["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Complete");
        assert!(complete, "job {} is not Complete: {}", job["metadata"]["name"], job["status"]);
    }
    let pods = get(lab, "/api/v1/pods?labelSelector=release%3Dairflow");
    let current = pods["items"].as_array().unwrap().iter().filter(|p| {
        p["metadata"]["labels"]["job-name"].is_null()
            && p["metadata"]["deletionTimestamp"].is_null()
            && p["status"]["phase"] != "Failed"
    });
    let mut seen = 0;
    for pod in current {
        seen += 1;
        let name = &pod["metadata"]["name"];
        let ready = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(ready, "pod {name} is not Ready: {}", pod["status"]);
        for c in pod["status"]["containerStatuses"].as_array().unwrap() {
            let started = unix(c["state"]["running"]["startedAt"].as_str().unwrap_or("1970-01-01T00:00:00Z"));
            assert!(started >= since.floor(), "pod {name}'s {} started at {started}, before {since}", c["name"]);
        }
    }
    assert!(seen >= 4, "the release's components are there ({seen} pods)");
}

/// `up` in a fresh project with this scenario: it must end ready, really.
fn up_ends_ready(test: &str, scenario: Value, shows: &[&str]) -> (Lab, Duration) {
    let lab = Lab::new(test, "kind").expect("Docker runs the fake nodes");
    lab.world.scenario(scenario);
    let started = Instant::now();
    let run = shows.iter().fold(lab.devflow(&["up", "--no-watch", "--timeout", "120s"]).status(0), |run, text| {
        run.stderr_contains(*text)
    });
    run.stderr_contains("✓ Airflow is ready").run();
    let took = started.elapsed();
    assert_really_ready(&lab, 0.0);
    (lab, took)
}

#[test]
fn a_migration_longer_than_the_init_containers_wait_is_waited_out() {
    if !crate::world::docker_available() {
        return;
    }
    // The real migrations take 6 min and more on big databases (FACTS.md); here 3 s against
    // a compressed 1 s `--migration-wait-timeout`.
    let scenario = json!({"migration_s": 3.0, "migration_wait_timeout_s": 1.0, "crash_backoff_s": 0.2});
    let (_lab, took) = up_ends_ready(test_name!(), scenario, &["waiting for database migrations (try 2)"]);
    assert!(took >= Duration::from_secs(3), "ready only after the migrations: {took:?}");
}

#[test]
fn a_create_user_job_that_fails_twice_is_waited_out() {
    if !crate::world::docker_available() {
        return;
    }
    let scenario = json!({"create_user_fails": 2, "crash_backoff_s": 0.6});
    up_ends_ready(test_name!(), scenario, &["create-user    retrying (try "]);
}

#[test]
fn a_rate_limited_pull_is_a_warning_and_heals() {
    if !crate::world::docker_available() {
        return;
    }
    let scenario =
        json!({"pods": {"scheduler": {"pull_error": RATE_LIMITED, "heals_after_s": 2.0}}, "crash_backoff_s": 0.5});
    up_ends_ready(test_name!(), scenario, &["toomanyrequests", "(it may heal: devflow keeps waiting)"]);
}

#[test]
fn unschedulable_while_a_claim_binds_heals() {
    if !crate::world::docker_available() {
        return;
    }
    let binding = "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
    let scenario = json!({"pods": {"api-server": {"unschedulable": binding, "heals_after_s": 1.5}}});
    up_ends_ready(test_name!(), scenario, &["api-server     Unschedulable"]);
}

#[test]
fn a_stale_oom_kill_and_an_evicted_pod_are_notes_not_failures() {
    if !crate::world::docker_available() {
        return;
    }
    let scenario = json!({"pods": {
        "scheduler": {"restarts": 1, "last_terminated": {"reason": "OOMKilled", "exitCode": 137}},
        "dag-processor": {"evicted": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 87Mi."}}});
    let (lab, _) = up_ends_ready(
        test_name!(),
        scenario,
        &["note: scheduler was OOMKilled ", "s ago, now running", "was Evicted 10 min ago: its replacement runs"],
    );
    lab.devflow(&["status"])
        .status(0)
        .stdout_contains("note: scheduler was OOMKilled ")
        .stdout_contains("note: dag-processor's pod airflow-dag-processor-")
        .run();
}

#[test]
fn start_after_stop_waits_for_the_restarted_pods_not_the_status_from_before() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    lab.devflow(&["stop"]).status(0).run();
    // Containers started in an earlier second than `start`'s, as on a real laptop.
    std::thread::sleep(Duration::from_millis(1100));
    lab.world.scenario(json!({"stale_status_s": 2.0}));
    let since = unix_now();
    lab.devflow(&["start"]).status(0).stderr_contains("restarting after the cluster's start").run();
    assert_really_ready(&lab, since);
}

#[test]
fn a_values_change_rolls_out_on_a_two_cpu_node() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    lab.world.scenario(json!({"node_cpu": 2, "rollout_terminate_s": 1.5}));
    let since = unix_now();
    lab.devflow(&["up", "--no-watch", "--set", "config.core.parallelism=8"])
        .status(0)
        .stderr_contains("Unschedulable")
        .stderr_contains("✓ Airflow is ready")
        .run();
    assert_really_ready(&lab, since);
}

#[test]
fn a_failed_release_s_jobs_are_deleted_before_the_next_upgrade() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    // Helm recorded the last upgrade failed (a timeout, an interrupted run): its jobs are still
    // there, and a Job's pod template is immutable.
    let path = lab.world.home().join("releases.json");
    let mut releases: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (_, context) in releases.as_object_mut().unwrap() {
        for (_, release) in context.as_object_mut().unwrap() {
            release["status"] = json!("failed");
        }
    }
    std::fs::write(&path, releases.to_string()).unwrap();
    lab.devflow(&["up", "--no-watch", "--set", "config.core.parallelism=8"])
        .status(0)
        .stderr_lacks("field is immutable")
        .stderr_contains("✓ Airflow is ready")
        .run();
    assert_really_ready(&lab, 0.0);
}

#[test]
fn up_on_a_stopped_cluster_waits_for_the_restarted_pods_too() {
    let Some(lab) = Lab::new(test_name!(), "k3d") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    lab.devflow(&["stop"]).status(0).run();
    std::thread::sleep(Duration::from_millis(1100));
    lab.world.scenario(json!({"stale_status_s": 2.0}));
    let since = unix_now();
    lab.devflow(&["up", "--no-watch"])
        .status(0)
        .stderr_contains("Started the cluster")
        .stderr_contains("restarting after the cluster's start")
        .run();
    assert_really_ready(&lab, since);
}
