//! FakeKube over plain HTTP, and through kube-rs.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::test_name;
use crate::world::World;

// ------------------------------------------------------------------------------------------ FakeKube

#[test]
fn fake_kube_is_unavailable_without_a_running_cluster() {
    let world = World::named(test_name!());
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
    let Some(world) = World::for_test(test_name!()) else { return };
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
    // The node image's Kubernetes: 1.36, or 1.34 on a cgroup v1 host (see `kind_image`).
    let kubelet = super::kind_image().split(['@', ':']).nth(1).unwrap();
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], json!(kubelet));
    let (code, v) = get_json(&world, "/version");
    let minor = kubelet.split('.').nth(1).unwrap();
    assert_eq!((code, v["major"].clone(), v["minor"].clone()), (200, json!("1"), json!(minor)));

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
    let Some(world) = World::for_test(test_name!()) else { return };
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
    // it stays Terminating while its contents go, refusing new ones, then goes
    let (code, terminating) = get_json(&world, "/api/v1/namespaces/airflow");
    assert_eq!((code, terminating["status"]["phase"].clone()), (200, json!("Terminating")));
    assert!(terminating["metadata"]["deletionTimestamp"].is_string());
    let mut fresh = secret.clone();
    fresh["metadata"]["name"] = json!("new");
    let (code, refused) = apply(&world, "/api/v1/namespaces/airflow/secrets/new", &fresh);
    assert_eq!(code, 403, "{refused}");
    assert_eq!(
        refused["message"],
        json!(
            "secrets \"new\" is forbidden: unable to create new content in namespace airflow because it is being terminated"
        )
    );
    assert_eq!(refused["details"]["causes"][0]["reason"], json!("NamespaceTerminating"));
    assert_eq!(http("DELETE", &format!("{url}/api/v1/namespaces/airflow"), None, "").0, 409);
    let waited = std::time::Instant::now();
    while get_json(&world, "/api/v1/namespaces/airflow").0 != 404 {
        assert!(waited.elapsed() < std::time::Duration::from_secs(10), "the namespace never went");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(get_json(&world, "/apis/apps/v1/namespaces/airflow/statefulsets/devflow-postgres").0, 404);
    assert_eq!(get_json(&world, "/api/v1/namespaces/airflow/pods/devflow-postgres-0").0, 404);
    assert!(
        world.kube().requests().iter().any(|r| r.starts_with("PATCH /api/v1/namespaces/airflow?fieldManager=devflow"))
    );
}

#[test]
fn fake_kube_merge_patches_selects_and_stamps_times() {
    let world = World::named(test_name!());
    world.scenario(json!({"api": "up"}));
    let url = world.kube().url().to_string();
    let before = jiff::Timestamp::now();
    for (name, labels) in [
        ("web", json!({"app": "web", "tier": "front"})),
        ("db", json!({"app": "db"})),
        ("job", json!({"app": "batch", "tier": "back"})),
    ] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "labels": labels}, "data": {"a": "1", "b": "2"}});
        assert_eq!(apply(&world, &format!("/api/v1/namespaces/default/configmaps/{name}"), &cm).0, 201);
    }

    // a JSON merge patch (RFC 7386): maps merge, null removes, anything else replaces
    let patch = json!({"metadata": {"labels": {"tier": null, "team": "data"}}, "data": {"b": null, "c": "3"}});
    let web = format!("{url}/api/v1/namespaces/default/configmaps/web");
    let (code, body) = http("PATCH", &web, Some("application/merge-patch+json"), &patch.to_string());
    let patched: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["metadata"]["labels"], json!({"app": "web", "team": "data"}));
    assert_eq!(patched["data"], json!({"a": "1", "c": "3"}));
    assert_eq!(patched["metadata"]["managedFields"][0]["operation"], "Update");
    let (_, got) = get_json(&world, "/api/v1/namespaces/default/configmaps/web");
    assert_eq!(got["data"], json!({"a": "1", "c": "3"}), "the patch is kept");
    let missing = format!("{url}/api/v1/namespaces/default/configmaps/nowhere");
    assert_eq!(http("PATCH", &missing, Some("application/merge-patch+json"), "{}").0, 404);

    // selectors, percent- and form-encoded as clients send them
    let names = |query: &str| -> Vec<String> {
        let (code, list) = get_json(&world, &format!("/api/v1/namespaces/default/configmaps?{query}"));
        assert_eq!(code, 200, "{list}");
        list["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names("labelSelector=app+in+%28web%2Cdb%29"), ["db", "web"]);
    assert_eq!(names("labelSelector=app%20notin%20(web)"), ["db", "job"]);
    assert_eq!(names("labelSelector=%21tier"), ["db", "web"]);
    assert_eq!(names("labelSelector=tier"), ["job"]);
    assert_eq!(names("labelSelector=app%21%3Dweb%2Ctier%3Dback"), ["job"]);
    assert_eq!(names("labelSelector=team%3D%3Ddata"), ["web"]);
    assert_eq!(names("fieldSelector=metadata.name%3Ddb"), ["db"]);
    assert_eq!(names("fieldSelector=metadata.name%21%3Ddb&labelSelector=app"), ["job", "web"]);

    // metav1.Time: RFC 3339 in UTC, whole seconds
    for stamp in [&got["metadata"]["creationTimestamp"], &got["metadata"]["managedFields"][0]["time"]] {
        let stamp = stamp.as_str().unwrap();
        assert_eq!((stamp.len(), stamp.ends_with('Z')), ("2026-01-02T03:04:05Z".len(), true), "{stamp}");
        let t: jiff::Timestamp = stamp.parse().unwrap();
        assert!(t.as_second() >= before.as_second() && t <= jiff::Timestamp::now(), "{stamp}");
    }
}

#[test]
fn fake_kube_pods_pending_then_running() {
    let Some(world) = World::for_test(test_name!()) else { return };
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
    // Its init container (wait-for-airflow-migrations) runs first: the main ones wait for it.
    assert_eq!(cs.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("PodInitializing"));

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

    // The create-user job fails while the migrations run and is restarted in its pod.
    wait_until("both jobs succeeded", 4.0, || {
        let (_, jobs) = get_json(&world, "/apis/batch/v1/namespaces/airflow/jobs");
        jobs["items"].as_array().is_some_and(|items| items.iter().all(|j| j["status"]["succeeded"] == 1))
    });
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
    let Some(world) = World::for_test(test_name!()) else { return };
    world.scenario(json!({
        "pods": {
            "scheduler": {"pull_error": "docker.io/apache/airflow:3.2.2: not found"},
            "triggerer": {"waiting": "CrashLoopBackOff", "restarts": 4, "last_terminated": {"reason": "Error", "exitCode": 1}},
            "dag-processor": {"last_terminated": {"reason": "OOMKilled", "exitCode": 137}, "restarts": 2},
            "api-server": {"unschedulable": "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."}
        },
        "jobs": {"create-user": "failed"},
        "logs": {"triggerer": "boom 1\nboom 2"},
        "pod_ready_after_s": 0.1,
        "crash_backoff_s": 5.0
    }));
    release_on_cluster(
        &world,
        "failing",
        "executor: LocalExecutor\nstatsd:\n  enabled: false\npostgresql:\n  enabled: false\n",
    );
    // The migrations are done at 0.2 s, the Airflow pods' init containers then, their main
    // containers at 0.3 s; the create-user job has failed for good by then.
    std::thread::sleep(Duration::from_millis(1000));

    // The scheduler's image never comes: its init container, the first to start, shows the pull
    // failing (ImagePullBackOff between tries), its main containers wait for it.
    let s = &pods(&world, "component%3Dscheduler")[0];
    let st = s.status.as_ref().unwrap();
    assert_eq!(st.phase.as_deref(), Some("Pending"));
    let init = &st.init_container_statuses.as_ref().unwrap()[0];
    let w = init.state.as_ref().unwrap().waiting.clone().unwrap();
    assert_eq!(init.name, "wait-for-airflow-migrations");
    assert_eq!(w.reason.as_deref(), Some("ImagePullBackOff"));
    assert_eq!(w.message.as_deref(), Some("Back-off pulling image \"apache/airflow:3.2.2\""));
    let main = st.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().waiting.clone().unwrap();
    assert_eq!(main.reason.as_deref(), Some("PodInitializing"));
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
    assert!(body.contains("is waiting to start: PodInitializing"), "{body}");

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

    let (_, job) = get_json(&world, "/apis/batch/v1/namespaces/airflow/jobs/airflow-create-user");
    let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(job).unwrap();
    let js = job.status.unwrap();
    assert_eq!(js.failed, Some(1));
    let failed = js.conditions.unwrap().into_iter().find(|c| c.type_ == "Failed").unwrap();
    assert_eq!((failed.status.as_str(), failed.reason.as_deref()), ("True", Some("BackoffLimitExceeded")));
    let mp = &pods(&world, "component%3Dcreate-user-job")[0];
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

    let Some(world) = World::for_test(test_name!()) else { return };
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
