//! The fake kind, k3d and helm, run directly, with real Docker containers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::test_name;
use crate::world::World;

// ------------------------------------------------------------------------------------------ kind

#[test]
fn kind_create_get_delete_round_trip() {
    let Some(world) = World::for_test(test_name!()) else { return };
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
    assert!(stderr.contains(&format!(" ✓ Ensuring node image ({})", kind_image())), "{stderr}");
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

/// Kubernetes 1.35+ does not start on a cgroup v1 Docker host: `kubeadm init` fails and kind
/// removes the nodes; 1.34 starts (the fake asks the real Docker it runs on, as kind's kubelet
/// meets it). On a cgroup v2 host both start.
#[test]
fn kind_refuses_kubernetes_1_35_and_later_on_a_cgroup_v1_host() {
    let Some(world) = World::for_test(test_name!()) else { return };
    let dags = world.temp().join("dags").display().to_string();
    std::fs::create_dir_all(&dags).unwrap();
    let name = world.unique_name("cgroups");
    let cfg = kind_config_with(&name, 0, &dags, &dags, KIND_136);
    let out = world.run("kind", &["create", "cluster", "--name", &name, "--config", "-"], Some(&cfg));
    if crate::lifecycle::docker_cgroup_version() == "1" {
        let err = fails(&out);
        // kind prints a failed stage without the leading space (pkg/internal/cli/status.go End).
        assert!(err.contains("\n✗ Starting control-plane 🕹️\n"), "{err}");
        assert!(
            err.ends_with(&format!("ERROR: failed to create cluster: failed to init node with kubeadm: command \"docker exec --privileged {name}-control-plane kubeadm init --config=/kind/kubeadm.conf --skip-token-print --v=6\" failed with error: exit status 1\n")),
            "{err}"
        );
        assert!(world.containers().is_empty(), "kind removes the nodes of a failed create");
        let cfg = kind_config_with(&name, 0, &dags, &dags, KIND_134);
        ok(&world.run("kind", &["create", "cluster", "--name", &name, "--config", "-"], Some(&cfg)));
    } else {
        ok(&out);
    }
    assert_eq!(world.containers(), vec![format!("{name}-control-plane")]);
}

#[test]
fn kind_create_twice_fails_like_kind() {
    let Some(world) = World::for_test(test_name!()) else { return };
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
    // the line is the key's, as the YAML parser found it
    let err = fails(&world.run(
        "kind",
        &["create", "cluster", "--name", "z", "--config", "-"],
        Some("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  # imag: a comment\n  imag: kindest/node:v1.36.4\n"),
    ));
    assert!(
        err.starts_with("ERROR: failed to create cluster: unable to decode config: yaml: unmarshal errors:\n  line 6: field imag not found in type v1alpha4.Node"),
        "{err}"
    );
}

#[test]
fn scenario_fail_slow_and_hang() {
    let world = World::named(test_name!());
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
    let Some(world) = World::for_test(test_name!()) else { return };
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

#[test]
fn helm_upgrade_status_uninstall() {
    let Some(world) = World::for_test(test_name!()) else { return };
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
    assert!(status.get("chart").is_none(), "helm status strips the chart: {status}");
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

#[test]
fn helm_reads_values_as_gos_yaml_does() {
    let world = World::named(test_name!());
    let cluster = world.existing_cluster_without_nodes("shared-yaml");
    world.scenario(json!({"api": "up"}));
    assert_eq!(apply(&world, "/api/v1/namespaces/airflow", &namespace("airflow")).0, 201);
    let values = write_values(
        &world,
        "# production values\nairflowVersion: \"3.2.2\"\nlabels: &labels {team: data, since: 2024-05-01}\nworkers:\n  labels: *labels\n  replicas: 2\nwebserver:\n  text: |\n    line one\n    line two\n---\nignored: true\n",
    );
    ok(&helm_upgrade(&world, &cluster.context, &values));
    let status: Value = serde_json::from_str(&ok(&world.run(
        "helm",
        &["status", "airflow", "--namespace", "airflow", "--kube-context", &cluster.context, "-o", "json"],
        None,
    )))
    .unwrap();
    let config = &status["config"];
    // an alias is its anchor's value; a date stays the text it was, as in Go's YAML-to-JSON
    assert_eq!(config["workers"]["labels"], json!({"team": "data", "since": "2024-05-01"}), "{config}");
    assert_eq!((config["workers"]["replicas"].clone(), config["airflowVersion"].clone()), (json!(2), json!("3.2.2")));
    assert_eq!(config["webserver"]["text"], "line one\nline two\n");
    assert!(config.get("ignored").is_none(), "Go's yaml.Unmarshal reads the first document only: {config}");

    let bad = write_values(&world, "workers: [unclosed\n");
    let err = fails(&helm_upgrade(&world, &cluster.context, &bad));
    assert!(err.starts_with(&format!("Error: failed to parse {bad}: error converting YAML to JSON: ")), "{err}");
}

#[test]
fn a_world_and_what_it_makes_carry_the_name_of_its_test() {
    let test = test_name!();
    assert_eq!(test, "fakes_selftest::tools::a_world_and_what_it_makes_carry_the_name_of_its_test");
    let in_a_closure = [1].map(|_| test_name!());
    assert_eq!(in_a_closure, [test]);
    let Some(world) = World::for_test(test) else { return };
    let folder = world.temp().file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        folder.starts_with("devflow-world-fakes_selftest.tools.a_world_and_what_it_makes_carry_the_name_of_its_test-"),
        "{folder}"
    );
    let name = kind_cluster(&world, "named", 0);
    for container in [format!("{name}-control-plane"), world.exec_container("named-exec")] {
        assert_eq!(inspect(&container)["Config"]["Labels"]["devflow-test-name"], json!(test), "{container}");
    }
    let log = std::fs::read_to_string(world.home().join("log.jsonl")).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        assert_eq!(serde_json::from_str::<Value>(line).unwrap()["test"], json!(test), "{line}");
    }
}
