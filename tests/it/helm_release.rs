//! The Airflow release as real Helm leaves it: `helm status` without the chart, `helm list`
//! hiding pending releases, a Helm stopped with SIGTERM recording the release failed, and one
//! killed with SIGKILL leaving it pending, which every later upgrade refuses.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::lifecycle::Lab;
use crate::support::Expect;
use crate::test_name;

/// The release record the fake helm keeps for the lab's project.
fn release(lab: &Lab) -> Value {
    lab.world.releases()[format!("kind-{}", lab.name)]["airflow/airflow"].clone()
}

/// Waits for the fake helm to be at work (scenario `helm_install_s`); its pid.
fn helm_at_work(lab: &Lab) -> i32 {
    let pid_file = lab.world.home().join("helm.pid");
    let waited = Instant::now();
    while !pid_file.exists() {
        assert!(waited.elapsed() < Duration::from_secs(60), "helm never started its work");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    std::fs::remove_file(&pid_file).unwrap();
    pid
}

/// The chart's jobs gone, as their `ttlSecondsAfterFinished: 300` (chart 1.22.0 values.yaml)
/// has them a few minutes after `up`: only then can someone's own `helm upgrade` roll the
/// release, since a Job's pod template is immutable (the fake helm refuses as Helm does).
fn jobs_gone_by_ttl(lab: &Lab) {
    let url = format!("{}/apis/batch/v1/namespaces/airflow/jobs?labelSelector=tier%3Dairflow", lab.world.kube().url());
    let deleted = ureq::delete(&url).call();
    assert!(deleted.is_ok(), "{deleted:?}");
}

fn running(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().any(|l| l.starts_with("State:") && !l.contains("zombie"))
}

/// Starts `up`, waits for Helm to be at work, and does `stop` to it (or to devflow).
fn interrupt_up(lab: &Lab, args: &[&str], status: i32, stop: impl FnOnce(i32, i32)) -> crate::support::Output {
    let up = lab.devflow(args).status(status);
    let child = up.command().stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let helm = helm_at_work(lab);
    stop(child.id() as i32, helm);
    let out = up.check(child.wait_with_output().unwrap());
    let gone = Instant::now();
    while running(helm) {
        assert!(gone.elapsed() < Duration::from_secs(10), "helm (pid {helm}) still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    out
}

#[test]
fn ctrl_c_while_helm_installs_lets_helm_record_it_failed_and_the_next_up_ends_ready() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.world.scenario(json!({"helm_install_s": 60}));
    interrupt_up(&lab, &["up", "--no-watch"], 130, |devflow, _| {
        // SAFETY: SIGINT, as Ctrl-C on a terminal sends, to the devflow this test started.
        assert_eq!(unsafe { libc::kill(devflow, libc::SIGINT) }, 0);
    });
    let left = release(&lab);
    assert_eq!(left["status"], "failed", "Helm stopped with SIGTERM records the release failed");
    assert_eq!(left["description"], "Release \"airflow\" failed: context canceled");

    lab.world.scenario(json!({}));
    lab.devflow(&["up", "--no-watch"])
        .status(0)
        .stderr_contains("✓ Installed the Airflow chart")
        .stdout_contains("Airflow is up")
        .run();
    assert_eq!(release(&lab)["status"], "deployed");
}

#[test]
fn a_release_a_killed_helm_left_pending_is_recovered_by_the_next_up() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    let kill_helm = |_devflow: i32, helm: i32| {
        // SAFETY: SIGKILL, as the OOM killer or a closed laptop would, to the fake helm devflow ran.
        assert_eq!(unsafe { libc::kill(helm, libc::SIGKILL) }, 0);
    };
    lab.world.scenario(json!({"helm_install_s": 60}));
    interrupt_up(&lab, &["up", "--no-watch"], 1, kill_helm);
    assert_eq!(release(&lab)["status"], "pending-install");
    lab.world.scenario(json!({}));
    lab.devflow(&["up", "--no-watch"])
        .status(0)
        .stderr_contains(
            "! the last `up` stopped while Helm installed Airflow (the release is pending-install): uninstalling it to install again",
        )
        .stderr_contains("✓ Installed the Airflow chart")
        .run();
    assert_eq!((release(&lab)["status"].clone(), release(&lab)["revision"].clone()), (json!("deployed"), json!(1)));

    let upgrade = ["up", "--no-watch", "--set", "scheduler.replicas=1"];
    lab.world.scenario(json!({"helm_install_s": 60}));
    interrupt_up(&lab, &upgrade, 1, kill_helm);
    assert_eq!(release(&lab)["status"], "pending-upgrade");
    lab.world.scenario(json!({}));
    lab.devflow(&upgrade)
        .status(0)
        .stderr_contains(
            "! the last `up` stopped while Helm upgraded Airflow (revision 2 is pending-upgrade): rolling back to revision 1",
        )
        .stderr_contains("✓ Installed the Airflow chart")
        .run();
    let now = release(&lab);
    assert_eq!((now["status"].clone(), now["revision"].clone()), (json!("deployed"), json!(4)), "{now}");
    assert_eq!(lab.calls("helm", &["rollback"]).len(), 1);
}

#[test]
fn a_pending_release_devflow_did_not_leave_is_not_touched() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    // Someone's own `helm upgrade`, killed.
    jobs_gone_by_ttl(&lab);
    let context = format!("kind-{}", lab.name);
    lab.world.scenario(json!({"helm_install_s": 60}));
    let mut helm = std::process::Command::new(lab.world.bin().join("helm"))
        .args(["upgrade", "airflow", "airflow", "--repo", "https://airflow.apache.org", "--namespace", "airflow"])
        .args(["--kube-context", &context, "--reuse-values"])
        .env_clear()
        .envs(lab.world.env())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = helm_at_work(&lab);
    // SAFETY: SIGKILL to the fake helm this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let _ = helm.wait();
    lab.world.scenario(json!({}));
    lab.devflow(&["up", "--no-watch", "--set", "scheduler.replicas=1"])
        .status(1)
        .stderr_contains("the Airflow release is pending-upgrade (revision 2): another Helm operation is running on it")
        .run();
    assert!(lab.calls("helm", &["rollback"]).is_empty() && lab.calls("helm", &["uninstall"]).is_empty());
}

#[test]
fn a_release_moved_to_another_chart_outside_devflow_is_upgraded_again() {
    let Some(lab) = Lab::new(test_name!(), "kind") else { return };
    lab.devflow(&["up", "--no-watch"]).status(0).run();
    lab.devflow(&["up", "--no-watch"])
        .status(0)
        .stderr_contains("✓ Airflow release is installed (unchanged, revision 1)")
        .run();
    jobs_gone_by_ttl(&lab);
    let context = format!("kind-{}", lab.name);
    let args = ["upgrade", "airflow", "airflow", "--repo", "https://airflow.apache.org", "--version", "1.21.0"];
    let moved =
        lab.world.run("helm", &[&args[..], &["--namespace", "airflow", "--kube-context", &context]].concat(), None);
    assert!(moved.status.success(), "{moved:?}");
    lab.devflow(&["up", "--no-watch"]).status(0).stderr_contains("✓ Installed the Airflow chart 1.22.0").run();
    assert_eq!(release(&lab)["version"], "1.22.0");
}
