//! What the kubelet reports: nodes and their Ready condition, each pod's lifecycle (Pending →
//! Running, or the failure a scenario asks for), and the events of those failures.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    DaemonEndpoint, Event, EventSource, HostIP, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec,
    NodeStatus, NodeSystemInfo, ObjectReference, Pod, PodCondition, PodIP, PodSecurityContext, PodSpec, PodStatus,
    ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Map, Value};

use super::State;
use super::controllers::{planned_pods, to_json};
use super::identity::{fnv, meta, resource_version, uid};
use super::timeline::{Clock, Tries, Try, pulls, scheduled_at, waits_for_migrations};
use super::view::{ClusterView, Ctx, NodeView, time};

/// The owner a pod's `ownerReferences` names.
pub(super) struct Owner {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) name: String,
}

impl Owner {
    pub(super) fn new(api_version: &'static str, kind: &'static str, name: &str) -> Owner {
        Owner { api_version, kind, name: name.to_string() }
    }
}

/// A pod the fake cluster runs.
pub(super) struct PodPlan {
    pub(super) name: String,
    pub(super) ns: String,
    pub(super) labels: BTreeMap<String, String>,
    /// (name, image); the first is the main container scenario failures apply to.
    pub(super) containers: Vec<(String, String)>,
    pub(super) init: Vec<(String, String)>,
    pub(super) since: f64,
    /// scenario keys that address it: its component, then its owner's name.
    pub(super) keys: Vec<String>,
    /// A job's pod: how its tries go.
    pub(super) job: Option<JobRun>,
    pub(super) owner: Option<Owner>,
    pub(super) node: String,
    /// When the release's migrations are done, for a pod whose init container waits for them.
    pub(super) migrations_done: Option<f64>,
    /// Deleted at this time and terminating (an old pod of a rollout).
    pub(super) deleting: Option<f64>,
    /// An evicted pod beside its replacement: the kubelet's eviction message.
    pub(super) evicted: Option<String>,
    /// Unschedulable until then (a new pod of a rollout on a full node), with the message.
    pub(super) waits_for_room: Option<(f64, String)>,
    /// Why the kubelet cannot make its containers' environment (see [`super::envrefs`]).
    pub(super) config_error: Option<String>,
    /// Why its image cannot be pulled, never to heal (see [`super::refusals`]).
    pub(super) pull_error: Option<String>,
}

/// How a job's pod tries: `retries` failures first (restartPolicy OnFailure restarts it in the
/// same pod), failing while `fails_until` (the migrations) is not reached, or failing for good.
#[derive(Clone, Copy)]
pub(super) struct JobRun {
    /// How long one try runs.
    pub(super) run: f64,
    pub(super) failed: bool,
    pub(super) retries: u32,
    pub(super) fails_until: f64,
}

impl PodPlan {
    /// A pod a client applied itself.
    pub(super) fn simple(name: &str, containers: Vec<(String, String)>, since: f64, node: String) -> PodPlan {
        PodPlan {
            name: name.to_string(),
            ns: String::new(),
            labels: BTreeMap::new(),
            containers,
            init: Vec::new(),
            since,
            keys: vec![name.to_string()],
            job: None,
            owner: None,
            node,
            migrations_done: None,
            deleting: None,
            evicted: None,
            waits_for_room: None,
            config_error: None,
            pull_error: None,
        }
    }

    fn scenario<'a>(&self, ctx: &'a Ctx) -> Option<&'a Map<String, Value>> {
        self.keys.iter().find_map(|k| pod_scenario(ctx, k, &self.name)).or_else(|| pod_scenario(ctx, "", &self.name))
    }

    /// The stages it goes through, on the scenario's clock.
    fn stages(&self, ctx: &Ctx) -> Stages {
        let clock = Clock::of(ctx);
        let sc = self.scenario(ctx);
        let mut scheduled = scheduled_at(sc, self.since);
        if let Some((at, _)) = &self.waits_for_room {
            scheduled = scheduled.max(*at);
        }
        let pulls = pulls(&clock, sc, self.since, scheduled, self.pull_error.is_some());
        let pulled = pulls.succeeds_from.unwrap_or(f64::INFINITY);
        let init = self.migrations_done.map(|done| waits_for_migrations(&clock, pulled, done));
        let main_from = match (&init, self.migrations_done) {
            (Some(tries), Some(done)) => tries.succeeds_from.map(|s| s.max(done)).unwrap_or(f64::INFINITY),
            _ => pulled,
        };
        let job = self.job.map(|run| {
            let limit = if run.failed { 1 } else { BACKOFF_LIMIT + 1 };
            let from = main_from + clock.start;
            Tries::new(&clock, from, run.run, limit, |k, start| {
                run.failed || k < run.retries || start < run.fails_until
            })
        });
        let job_run = self.job.map(|run| run.run).unwrap_or(0.0);
        Stages { clock, scheduled, pulls, init, main_from, job, job_run }
    }

    /// When its main containers are running and ready (a job's: when its last try ends).
    pub(super) fn ready_at(&self, ctx: &Ctx) -> f64 {
        let stages = self.stages(ctx);
        match &stages.job {
            Some(tries) => job_end(stages.job_run, tries).0,
            None => stages.main_from + stages.clock.start,
        }
    }

    /// (when, failed) of a job pod's end: its last try's end.
    pub(super) fn job_outcome(&self, ctx: &Ctx) -> Option<(f64, bool)> {
        let stages = self.stages(ctx);
        stages.job.as_ref().map(|tries| job_end(stages.job_run, tries))
    }

    /// Whether a job pod is between failed tries or in a later one.
    pub(super) fn retrying(&self, ctx: &Ctx) -> bool {
        let stages = self.stages(ctx);
        stages
            .job
            .as_ref()
            .is_some_and(|t| matches!(t.at(&stages.clock, ctx.now), Try::BackOff { .. } | Try::Running { n: 1.., .. }))
    }

    fn container_id(&self, container: &str) -> String {
        format!(
            "containerd://{:016x}{:016x}{:016x}{:016x}",
            fnv(&self.name),
            fnv(container),
            fnv(&format!("{}{container}", self.name)),
            fnv(&format!("{container}{}", self.since))
        )
    }
}

/// The Job's `backoffLimit` (kubernetes/api batch/v1 JobSpec: 6 by default; the chart sets none).
const BACKOFF_LIMIT: u32 = 6;

/// A pod's stages: scheduled, image pulled, init done, main containers from `main_from`.
struct Stages {
    clock: Clock,
    scheduled: f64,
    pulls: Tries,
    init: Option<Tries>,
    main_from: f64,
    job: Option<Tries>,
    job_run: f64,
}

fn job_end(run: f64, tries: &Tries) -> (f64, bool) {
    match tries.succeeds_from {
        Some(start) => (start + run, false),
        None => (tries.failed.last().map(|t| t.1).unwrap_or(f64::INFINITY), true),
    }
}

/// The scenario's `pods` entry for a component, else the first whose key starts the pod's name.
pub(super) fn pod_scenario<'a>(ctx: &'a Ctx, component: &str, name: &str) -> Option<&'a Map<String, Value>> {
    let pods = ctx.scenario["pods"].as_object()?;
    if let Some(s) = pods.get(component).and_then(Value::as_object) {
        return Some(s);
    }
    pods.iter().find(|(k, _)| !k.is_empty() && name.starts_with(k.as_str())).and_then(|(_, v)| v.as_object())
}

fn cond(type_: &str, status: bool, at: f64, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        last_transition_time: Some(time(at)),
        reason: reason.map(String::from),
        message,
        ..Default::default()
    }
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message }),
        ..Default::default()
    }
}

fn running(since: f64) -> ContainerState {
    ContainerState { running: Some(ContainerStateRunning { started_at: Some(time(since)) }), ..Default::default() }
}

fn terminated(p: &PodPlan, container: &str, exit_code: i32, reason: &str, finished: f64) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code,
            reason: Some(reason.into()),
            started_at: Some(time(p.since)),
            finished_at: Some(time(finished)),
            container_id: Some(p.container_id(container)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The kubelet's CrashLoopBackOff message (pkg/kubelet/kuberuntime `doBackOff`).
fn backoff_message(p: &PodPlan, container: &str, backoff: f64) -> String {
    format!(
        "back-off {}s restarting failed container={container} pod={}_{}({})",
        backoff.round(),
        p.name,
        p.ns,
        uid(&p.name)
    )
}

/// What a pod's containers look like now.
struct Containers {
    statuses: Vec<ContainerStatus>,
    not_ready: Vec<String>,
    phase: &'static str,
}

fn status_of(name: &str, image: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.to_string(),
        image: image.to_string(),
        image_id: String::new(),
        started: Some(false),
        ..Default::default()
    }
}

/// A container that has not started: pulling its image (ErrImagePull during a failed try,
/// ImagePullBackOff between tries, kubernetes pkg/kubelet/images/image_manager.go: the back-off
/// message does not repeat the error), or being created. `first`: the first container the kubelet
/// starts (the first init container, if any): the main containers of a pod with init containers
/// wait `PodInitializing` until those are done.
fn not_started(
    ctx: &Ctx,
    p: &PodPlan,
    stages: &Stages,
    sc: Option<&Map<String, Value>>,
    (image, first): (&str, bool),
) -> ContainerState {
    let error = p.pull_error.as_deref().or(sc.and_then(|s| s.get("pull_error")).and_then(Value::as_str)).unwrap_or("");
    if !first && !p.init.is_empty() {
        return waiting("PodInitializing", None);
    }
    match stages.pulls.at(&stages.clock, ctx.now) {
        Try::Running { .. } if !error.is_empty() => waiting("ErrImagePull", Some(error.to_string())),
        Try::BackOff { .. } | Try::GaveUp { .. } if !error.is_empty() => {
            waiting("ImagePullBackOff", Some(format!("Back-off pulling image \"{image}\"")))
        }
        _ if stages.init.is_some() && p.init.first().is_some_and(|(n, _)| n != &p.containers[0].0) => {
            waiting("PodInitializing", None)
        }
        _ => waiting("ContainerCreating", None),
    }
}

/// The main containers: the scenario's failure on the first, a job's tries, or a normal start.
fn container_statuses(ctx: &Ctx, p: &PodPlan, stages: &Stages, sc: Option<&Map<String, Value>>) -> Containers {
    let ready_at = stages.main_from + stages.clock.start;
    let mut out = Containers { statuses: Vec::new(), not_ready: Vec::new(), phase: "Running" };
    for (i, (name, image)) in p.containers.iter().enumerate() {
        let s = if i == 0 { sc } else { None };
        let mut cs = status_of(name, image);
        let last = s.and_then(|s| s.get("last_terminated")).and_then(Value::as_object);
        let last_state = last.map(|l| {
            let code = l.get("exitCode").and_then(Value::as_i64).unwrap_or(1) as i32;
            terminated(p, name, code, l.get("reason").and_then(Value::as_str).unwrap_or("Error"), p.since)
        });
        let restarts = s.and_then(|s| s.get("restarts")).and_then(Value::as_i64).unwrap_or(0) as i32;
        let waiting_reason = s.and_then(|s| s.get("waiting")).and_then(Value::as_str);
        if let Some(tries) = &stages.job {
            job_container(ctx, p, (&stages.clock, stages.job_run), tries, &mut cs, &mut out);
            out.not_ready.push(name.clone());
        } else if ctx.now < ready_at {
            cs.state = Some(not_started(ctx, p, stages, sc, (image, false)));
            out.phase = "Pending";
            out.not_ready.push(name.clone());
        } else if let Some(reason) = waiting_reason {
            let crash = reason == "CrashLoopBackOff";
            let message = s.and_then(|s| s.get("message")).and_then(Value::as_str).map(String::from);
            let message = message.unwrap_or_else(|| backoff_message(p, name, 40.0));
            cs.state = Some(waiting(reason, Some(message)));
            cs.restart_count = restarts;
            if crash {
                cs.container_id = Some(p.container_id(name));
                cs.last_state = Some(last_state.unwrap_or_else(|| terminated(p, name, 1, "Error", p.since)));
            } else {
                out.phase = "Pending";
            }
            out.not_ready.push(name.clone());
        } else {
            cs.state = Some(running(ready_at));
            cs.ready = true;
            cs.started = Some(true);
            cs.restart_count = restarts;
            cs.container_id = Some(p.container_id(name));
            cs.last_state = last_state;
        }
        out.statuses.push(cs);
    }
    out
}

/// A job's container through its tries (restartPolicy OnFailure: restarted in the same pod).
fn job_container(
    ctx: &Ctx,
    p: &PodPlan,
    (clock, run): (&Clock, f64),
    tries: &Tries,
    cs: &mut ContainerStatus,
    out: &mut Containers,
) {
    let name = cs.name.clone();
    let failed_before = |n: u32, at: f64| (n > 0).then(|| terminated(p, &name, 1, "Error", at));
    match tries.at(clock, ctx.now) {
        Try::Before => {
            cs.state = Some(waiting("ContainerCreating", None));
            out.phase = "Pending";
        }
        Try::Running { n, since } => {
            cs.state = Some(running(since));
            cs.started = Some(true);
            cs.restart_count = n as i32;
            cs.last_state = failed_before(n, since);
        }
        Try::BackOff { n, failed_at, backoff } => {
            cs.state = Some(waiting("CrashLoopBackOff", Some(backoff_message(p, &name, backoff))));
            cs.restart_count = n as i32;
            cs.last_state = Some(terminated(p, &name, 1, "Error", failed_at));
        }
        Try::Succeeded { restarts, since } if ctx.now < since + run => {
            cs.state = Some(running(since));
            cs.started = Some(true);
            cs.restart_count = restarts as i32;
            cs.last_state = failed_before(restarts, since);
        }
        Try::Succeeded { restarts, since } => {
            cs.state = Some(terminated(p, &name, 0, "Completed", since + run));
            cs.restart_count = restarts as i32;
            out.phase = "Succeeded";
        }
        Try::GaveUp { n, failed_at } => {
            cs.state = Some(terminated(p, &name, 1, "Error", failed_at));
            cs.restart_count = n as i32;
            out.phase = "Failed";
        }
    }
    cs.container_id = (out.phase != "Pending").then(|| p.container_id(&name));
}

/// The init containers: the chart's wait for migrations through its tries, others at once.
fn init_statuses(ctx: &Ctx, p: &PodPlan, stages: &Stages, sc: Option<&Map<String, Value>>) -> Vec<ContainerStatus> {
    let done = stages.main_from;
    p.init
        .iter()
        .map(|(name, image)| {
            let mut cs = status_of(name, image);
            let state = match stages.init.as_ref().map(|t| t.at(&stages.clock, ctx.now)) {
                _ if ctx.now >= done => terminated(p, name, 0, "Completed", done),
                None | Some(Try::Before) => not_started(ctx, p, stages, sc, (image, true)),
                Some(Try::Running { n, since }) | Some(Try::Succeeded { restarts: n, since }) => {
                    cs.restart_count = n as i32;
                    cs.last_state = (n > 0).then(|| terminated(p, name, 1, "Error", since));
                    cs.started = Some(true);
                    running(since)
                }
                Some(Try::BackOff { n, failed_at, backoff }) => {
                    cs.restart_count = n as i32;
                    cs.last_state = Some(terminated(p, name, 1, "Error", failed_at));
                    waiting("CrashLoopBackOff", Some(backoff_message(p, name, backoff)))
                }
                Some(Try::GaveUp { n, failed_at }) => {
                    cs.restart_count = n as i32;
                    terminated(p, name, 1, "Error", failed_at)
                }
            };
            cs.ready = ctx.now >= done;
            cs.container_id = cs.started.filter(|s| *s).or(cs.ready.then_some(true)).map(|_| p.container_id(name));
            cs.state = Some(state);
            cs
        })
        .collect()
}

/// An evicted pod as the kubelet leaves it (pkg/kubelet/eviction `evictPod`: phase Failed,
/// reason Evicted; its containers ContainerStatusUnknown, exit 137).
fn evicted_status(p: &PodPlan, message: &str) -> PodStatus {
    let statuses = p
        .containers
        .iter()
        .map(|(name, image)| ContainerStatus {
            state: Some(terminated(p, name, 137, "ContainerStatusUnknown", p.since)),
            ..status_of(name, image)
        })
        .collect();
    PodStatus {
        phase: Some("Failed".into()),
        reason: Some("Evicted".into()),
        message: Some(message.to_string()),
        start_time: Some(time(p.since)),
        container_statuses: Some(statuses),
        qos_class: Some("Burstable".into()),
        ..Default::default()
    }
}

/// (status, nodeName) of a planned pod at ctx.now.
pub(super) fn pod_status(ctx: &Ctx, p: &PodPlan) -> (PodStatus, Option<String>) {
    if let Some(message) = &p.evicted {
        return (evicted_status(p, message), Some(p.node.clone()));
    }
    let sc = p.scenario(ctx);
    let stages = p.stages(ctx);
    let ready_at = p.ready_at(ctx);
    let unschedulable = sc.and_then(|s| s.get("unschedulable")).and_then(Value::as_str).map(String::from);
    if ctx.now < stages.scheduled {
        let message = unschedulable.or(p.waits_for_room.as_ref().map(|w| w.1.clone())).unwrap_or_default();
        let status = PodStatus {
            phase: Some("Pending".into()),
            qos_class: Some("Burstable".into()),
            conditions: Some(vec![cond("PodScheduled", false, p.since, Some("Unschedulable"), Some(message))]),
            ..Default::default()
        };
        return (status, None);
    }
    let mut containers = container_statuses(ctx, p, &stages, sc);
    let mut init = init_statuses(ctx, p, &stages, sc);
    refuse_config(p, &mut containers, &mut init);
    let all_ready = containers.not_ready.is_empty();
    let job_done = p.job.is_some() && ctx.now >= ready_at;
    let unready = format!("containers with unready status: [{}]", containers.not_ready.join(" "));
    let readiness = |type_: &str| {
        if all_ready {
            cond(type_, true, ready_at, None, None)
        } else if job_done {
            cond(type_, false, ready_at, Some("PodCompleted"), None)
        } else {
            cond(type_, false, p.since, Some("ContainersNotReady"), Some(unready.clone()))
        }
    };
    let initialized = (ctx.now >= stages.main_from || p.init.is_empty()) && p.config_error.is_none();
    let initialized = if initialized {
        cond("Initialized", true, stages.main_from.min(ctx.now), None, None)
    } else {
        let names: Vec<&str> = p.init.iter().map(|(n, _)| n.as_str()).collect();
        let message = format!("containers with incomplete status: [{}]", names.join(" "));
        cond("Initialized", false, p.since, Some("ContainersNotInitialized"), Some(message))
    };
    let ip = (ctx.now >= stages.scheduled + stages.clock.start.min(0.1))
        .then(|| format!("10.244.0.{}", 2 + fnv(&p.name) % 250));
    let status = PodStatus {
        phase: Some(if initialized.status == "True" { containers.phase } else { "Pending" }.into()),
        conditions: Some(vec![
            cond("PodReadyToStartContainers", ip.is_some() && !job_done, stages.scheduled, None, None),
            initialized,
            readiness("Ready"),
            readiness("ContainersReady"),
            cond("PodScheduled", true, stages.scheduled, None, None),
        ]),
        host_ip: Some("172.18.0.2".into()),
        host_ips: Some(vec![HostIP { ip: "172.18.0.2".into() }]),
        start_time: Some(time(stages.scheduled)),
        container_statuses: Some(containers.statuses),
        qos_class: Some("Burstable".into()),
        pod_ips: ip.clone().map(|ip| vec![PodIP { ip }]),
        pod_ip: ip,
        init_container_statuses: (!init.is_empty()).then_some(init),
        ..Default::default()
    };
    (status, Some(p.node.clone()))
}

pub(super) fn pod_json(ctx: &Ctx, p: &PodPlan) -> Value {
    let (status, node) = pod_status(ctx, p);
    let container = |(name, image): &(String, String)| Container {
        name: name.clone(),
        image: Some(image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        ..Default::default()
    };
    let containers = p
        .containers
        .iter()
        .map(|c| Container {
            resources: Some(ResourceRequirements::default()),
            termination_message_path: Some("/dev/termination-log".into()),
            termination_message_policy: Some("File".into()),
            ..container(c)
        })
        .collect();
    let spec = PodSpec {
        containers,
        init_containers: (!p.init.is_empty()).then(|| p.init.iter().map(container).collect()),
        restart_policy: Some(if p.job.is_some() { "OnFailure" } else { "Always" }.into()),
        service_account_name: Some("default".into()),
        scheduler_name: Some("default-scheduler".into()),
        termination_grace_period_seconds: Some(30),
        dns_policy: Some("ClusterFirst".into()),
        security_context: Some(PodSecurityContext::default()),
        node_name: node,
        ..Default::default()
    };
    let mut metadata = meta(&p.name, Some(&p.ns), p.since, &format!("{}/{}/{}", p.ns, p.name, p.since));
    metadata.labels = Some(p.labels.clone());
    metadata.deletion_timestamp = p.deleting.map(time);
    metadata.deletion_grace_period_seconds = p.deleting.map(|_| 30);
    metadata.owner_references = p.owner.as_ref().map(|o| {
        vec![OwnerReference {
            api_version: o.api_version.into(),
            kind: o.kind.into(),
            name: o.name.clone(),
            uid: uid(&format!("{}/{}", p.ns, o.name)),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]
    });
    metadata.resource_version = Some(resource_version(&to_json(&status)));
    to_json(Pod { metadata, spec: Some(spec), status: Some(status) })
}

/// The labels the kubelet (and kind or k3s) put on a node, then the node's own from its config.
fn node_labels(c: &ClusterView, n: &NodeView) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", n.name.as_str()),
        ("kubernetes.io/os", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if n.role == "control-plane" || n.role == "server" {
        labels.insert("node-role.kubernetes.io/control-plane".into(), String::new());
        if c.provider == "k3d" {
            labels.insert("node-role.kubernetes.io/master".into(), "true".into());
            labels.insert("node.kubernetes.io/instance-type".into(), "k3s".into());
        }
    }
    for (k, v) in &n.labels {
        labels.insert(k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
    }
    labels
}

/// A node's conditions: no pressure, and Ready `after` seconds after its container started
/// (Unknown while the container is stopped).
fn node_conditions(ctx: &Ctx, n: &NodeView, since: f64, after: f64) -> Vec<NodeCondition> {
    let running = n.state.as_ref().is_some_and(|s| s.running);
    let condition = |type_: &str, status: &str, reason: &str, message: &str, at: f64| NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(time(at)),
        last_transition_time: Some(time(at)),
    };
    let ready = if !running {
        condition("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", since)
    } else if ctx.now >= since + after {
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", since + after)
    } else {
        condition(
            "Ready",
            "False",
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
            since,
        )
    };
    vec![
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            since,
        ),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", since),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", since),
        ready,
    ]
}

pub(super) fn node_json(ctx: &Ctx, c: &ClusterView, n: &NodeView, after: f64) -> Value {
    let started = n.state.as_ref().map(|s| s.started).unwrap_or(0.0);
    let since = c.created.max(started);
    let mut metadata = meta(&n.name, None, c.created, &format!("node/{}/{}", n.name, c.created));
    metadata.labels = Some(node_labels(c, n));
    let (provider_id, os_image) = match c.provider.as_str() {
        "kind" => (format!("kind://docker/{}/{}", c.name, n.name), "Debian GNU/Linux 12 (bookworm)"),
        "existing" => (format!("aws:///eu-west-1a/i-{:017x}", fnv(&n.name) >> 4), "Amazon Linux 2023.9.20251014"),
        _ => (format!("k3s://{}", n.name), "K3s v1.36.4+k3s1"),
    };
    let cpu = ctx.scenario["node_cpu"].as_u64().unwrap_or(4).to_string();
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", cpu.as_str()),
        ("ephemeral-storage", "102687672Ki"),
        ("hugepages-2Mi", "0"),
        ("memory", "8048092Ki"),
        ("pods", "110"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
    .collect();
    let status = NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(node_conditions(ctx, n, since, after)),
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".into(), address: "172.18.0.2".into() },
            NodeAddress { type_: "Hostname".into(), address: n.name.clone() },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints { kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }) }),
        node_info: Some(NodeSystemInfo {
            machine_id: format!("{:032x}", u128::from(fnv(&n.name))),
            system_uuid: uid(&n.name),
            boot_id: uid(&format!("{}/boot/{started}", n.name)),
            kernel_version: "6.1.0-fake".into(),
            os_image: os_image.into(),
            container_runtime_version: "containerd://2.1.4".into(),
            kubelet_version: c.kubelet_version.clone(),
            kube_proxy_version: c.kubelet_version.clone(),
            operating_system: "linux".into(),
            architecture: "amd64".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    metadata.resource_version = Some(resource_version(&to_json(&status)));
    let spec = NodeSpec {
        pod_cidr: Some("10.244.0.0/24".into()),
        pod_cidrs: Some(vec!["10.244.0.0/24".into()]),
        provider_id: Some(provider_id),
        ..Default::default()
    };
    to_json(Node { metadata, spec: Some(spec), status: Some(status) })
}

/// One Warning event about an object.
struct Warning<'a> {
    ns: &'a str,
    kind: &'a str,
    api_version: &'a str,
    name: &'a str,
    reason: &'a str,
    message: String,
    first: f64,
    count: i32,
}

fn event(ctx: &Ctx, w: Warning) -> Value {
    let ev_name = format!("{}.{:016x}", w.name, fnv(&format!("{}{}", w.reason, w.message)));
    let mut metadata = meta(&ev_name, Some(w.ns), w.first, &format!("{}/{ev_name}", w.ns));
    metadata.resource_version = Some((fnv(&ev_name) % 100_000 + 1000).to_string());
    let source = if w.reason == "FailedScheduling" { "default-scheduler" } else { "kubelet" };
    to_json(Event {
        metadata,
        involved_object: ObjectReference {
            kind: Some(w.kind.into()),
            namespace: Some(w.ns.into()),
            name: Some(w.name.into()),
            api_version: Some(w.api_version.into()),
            uid: Some(uid(&format!("{}/{}", w.ns, w.name))),
            ..Default::default()
        },
        reason: Some(w.reason.into()),
        message: Some(w.message),
        type_: Some("Warning".into()),
        count: Some(w.count),
        first_timestamp: Some(time(w.first)),
        last_timestamp: Some(time(ctx.now)),
        source: Some(EventSource { component: Some(source.into()), ..Default::default() }),
        reporting_component: Some(source.into()),
        reporting_instance: Some(String::new()),
        ..Default::default()
    })
}

/// The events of the failures the scenario injects.
pub(super) fn events(ctx: &Ctx, state: &State) -> Vec<Value> {
    let mut out = Vec::new();
    for p in planned_pods(ctx, state) {
        let on_pod = |reason: &'static str, message: String, count: i32| Warning {
            ns: &p.ns,
            kind: "Pod",
            api_version: "v1",
            name: &p.name,
            reason,
            message,
            first: p.since,
            count,
        };
        let sc = p.keys.iter().find_map(|k| pod_scenario(ctx, k, &p.name));
        let (main, image) = p.containers.first().cloned().unwrap_or_default();
        if let Some(msg) = sc.and_then(|s| s.get("unschedulable")).and_then(Value::as_str) {
            out.push(event(ctx, on_pod("FailedScheduling", msg.to_string(), 1)));
        } else if let Some(error) =
            p.pull_error.as_deref().or(sc.and_then(|s| s.get("pull_error")).and_then(Value::as_str))
        {
            // pkg/kubelet/images/image_manager.go: `Failed to pull image %q: %v`, then the
            // back-off's own event.
            out.push(event(ctx, on_pod("Failed", format!("Failed to pull image \"{image}\": {error}"), 3)));
            out.push(event(ctx, on_pod("Failed", "Error: ErrImagePull".into(), 3)));
            out.push(event(ctx, on_pod("BackOff", format!("Back-off pulling image \"{image}\""), 3)));
        } else if sc.and_then(|s| s.get("waiting")).and_then(Value::as_str) == Some("CrashLoopBackOff") {
            let message =
                format!("Back-off restarting failed container {main} in pod {}_{}({})", p.name, p.ns, uid(&p.name));
            out.push(event(ctx, on_pod("BackOff", message, 5)));
        }
        if p.job_outcome(ctx).is_some_and(|(at, failed)| failed && ctx.now >= at)
            && let Some(job) = &p.owner
        {
            out.push(event(
                ctx,
                Warning {
                    ns: &p.ns,
                    kind: "Job",
                    api_version: "batch/v1",
                    name: &job.name,
                    reason: "BackoffLimitExceeded",
                    message: "Job has reached the specified backoff limit".into(),
                    first: p.since,
                    count: 1,
                },
            ));
        }
    }
    out
}

/// A pod whose environment cannot be built waits in `CreateContainerConfigError` (kubelet
/// `kuberuntime_container.go`'s `ErrCreateContainerConfig`): its first init container when it has
/// one (the chart's `wait-for-airflow-migrations` carries the same env), else its containers.
fn refuse_config(p: &PodPlan, containers: &mut Containers, init: &mut [ContainerStatus]) {
    let Some(message) = &p.config_error else { return };
    let refused = || Some(waiting("CreateContainerConfigError", Some(message.clone())));
    let first_init = init.first_mut();
    let init_refused = first_init.is_some();
    if let Some(first) = first_init {
        first.state = refused();
        first.ready = false;
        first.container_id = None;
    }
    for status in &mut containers.statuses {
        status.state = if init_refused { Some(waiting("PodInitializing", None)) } else { refused() };
        status.ready = false;
        status.started = Some(false);
        if !containers.not_ready.contains(&status.name) {
            containers.not_ready.push(status.name.clone());
        }
    }
    containers.phase = "Pending";
}
