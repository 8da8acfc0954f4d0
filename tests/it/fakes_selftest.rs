//! Tests of the test doubles themselves: the fake kind/k3d/helm executables (run directly, with
//! real Docker containers) and FakeKube (over plain HTTP, and through kube-rs).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::world::World;

// ------------------------------------------------------------------------------------------ helpers

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "fake failed\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[track_caller]
fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// A minimal HTTP/1.1 client: (status, body). Decodes chunked bodies.
fn http(method: &str, url: &str, content_type: Option<&str>, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host).expect("connect to FakeKube");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { body.to_string() };
    (code, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n..];
        s = s.strip_prefix("\r\n").unwrap_or(s);
    }
    out
}

fn get_json(world: &World, path: &str) -> (u16, Value) {
    let (code, body) = http("GET", &format!("{}{path}", world.kube().url()), None, "");
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path} -> {code} not JSON ({e}): {body}")))
}

fn apply(world: &World, path: &str, obj: &Value) -> (u16, Value) {
    let url = format!("{}{path}?fieldManager=devflow&force=true", world.kube().url());
    let (code, body) = http("PATCH", &url, Some("application/apply-patch+yaml"), &obj.to_string());
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("PATCH {path} -> {code} not JSON ({e}): {body}")))
}

#[track_caller]
fn wait_until(what: &str, timeout_s: f64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed().as_secs_f64() < timeout_s, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kind_config(name: &str, workers: usize, dags: &str, owner: &str) -> String {
    const IMAGE: &str = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed";
    let mut lines = vec![
        "kind: Cluster".to_string(),
        "apiVersion: kind.x-k8s.io/v1alpha4".into(),
        format!("name: {name}"),
        "networking:".into(),
        "  apiServerAddress: 127.0.0.1".into(),
        "nodes:".into(),
        "- role: control-plane".into(),
        format!("  image: {IMAGE}"),
        "  labels:".into(),
        format!("    devflow.io/project: {name}"),
        "  extraMounts:".into(),
        format!("  - hostPath: {owner}"),
        "    containerPath: /devflow/owner".into(),
        "    readOnly: true".into(),
        format!("  - hostPath: {dags}"),
        "    containerPath: /devflow/dags".into(),
        "    readOnly: true".into(),
        "  extraPortMappings:".into(),
        "  - containerPort: 30080".into(),
        "    hostPort: 8080".into(),
        "    listenAddress: 127.0.0.1".into(),
        "    protocol: TCP".into(),
    ];
    for _ in 0..workers {
        lines.extend([
            "- role: worker".to_string(),
            format!("  image: {IMAGE}"),
            "  labels:".into(),
            format!("    devflow.io/project: {name}"),
            "  extraMounts:".into(),
            format!("  - hostPath: {dags}"),
            "    containerPath: /devflow/dags".into(),
            "    readOnly: true".into(),
        ]);
    }
    lines.join("\n") + "\n"
}

/// A kind cluster named after the world; returns its name.
fn kind_cluster(world: &World, base: &str, workers: usize) -> String {
    let name = world.unique_name(base);
    let dags = world.temp().join("dags");
    let owner = world.temp().join("owner");
    std::fs::create_dir_all(&dags).unwrap();
    std::fs::create_dir_all(&owner).unwrap();
    let cfg = kind_config(&name, workers, &dags.display().to_string(), &owner.display().to_string());
    ok(&world.run("kind", &["create", "cluster", "--name", &name, "--config", "-"], Some(&cfg)));
    name
}

fn inspect(container: &str) -> Value {
    let out = std::process::Command::new("docker").args(["inspect", container]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

// ------------------------------------------------------------------------------------------ kind

#[test]
fn kind_create_get_delete_round_trip() {
    let Some(world) = World::for_test("kind_create_get_delete_round_trip") else { return };
    assert_eq!(ok(&world.run("kind", &["version"], None)), "kind v0.33.0 go1.25.5 linux/amd64\n");
    let none = world.run("kind", &["get", "clusters"], None);
    assert_eq!(ok(&none), "");
    assert_eq!(text(&none.stderr), "No kind clusters found.\n");

    let name = world.unique_name("round-trip");
    let dags = world.temp().join("dags");
    let owner = world.temp().join("owner");
    std::fs::create_dir_all(&dags).unwrap();
    std::fs::create_dir_all(&owner).unwrap();
    // the config names another cluster: --name wins, as in kind
    let cfg = kind_config("ignored", 1, &dags.display().to_string(), &owner.display().to_string());
    let out = world.run("kind", &["create", "cluster", "--name", &name, "--config", "-"], Some(&cfg));
    ok(&out);
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("Creating cluster \"{name}\" ...")), "{stderr}");
    assert!(stderr.contains(" ✓ Ensuring node image (kindest/node:v1.36.4@sha256:"), "{stderr}");
    assert!(stderr.contains(&format!("Set kubectl context to \"kind-{name}\"")), "{stderr}");

    let cp = format!("{name}-control-plane");
    let worker = format!("{name}-worker");
    assert_eq!(world.containers(), vec![cp.clone(), worker.clone()]);
    assert_eq!(ok(&world.run("kind", &["get", "clusters"], None)), format!("{name}\n"));
    assert_eq!(ok(&world.run("kind", &["get", "nodes", "--name", &name], None)), format!("{cp}\n{worker}\n"));

    let c = inspect(&cp);
    assert_eq!(c["State"]["Running"], json!(true));
    assert_eq!(c["Config"]["Labels"]["io.x-k8s.kind.cluster"], json!(name));
    assert_eq!(c["Config"]["Labels"]["io.x-k8s.kind.role"], json!("control-plane"));
    assert_eq!(c["Config"]["Labels"]["devflow-test"], json!("1"));
    assert_eq!(c["Config"]["Image"], json!("devflow-test-node:1"));
    assert!(
        c["HostConfig"]["PortBindings"].as_object().is_none_or(|m| m.is_empty()),
        "no host ports: {}",
        c["HostConfig"]["PortBindings"]
    );
    let mounts = c["Mounts"].as_array().unwrap();
    let dag_mount = mounts.iter().find(|m| m["Destination"] == "/devflow/dags").expect("the dags mount");
    assert_eq!(dag_mount["Source"], json!(dags.display().to_string()));
    assert_eq!(dag_mount["RW"], json!(false));
    assert!(
        mounts
            .iter()
            .any(|m| m["Destination"] == "/devflow/owner" && m["Source"] == json!(owner.display().to_string()))
    );
    let w = inspect(&worker);
    assert_eq!(w["Config"]["Labels"]["io.x-k8s.kind.role"], json!("worker"));
    assert!(w["Mounts"].as_array().unwrap().iter().all(|m| m["Destination"] != "/devflow/owner"));

    // a file written on the host shows inside the node
    std::fs::write(dags.join("etl.py"), "x = 1\n").unwrap();
    let cat = std::process::Command::new("docker").args(["exec", &cp, "cat", "/devflow/dags/etl.py"]).output().unwrap();
    assert_eq!(text(&cat.stdout), "x = 1\n");

    let context = format!("kind-{name}");
    assert_eq!(world.kubeconfig_contexts(), vec![context.clone()]);
    assert_eq!(world.current_context(), context);
    let kc = world.kubeconfig_json();
    assert_eq!(kc["clusters"][0]["cluster"]["server"], json!(world.kube().url()));

    let log = world.log();
    let create = log.iter().find(|c| c.argv.first().map(String::as_str) == Some("create")).unwrap();
    assert_eq!(create.tool, "kind");
    assert_eq!(create.stdin.as_deref(), Some(cfg.as_str()));
    assert!(log.iter().filter(|c| c.argv.first().map(String::as_str) != Some("create")).all(|c| c.stdin.is_none()));

    let del = world.run("kind", &["delete", "cluster", "--name", &name], None);
    ok(&del);
    assert!(text(&del.stderr).starts_with(&format!("Deleting cluster \"{name}\" ...\n")), "{}", text(&del.stderr));
    assert!(world.containers().is_empty());
    assert!(world.kubeconfig_contexts().is_empty());
    assert_eq!(world.current_context(), "");
    assert_eq!(ok(&world.run("kind", &["get", "clusters"], None)), "");
    // deleting a cluster that does not exist succeeds, as in kind
    let again = world.run("kind", &["delete", "cluster", "--name", &name], None);
    ok(&again);
    assert_eq!(text(&again.stderr), format!("Deleting cluster \"{name}\" ...\n"));
}

#[test]
fn kind_create_twice_fails_like_kind() {
    let Some(world) = World::for_test("kind_create_twice_fails_like_kind") else { return };
    let name = kind_cluster(&world, "twice", 0);
    let dags = world.temp().join("dags").display().to_string();
    let cfg = kind_config(&name, 0, &dags, &dags);
    let err = fails(&world.run("kind", &["create", "cluster", "--name", &name, "--config", "-"], Some(&cfg)));
    assert_eq!(
        err,
        format!("ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\"\n")
    );
    assert_eq!(world.containers(), vec![format!("{name}-control-plane")]);

    let err = fails(&world.run("kind", &["create", "cluster", "--name", "x", "--bogus"], None));
    assert_eq!(err, "ERROR: unknown flag: --bogus\n");
    let err = fails(&world.run(
        "kind",
        &["create", "cluster", "--name", "y", "--config", "-"],
        Some("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodez: []\n"),
    ));
    assert!(err.starts_with("ERROR: failed to create cluster: unable to decode config: yaml: unmarshal errors:\n  line 3: field nodez not found in type v1alpha4.Cluster"), "{err}");
}

#[test]
fn scenario_fail_slow_and_hang() {
    let world = World::new();
    world.scenario(
        json!({"fail": {"kind create": "ERROR: failed to create cluster: boom"}, "slow": {"helm version": 0.6}}),
    );
    let err =
        fails(&world.run("kind", &["create", "cluster", "--name", "x", "--config", "-"], Some("kind: Cluster\n")));
    assert_eq!(err, "ERROR: failed to create cluster: boom\n");
    // logged first, stdin included
    let log = world.log();
    assert_eq!(log.last().unwrap().stdin.as_deref(), Some("kind: Cluster\n"));

    let start = Instant::now();
    assert_eq!(ok(&world.run("helm", &["version", "--short"], None)), "v3.19.0+g3d8990f\n");
    assert!(start.elapsed() >= Duration::from_millis(600));

    world.scenario(json!({"hang": ["k3d cluster create"]}));
    let mut child = std::process::Command::new(world.bin().join("k3d"))
        .args(["cluster", "create", "--config", "/nonexistent.yaml"])
        .env_clear()
        .envs(world.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = world.home().join("hang.pid");
    wait_until("hang.pid", 5.0, || pid_file.exists() && !std::fs::read_to_string(&pid_file).unwrap().is_empty());
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), child.id().to_string());
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "a hanging fake keeps running");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(world.log().last().unwrap().argv, ["cluster", "create", "--config", "/nonexistent.yaml"]);
}

// ------------------------------------------------------------------------------------------ k3d

#[test]
fn k3d_create_list_stop_start_delete() {
    let Some(world) = World::for_test("k3d_create_list_stop_start_delete") else { return };
    assert_eq!(ok(&world.run("k3d", &["version"], None)), "k3d version v5.8.3\nk3s version v1.31.5-k3s1 (default)\n");
    assert_eq!(ok(&world.run("k3d", &["cluster", "list", "-o", "json"], None)), "[]\n");

    let name = world.unique_name("k3d-list");
    let owner = world.temp().join("owner");
    std::fs::create_dir_all(&owner).unwrap();
    let cfg = [
        "apiVersion: k3d.io/v1alpha5".to_string(),
        "kind: Simple".into(),
        "metadata:".into(),
        format!("  name: {name}"),
        "servers: 1".into(),
        "agents: 1".into(),
        "image: rancher/k3s:v1.36.4-k3s1".into(),
        "kubeAPI:".into(),
        "  hostIP: 127.0.0.1".into(),
        "volumes:".into(),
        format!("- volume: {}:/devflow/owner:ro", owner.display()),
        "  nodeFilters:".into(),
        "  - server:*".into(),
        "  - agent:*".into(),
        "ports:".into(),
        "- port: 127.0.0.1:8080:30080".into(),
        "  nodeFilters:".into(),
        "  - loadbalancer".into(),
        "options:".into(),
        "  k3s:".into(),
        "    extraArgs:".into(),
        "    - arg: --disable=traefik".into(),
        "      nodeFilters:".into(),
        "      - server:*".into(),
        "    nodeLabels:".into(),
        format!("    - label: devflow.io/project={name}"),
        "      nodeFilters:".into(),
        "      - server:*".into(),
        "      - agent:*".into(),
        "  kubeconfig:".into(),
        "    updateDefaultKubeconfig: true".into(),
        "    switchCurrentContext: false".into(),
    ]
    .join("\n")
        + "\n";
    let file = world.temp().join("k3d.yaml");
    std::fs::write(&file, &cfg).unwrap();
    let file = file.display().to_string();
    ok(&world.run("k3d", &["cluster", "create", "--config", &file], None));
    let server = format!("k3d-{name}-server-0");
    let agent = format!("k3d-{name}-agent-0");
    let lb = format!("k3d-{name}-serverlb");
    assert_eq!(world.containers(), {
        let mut v = vec![agent.clone(), server.clone(), lb.clone()];
        v.sort();
        v
    });
    let s = inspect(&server);
    assert_eq!(s["Config"]["Labels"]["app"], json!("k3d"));
    assert_eq!(s["Config"]["Labels"]["k3d.cluster"], json!(name));
    assert_eq!(s["Config"]["Labels"]["k3d.role"], json!("server"));
    let m = s["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/devflow/owner")
        .expect("owner mount on the server")
        .clone();
    assert_eq!(m["RW"], json!(false));
    assert!(inspect(&agent)["Mounts"].as_array().unwrap().iter().any(|m| m["Destination"] == "/devflow/owner"));
    assert!(inspect(&lb)["Mounts"].as_array().unwrap().iter().all(|m| m["Destination"] != "/devflow/owner"));
    assert_eq!(inspect(&lb)["Config"]["Labels"]["k3d.role"], json!("loadbalancer"));
    // context added, current-context left alone
    assert_eq!(world.kubeconfig_contexts(), vec![format!("k3d-{name}")]);
    assert_eq!(world.current_context(), "");

    let err = fails(&world.run("k3d", &["cluster", "create", "--config", &file], None));
    assert!(
        err.contains(&format!("Failed to create cluster '{name}' because a cluster with that name already exists")),
        "{err}"
    );

    let list = |world: &World| -> Value {
        serde_json::from_str(&ok(&world.run("k3d", &["cluster", "list", "-o", "json"], None))).unwrap()
    };
    let l = list(&world);
    assert_eq!(l.as_array().unwrap().len(), 1);
    let c = &l[0];
    assert_eq!(c["name"], json!(name));
    assert_eq!(c["network"]["name"], json!(format!("k3d-{name}")));
    assert_eq!((c["serversCount"].clone(), c["serversRunning"].clone()), (json!(1), json!(1)));
    assert_eq!((c["agentsCount"].clone(), c["agentsRunning"].clone()), (json!(1), json!(1)));
    assert_eq!(c["hasLoadbalancer"], json!(true));
    let node = c["nodes"].as_array().unwrap().iter().find(|n| n["name"] == json!(server)).unwrap();
    assert_eq!(node["role"], json!("server"));
    assert_eq!(node["State"]["Running"], json!(true));
    assert_eq!(node["State"]["Status"], json!("running"));

    let out = world.run("k3d", &["cluster", "stop", &name], None);
    ok(&out);
    assert!(text(&out.stdout).contains(&format!("Stopped cluster '{name}'")));
    let l = list(&world);
    assert_eq!(l[0]["serversRunning"], json!(0));
    assert!(
        l[0]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["State"]["Running"] == json!(false) && n["State"]["Status"] == json!("exited"))
    );
    ok(&world.run("k3d", &["cluster", "start", &name], None));
    let l = list(&world);
    assert_eq!((l[0]["serversRunning"].clone(), l[0]["agentsRunning"].clone()), (json!(1), json!(1)));

    let err = fails(&world.run("k3d", &["cluster", "stop", "nope"], None));
    assert!(err.contains("No nodes found for given cluster"), "{err}");
    let err = fails(&world.run("k3d", &["cluster", "start", "nope"], None));
    assert!(err.contains("No nodes found for given cluster"), "{err}");

    ok(&world.run("k3d", &["cluster", "delete", &name], None));
    assert!(world.containers().is_empty());
    assert!(world.kubeconfig_contexts().is_empty());
    assert_eq!(ok(&world.run("k3d", &["cluster", "list", "-o", "json"], None)), "[]\n");
    let out = world.run("k3d", &["cluster", "delete", &name], None);
    assert!(ok(&out).contains(&format!("No nodes found for cluster '{name}', nothing to delete.")));
}

// ------------------------------------------------------------------------------------------ helm

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn write_values(world: &World, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = world.temp().join("values.yaml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

fn helm_upgrade(world: &World, ctx: &str, values: &str) -> Output {
    world.run(
        "helm",
        &[
            "upgrade",
            "--install",
            "airflow",
            "airflow",
            "--repo",
            "https://airflow.apache.org",
            "--version",
            "1.22.0",
            "--namespace",
            "airflow",
            "--kube-context",
            ctx,
            "--values",
            values,
        ],
        None,
    )
}

#[test]
fn helm_upgrade_status_uninstall() {
    let Some(world) = World::for_test("helm_upgrade_status_uninstall") else { return };
    assert_eq!(ok(&world.run("helm", &["version", "--short"], None)), "v3.19.0+g3d8990f\n");
    let values = write_values(&world, "airflowVersion: 3.2.2\nexecutor: LocalExecutor\n");

    let err = fails(&helm_upgrade(&world, "kind-nowhere", &values));
    assert_eq!(err, "Error: Kubernetes cluster unreachable: context \"kind-nowhere\" does not exist\n");

    let name = kind_cluster(&world, "helm", 0);
    let ctx = format!("kind-{name}");
    let err = fails(&helm_upgrade(&world, &ctx, &values));
    assert_eq!(err, "Error: create: failed to create: namespaces \"airflow\" not found\n");
    assert_eq!(apply(&world, "/api/v1/namespaces/airflow", &namespace("airflow")).0, 201);

    let first = ok(&helm_upgrade(&world, &ctx, &values));
    assert!(first.starts_with("Release \"airflow\" does not exist. Installing it now.\nNAME: airflow\n"), "{first}");
    assert!(first.contains("NAMESPACE: airflow\nSTATUS: deployed\nREVISION: 1\n"), "{first}");
    let rec = &world.releases()[&ctx]["airflow/airflow"];
    assert_eq!(rec["revision"], json!(1));
    assert_eq!(rec["values_mode"], json!("0600"));
    assert_eq!(rec["values"], json!("airflowVersion: 3.2.2\nexecutor: LocalExecutor\n"));
    assert_eq!(rec["version"], json!("1.22.0"));
    assert_eq!(rec["status"], json!("deployed"));

    let second = ok(&helm_upgrade(&world, &ctx, &values));
    assert!(second.starts_with("Release \"airflow\" has been upgraded. Happy Helming!\n"), "{second}");
    assert!(second.contains("REVISION: 2"), "{second}");

    let status: Value = serde_json::from_str(&ok(&world.run(
        "helm",
        &["status", "airflow", "--namespace", "airflow", "--kube-context", &ctx, "-o", "json"],
        None,
    )))
    .unwrap();
    assert_eq!(status["name"], json!("airflow"));
    assert_eq!(status["namespace"], json!("airflow"));
    assert_eq!(status["version"], json!(2));
    assert_eq!(status["info"]["status"], json!("deployed"));
    assert_eq!(status["chart"]["metadata"]["version"], json!("1.22.0"));
    assert_eq!(status["config"]["executor"], json!("LocalExecutor"));

    let out = ok(&world.run("helm", &["uninstall", "airflow", "--namespace", "airflow", "--kube-context", &ctx], None));
    assert_eq!(out, "release \"airflow\" uninstalled\n");
    let err = fails(&world.run(
        "helm",
        &["status", "airflow", "--namespace", "airflow", "--kube-context", &ctx, "-o", "json"],
        None,
    ));
    assert_eq!(err, "Error: release: not found\n");
    let err =
        fails(&world.run("helm", &["uninstall", "airflow", "--namespace", "airflow", "--kube-context", &ctx], None));
    assert_eq!(err, "Error: uninstall: Release not loaded: airflow: release: not found\n");

    // releases go with their cluster
    ok(&helm_upgrade(&world, &ctx, &values));
    ok(&world.run("kind", &["delete", "cluster", "--name", &name], None));
    assert!(world.releases().get(&ctx).is_none());
}

// ------------------------------------------------------------------------------------------ FakeKube

#[test]
fn fake_kube_is_unavailable_without_a_running_cluster() {
    let world = World::new();
    let (code, body) = get_json(&world, "/api/v1/nodes");
    assert_eq!(code, 503);
    assert_eq!(body["kind"], json!("Status"));
    assert_eq!(body["reason"], json!("ServiceUnavailable"));
    world.scenario(json!({"api": "up"}));
    let (code, body) = get_json(&world, "/version");
    assert_eq!((code, body["gitVersion"].clone()), (200, json!("v1.36.4")));
    assert!(world.kube().requests().contains(&"GET /api/v1/nodes".to_string()));
}

#[test]
fn fake_kube_nodes_turn_ready() {
    let Some(world) = World::for_test("fake_kube_nodes_turn_ready") else { return };
    world.scenario(json!({"node_ready_after_s": 1.0}));
    let name = kind_cluster(&world, "nodes", 1);
    let ready = |world: &World| -> Vec<(String, String, String)> {
        let (code, list) = get_json(world, "/api/v1/nodes");
        assert_eq!(code, 200);
        assert_eq!(list["kind"], json!("NodeList"));
        let typed: k8s_openapi::List<k8s_openapi::api::core::v1::Node> =
            serde_json::from_value(list.clone()).expect("a NodeList k8s-openapi reads");
        typed
            .items
            .iter()
            .map(|n| {
                let c = n
                    .status
                    .as_ref()
                    .unwrap()
                    .conditions
                    .as_ref()
                    .unwrap()
                    .iter()
                    .find(|c| c.type_ == "Ready")
                    .unwrap();
                (n.metadata.name.clone().unwrap(), c.status.clone(), c.reason.clone().unwrap_or_default())
            })
            .collect()
    };
    let first = ready(&world);
    assert_eq!(
        first.iter().map(|n| n.0.clone()).collect::<Vec<_>>(),
        vec![format!("{name}-control-plane"), format!("{name}-worker")]
    );
    assert!(first.iter().all(|n| n.1 == "False" && n.2 == "KubeletNotReady"), "{first:?}");
    // a watch sees both nodes added, then modified when they turn Ready
    let (code, stream) =
        http("GET", &format!("{}/api/v1/nodes?watch=true&timeoutSeconds=2", world.kube().url()), None, "");
    assert_eq!(code, 200);
    let events: Vec<Value> = stream.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ADDED", "ADDED", "MODIFIED", "MODIFIED"], "{stream}");
    let last: k8s_openapi::api::core::v1::Node = serde_json::from_value(events[3]["object"].clone()).unwrap();
    assert!(last.status.unwrap().conditions.unwrap().iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    wait_until("nodes Ready", 4.0, || ready(&world).iter().all(|n| n.1 == "True" && n.2 == "KubeletReady"));

    let (_, node) = get_json(&world, &format!("/api/v1/nodes/{name}-control-plane"));
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], json!(format!("{name}-control-plane")));
    assert_eq!(node["metadata"]["labels"]["devflow.io/project"], json!(name));
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], json!("v1.36.4"));
    let (code, v) = get_json(&world, "/version");
    assert_eq!((code, v["major"].clone(), v["minor"].clone()), (200, json!("1"), json!("36")));

    // stopped node containers: the API goes away
    let out = std::process::Command::new("docker")
        .args(["stop", "-t", "0", &format!("{name}-control-plane"), &format!("{name}-worker")])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(get_json(&world, "/api/v1/nodes").0, 503);
}

#[test]
fn fake_kube_apply_get_delete() {
    let Some(world) = World::for_test("fake_kube_apply_get_delete") else { return };
    kind_cluster(&world, "apply", 0);
    let url = world.kube().url().to_string();

    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "airflow", "labels": {"app": "db"}}, "stringData": {"x": "y"}});
    let (code, st) = apply(&world, "/api/v1/namespaces/airflow/secrets/db", &secret);
    assert_eq!(code, 404);
    assert_eq!(st["message"], json!("namespaces \"airflow\" not found"));
    assert_eq!(st["reason"], json!("NotFound"));

    let (code, ns) = apply(&world, "/api/v1/namespaces/airflow", &namespace("airflow"));
    assert_eq!(code, 201);
    assert!(ns["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert_eq!(ns["status"]["phase"], json!("Active"));
    assert_eq!(ns["metadata"]["managedFields"][0]["manager"], json!("devflow"));
    let (code, s) = apply(&world, "/api/v1/namespaces/airflow/secrets/db", &secret);
    assert_eq!(code, 201);
    let rv1 = s["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let (code, s2) = apply(&world, "/api/v1/namespaces/airflow/secrets/db", &secret);
    assert_eq!(code, 200);
    assert_ne!(s2["metadata"]["resourceVersion"].as_str().unwrap(), rv1);
    assert_eq!(s2["metadata"]["uid"], s["metadata"]["uid"]);

    // no fieldManager: 422 as the real API answers
    let (code, body) = http(
        "PATCH",
        &format!("{url}/api/v1/namespaces/airflow/secrets/db"),
        Some("application/apply-patch+yaml"),
        &secret.to_string(),
    );
    assert_eq!(code, 422);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["reason"], json!("Invalid"));

    let (code, got) = get_json(&world, "/api/v1/namespaces/airflow/secrets/db");
    assert_eq!(code, 200);
    assert_eq!(got["kind"], json!("Secret"));
    assert_eq!(got["stringData"]["x"], json!("y"));
    let (code, list) = get_json(&world, "/api/v1/namespaces/airflow/secrets?labelSelector=app%3Ddb");
    assert_eq!((code, list["kind"].clone(), list["items"].as_array().unwrap().len()), (200, json!("SecretList"), 1));
    assert_eq!(get_json(&world, "/api/v1/namespaces/airflow/secrets?labelSelector=app%3Dother").1["items"], json!([]));
    assert_eq!(
        get_json(&world, "/api/v1/namespaces/airflow/secrets?labelSelector=app").1["items"].as_array().unwrap().len(),
        1
    );

    let (code, missing) = get_json(&world, "/api/v1/namespaces/airflow/pods/x");
    assert_eq!(code, 404);
    assert_eq!(
        missing,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404})
    );
    let (code, missing) = get_json(&world, "/apis/apps/v1/namespaces/airflow/statefulsets/x");
    assert_eq!((code, missing["message"].clone()), (404, json!("statefulsets.apps \"x\" not found")));

    // a StatefulSet named devflow-postgres gets its pod
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "devflow-postgres", "namespace": "airflow"},
        "spec": {"replicas": 1, "serviceName": "devflow-postgres", "selector": {"matchLabels": {"app": "devflow-postgres"}},
                 "template": {"metadata": {"labels": {"app": "devflow-postgres", "devflow.io/project": "p"}},
                              "spec": {"containers": [{"name": "postgres", "image": "postgres:17"}]}}}});
    assert_eq!(apply(&world, "/apis/apps/v1/namespaces/airflow/statefulsets/devflow-postgres", &sts).0, 201);
    wait_until("devflow-postgres-0 Running", 3.0, || {
        let (_, p) = get_json(&world, "/api/v1/namespaces/airflow/pods/devflow-postgres-0");
        p["status"]["phase"] == "Running"
    });
    let (_, pods) = get_json(&world, "/api/v1/namespaces/airflow/pods?labelSelector=app%3Ddevflow-postgres");
    assert_eq!(pods["items"][0]["metadata"]["labels"]["devflow.io/project"], json!("p"));

    let (code, body) = http("DELETE", &format!("{url}/api/v1/namespaces/airflow/secrets/db"), None, "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(get_json(&world, "/api/v1/namespaces/airflow/secrets/db").0, 404);
    assert_eq!(http("DELETE", &format!("{url}/api/v1/namespaces/airflow/secrets/db"), None, "").0, 404);

    // deleting the namespace deletes what is in it
    apply(&world, "/api/v1/namespaces/airflow/secrets/db", &secret);
    assert_eq!(http("DELETE", &format!("{url}/api/v1/namespaces/airflow"), None, "").0, 200);
    assert_eq!(get_json(&world, "/api/v1/namespaces/airflow").0, 404);
    assert_eq!(get_json(&world, "/apis/apps/v1/namespaces/airflow/statefulsets/devflow-postgres").0, 404);
    assert_eq!(get_json(&world, "/api/v1/namespaces/airflow/pods/devflow-postgres-0").0, 404);
    assert!(
        world.kube().requests().iter().any(|r| r.starts_with("PATCH /api/v1/namespaces/airflow?fieldManager=devflow"))
    );
}

fn pods(world: &World, selector: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
    let (code, list) = get_json(world, &format!("/api/v1/namespaces/airflow/pods?labelSelector={selector}"));
    assert_eq!(code, 200);
    let typed: k8s_openapi::List<k8s_openapi::api::core::v1::Pod> =
        serde_json::from_value(list).expect("a PodList k8s-openapi reads");
    typed.items
}

fn release_on_cluster(world: &World, base: &str, values: &str) -> String {
    let name = kind_cluster(world, base, 0);
    apply(world, "/api/v1/namespaces/airflow", &namespace("airflow"));
    let values = write_values(world, values);
    ok(&helm_upgrade(world, &format!("kind-{name}"), &values));
    name
}

#[test]
fn fake_kube_pods_pending_then_running() {
    let Some(world) = World::for_test("fake_kube_pods_pending_then_running") else { return };
    world.scenario(json!({"pod_ready_after_s": 1.0}));
    release_on_cluster(
        &world,
        "pods",
        "airflowVersion: \"3.2.2\"\nexecutor: CeleryExecutor\nstatsd:\n  enabled: false\npostgresql:\n  enabled: false\n",
    );

    let all = pods(&world, "tier%3Dairflow%2Crelease%3Dairflow");
    let mut components: Vec<String> =
        all.iter().map(|p| p.metadata.labels.as_ref().unwrap()["component"].clone()).collect();
    components.sort();
    assert_eq!(
        components,
        [
            "api-server",
            "create-user-job",
            "dag-processor",
            "redis",
            "run-airflow-migrations",
            "scheduler",
            "triggerer",
            "worker"
        ]
    );
    let names: Vec<String> = all.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    assert!(
        names.contains(&"airflow-worker-0".to_string()) && names.contains(&"airflow-redis-0".to_string()),
        "{names:?}"
    );

    let scheduler = &pods(&world, "component%3Dscheduler")[0];
    let name = scheduler.metadata.name.clone().unwrap();
    assert!(
        name.starts_with("airflow-scheduler-") && name.len() == "airflow-scheduler-6d4cf56db6-x7k2p".len(),
        "{name}"
    );
    let st = scheduler.status.as_ref().unwrap();
    assert_eq!(st.phase.as_deref(), Some("Pending"));
    let cs = &st.container_statuses.as_ref().unwrap()[0];
    assert_eq!(cs.name, "scheduler");
    assert_eq!(cs.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("ContainerCreating"));

    wait_until("the scheduler Running and Ready", 4.0, || {
        let p = &pods(&world, "component%3Dscheduler")[0];
        let st = p.status.as_ref().unwrap();
        st.phase.as_deref() == Some("Running")
            && st.conditions.as_ref().unwrap().iter().any(|c| c.type_ == "Ready" && c.status == "True")
    });
    let p = &pods(&world, "component%3Dscheduler")[0];
    let cs = &p.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0];
    assert!(
        cs.ready && cs.restart_count == 0 && cs.state.as_ref().unwrap().running.as_ref().unwrap().started_at.is_some()
    );

    let (code, jobs) = get_json(&world, "/apis/batch/v1/namespaces/airflow/jobs");
    assert_eq!(code, 200);
    let jobs: k8s_openapi::List<k8s_openapi::api::batch::v1::Job> = serde_json::from_value(jobs).unwrap();
    let mut job_names: Vec<String> = jobs.items.iter().map(|j| j.metadata.name.clone().unwrap()).collect();
    job_names.sort();
    assert_eq!(job_names, ["airflow-create-user", "airflow-run-airflow-migrations"]);
    assert!(jobs.items.iter().all(|j| j.status.as_ref().unwrap().succeeded == Some(1)));

    let (code, log) = http(
        "GET",
        &format!(
            "{}/api/v1/namespaces/airflow/pods/{}/log?container=scheduler&tailLines=2",
            world.kube().url(),
            p.metadata.name.as_ref().unwrap()
        ),
        None,
        "",
    );
    assert_eq!(code, 200);
    assert_eq!(log.lines().count(), 2, "{log}");
    let (code, body) = http(
        "GET",
        &format!("{}/api/v1/namespaces/airflow/pods/{}/log", world.kube().url(), p.metadata.name.as_ref().unwrap()),
        None,
        "",
    );
    assert_eq!(code, 400);
    assert!(body.contains("a container name must be specified"), "{body}");
}

#[test]
fn fake_kube_image_pull_backoff_and_failures() {
    let Some(world) = World::for_test("fake_kube_image_pull_backoff_and_failures") else { return };
    world.scenario(json!({
        "pods": {
            "scheduler": {"waiting": "ImagePullBackOff", "message": "Back-off pulling image \"apache/airflow:3.2.2\""},
            "triggerer": {"waiting": "CrashLoopBackOff", "restarts": 4, "last_terminated": {"reason": "Error", "exitCode": 1}},
            "dag-processor": {"last_terminated": {"reason": "OOMKilled", "exitCode": 137}, "restarts": 2},
            "api-server": {"unschedulable": "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."}
        },
        "jobs": {"run-airflow-migrations": "failed"},
        "logs": {"triggerer": "boom 1\nboom 2"},
        "pod_ready_after_s": 0.1
    }));
    release_on_cluster(
        &world,
        "failing",
        "executor: LocalExecutor\nstatsd:\n  enabled: false\npostgresql:\n  enabled: false\n",
    );
    std::thread::sleep(Duration::from_millis(200));

    let s = &pods(&world, "component%3Dscheduler")[0];
    let st = s.status.as_ref().unwrap();
    assert_eq!(st.phase.as_deref(), Some("Pending"));
    let w = st.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().waiting.clone().unwrap();
    assert_eq!(w.reason.as_deref(), Some("ImagePullBackOff"));
    assert_eq!(w.message.as_deref(), Some("Back-off pulling image \"apache/airflow:3.2.2\""));
    let (code, body) = http(
        "GET",
        &format!(
            "{}/api/v1/namespaces/airflow/pods/{}/log?container=scheduler",
            world.kube().url(),
            s.metadata.name.as_ref().unwrap()
        ),
        None,
        "",
    );
    assert_eq!(code, 400);
    assert!(body.contains("is waiting to start: trying and failing to pull image"), "{body}");

    let t = &pods(&world, "component%3Dtriggerer")[0];
    let st = t.status.as_ref().unwrap();
    assert_eq!(st.phase.as_deref(), Some("Running"));
    let cs = &st.container_statuses.as_ref().unwrap()[0];
    assert!(!cs.ready);
    assert_eq!(cs.restart_count, 4);
    assert_eq!(cs.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 1);
    let (code, log) = http(
        "GET",
        &format!(
            "{}/api/v1/namespaces/airflow/pods/{}/log?container=triggerer&tailLines=1",
            world.kube().url(),
            t.metadata.name.as_ref().unwrap()
        ),
        None,
        "",
    );
    assert_eq!((code, log.as_str()), (200, "boom 2\n"));

    let d = &pods(&world, "component%3Ddag-processor")[0];
    let cs = &d.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0];
    assert!(cs.ready);
    assert_eq!(cs.restart_count, 2);
    assert_eq!(cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap().reason.as_deref(), Some("OOMKilled"));

    let a = &pods(&world, "component%3Dapi-server")[0];
    let st = a.status.as_ref().unwrap();
    assert_eq!(st.phase.as_deref(), Some("Pending"));
    assert!(st.container_statuses.is_none());
    let c = &st.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (c.type_.as_str(), c.status.as_str(), c.reason.as_deref()),
        ("PodScheduled", "False", Some("Unschedulable"))
    );
    assert!(c.message.as_deref().unwrap().starts_with("0/1 nodes are available: 1 Insufficient memory."));

    let (_, job) = get_json(&world, "/apis/batch/v1/namespaces/airflow/jobs/airflow-run-airflow-migrations");
    let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(job).unwrap();
    let js = job.status.unwrap();
    assert_eq!(js.failed, Some(1));
    let failed = js.conditions.unwrap().into_iter().find(|c| c.type_ == "Failed").unwrap();
    assert_eq!((failed.status.as_str(), failed.reason.as_deref()), ("True", Some("BackoffLimitExceeded")));
    let mp = &pods(&world, "component%3Drun-airflow-migrations")[0];
    assert_eq!(mp.status.as_ref().unwrap().phase.as_deref(), Some("Failed"));

    let (_, events) = get_json(&world, "/api/v1/namespaces/airflow/events");
    let events: k8s_openapi::List<k8s_openapi::api::core::v1::Event> = serde_json::from_value(events).unwrap();
    assert!(events.items.iter().any(|e| e.reason.as_deref() == Some("FailedScheduling")));
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("BackOff") && e.involved_object.name == s.metadata.name)
    );
}

#[test]
fn fake_kube_serves_kube_rs() {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
    use kube::api::{Api, ListParams, Patch, PatchParams};

    let Some(world) = World::for_test("fake_kube_serves_kube_rs") else { return };
    world.scenario(json!({"node_ready_after_s": 0.0}));
    let name = kind_cluster(&world, "kube-rs", 0);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(world.kubeconfig()).expect("kube-rs reads the fakes' kubeconfig");
        let opts = kube::config::KubeConfigOptions { context: Some(format!("kind-{name}")), ..Default::default() };
        let config = kube::Config::from_custom_kubeconfig(kc, &opts).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();

        let nodes: Api<Node> = Api::all(client.clone());
        let list = nodes.list(&ListParams::default()).await.unwrap();
        assert_eq!(list.items.len(), 1);

        let pp = PatchParams::apply("devflow").force();
        let ns: Namespace = serde_json::from_value(namespace("airflow")).unwrap();
        Api::<Namespace>::all(client.clone()).patch("airflow", &pp, &Patch::Apply(&ns)).await.unwrap();
        let cm: ConfigMap = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}),
        )
        .unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "airflow");
        let applied = cms.patch("c", &pp, &Patch::Apply(&cm)).await.unwrap();
        assert_eq!(applied.data.unwrap()["a"], "b");
        assert!(cms.get("c").await.is_ok());
        let err = cms.get("missing").await.unwrap_err();
        match err {
            kube::Error::Api(status) => assert_eq!(status.code, 404),
            other => panic!("expected a 404 Status, got {other:?}"),
        }
        let pods: Api<Pod> = Api::namespaced(client.clone(), "airflow");
        assert!(pods.list(&ListParams::default().labels("component=scheduler")).await.unwrap().items.is_empty());
        let missing_ns: Api<ConfigMap> = Api::namespaced(client, "nope");
        let err = missing_ns.patch("c", &pp, &Patch::Apply(&cm)).await.unwrap_err();
        assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");
    });
    let reqs = world.kube().requests();
    assert!(
        reqs.iter().any(|r| r.starts_with("PATCH /api/v1/namespaces/airflow/configmaps/c?")
            && r.contains("fieldManager=devflow")
            && r.contains("force=true")),
        "{reqs:?}"
    );
}

// ------------------------------------------------------------------------------------------ exec, port-forward, existing clusters

/// A kube-rs client for one context of the world's kubeconfig.
async fn client_for(world: &World, context: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(world.kubeconfig()).expect("kube-rs reads the kubeconfig");
    let opts = kube::config::KubeConfigOptions { context: Some(context.to_string()), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts).await.expect("a kube-rs config");
    kube::Client::try_from(config).expect("a kube-rs client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs `f` on a fresh runtime with a ceiling that catches a hang.
fn block_on<F: std::future::Future>(what: &str, f: F) -> F::Output {
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(120), f).await.unwrap_or_else(|_| panic!("{what} hung"))
    })
}

/// The scenario of the exec tests: `exec` to `target` for every pod, ready at once.
fn exec_scenario(target: &str, extra: Value) -> Value {
    let mut s = json!({"node_ready_after_s": 0.0, "pod_ready_after_s": 0.0, "exec": {"*": target}});
    if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
        s.extend(extra.clone());
    }
    s
}

/// A world with an existing cluster and a Running one-container pod `box` (container `main`) in
/// `default`, every exec of which runs in a busybox container: (world, context, that container).
fn exec_world(test: &str) -> Option<(World, String, String)> {
    let world = World::for_test(test)?;
    let cluster = world.existing_cluster("shared-eks");
    let target = world.exec_container("exec");
    world.scenario(exec_scenario(&target, json!({})));
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "box", "namespace": "default"},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]}
    });
    let (code, body) = apply(&world, "/api/v1/namespaces/default/pods/box", &pod);
    assert!(code == 200 || code == 201, "{code} {body}");
    wait_until("pod box runs", 10.0, || {
        get_json(&world, "/api/v1/namespaces/default/pods/box").1["status"]["phase"] == "Running"
    });
    Some((world, cluster.context, target))
}

/// 1 MiB that is not one repeated byte.
fn mebibyte() -> Vec<u8> {
    (0..1_048_576u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
}

#[test]
fn fake_kube_exec_round_trips_stdin_through_kube_rs() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some((world, context, target)) = exec_world("fake_kube_exec_round_trips_stdin_through_kube_rs") else {
        return;
    };
    let input = mebibyte();
    block_on("exec cat", async {
        let pods: Api<Pod> = Api::namespaced(client_for(&world, &context).await, "default");
        let ap = AttachParams::default().container("main").stdin(true).stdout(true).stderr(true);

        // cat: stdin comes back on stdout, and ends when stdin is closed (v5's close signal)
        let mut proc = pods.exec("box", ["cat"], &ap).await.expect("exec cat");
        let (mut stdin, mut stdout) = (proc.stdin().unwrap(), proc.stdout().unwrap());
        let status = proc.take_status().unwrap();
        let data = input.clone();
        let writer = tokio::spawn(async move {
            stdin.write_all(&data).await.unwrap();
            stdin.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), input.len());
        assert!(got == input, "stdout differs from stdin");
        let status = status.await.expect("a status");
        assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
        proc.join().await.unwrap();

        // it ran in the real container: a file written there is there
        let mut proc = pods.exec("box", ["sh", "-c", "cat > /blob"], &ap).await.expect("exec sh");
        let mut stdin = proc.stdin().unwrap();
        let status = proc.take_status().unwrap();
        stdin.write_all(&input).await.unwrap();
        stdin.shutdown().await.unwrap();
        assert_eq!(status.await.expect("a status").status.as_deref(), Some("Success"));
    });
    let out = std::process::Command::new("docker").args(["exec", &target, "wc", "-c", "/blob"]).output().unwrap();
    assert_eq!(text(&out.stdout).split_whitespace().next(), Some("1048576"), "{}", text(&out.stderr));
    let reqs = world.kube().requests();
    assert!(
        reqs.iter().any(|r| r.starts_with("GET /api/v1/namespaces/default/pods/box/exec?")
            && r.contains("command=cat")
            && r.contains("container=main")
            && r.contains("stdin=true")),
        "{reqs:?}"
    );
}

#[test]
fn fake_kube_exec_passes_stderr_and_the_exit_code() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};
    use tokio::io::AsyncReadExt;

    let Some((world, context, _)) = exec_world("fake_kube_exec_passes_stderr_and_the_exit_code") else { return };
    block_on("exec sh", async {
        let pods: Api<Pod> = Api::namespaced(client_for(&world, &context).await, "default");
        // no container: the pod has one
        let ap = AttachParams::default().stdout(true).stderr(true);
        let mut proc = pods.exec("box", ["sh", "-c", "echo out; echo err >&2; exit 3"], &ap).await.expect("exec sh");
        let (mut stdout, mut stderr) = (proc.stdout().unwrap(), proc.stderr().unwrap());
        let status = proc.take_status().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        tokio::try_join!(stdout.read_to_string(&mut out), stderr.read_to_string(&mut err)).unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
        let status = status.await.expect("a status");
        assert_eq!(status.status.as_deref(), Some("Failure"), "{status:?}");
        assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"), "{status:?}");
        let causes = status.details.and_then(|d| d.causes).unwrap_or_default();
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!((causes[0].reason.as_deref(), causes[0].message.as_deref()), (Some("ExitCode"), Some("3")));
        assert!(status.message.as_deref().unwrap_or("").contains("exit code 3"), "{:?}", status.message);

        // a command the container does not have: the API's InternalError, not an exit code
        let mut proc = pods.exec("box", ["no-such-command"], &ap).await.expect("exec");
        let status = proc.take_status().unwrap().await.expect("a status");
        assert_eq!((status.reason.as_deref(), status.code), (Some("InternalError"), Some(500)), "{status:?}");
        assert!(status.message.as_deref().unwrap_or("").contains("executable file not found"), "{status:?}");
    });
}

#[test]
fn fake_kube_exec_errors_like_the_api() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, AttachParams};

    let Some((world, context, target)) = exec_world("fake_kube_exec_errors_like_the_api") else { return };
    block_on("exec errors", async {
        let pods: Api<Pod> = Api::namespaced(client_for(&world, &context).await, "default");
        let ap = AttachParams::default().stdout(true).stderr(true);

        let err = pods.exec("missing", ["true"], &ap).await.err().expect("a missing pod is an error");
        match err {
            kube::Error::Api(s) => {
                assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
                assert_eq!(s.message, "pods \"missing\" not found");
            }
            other => panic!("expected a 404 Status, got {other:?}"),
        }
        let err = pods
            .exec("box", ["true"], &AttachParams::default().container("nope"))
            .await
            .err()
            .expect("a bad container");
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 400 && s.message == "container nope is not valid for pod box"),
            "{err:?}"
        );
        let missing_ns: Api<Pod> = Api::namespaced(pods.clone().into_client(), "nowhere");
        let err = missing_ns.exec("box", ["true"], &ap).await.err().expect("a pod of another namespace");
        assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");

        // a pod no Docker container stands in for: a container that is not running
        world.scenario(json!({"node_ready_after_s": 0.0, "pod_ready_after_s": 0.0, "exec": {"other": target}}));
        let mut proc = pods.exec("box", ["true"], &ap).await.expect("the API upgrades first");
        let status = proc.take_status().unwrap().await.expect("a status");
        assert_eq!(status.status.as_deref(), Some("Failure"));
        assert_eq!((status.reason.as_deref(), status.code), (Some("InternalError"), Some(500)), "{status:?}");
        assert_eq!(
            status.message.as_deref(),
            Some("Internal error occurred: unable to upgrade connection: container not found (\"main\")")
        );
    });
    // exec without a WebSocket
    let url = format!("{}/api/v1/namespaces/default/pods/box/exec?command=true&stdout=true", world.kube().url());
    let (code, body) = http("GET", &url, None, "");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("Upgrade request required"), "{body}");
    assert!(
        world.kube().requests().iter().any(|r| r.starts_with("GET /api/v1/namespaces/default/pods/missing/exec?")),
        "{:?}",
        world.kube().requests()
    );
}

/// A TCP server on 127.0.0.1 that echoes one connection; its address.
fn echo_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    addr
}

#[test]
fn fake_kube_port_forwards_through_kube_rs() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::Api;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some((world, context, target)) = exec_world("fake_kube_port_forwards_through_kube_rs") else { return };
    let echo = echo_server();
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    world.scenario(exec_scenario(&target, json!({"forward": {"8080": echo, "8081": refused}})));
    block_on("port-forward", async {
        let pods: Api<Pod> = Api::namespaced(client_for(&world, &context).await, "default");

        let mut pf = pods.portforward("box", &[8080]).await.expect("port-forward 8080");
        let mut stream = pf.take_stream(8080).unwrap();
        stream.write_all(b"hello through the pod").await.unwrap();
        let mut buf = [0u8; 21];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello through the pod");
        let big = mebibyte()[..200_000].to_vec();
        stream.write_all(&big).await.unwrap();
        let mut back = vec![0u8; big.len()];
        stream.read_exact(&mut back).await.unwrap();
        assert!(back == big, "the echo differs");
        drop(stream);
        pf.join().await.expect("the forward ends when the client closes");

        // nothing listens: the kubelet's error on the port's error channel
        let mut pf = pods.portforward("box", &[8081]).await.expect("port-forward 8081");
        let err = pf.take_error(8081).unwrap().await.expect("an error message");
        assert!(err.starts_with("error forwarding port 8081 to pod "), "{err}");
        assert!(err.contains("connect: connection refused"), "{err}");
        let mut stream = pf.take_stream(8081).unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "{rest:?}");
        drop(stream);
        let _ = pf.join().await;

        let err = pods.portforward("missing", &[8080]).await.err().expect("a missing pod is an error");
        assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");
    });
    let reqs = world.kube().requests();
    assert!(reqs.iter().any(|r| r.starts_with("GET /api/v1/namespaces/default/pods/box/portforward?")), "{reqs:?}");
}

#[test]
fn fake_kube_serves_an_existing_clusters_context() {
    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::api::{Api, AttachParams, ListParams};
    use tokio::io::AsyncReadExt;

    let Some(world) = World::for_test("fake_kube_serves_an_existing_clusters_context") else { return };
    world.scenario(json!({"node_ready_after_s": 0.0, "pod_ready_after_s": 0.0}));
    let context = "arn:aws:eks:eu-west-1:123456789012:cluster/shared";
    let cluster = world.existing_cluster(context);
    assert_eq!(cluster.context, context);
    assert_eq!(world.current_context(), context);
    assert!(world.kubeconfig_contexts().contains(&context.to_string()));
    let node = cluster.node.clone().expect("a node container");
    assert_eq!(world.containers(), vec![node.clone()]);
    // not a kind or k3d cluster
    assert_eq!(ok(&world.run("kind", &["get", "clusters"], None)), "");

    // helm installs under the context; the chart's pods run there
    assert_eq!(apply(&world, "/api/v1/namespaces/airflow", &namespace("airflow")).0, 201);
    let values = write_values(&world, "airflowVersion: 3.2.2\nexecutor: LocalExecutor\n");
    ok(&helm_upgrade(&world, context, &values));
    assert_eq!(world.releases()[context]["airflow/airflow"]["status"], json!("deployed"));
    let target = world.exec_container("scheduler");
    world.scenario(json!({"node_ready_after_s": 0.0, "pod_ready_after_s": 0.0, "exec": {"scheduler": target}}));

    block_on("existing cluster", async {
        let client = client_for(&world, context).await;
        let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.unwrap();
        assert_eq!(nodes.items.len(), 1);
        let n = &nodes.items[0];
        assert_eq!(n.metadata.name.as_deref(), Some(node.as_str()));
        assert!(n.spec.as_ref().and_then(|s| s.provider_id.as_deref()).unwrap_or("").starts_with("aws:///"));
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "{n:?}");

        let pods: Api<Pod> = Api::namespaced(client, "airflow");
        let sched = pods.list(&ListParams::default().labels("component=scheduler")).await.unwrap().items;
        assert_eq!(sched.len(), 1);
        let pod = sched[0].metadata.name.clone().unwrap();
        assert_eq!(sched[0].status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
        assert_eq!(sched[0].spec.as_ref().and_then(|s| s.node_name.as_deref()), Some(node.as_str()));

        // exec by the component: the scheduler pod has a sidecar, so the container is named
        let ap = AttachParams::default().stdout(true).stderr(true);
        let err = pods.exec(&pod, ["true"], &ap).await.err().expect("two containers need a name");
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 400 && s.message.contains("choose one of: [scheduler scheduler-log-groomer]")),
            "{err:?}"
        );
        let mut proc = pods.exec(&pod, ["sh", "-c", "echo $HOSTNAME"], &ap.container("scheduler")).await.unwrap();
        let mut out = String::new();
        proc.stdout().unwrap().read_to_string(&mut out).await.unwrap();
        assert_eq!(out.trim(), target);
        assert_eq!(proc.take_status().unwrap().await.unwrap().status.as_deref(), Some("Success"));
    });
}

#[test]
fn fake_kube_existing_cluster_without_nodes_follows_the_api_scenario() {
    let world = World::new();
    let cluster = world.existing_cluster_without_nodes("gke_project_europe-west1_shared");
    assert_eq!(cluster.node, None);
    assert_eq!(get_json(&world, "/api/v1/nodes").0, 503);
    let values = write_values(&world, "airflowVersion: 3.2.2\n");
    let err = fails(&helm_upgrade(&world, &cluster.context, &values));
    assert!(err.starts_with("Error: Kubernetes cluster unreachable: "), "{err}");

    world.scenario(json!({"api": "up", "pod_ready_after_s": 0.0}));
    let (code, nodes) = get_json(&world, "/api/v1/nodes");
    assert_eq!((code, nodes["items"].clone()), (200, json!([])));
    assert_eq!(apply(&world, "/api/v1/namespaces/airflow", &namespace("airflow")).0, 201);
    ok(&helm_upgrade(&world, &cluster.context, &values));
    let (code, list) = get_json(&world, "/api/v1/namespaces/airflow/pods?labelSelector=component%3Dapi-server");
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}
