//! Airflow's pods and jobs as devflow judges them: each expected component ready, still coming,
//! or failed for a reason waiting will not fix (FACTS.md: init containers that restart while
//! migrations run, jobs that retry), with a hint where there is one.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;

use super::indent;
use crate::plan::Expect;

/// A pod or job that will not become ready by waiting: what, why, and what it last said.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub component: String,
    pub pod: String,
    pub reason: String,
    pub message: String,
    pub hint: Option<String>,
    pub logs: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {} (pod {})", self.component, self.reason, self.pod)?;
        if !self.message.is_empty() {
            write!(f, "\n  {}", self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  {hint}")?;
        }
        if !self.logs.is_empty() {
            write!(f, "\n  its last log lines:\n{}", indent(&self.logs))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub ready: bool,
    pub version: String,
}

impl NodeStatus {
    pub(super) fn of(node: &Node) -> NodeStatus {
        let status = node.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        NodeStatus {
            name: node.metadata.name.clone().unwrap_or_default(),
            ready,
            version: status.and_then(|s| s.node_info.as_ref()).map(|i| i.kubelet_version.clone()).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub name: String,
    pub ready: usize,
    pub total: usize,
    pub restarts: i32,
    /// Seconds since the oldest of its current pods was created.
    pub age_seconds: Option<i64>,
    /// Ready, Complete, or what it is waiting on (Pending, ContainerCreating, …).
    pub phase: String,
    #[serde(skip)]
    pub done: bool,
    #[serde(skip)]
    pub failure: Option<(Failure, Option<String>)>,
}

/// A snapshot of a namespace's pods and jobs.
pub struct Workloads {
    pub pods: Vec<Pod>,
    pub jobs: Vec<Job>,
}

impl Workloads {
    pub fn status(&self, expect: &Expect) -> ComponentStatus {
        match expect {
            Expect::Pods { name, label } => {
                let pods: Vec<&Pod> = self
                    .pods
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter(|p| p.metadata.labels.as_ref().and_then(|l| l.get(&label.0)) == Some(&label.1))
                    .collect();
                pods_status(name, &pods)
            }
            Expect::Job { name, component } => self.job_status(name, component),
        }
    }

    fn job_status(&self, name: &str, component: &str) -> ComponentStatus {
        let has_component = |labels: Option<&BTreeMap<String, String>>| {
            labels.and_then(|l| l.get("component")).map(String::as_str) == Some(component)
        };
        let pods: Vec<&Pod> = self.pods.iter().filter(|p| has_component(p.metadata.labels.as_ref())).collect();
        let job = self.jobs.iter().find(|j| {
            has_component(j.metadata.labels.as_ref())
                || has_component(
                    j.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.labels.as_ref()),
                )
        });
        let mut status = pods_status(name, &pods);
        status.total = 1;
        status.ready = 0;
        // Helm has created every object of the release by the time devflow waits, so a missing
        // job is one the chart's ttlSecondsAfterFinished (300 s by default) removed after it
        // completed.
        let Some(job) = job else {
            return ComponentStatus {
                ready: 1,
                phase: "Complete (job removed after its TTL)".into(),
                done: true,
                failure: None,
                ..status
            };
        };
        let conditions = job.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let condition = |kind: &str| conditions.iter().find(|c| c.type_ == kind && c.status == "True");
        if condition("Complete").is_some() || job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) > 0 {
            return ComponentStatus { ready: 1, phase: "Complete".into(), done: true, failure: None, ..status };
        }
        if let Some(failed) = condition("Failed") {
            let pod = pods.iter().max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
            let failure = Failure {
                component: name.to_string(),
                pod: pod.and_then(|p| p.metadata.name.clone()).unwrap_or_default(),
                reason: failed.reason.clone().unwrap_or_else(|| "Failed".into()),
                message: failed.message.clone().unwrap_or_default(),
                hint: None,
                logs: Vec::new(),
            };
            let container = pod.and_then(|p| p.spec.as_ref()).map(|s| s.containers[0].name.clone());
            status.phase = "Failed".into();
            status.failure = Some((failure, container));
            return status;
        }
        if status.failure.is_none() && status.phase == "Ready" {
            status.phase = "Running".into();
        }
        status
    }
}

fn pods_status(name: &str, pods: &[&Pod]) -> ComponentStatus {
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    let restarts = pods.iter().flat_map(|p| container_statuses(p)).map(|c| c.restart_count).sum();
    let now = k8s_openapi::jiff::Timestamp::now();
    let age_seconds =
        pods.iter().filter_map(|p| p.metadata.creation_timestamp.as_ref()).map(|t| (now - t.0).get_seconds()).max();
    let failure = pods.iter().find_map(|p| problem(name, p));
    let phase = if failure.is_some() {
        failure.as_ref().map(|(f, _)| f.reason.clone()).unwrap_or_default()
    } else if pods.is_empty() {
        "Pending (no pod yet)".into()
    } else if ready == pods.len() {
        "Ready".into()
    } else {
        pods.iter().find(|p| !pod_ready(p)).map(|p| waiting_on(p)).unwrap_or_default()
    };
    ComponentStatus {
        name: name.to_string(),
        ready,
        total: pods.len(),
        restarts,
        age_seconds,
        done: !pods.is_empty() && ready == pods.len(),
        phase,
        failure,
    }
}

pub fn pod_running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn container_statuses(pod: &Pod) -> Vec<k8s_openapi::api::core::v1::ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.clone()).unwrap_or_default();
    let main = status.and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    init.into_iter().chain(main).collect()
}

/// What a not-ready pod is waiting on: `Pending`, `ContainerCreating`, `Running (not ready)`.
fn waiting_on(pod: &Pod) -> String {
    let waiting =
        container_statuses(pod).into_iter().find_map(|c| c.state.and_then(|s| s.waiting).and_then(|w| w.reason));
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into());
    match waiting {
        Some(reason) => reason,
        None if phase == "Running" => "Running (not ready)".into(),
        None => phase,
    }
}

/// Waiting reasons that waiting will not fix.
const STUCK: [&str; 7] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
    "RunContainerError",
];

/// Why a pod will not become ready on its own, if it will not; with the container to read logs of.
fn problem(component: &str, pod: &Pod) -> Option<(Failure, Option<String>)> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let failure = |reason: &str, message: String, hint: Option<String>| Failure {
        component: component.to_string(),
        pod: name.clone(),
        reason: reason.to_string(),
        message,
        hint,
        logs: Vec::new(),
    };
    let status = pod.status.as_ref()?;
    if let Some(unscheduled) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
    {
        let message = unscheduled.message.clone().unwrap_or_default();
        let hint = if message.contains("Insufficient memory") {
            "not enough memory: give Docker more memory, or choose a smaller profile (`devflow doctor` shows what Docker has)"
        } else if message.contains("Insufficient cpu") {
            "not enough CPU: give Docker more CPUs, or lower the components' requests with --set"
        } else {
            "no node can run it: see the message above"
        };
        // No container ran, so there are no logs to read.
        return Some((Failure { pod: String::new(), ..failure("Unschedulable", message, Some(hint.into())) }, None));
    }
    for container in container_statuses(pod) {
        let oom = container
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .filter(|t| t.reason.as_deref() == Some("OOMKilled"));
        if oom.is_some()
            || container
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
        {
            let hint = format!(
                "container {} ran out of memory: raise its limit, e.g. `--set <component>.resources.limits.memory=2Gi`",
                container.name
            );
            return Some((failure("OOMKilled", String::new(), Some(hint)), Some(container.name)));
        }
        let waiting = container.state.as_ref().and_then(|s| s.waiting.as_ref());
        if let Some(reason) = waiting.and_then(|w| w.reason.as_deref()).filter(|r| STUCK.contains(r)) {
            let message = waiting.and_then(|w| w.message.clone()).unwrap_or_default();
            let hint = match reason {
                "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => Some(format!(
                    "the node cannot pull {}: check the image name and tag, and that the registry is reachable from Docker",
                    container.image
                )),
                "CreateContainerConfigError" => {
                    Some("a Secret or ConfigMap the pod refers to is missing: see the message above".into())
                }
                _ => None,
            };
            return Some((failure(reason, message, hint), Some(container.name)));
        }
    }
    if status.phase.as_deref() == Some("Failed") {
        let message = status.message.clone().unwrap_or_default();
        return Some((failure("Failed", message, None), None));
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn pod(component: &str, status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("airflow-{component}-0"), "labels": {"component": component, "release": "airflow"},
                         "creationTimestamp": "2026-11-24T10:00:00Z"},
            "spec": {"containers": [{"name": component, "image": "apache/airflow:3.2.2"}]},
            "status": status,
        }))
        .unwrap()
    }

    fn expect(component: &str) -> Expect {
        Expect::Pods { name: component.into(), label: ("component".into(), component.into()) }
    }

    fn status_of(pods: Vec<Pod>, component: &str) -> ComponentStatus {
        Workloads { pods, jobs: vec![] }.status(&expect(component))
    }

    #[test]
    fn pending_running_and_ready_are_told_apart() {
        let creating = pod(
            "scheduler",
            json!({"phase": "Pending", "containerStatuses": [
            {"name": "scheduler", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        let status = status_of(vec![creating], "scheduler");
        assert_eq!((status.phase.as_str(), status.done, status.failure.is_none()), ("ContainerCreating", false, true));

        let ready = pod("scheduler", json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}));
        let status = status_of(vec![ready], "scheduler");
        assert_eq!((status.phase.as_str(), status.ready, status.total, status.done), ("Ready", 1, 1, true));

        assert_eq!(status_of(vec![], "scheduler").phase, "Pending (no pod yet)");
    }

    #[test]
    fn failures_carry_their_reason_and_a_hint() {
        let pull = pod(
            "api-server",
            json!({"phase": "Pending", "containerStatuses": [
            {"name": "api-server", "image": "apache/airflow:9", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}),
        );
        let (failure, container) = status_of(vec![pull], "api-server").failure.unwrap();
        assert_eq!(failure.reason, "ImagePullBackOff");
        assert!(failure.hint.unwrap().contains("apache/airflow:9"));
        assert_eq!(container.as_deref(), Some("api-server"));

        let oom = pod(
            "triggerer",
            json!({"phase": "Running", "containerStatuses": [
            {"name": "triggerer", "image": "x", "imageID": "", "ready": false, "restartCount": 2,
             "state": {"running": {}}, "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}),
        );
        let status = status_of(vec![oom], "triggerer");
        assert_eq!((status.phase.as_str(), status.restarts), ("OOMKilled", 2));

        let unschedulable = pod(
            "worker",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient memory."}]}),
        );
        let (failure, _) = status_of(vec![unschedulable], "worker").failure.unwrap();
        assert!(failure.hint.unwrap().starts_with("not enough memory"));
        assert!(failure.pod.is_empty(), "no logs are read from a pod that never ran");
    }

    #[test]
    fn a_job_is_complete_failed_or_still_running() {
        let job = |status: Value| -> Job {
            serde_json::from_value(json!({"metadata": {"name": "airflow-run-airflow-migrations",
                "labels": {"component": "run-airflow-migrations"}}, "status": status}))
            .unwrap()
        };
        let expect = Expect::Job { name: "migrations".into(), component: "run-airflow-migrations".into() };
        let workloads = |status| Workloads { pods: vec![], jobs: vec![job(status)] };
        assert!(workloads(json!({"succeeded": 1})).status(&expect).done);
        let failed = workloads(json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}))
        .status(&expect);
        assert_eq!(failed.failure.unwrap().0.reason, "BackoffLimitExceeded");
        let running = workloads(json!({"active": 1})).status(&expect);
        assert!(!running.done && running.failure.is_none());
        let removed = Workloads { pods: vec![], jobs: vec![] }.status(&expect);
        assert!(removed.done, "a job the chart's TTL removed has completed");
    }
}
