//! Airflow's pods and jobs as devflow judges them: which state of the policy (`policy.rs`) each
//! pod is in, and so each expected component ready, still coming (with a warning when it may
//! heal), failed for a reason waiting will not fix (with a hint), or carrying history as a note.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Node, Pod};
use serde::Serialize;

use super::indent;
use super::policy::{
    CRASHES_THAT_WILL_NOT_HEAL, SHORT_OF_RESOURCES_GRACE, State, Verdict, because, pull_never_heals, short_of_room,
    verdict,
};
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
    /// The policy's reason this state is a failure (`policy.rs`), for `--json` readers.
    pub because: &'static str,
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
    /// Seconds since the oldest of its current pods was created (`age` in every `--json`).
    #[serde(rename = "age")]
    pub age_seconds: Option<i64>,
    /// Ready, Complete, or what it is waiting on (Pending, ContainerCreating, …).
    pub phase: String,
    /// History worth knowing that is not a failure (`scheduler was OOMKilled 12 min ago, now running`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Something that may heal by itself, said once while waiting.
    #[serde(skip)]
    pub warning: Option<String>,
    #[serde(skip)]
    pub done: bool,
    #[serde(skip)]
    pub failure: Option<(Failure, Option<String>)>,
}

/// What a wait has seen over its polls, which one snapshot cannot tell: how long a pod has been
/// unschedulable, the pull error behind an `ImagePullBackOff`, the exits of a crashing container.
#[derive(Debug, Default)]
pub struct Seen {
    /// A status whose containers started before this was written before the cluster stopped
    /// (`start` after `stop`): not ready until the kubelet has restarted them.
    pub fresh_since: Option<k8s_openapi::jiff::Timestamp>,
    unschedulable: HashMap<String, Instant>,
    pull_errors: HashMap<(String, String), String>,
    /// The kubelet's last `Failed to pull image` event of each pod (the back-off's own message
    /// does not say why: kubernetes pkg/kubelet/images/image_manager.go).
    pub pull_events: HashMap<String, String>,
    exits: HashMap<(String, String), BTreeMap<i32, i32>>,
}

impl Seen {
    /// What a wait after the cluster's start begins with: nothing seen, and statuses whose
    /// containers started before `since` are stale.
    pub fn since(since: Option<k8s_openapi::jiff::Timestamp>) -> Seen {
        Seen { fresh_since: since, ..Seen::default() }
    }
}

/// A snapshot of a namespace's pods and jobs.
pub struct Workloads {
    pub pods: Vec<Pod>,
    pub jobs: Vec<Job>,
}

/// One pod's state as the policy names it, with what to show and, on failure, what to say.
struct Judged {
    state: State,
    phase: String,
    message: String,
    hint: Option<String>,
    container: Option<String>,
}

impl Judged {
    fn new(state: State, phase: impl Into<String>) -> Judged {
        Judged { state, phase: phase.into(), message: String::new(), hint: None, container: None }
    }
}

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
}

/// A KubernetesExecutor task pod: the pod template's `component: worker` label plus
/// `kubernetes_executor: "True"` (cncf-kubernetes `pod_generator.py`). It is a task, not a worker.
fn task_pod(pod: &Pod) -> bool {
    label(pod, "kubernetes_executor") == Some("True")
}

fn pod_failed(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
}

impl Workloads {
    /// A component's state from this snapshot alone (`status`).
    pub fn status(&self, expect: &Expect) -> ComponentStatus {
        self.judge(expect, &mut Seen::default())
    }

    /// A component's state, with what earlier polls saw.
    pub fn judge(&self, expect: &Expect, seen: &mut Seen) -> ComponentStatus {
        match expect {
            Expect::Pods { name, label: (key, value) } => {
                let all: Vec<&Pod> = self
                    .pods
                    .iter()
                    .filter(|p| label(p, key) == Some(value.as_str()) && !task_pod(p))
                    .filter(|p| !p.metadata.owner_references.iter().flatten().any(|o| o.kind == "Job"))
                    .collect();
                self.pods_status(name, &all, seen)
            }
            Expect::Job { name, component } => self.job_status(name, component, seen),
        }
    }

    /// Whether a pod is about to free room on the node: a job pod still running, or a pod
    /// terminating.
    fn room_coming(&self) -> bool {
        self.pods.iter().any(|p| {
            p.metadata.deletion_timestamp.is_some()
                || (label(p, "job-name").is_some() && !matches!(pod_phase(p), "Succeeded" | "Failed"))
        })
    }

    /// `all` is every pod of the component, terminating and failed ones included.
    fn pods_status(&self, name: &str, all: &[&Pod], seen: &mut Seen) -> ComponentStatus {
        let live: Vec<&Pod> = all.iter().copied().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        let replaced = live.iter().any(|p| !pod_failed(p));
        let mut notes = Vec::new();
        // A Failed (Evicted, Shutdown) pod beside its replacement is history.
        let current: Vec<&Pod> = live
            .iter()
            .copied()
            .filter(|p| {
                let history = replaced && pod_failed(p);
                if history {
                    notes.push(failed_pod_note(name, p));
                }
                !history
            })
            .collect();
        let others = |pod: &Pod| all.iter().any(|o| o.metadata.name != pod.metadata.name);
        let room_coming = self.room_coming();
        let judged: Vec<(&Pod, Judged)> =
            current.iter().map(|p| (*p, judge_pod(p, seen, others(p) || room_coming))).collect();
        notes.extend(current.iter().flat_map(|p| oom_notes(name, p)));
        let mut status = summary(name, &current, &judged);
        status.notes = notes;
        status
    }

    fn job_status(&self, name: &str, component: &str, seen: &mut Seen) -> ComponentStatus {
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
        let judged: Vec<(&Pod, Judged)> = pods.iter().map(|p| (*p, judge_pod(p, seen, true))).collect();
        let mut status = summary(name, &pods, &judged);
        (status.total, status.ready, status.done) = (1, 0, false);
        // Helm has created every object of the release by the time devflow waits, so a missing
        // job is one the chart's ttlSecondsAfterFinished (300 s by default) removed after it
        // completed.
        let Some(job) = job else {
            let phase = "Complete (job removed after its TTL)".to_string();
            return ComponentStatus { ready: 1, phase, done: true, failure: None, warning: None, ..status };
        };
        let conditions = job.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let condition = |kind: &str| conditions.iter().find(|c| c.type_ == kind && c.status == "True");
        // Kubernetes 1.31+ counts `succeeded` and sets SuccessCriteriaMet before Complete: done
        // is the Complete condition (kubernetes/api batch/v1 JobConditionType).
        if condition("Complete").is_some() {
            let phase = "Complete".to_string();
            return ComponentStatus { ready: 1, phase, done: true, failure: None, warning: None, ..status };
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
                because: because(State::JobFailed),
            };
            let container = pod.and_then(|p| p.spec.as_ref()).map(|s| s.containers[0].name.clone());
            status.phase = "Failed".into();
            status.failure = Some((failure, container));
            return status;
        }
        if condition("FailureTarget").is_some() {
            status.phase = "failing: its pods are terminating (FailureTarget)".into();
        } else if condition("SuccessCriteriaMet").is_some() {
            status.phase = "finishing (SuccessCriteriaMet)".into();
        } else if status.failure.is_none() && status.phase == "Ready" {
            status.phase = "Running".into();
        }
        status
    }
}

fn pod_phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
}

/// A component's status from its current pods as judged: failed if one failed, done if all are
/// Ready, else what the first not-ready one waits on.
fn summary(name: &str, pods: &[&Pod], judged: &[(&Pod, Judged)]) -> ComponentStatus {
    let ready = judged.iter().filter(|(_, j)| j.state == State::Ready).count();
    let restarts = pods.iter().flat_map(|p| container_statuses(p)).map(|c| c.restart_count).sum();
    let now = k8s_openapi::jiff::Timestamp::now();
    let age_seconds =
        pods.iter().filter_map(|p| p.metadata.creation_timestamp.as_ref()).map(|t| (now - t.0).get_seconds()).max();
    let failure = judged.iter().find(|(_, j)| verdict(j.state) == Verdict::Failure).map(|(pod, j)| {
        let failure = Failure {
            component: name.to_string(),
            // A pod that was never scheduled ran nothing: no pod to name.
            pod: if j.phase == "Unschedulable" { String::new() } else { pod.metadata.name.clone().unwrap_or_default() },
            reason: j.phase.clone(),
            message: j.message.clone(),
            hint: j.hint.clone(),
            logs: Vec::new(),
            because: because(j.state),
        };
        (failure, j.container.clone())
    });
    let warning = judged
        .iter()
        .find(|(_, j)| verdict(j.state) == Verdict::Warning)
        .map(|(_, j)| format!("{name}: {}{}", j.phase, if j.message.is_empty() { "" } else { ": " }) + &j.message);
    let phase = match (&failure, judged.iter().find(|(_, j)| j.state != State::Ready)) {
        (Some((f, _)), _) => f.reason.clone(),
        (None, _) if pods.is_empty() => "Pending (no pod yet)".into(),
        (None, None) => "Ready".into(),
        (None, Some((_, j))) => j.phase.clone(),
    };
    ComponentStatus {
        name: name.to_string(),
        ready,
        total: pods.len(),
        restarts,
        age_seconds,
        done: !pods.is_empty() && ready == pods.len(),
        phase,
        notes: Vec::new(),
        warning,
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

fn container_statuses(pod: &Pod) -> Vec<ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.clone()).unwrap_or_default();
    let main = status.and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    init.into_iter().chain(main).collect()
}

/// The init container the chart 1.22.0 gives every Airflow pod (`templates/_helpers.yaml`
/// `wait-for-airflow-migrations`).
const MIGRATIONS_INIT: &str = "wait-for-airflow-migrations";

/// Which state of the policy a pod is in. `room_coming`: another pod of its component, a running
/// job pod or a terminating pod will free room on the node.
fn judge_pod(pod: &Pod, seen: &mut Seen, room_coming: bool) -> Judged {
    let Some(status) = pod.status.as_ref() else { return Judged::new(State::Starting, "Pending") };
    if let Some(unscheduled) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
    {
        let message = unscheduled.message.clone().unwrap_or_default();
        return unschedulable(pod, message, seen, room_coming);
    }
    let job_pod = label(pod, "job-name").is_some();
    let init = status.init_container_statuses.clone().unwrap_or_default();
    for container in &init {
        if container.state.as_ref().is_some_and(|s| s.terminated.as_ref().is_some_and(|t| t.exit_code == 0)) {
            continue;
        }
        if let Some(judged) = container_problem(pod, container, seen, job_pod) {
            return judged;
        }
        if container.name == MIGRATIONS_INIT {
            let phase = format!("waiting for database migrations (try {})", container.restart_count + 1);
            return Judged::new(State::WaitingForMigrations, phase);
        }
    }
    for container in status.container_statuses.iter().flatten() {
        if let Some(judged) = container_problem(pod, container, seen, job_pod) {
            return judged;
        }
    }
    if pod_failed(pod) {
        return Judged {
            message: status.message.clone().unwrap_or_default(),
            ..Judged::new(State::Starting, "Failed")
        };
    }
    if pod_ready(pod) {
        return match stale(pod, seen) {
            true => Judged::new(State::StaleStatus, "restarting after the cluster's start"),
            false => Judged::new(State::Ready, "Ready"),
        };
    }
    Judged::new(if pod_running(pod) { State::RunningNotReady } else { State::Starting }, waiting_on(pod))
}

/// Whether a Ready pod's containers started before the cluster did (a status from before `stop`).
fn stale(pod: &Pod, seen: &Seen) -> bool {
    let Some(since) = seen.fresh_since else { return false };
    pod.status.iter().flat_map(|s| s.container_statuses.iter().flatten()).any(|c| {
        c.state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .and_then(|r| r.started_at.as_ref())
            .is_some_and(|t| t.0 < since)
    })
}

fn unschedulable(pod: &Pod, message: String, seen: &mut Seen, room_coming: bool) -> Judged {
    let key = pod.metadata.name.clone().unwrap_or_default();
    let first = *seen.unschedulable.entry(key).or_insert_with(Instant::now);
    let missing = super::policy::missing_claim(&message).map(str::to_string);
    let state = if missing.is_some() {
        State::ClaimMissing
    } else if !short_of_room(&message) {
        State::ClaimBinding
    } else if room_coming {
        State::WaitingForOldPod
    } else if first.elapsed() < SHORT_OF_RESOURCES_GRACE {
        State::ShortOfResources
    } else {
        State::OutOfResources
    };
    let claim_hint = missing.map(|claim| {
        format!(
            "the claim {claim} does not exist in this namespace: it is production's; create it, or let devflow drop the volume (remove it from `[airflow] keep` in devflow.toml)"
        )
    });
    let hint = if let Some(hint) = &claim_hint {
        hint.as_str()
    } else if message.contains("Insufficient memory") {
        "not enough memory: give Docker more memory, or choose a smaller profile (`devflow doctor` shows what Docker has)"
    } else if message.contains("Insufficient cpu") {
        "not enough CPU: give Docker more CPUs, or lower the components' requests with --set"
    } else {
        "no node can run it: see the message above"
    };
    // No container ran, so there are no logs to read (container None).
    Judged { message, hint: Some(hint.into()), ..Judged::new(state, "Unschedulable") }
}

/// What a not-ready pod is waiting on: `Pending`, `ContainerCreating`, `Running (not ready)`.
fn waiting_on(pod: &Pod) -> String {
    let waiting =
        container_statuses(pod).into_iter().find_map(|c| c.state.and_then(|s| s.waiting).and_then(|w| w.reason));
    let phase = pod_phase(pod).to_string();
    match waiting {
        Some(reason) => reason,
        None if phase == "Running" => "Running (not ready)".into(),
        None => phase,
    }
}

/// The state a container puts its pod in, if it is in trouble: a pull, a crash, a bad spec.
fn container_problem(pod: &Pod, container: &ContainerStatus, seen: &mut Seen, job_pod: bool) -> Option<Judged> {
    let waiting = container.state.as_ref().and_then(|s| s.waiting.as_ref());
    let reason = waiting.and_then(|w| w.reason.as_deref()).unwrap_or_default();
    let message = waiting.and_then(|w| w.message.clone()).unwrap_or_default();
    let with = |state: State, hint: Option<String>, message: String| Judged {
        message,
        hint,
        container: Some(container.name.clone()),
        ..Judged::new(state, reason)
    };
    let key = (pod.metadata.name.clone().unwrap_or_default(), container.name.clone());
    match reason {
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => {
            if reason == "ErrImagePull" {
                seen.pull_errors.insert(key.clone(), message.clone());
            }
            // The kubelet's back-off message does not repeat the error: the last one seen does.
            let error = seen.pull_errors.get(&key).or(seen.pull_events.get(&key.0)).cloned().unwrap_or(message);
            let never = matches!(reason, "InvalidImageName" | "ErrImageNeverPull") || pull_never_heals(&error);
            let hint = format!(
                "the node cannot pull {}: check the image name and tag, and that the registry is reachable from Docker",
                container.image
            );
            let state = if never { State::PullNeverHeals } else { State::PullRetrying };
            // A container whose image never came has no log to read.
            Some(Judged { container: None, ..with(state, Some(hint), error) })
        }
        "CreateContainerConfigError" => Some(with(
            State::ConfigError,
            Some("a Secret or ConfigMap the pod refers to is missing: see the message above".into()),
            message,
        )),
        "CreateContainerError" | "RunContainerError" => Some(with(State::ConfigError, None, message)),
        "CrashLoopBackOff" if job_pod => {
            let phase = format!("retrying (try {})", container.restart_count + 1);
            Some(Judged { container: Some(container.name.clone()), ..Judged::new(State::JobRetrying, phase) })
        }
        "CrashLoopBackOff" if container.name == MIGRATIONS_INIT => None,
        "CrashLoopBackOff" => Some(crash(container, seen, key, message)),
        _ => None,
    }
}

/// A main container in CrashLoopBackOff: still healing, or the same end again and again.
fn crash(container: &ContainerStatus, seen: &mut Seen, key: (String, String), message: String) -> Judged {
    let last = container.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let exit = last.map(|t| t.exit_code).unwrap_or(1);
    let exits = seen.exits.entry(key).or_default();
    exits.insert(container.restart_count, exit);
    let same = exits.values().all(|e| *e == exit);
    let container_name = Some(container.name.clone());
    if last.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
        let state = if container.restart_count >= 2 { State::OomKilledAgain } else { State::CrashRestarting };
        let hint = format!(
            "container {} ran out of memory: raise its limit, e.g. `--set <component>.resources.limits.memory=2Gi`",
            container.name
        );
        return Judged { message, hint: Some(hint), container: container_name, ..Judged::new(state, "OOMKilled") };
    }
    let state = if container.restart_count >= CRASHES_THAT_WILL_NOT_HEAL && same {
        State::CrashWillNotHeal
    } else {
        State::CrashRestarting
    };
    let message = format!("exit code {exit}, {} restarts: {message}", container.restart_count);
    Judged { message, container: container_name, ..Judged::new(state, "CrashLoopBackOff") }
}

/// `scheduler was OOMKilled 12 min ago, now running`, for a ready container whose last run ended so.
fn oom_notes(component: &str, pod: &Pod) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else { return Vec::new() };
    status
        .container_statuses
        .iter()
        .flatten()
        .filter(|c| c.ready)
        .filter_map(|c| c.last_state.as_ref()?.terminated.as_ref())
        .filter(|t| t.reason.as_deref() == Some("OOMKilled"))
        .map(|t| format!("{component} was OOMKilled{}, now running", ago(t.finished_at.as_ref())))
        .collect()
}

fn failed_pod_note(component: &str, pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let reason = status.and_then(|s| s.reason.clone()).unwrap_or_else(|| "Failed".into());
    let when = status.and_then(|s| s.start_time.as_ref());
    format!(
        "{component}'s pod {} was {reason}{}: its replacement runs",
        pod.metadata.name.as_deref().unwrap_or_default(),
        ago(when)
    )
}

/// ` 12 min ago`, as a note says it (empty when the time is unknown).
fn ago(time: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    let Some(time) = time else { return String::new() };
    let seconds = (k8s_openapi::jiff::Timestamp::now() - time.0).get_seconds().max(0);
    match seconds {
        0..60 => format!(" {seconds} s ago"),
        60..3600 => format!(" {} min ago", seconds / 60),
        _ => format!(" {} h ago", seconds / 3600),
    }
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
             "state": {"waiting": {"reason": "ErrImagePull", "message": "docker.io/apache/airflow:9: not found"}}}]}),
        );
        let (failure, container) = status_of(vec![pull], "api-server").failure.unwrap();
        assert_eq!(failure.reason, "ErrImagePull");
        assert!(failure.hint.unwrap().contains("apache/airflow:9"));
        assert_eq!(
            (failure.pod.as_str(), container),
            ("airflow-api-server-0", None),
            "no log of an image never pulled"
        );

        let oom = pod(
            "triggerer",
            json!({"phase": "Running", "containerStatuses": [
            {"name": "triggerer", "image": "x", "imageID": "", "ready": false, "restartCount": 2,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}),
        );
        let status = status_of(vec![oom], "triggerer");
        assert_eq!((status.phase.as_str(), status.restarts), ("OOMKilled", 2));

        let unschedulable = pod(
            "worker",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient memory."}]}),
        );
        let mut seen = Seen::default();
        let workloads = Workloads { pods: vec![unschedulable], jobs: vec![] };
        assert!(workloads.judge(&expect("worker"), &mut seen).failure.is_none(), "within the grace it may heal");
        for first in seen.unschedulable.values_mut() {
            *first -= SHORT_OF_RESOURCES_GRACE;
        }
        let (failure, _) = workloads.judge(&expect("worker"), &mut seen).failure.unwrap();
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
        assert!(
            workloads(json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}))
                .status(&expect)
                .done
        );
        assert!(
            !workloads(json!({"succeeded": 1, "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}))
                .status(&expect)
                .done
        );
        let failed = workloads(json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}))
        .status(&expect);
        assert_eq!(failed.failure.unwrap().0.reason, "BackoffLimitExceeded");
        let running = workloads(json!({"active": 1})).status(&expect);
        assert!(!running.done && running.failure.is_none());
        let removed = Workloads { pods: vec![], jobs: vec![] }.status(&expect);
        assert!(removed.done, "a job the chart's TTL removed has completed");
    }

    fn container(name: &str, restarts: i32, state: Value, last: Value) -> Value {
        json!({"name": name, "image": "apache/airflow:3.2.2", "imageID": "", "ready": state.get("running").is_some(),
               "restartCount": restarts, "state": state, "lastState": last})
    }

    fn ready_status(containers: Vec<Value>) -> Value {
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": containers})
    }

    #[test]
    fn an_init_container_waiting_for_migrations_is_progress_with_its_try() {
        let waiting = pod(
            "scheduler",
            json!({"phase": "Pending", "initContainerStatuses": [container("wait-for-airflow-migrations", 1,
                json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}}),
                json!({"terminated": {"exitCode": 1, "reason": "Error"}}))],
              "containerStatuses": [container("scheduler", 0, json!({"waiting": {"reason": "PodInitializing"}}), json!({}))]}),
        );
        let status = status_of(vec![waiting], "scheduler");
        assert!(status.failure.is_none() && !status.done);
        assert_eq!(status.phase, "waiting for database migrations (try 2)");
    }

    fn job(status: Value) -> Job {
        serde_json::from_value(
            json!({"metadata": {"name": "airflow-create-user", "labels": {"component": "create-user-job"}},
            "status": status}),
        )
        .unwrap()
    }

    #[test]
    fn a_retrying_job_is_progress_until_its_failed_condition() {
        let retrying = serde_json::from_value::<Pod>(json!({
            "metadata": {"name": "airflow-create-user-x1", "labels": {"component": "create-user-job", "job-name": "airflow-create-user"}},
            "spec": {"containers": [{"name": "create-user"}], "restartPolicy": "OnFailure"},
            "status": {"phase": "Running", "containerStatuses": [container("create-user", 2,
                json!({"waiting": {"reason": "CrashLoopBackOff"}}), json!({"terminated": {"exitCode": 1, "reason": "Error"}}))]}}))
        .unwrap();
        let expect = Expect::Job { name: "create-user".into(), component: "create-user-job".into() };
        let with = |status: Value| Workloads { pods: vec![retrying.clone()], jobs: vec![job(status)] }.status(&expect);
        let active = with(json!({"active": 1}));
        assert_eq!((active.phase.as_str(), active.done, active.failure.is_none()), ("retrying (try 3)", false, true));
        let target =
            with(json!({"active": 0, "failed": 1, "conditions": [{"type": "FailureTarget", "status": "True"}]}));
        assert!(target.failure.is_none() && !target.done, "FailureTarget comes before Failed");
        let met = with(json!({"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}));
        assert!(!met.done, "SuccessCriteriaMet comes before Complete");
        let failed = with(json!({"conditions": [{"type": "FailureTarget", "status": "True"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}));
        assert_eq!(failed.failure.unwrap().0.reason, "BackoffLimitExceeded");
    }

    #[test]
    fn a_rate_limited_pull_is_a_warning_and_a_missing_image_a_failure_even_in_back_off() {
        let pulling = |reason: &str, message: &str| {
            pod(
                "scheduler",
                json!({"phase": "Pending", "containerStatuses": [container("scheduler", 0,
                json!({"waiting": {"reason": reason, "message": message}}), json!({}))]}),
            )
        };
        let limited = status_of(
            vec![pulling(
                "ErrImagePull",
                "429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit",
            )],
            "scheduler",
        );
        assert!(limited.failure.is_none());
        assert!(limited.warning.unwrap().contains("toomanyrequests"));

        let mut seen = Seen::default();
        let missing =
            "failed to resolve reference \"docker.io/apache/airflow:9.9.9\": docker.io/apache/airflow:9.9.9: not found";
        let first = Workloads { pods: vec![pulling("ErrImagePull", missing)], jobs: vec![] };
        assert!(first.judge(&expect("scheduler"), &mut seen).failure.is_some());
        let backoff = Workloads {
            pods: vec![pulling("ImagePullBackOff", "Back-off pulling image \"apache/airflow:9.9.9\"")],
            jobs: vec![],
        };
        let (failure, _) = backoff.judge(&expect("scheduler"), &mut seen).failure.unwrap();
        assert!(
            failure.message.contains(": not found"),
            "the pull error seen before the back-off: {}",
            failure.message
        );
        assert!(status_of(backoff.pods.clone(), "scheduler").failure.is_none(), "a back-off alone says no reason");
        let mut from_events = Seen::default();
        from_events.pull_events.insert("airflow-scheduler-0".into(), format!("Failed to pull image \"x\": {missing}"));
        assert!(backoff.judge(&expect("scheduler"), &mut from_events).failure.is_some(), "the event says why");
    }

    #[test]
    fn unschedulable_while_a_claim_binds_or_an_old_pod_goes_is_progress() {
        let unschedulable = |name: &str, message: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"component": "scheduler"}},
                "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": message}]}}))
            .unwrap()
        };
        let mut seen = Seen::default();
        let binding = Workloads {
            pods: vec![unschedulable(
                "a",
                "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
            )],
            jobs: vec![],
        };
        let old = pod("scheduler", ready_status(vec![container("scheduler", 0, json!({"running": {}}), json!({}))]));
        let rolling = Workloads {
            pods: vec![old, unschedulable("b", "0/1 nodes are available: 1 Insufficient cpu.")],
            jobs: vec![],
        };
        for _ in 0..2 {
            let status = binding.judge(&expect("scheduler"), &mut seen);
            assert!(status.failure.is_none() && status.warning.is_none() && !status.done);
            let status = rolling.judge(&expect("scheduler"), &mut seen);
            assert!(status.failure.is_none() && !status.done, "the new pod waits for the old one");
            assert_eq!((status.ready, status.total), (1, 2));
            for first in seen.unschedulable.values_mut() {
                *first -= SHORT_OF_RESOURCES_GRACE;
            }
        }
    }

    #[test]
    fn history_is_a_note_and_a_status_from_before_the_stop_is_not_ready() {
        let running = container(
            "scheduler",
            1,
            json!({"running": {"startedAt": "2026-11-24T10:00:05Z"}}),
            json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-24T10:00:00Z"}}),
        );
        let ready = pod("scheduler", ready_status(vec![running]));
        let mut evicted = pod(
            "scheduler",
            json!({"phase": "Failed", "reason": "Evicted",
            "message": "The node was low on resource: memory."}),
        );
        evicted.metadata.name = Some("airflow-scheduler-old".into());
        let status = status_of(vec![ready.clone(), evicted], "scheduler");
        assert!(status.done && status.failure.is_none(), "{status:?}");
        assert!(
            status.notes.iter().any(|n| n.starts_with("scheduler was OOMKilled ") && n.ends_with("ago, now running"))
        );
        assert!(status.notes.iter().any(|n| n.contains("airflow-scheduler-old was Evicted")));

        let after_start = "2026-11-24T11:00:00Z".parse().ok();
        let stale =
            Workloads { pods: vec![ready], jobs: vec![] }.judge(&expect("scheduler"), &mut Seen::since(after_start));
        assert!(!stale.done, "Ready from before the stop is not ready");
    }

    #[test]
    fn a_crash_loop_fails_once_the_same_exit_repeats() {
        let crashing = |restarts: i32| {
            pod(
                "dag-processor",
                json!({"phase": "Running", "containerStatuses": [container("dag-processor", restarts,
                json!({"waiting": {"reason": "CrashLoopBackOff"}}), json!({"terminated": {"exitCode": 1, "reason": "Error"}}))]}),
            )
        };
        let once = status_of(vec![crashing(1)], "dag-processor");
        assert!(once.failure.is_none() && once.warning.is_some());
        let (failure, container) = status_of(vec![crashing(3)], "dag-processor").failure.unwrap();
        assert_eq!((failure.reason.as_str(), container.as_deref()), ("CrashLoopBackOff", Some("dag-processor")));
    }

    #[test]
    fn task_pods_are_not_workers() {
        let mut task = pod(
            "worker",
            json!({"phase": "Pending", "containerStatuses": [container("base", 0,
            json!({"waiting": {"reason": "ErrImagePull", "message": "x: not found"}}), json!({}))]}),
        );
        task.metadata.labels.as_mut().unwrap().insert("kubernetes_executor".into(), "True".into());
        let worker = pod("worker", ready_status(vec![container("worker", 0, json!({"running": {}}), json!({}))]));
        let status = status_of(vec![worker, task], "worker");
        assert!(status.done && status.total == 1, "{status:?}");
    }
}
