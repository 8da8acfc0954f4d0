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
use super::view::{ClusterView, Ctx, NodeView, scenario_f64, time};

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
    /// Some(failed) for a job's pod.
    pub(super) job: Option<bool>,
    pub(super) owner: Option<Owner>,
    pub(super) node: String,
    /// Why the kubelet cannot make its containers' environment (see [`config_error`]).
    pub(super) config_error: Option<String>,
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
            config_error: None,
        }
    }

    fn ready_at(&self, ctx: &Ctx) -> f64 {
        self.since + scenario_f64(&ctx.scenario, "pod_ready_after_s", 0.3)
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

/// What a pod's containers look like now.
struct Containers {
    statuses: Vec<ContainerStatus>,
    not_ready: Vec<String>,
    phase: &'static str,
}

/// The main container's status as the scenario has it; the others start normally.
fn container_statuses(ctx: &Ctx, p: &PodPlan, sc: Option<&Map<String, Value>>) -> Containers {
    let ready_at = p.ready_at(ctx);
    let started = ctx.now >= ready_at;
    let mut out = Containers { statuses: Vec::new(), not_ready: Vec::new(), phase: "Running" };
    for (i, (name, image)) in p.containers.iter().enumerate() {
        let s = if i == 0 { sc } else { None };
        let mut cs = ContainerStatus {
            name: name.clone(),
            image: image.clone(),
            image_id: String::new(),
            started: Some(false),
            ..Default::default()
        };
        let waiting_reason = s.and_then(|s| s.get("waiting")).and_then(Value::as_str);
        let last = s.and_then(|s| s.get("last_terminated")).and_then(Value::as_object);
        let last_state = last.map(|l| {
            let code = l.get("exitCode").and_then(Value::as_i64).unwrap_or(1) as i32;
            terminated(p, name, code, l.get("reason").and_then(Value::as_str).unwrap_or("Error"), p.since)
        });
        let restarts = s.and_then(|s| s.get("restarts")).and_then(Value::as_i64).unwrap_or(0) as i32;
        if let Some(job_failed) = p.job {
            if started {
                let (code, reason) = if job_failed { (1, "Error") } else { (0, "Completed") };
                cs.state = Some(terminated(p, name, code, reason, ready_at));
                cs.container_id = Some(p.container_id(name));
                out.phase = if job_failed { "Failed" } else { "Succeeded" };
            } else {
                cs.state = Some(waiting("ContainerCreating", None));
                out.phase = "Pending";
            }
            out.not_ready.push(name.clone());
        } else if let Some(reason) = waiting_reason {
            let crash = reason == "CrashLoopBackOff";
            let message =
                s.and_then(|s| s.get("message")).and_then(Value::as_str).map(String::from).unwrap_or_else(|| {
                    if crash {
                        format!(
                            "back-off 40s restarting failed container={name} pod={}_{}({})",
                            p.name,
                            p.ns,
                            uid(&p.name)
                        )
                    } else {
                        format!("Back-off pulling image \"{image}\"")
                    }
                });
            cs.state = Some(waiting(reason, Some(message)));
            cs.restart_count = restarts;
            if crash {
                cs.container_id = Some(p.container_id(name));
                cs.last_state = Some(last_state.unwrap_or_else(|| terminated(p, name, 1, "Error", p.since)));
            } else {
                out.phase = "Pending";
            }
            out.not_ready.push(name.clone());
        } else if !started {
            cs.state = Some(waiting("ContainerCreating", None));
            out.phase = "Pending";
            out.not_ready.push(name.clone());
        } else {
            cs.state = Some(ContainerState {
                running: Some(ContainerStateRunning { started_at: Some(time(ready_at)) }),
                ..Default::default()
            });
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

fn init_statuses(ctx: &Ctx, p: &PodPlan) -> Vec<ContainerStatus> {
    let ready_at = p.ready_at(ctx);
    let started = ctx.now >= ready_at;
    p.init
        .iter()
        .map(|(name, image)| ContainerStatus {
            name: name.clone(),
            image: image.clone(),
            image_id: String::new(),
            ready: started,
            started: Some(false),
            container_id: started.then(|| p.container_id(name)),
            state: Some(if started {
                terminated(p, name, 0, "Completed", ready_at)
            } else {
                waiting("PodInitializing", None)
            }),
            ..Default::default()
        })
        .collect()
}

/// (status, nodeName) of a planned pod at ctx.now.
pub(super) fn pod_status(ctx: &Ctx, p: &PodPlan) -> (PodStatus, Option<String>) {
    let ready_at = p.ready_at(ctx);
    let started = ctx.now >= ready_at;
    let sc = p.keys.iter().find_map(|k| pod_scenario(ctx, k, &p.name)).or_else(|| pod_scenario(ctx, "", &p.name));

    if let Some(msg) = sc.and_then(|s| s.get("unschedulable")).and_then(Value::as_str) {
        let status = PodStatus {
            phase: Some("Pending".into()),
            qos_class: Some("Burstable".into()),
            conditions: Some(vec![cond("PodScheduled", false, p.since, Some("Unschedulable"), Some(msg.into()))]),
            ..Default::default()
        };
        return (status, None);
    }

    let mut containers = container_statuses(ctx, p, sc);
    let mut init = init_statuses(ctx, p);
    refuse_config(p, &mut containers, &mut init);
    let all_ready = containers.not_ready.is_empty();
    let job_done = p.job.is_some() && started;
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
    let ip = started.then(|| format!("10.244.0.{}", 2 + fnv(&p.name) % 250));
    let status = PodStatus {
        phase: Some(containers.phase.into()),
        conditions: Some(vec![
            cond(
                "PodReadyToStartContainers",
                started && !job_done,
                if started { ready_at } else { p.since },
                None,
                None,
            ),
            cond("Initialized", true, p.since, None, None),
            readiness("Ready"),
            readiness("ContainersReady"),
            cond("PodScheduled", true, p.since, None, None),
        ]),
        host_ip: Some("172.18.0.2".into()),
        host_ips: Some(vec![HostIP { ip: "172.18.0.2".into() }]),
        start_time: Some(time(p.since)),
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
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", "4"),
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
        } else if let Some(w) = sc.and_then(|s| s.get("waiting")).and_then(Value::as_str) {
            if w == "CrashLoopBackOff" {
                let message =
                    format!("Back-off restarting failed container {main} in pod {}_{}({})", p.name, p.ns, uid(&p.name));
                out.push(event(ctx, on_pod("BackOff", message, 5)));
            } else {
                let backoff = sc
                    .and_then(|s| s.get("message"))
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or(format!("Back-off pulling image \"{image}\""));
                let pull = format!(
                    "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/{image}\": not found"
                );
                out.push(event(ctx, on_pod("Failed", pull, 3)));
                out.push(event(ctx, on_pod("Failed", format!("Error: {w}"), 3)));
                out.push(event(ctx, on_pod("BackOff", backoff, 3)));
            }
        }
        if p.job == Some(true)
            && ctx.now >= p.ready_at(ctx)
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

/// A Secret or ConfigMap a container's environment names (`envFrom` when `key` is None).
pub(super) struct ConfigRef {
    pub(super) kind: &'static str,
    pub(super) name: String,
    pub(super) key: Option<String>,
}

/// The kubelet's refusal to build a container's environment, as kubernetes/kubernetes
/// `pkg/kubelet/kubelet_pods.go` (`makeEnvironmentVariables`) words it: a missing object is the
/// secret/configMap manager's NotFound (`secret "x" not found`, `configmap "x" not found`), a
/// missing key `couldn't find key K in Secret NS/NAME` (`ConfigMap` likewise). The API server
/// folds `stringData` into `data`, so either holds the key here. None: every reference resolves.
pub(super) fn config_error(ctx: &Ctx, state: &State, ns: &str, refs: &[ConfigRef]) -> Option<String> {
    refs.iter().find_map(|r| {
        let plural = if r.kind == "Secret" { "secrets" } else { "configmaps" };
        let stored = state
            .objects
            .get(&format!("/api/v1/namespaces/{ns}/{plural}/{}", r.name))
            .filter(|s| super::store::visible(ctx, s));
        let Some(object) = stored else {
            return Some(format!("{} \"{}\" not found", r.kind.to_lowercase(), r.name));
        };
        let key = r.key.as_deref()?;
        let has = ["data", "stringData"].iter().any(|field| object.obj[*field].get(key).is_some());
        (!has).then(|| format!("couldn't find key {key} in {} {ns}/{}", r.kind, r.name))
    })
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
