//! Tests of the test doubles themselves: the fake kind/k3d/helm executables (run directly, with
//! real Docker containers; `tools`), FakeKube over plain HTTP and through kube-rs (`api`), and
//! its exec and port-forward streams (`streams`). The helpers they share are here.

mod api;
mod streams;
mod tools;

use std::io::{Read, Write};
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

/// A request to FakeKube: (status, body), whatever the status.
fn http(method: &str, url: &str, content_type: Option<&str>, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let answer = match method {
        "GET" => agent.get(url).call(),
        "DELETE" => agent.delete(url).call(),
        "PATCH" => agent.patch(url).header("Content-Type", content_type.unwrap_or("application/json")).send(body),
        other => panic!("the self-tests send no {other}"),
    };
    let mut response = answer.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let code = response.status().as_u16();
    (code, response.body_mut().read_to_string().unwrap_or_else(|e| panic!("{method} {url}: the body: {e}")))
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

const KIND_136: &str = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed";
const KIND_134: &str = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d";

/// The node image a user of this Docker host would pick: 1.34 on cgroup v1, where 1.35 and later
/// do not start (issue 9, item 13).
fn kind_image() -> &'static str {
    if crate::lifecycle::docker_cgroup_version() == "1" { KIND_134 } else { KIND_136 }
}

fn kind_config(name: &str, workers: usize, dags: &str, owner: &str) -> String {
    kind_config_with(name, workers, dags, owner, kind_image())
}

fn kind_config_with(name: &str, workers: usize, dags: &str, owner: &str, image: &str) -> String {
    let mut lines = vec![
        "kind: Cluster".to_string(),
        "apiVersion: kind.x-k8s.io/v1alpha4".into(),
        format!("name: {name}"),
        "networking:".into(),
        "  apiServerAddress: 127.0.0.1".into(),
        "nodes:".into(),
        "- role: control-plane".into(),
        format!("  image: {image}"),
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
            format!("  image: {image}"),
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
