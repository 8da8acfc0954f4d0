//! What devflow finds of the machine it runs on (issue 9, items 13–16): the Docker daemon the
//! `docker` CLI and kind use, its cgroup version, the tool versions, the user's kube context.

use sha2::Digest;

use crate::fake_docker::{FakeDocker, SERVER_VERSION};
use crate::support::{Expect, Test};

/// The doctor's check of this name, from `doctor --json`.
fn check(test: &Test, name: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let mut run = test.devflow(&["doctor", "--json"]);
    for (key, value) in env {
        run = run.env(key, *value);
    }
    let report = run.run().json();
    let found = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned();
    found.unwrap_or_else(|| panic!("no `{name}` check in {report}"))
}

/// A Docker context as `docker context create NAME --docker host=HOST` stores it (docker/cli
/// `cli/context/store/metadatastore.go`: `contexts/meta/<sha256 of the name>/meta.json`).
fn docker_context(test: Test, name: &str, host: &str) -> Test {
    let digest: String = sha2::Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let meta = serde_json::json!({
        "Name": name,
        "Metadata": {"Description": "a test's"},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    test.file(&format!("../home/.docker/contexts/meta/{digest}/meta.json"), &meta.to_string())
}

/// issue 9, item 15: devflow talks to the daemon the `docker` CLI would: a tcp DOCKER_HOST (which
/// it ignored before, asking the local socket instead), then DOCKER_CONTEXT, then the current
/// context of ~/.docker/config.json; DOCKER_HOST wins over a context.
#[test]
fn docker_is_the_daemon_the_docker_cli_would_use() {
    let fake = FakeDocker::start("2");
    let ours = |from: &str| format!("Docker {SERVER_VERSION} on Fake Linux at {} ({from})", fake.host());
    let test = docker_context(Test::new(), "colima", &fake.host());
    let test = docker_context(test, "elsewhere", "tcp://127.0.0.1:1");

    assert_eq!(check(&test, "docker", &[("DOCKER_HOST", &fake.host())])["detail"], ours("DOCKER_HOST"));
    let docker = check(&test, "docker", &[("DOCKER_CONTEXT", "colima")]);
    assert_eq!(docker["detail"], ours("the Docker context colima, DOCKER_CONTEXT"));
    let docker = check(&test, "docker", &[("DOCKER_CONTEXT", "elsewhere"), ("DOCKER_HOST", &fake.host())]);
    assert_eq!(docker["detail"], ours("DOCKER_HOST"), "DOCKER_HOST before DOCKER_CONTEXT");
    let test = test.file("../home/.docker/config.json", r#"{"auths": {}, "currentContext": "colima"}"#);
    let docker = check(&test, "docker", &[]);
    assert_eq!(docker["detail"], ours("the Docker context colima, the current context in config.json"));
    let docker = check(&test, "docker", &[("DOCKER_CONTEXT", "elsewhere")]);
    assert_eq!(docker["ok"], false, "DOCKER_CONTEXT before config.json: {docker}");
    assert!(
        docker["detail"].as_str().unwrap().contains("tcp://127.0.0.1:1 (the Docker context elsewhere, DOCKER_CONTEXT"),
        "{docker}"
    );
    assert!(fake.requests.load(std::sync::atomic::Ordering::SeqCst) >= 8);

    let docker = check(&test, "docker", &[("DOCKER_CONTEXT", "missing")]);
    assert!(
        docker["detail"].as_str().unwrap().contains("the Docker context `missing` (DOCKER_CONTEXT) cannot be read"),
        "{docker}"
    );
    let docker = check(&test, "docker", &[("DOCKER_HOST", "ssh://me@build-box")]);
    assert!(docker["detail"].as_str().unwrap().contains("is not one devflow can reach"), "{docker}");
    assert!(docker["fix"].as_str().unwrap().contains("ssh -L"), "{docker}");
}

/// issue 9, item 13: on a cgroup v1 Docker host, Kubernetes 1.35 and later do not start (the
/// kubelet's `failCgroupV1`, KEP-5573). `doctor` says so and what runs there; `up` refuses before
/// it makes anything; a project set to 1.34 passes; a cgroup v2 host passes with the default.
#[test]
fn a_cgroup_v1_docker_host_runs_kubernetes_1_34_at_most() {
    let v1 = FakeDocker::start("1");
    let v2 = FakeDocker::start("2");
    let default = Test::new();
    let on_134 = Test::new().file("devflow.toml", "[cluster]\nkubernetes = \"1.34\"\n");

    let cgroups = check(&default, "cgroups", &[("DOCKER_HOST", &v1.host())]);
    assert_eq!((cgroups["ok"].clone(), cgroups["blocking"].clone()), (false.into(), true.into()), "{cgroups}");
    assert!(
        cgroups["detail"].as_str().unwrap().contains("cgroup v1: Kubernetes 1.36 will not start there"),
        "{cgroups}"
    );
    assert!(cgroups["fix"].as_str().unwrap().contains("set `kubernetes = \"1.34\"` under [cluster]"), "{cgroups}");
    let cgroups = check(&on_134, "cgroups", &[("DOCKER_HOST", &v1.host())]);
    assert_eq!(cgroups["ok"], true, "{cgroups}");
    assert_eq!(cgroups["detail"], "cgroup v1: Kubernetes 1.34 runs on it (1.35 and later do not)");
    let cgroups = check(&default, "cgroups", &[("DOCKER_HOST", &v2.host())]);
    assert_eq!((cgroups["ok"].clone(), cgroups["detail"].clone()), (true.into(), "cgroup v2".into()), "{cgroups}");

    default
        .devflow(&["up", "--no-watch", "--yes"])
        .env("DOCKER_HOST", v1.host())
        .status(1)
        .stderr_contains("error: Docker runs on cgroup v1, and Kubernetes 1.36 will not start there")
        .stderr_contains("Kubernetes 1.34 is the newest that runs on cgroup v1")
        .stderr_lacks("Creating")
        .stderr_lacks("Downloading")
        .run();
    // On cgroup v2 the preflight goes on past the check, to the next: kind (none on this PATH).
    default
        .devflow(&["up", "--no-watch"])
        .env("DOCKER_HOST", v2.host())
        .env("PATH", "/nonexistent")
        .status(1)
        .stderr_contains("error: kind is not installed")
        .stderr_lacks("cgroup")
        .run();
}
