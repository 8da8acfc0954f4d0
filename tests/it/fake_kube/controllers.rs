//! What the controllers do: the status they give stored objects (a namespace Active, a claim Bound
//! to its volume, a workload's ready replicas, a job complete or failed), the pods of workloads,
//! and every object the cluster has without anyone applying it.

use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus, StatefulSetStatus};
use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{Value, json};

use super::identity::{labels, meta, suffix};
use super::kubelet::{Owner, PodPlan, pod_scenario};
use super::store::visible;
use super::view::{Ctx, scenario_f64, time};
use super::{State, Stored, chart, kubelet};

pub(super) fn to_json(object: impl serde::Serialize) -> Value {
    serde_json::to_value(object).expect("a k8s-openapi object is JSON")
}

pub(super) fn builtin_namespaces(ctx: &Ctx) -> Vec<&'static str> {
    let mut out = vec!["default", "kube-node-lease", "kube-public", "kube-system"];
    if ctx.clusters.iter().any(|c| c.up && c.provider == "kind") {
        out.push("local-path-storage");
    }
    out
}

/// A stored object with the status the cluster would have given it by now.
pub(super) fn with_status(ctx: &Ctx, state: &State, s: &Stored) -> Value {
    let mut o = s.obj.clone();
    let kind = o["kind"].as_str().unwrap_or("").to_string();
    let ready = ctx.now >= s.since + scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3);
    match kind.as_str() {
        "Namespace" if o["status"].is_null() => o["status"] = json!({"phase": "Active"}),
        "PersistentVolumeClaim" => claim_status(ctx, state, &mut o),
        "PersistentVolume" => {
            let claim = &o["spec"]["claimRef"];
            let bound = claim["name"].as_str().is_some_and(|n| {
                state.objects.contains_key(&format!(
                    "/api/v1/namespaces/{}/persistentvolumeclaims/{n}",
                    claim["namespace"].as_str().unwrap_or("default")
                ))
            });
            o["status"] = json!({"phase": if bound { "Bound" } else { "Available" }});
        }
        "StatefulSet" | "Deployment" => {
            let replicas = o["spec"]["replicas"].as_i64().unwrap_or(1) as i32;
            let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
            let failing = pod_scenario(ctx, &name, &name)
                .is_some_and(|s| s.get("waiting").is_some() || s.get("unschedulable").is_some());
            let ready_n = if ready && !failing { replicas } else { 0 };
            let generation = o["metadata"]["generation"].as_i64().unwrap_or(1);
            o["status"] = if kind == "StatefulSet" {
                to_json(stateful_set_status(replicas, ready_n, generation, &name))
            } else {
                to_json(deployment_status(replicas, ready_n, generation, &name))
            };
        }
        "Job" => {
            let failed = ctx.scenario["jobs"][o["metadata"]["name"].as_str().unwrap_or("")].as_str() == Some("failed");
            let done_at = s.since + scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3);
            o["status"] = to_json(job_status(ctx, s.since, done_at, failed));
        }
        "Pod" if o["status"].is_null() => {
            let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
            let containers = containers_of(&o["spec"], "containers", "main");
            let (status, node) =
                kubelet::pod_status(ctx, &PodPlan::simple(&name, containers, s.since, ctx.node_name()));
            o["status"] = to_json(status);
            if o["spec"]["nodeName"].is_null()
                && let Some(n) = node
            {
                o["spec"]["nodeName"] = json!(n);
            }
        }
        _ => {}
    }
    o
}

/// A claim is Bound to the volume it names, or to one whose claimRef names it.
fn claim_status(ctx: &Ctx, state: &State, o: &mut Value) {
    let ns = o["metadata"]["namespace"].as_str().unwrap_or("").to_string();
    let volume = o["spec"]["volumeName"].as_str().map(String::from).or_else(|| {
        state.objects.values().filter(|p| visible(ctx, p) && p.obj["kind"] == "PersistentVolume").find_map(|p| {
            let claim = &p.obj["spec"]["claimRef"];
            (claim["name"] == o["metadata"]["name"] && claim["namespace"].as_str() == Some(ns.as_str()))
                .then(|| p.obj["metadata"]["name"].as_str().unwrap_or("").to_string())
        })
    });
    match volume.as_ref().and_then(|v| state.objects.get(&format!("/api/v1/persistentvolumes/{v}"))) {
        Some(pv) => {
            o["spec"]["volumeName"] = json!(volume);
            o["status"] = json!({
                "phase": "Bound",
                "accessModes": pv.obj["spec"]["accessModes"].clone(),
                "capacity": pv.obj["spec"]["capacity"].clone(),
            });
        }
        None => o["status"] = json!({"phase": "Pending"}),
    }
}

/// A StatefulSet's status with `ready` of its `replicas` ready.
pub(super) fn stateful_set_status(replicas: i32, ready: i32, generation: i64, name: &str) -> StatefulSetStatus {
    let revision = format!("{name}-{}", suffix(name, 10));
    StatefulSetStatus {
        replicas,
        ready_replicas: Some(ready),
        current_replicas: Some(replicas),
        updated_replicas: Some(replicas),
        available_replicas: Some(ready),
        observed_generation: Some(generation),
        collision_count: Some(0),
        current_revision: Some(revision.clone()),
        update_revision: Some(revision),
        ..Default::default()
    }
}

/// A Deployment's status with `ready` of its `replicas` ready.
pub(super) fn deployment_status(replicas: i32, ready: i32, generation: i64, name: &str) -> DeploymentStatus {
    let condition = |type_: &str, status: &str, reason: &str, message: String| DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        ..Default::default()
    };
    let available = if ready >= replicas {
        condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.".into())
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    };
    let progressing = condition(
        "Progressing",
        "True",
        "NewReplicaSetAvailable",
        format!("ReplicaSet \"{name}-{}\" has successfully progressed.", suffix(name, 10)),
    );
    DeploymentStatus {
        replicas: Some(replicas),
        updated_replicas: Some(replicas),
        observed_generation: Some(generation),
        conditions: Some(vec![available, progressing]),
        ready_replicas: (ready > 0).then_some(ready),
        available_replicas: (ready > 0).then_some(ready),
        unavailable_replicas: (replicas > ready).then_some(replicas - ready),
        ..Default::default()
    }
}

/// A job of one pod, active until `done_at`, then complete or failed with the conditions
/// Kubernetes 1.31+ sets: `SuccessCriteriaMet`/`FailureTarget` at once, `Complete`/`Failed` once
/// the pods' finalizers are removed (`job_finish_s` later, scenario; kubernetes
/// pkg/controller/job/job_controller.go, KEP-3998/KEP-4368).
pub(super) fn job_status(ctx: &Ctx, start: f64, done_at: f64, failed: bool) -> JobStatus {
    let base = JobStatus {
        start_time: Some(time(start)),
        ready: Some(0),
        terminating: Some(0),
        uncounted_terminated_pods: Some(Default::default()),
        ..Default::default()
    };
    if ctx.now < done_at {
        return JobStatus { active: Some(1), ..base };
    }
    let finished = ctx.now >= done_at + scenario_f64(&ctx.scenario, "job_finish_s", 0.1);
    let condition = |type_: &str, reason: &str, message: &str| JobCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(time(done_at)),
        last_transition_time: Some(time(done_at)),
    };
    let (first, last, reason, why) = match failed {
        true => ("FailureTarget", "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        false => ("SuccessCriteriaMet", "Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
    };
    let mut conditions = vec![condition(first, reason, why)];
    if finished {
        conditions.push(condition(last, reason, why));
    }
    match failed {
        true => JobStatus { failed: Some(1), conditions: Some(conditions), ..base },
        false => JobStatus {
            // `succeeded` counts the pod once its finalizer is removed, before the conditions.
            succeeded: Some(1),
            completion_time: finished.then(|| time(done_at)),
            conditions: Some(conditions),
            ..base
        },
    }
}

/// (name, image) of a pod spec's containers (`containers` or `initContainers`).
fn containers_of(spec: &Value, key: &str, default_name: &str) -> Vec<(String, String)> {
    spec[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (c["name"].as_str().unwrap_or(default_name).to_string(), c["image"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

/// Every pod the cluster runs for a workload: the releases' and the applied ones.
pub(super) fn planned_pods(ctx: &Ctx, state: &State) -> Vec<PodPlan> {
    let mut out = chart::release_pods(ctx, state);
    out.extend(applied_workload_pods(ctx, state));
    out
}

/// The pods of applied StatefulSets and Deployments (e.g. devflow-postgres-0).
fn applied_workload_pods(ctx: &Ctx, state: &State) -> Vec<PodPlan> {
    let mut out = Vec::new();
    for s in state.objects.values().filter(|s| visible(ctx, s)) {
        let kind = s.obj["kind"].as_str().unwrap_or("");
        if kind != "StatefulSet" && kind != "Deployment" {
            continue;
        }
        let name = s.obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = s.obj["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        let replicas = s.obj["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
        let template = &s.obj["spec"]["template"];
        let template_labels: std::collections::BTreeMap<String, String> = template["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect();
        let containers = containers_of(&template["spec"], "containers", "main");
        let init = containers_of(&template["spec"], "initContainers", "init");
        let (rt, count) = state.restarts.get(&(ns.clone(), name.clone())).copied().unwrap_or((0.0, 0));
        let cluster_started = ctx.clusters.iter().find(|c| c.key == s.cluster).map(|c| c.started).unwrap_or(0.0);
        let since = s.since.max(rt).max(cluster_started);
        for i in 0..replicas {
            let mut labels = template_labels.clone();
            let (pod_name, owner) = if kind == "StatefulSet" {
                let n = format!("{name}-{i}");
                labels.insert("statefulset.kubernetes.io/pod-name".into(), n.clone());
                labels.insert("apps.kubernetes.io/pod-index".into(), i.to_string());
                (n, Owner::new("apps/v1", "StatefulSet", &name))
            } else {
                let hash = suffix(&format!("{ns}/{name}/{}", s.since), 10);
                labels.insert("pod-template-hash".into(), hash.clone());
                (
                    format!("{name}-{hash}-{}", suffix(&format!("{ns}/{name}/{i}/{count}/{}", s.since), 5)),
                    Owner::new("apps/v1", "ReplicaSet", &format!("{name}-{hash}")),
                )
            };
            out.push(PodPlan {
                ns: ns.clone(),
                labels,
                init: init.clone(),
                keys: vec![name.clone()],
                owner: Some(owner),
                ..PodPlan::simple(&pod_name, containers.clone(), since, ctx.node_name())
            });
        }
    }
    out
}

/// The objects of a collection the cluster has without anyone applying them.
pub(super) fn synthesised(ctx: &Ctx, state: &State, prefix: &str, resource: &str) -> Vec<Value> {
    match (prefix, resource) {
        ("/api/v1", "nodes") => {
            let after = scenario_f64(&ctx.scenario, "node_ready_after_s", 0.3);
            let up = ctx.clusters.iter().filter(|c| c.up);
            up.flat_map(|c| c.nodes.iter().map(move |n| kubelet::node_json(ctx, c, n, after))).collect()
        }
        ("/api/v1", "namespaces") => namespaces(ctx, state),
        ("/apis/storage.k8s.io/v1", "storageclasses") => storage_class(ctx, state).into_iter().collect(),
        ("/api/v1", "pods") => planned_pods(ctx, state).iter().map(|p| kubelet::pod_json(ctx, p)).collect(),
        ("/api/v1", "events") => kubelet::events(ctx, state),
        ("/apis/batch/v1", "jobs") => chart::job_objects(ctx, state),
        ("/apis/apps/v1", "deployments") => chart::workload_objects(ctx, state, "Deployment"),
        ("/apis/apps/v1", "statefulsets") => chart::workload_objects(ctx, state, "StatefulSet"),
        _ => Vec::new(),
    }
}

/// The namespaces every cluster starts with (kind adds `local-path-storage`).
fn namespaces(ctx: &Ctx, state: &State) -> Vec<Value> {
    let created = ctx.clusters.iter().filter(|c| c.up).map(|c| c.created).fold(f64::INFINITY, f64::min);
    let created = if created.is_finite() { created } else { ctx.now };
    builtin_namespaces(ctx)
        .into_iter()
        .filter(|ns| !state.objects.get(&format!("/api/v1/namespaces/{ns}")).is_some_and(|s| visible(ctx, s)))
        .map(|ns| {
            let mut metadata = meta(ns, None, created, &format!("/api/v1/namespaces/{ns}"));
            metadata.labels = Some(labels([("kubernetes.io/metadata.name", ns)]));
            to_json(Namespace {
                metadata,
                spec: Some(NamespaceSpec { finalizers: Some(vec!["kubernetes".into()]) }),
                status: Some(NamespaceStatus { phase: Some("Active".into()), ..Default::default() }),
            })
        })
        .collect()
}

/// The default StorageClass: kind's `standard`, k3s's `local-path`, both local-path-provisioner.
fn storage_class(ctx: &Ctx, state: &State) -> Option<Value> {
    let c = ctx.clusters.iter().find(|c| c.up)?;
    let name = if c.provider == "kind" { "standard" } else { "local-path" };
    let path = format!("/apis/storage.k8s.io/v1/storageclasses/{name}");
    if state.objects.contains_key(&path) {
        return None;
    }
    let mut metadata = meta(name, None, c.created, &path);
    metadata.annotations = Some(labels([("storageclass.kubernetes.io/is-default-class", "true")]));
    Some(to_json(StorageClass {
        metadata,
        provisioner: "rancher.io/local-path".into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        ..Default::default()
    }))
}
