//! The cluster's API, through kube-rs: nodes Ready, devflow's manifests applied server-side, and
//! Airflow's pods and jobs watched until they are ready, or reported the moment one fails with its
//! reason and its last log lines.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, AttachParams, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::core::{ApiResource, GroupVersionKind};
use serde::Serialize;

use crate::env::Env;
use crate::values::Value;

/// The field manager devflow's server-side applies are recorded under.
const FIELD_MANAGER: &str = "devflow";
/// How many log lines a failure report shows.
pub const LOG_LINES: i64 = 15;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use the kube context {context}: {message}")]
    Config { context: String, message: String },
    #[error("the Kubernetes API did not answer ({what}): {message}")]
    Api { what: String, message: String },
    #[error("devflow cannot apply a {kind} ({api_version}): it knows no such object")]
    UnknownKind { kind: String, api_version: String },
    #[error("{0}")]
    Failed(Box<Failure>),
    #[error("{what} not ready after {}s:\n{}", after.as_secs(), indent(waiting))]
    TimedOut { what: String, after: Duration, waiting: Vec<String> },
    #[error("cannot run `{command}` in the pod {pod}: {message}")]
    Exec { command: String, pod: String, message: String },
    #[error("cannot forward to port {port} of the pod {pod}: {message}")]
    Forward { pod: String, port: u16, message: String },
}

crate::error::one_kind!(Error, Environment);

/// Who a namespace belongs to, as its ownership annotation says.
#[derive(Debug, Clone, PartialEq)]
pub enum NamespaceOwner {
    Absent,
    /// It exists without devflow's annotation: someone else's.
    Unannotated,
    Annotated(String),
}

/// What a command run in a pod wrote, and how it ended.
#[derive(Debug)]
pub struct ExecOutput {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The standard streams of a command run in a pod, for `devflow airflow` and `devflow shell`.
pub struct Attached {
    pub stdin: Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
    pub stdout: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    pub stderr: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>,
    pub exit: Exit,
}

/// How an attached command ends.
pub struct Exit {
    process: kube::api::AttachedProcess,
    command: String,
    pod: String,
}

impl Exit {
    /// Waits for the command to end; its exit code.
    pub async fn wait(mut self) -> Result<i32, Error> {
        let status = self.process.take_status();
        let status = match status {
            Some(status) => status.await,
            None => None,
        };
        let (command, pod) = (self.command.clone(), self.pod.clone());
        self.process.join().await.map_err(|e| Error::Exec {
            command: command.clone(),
            pod: pod.clone(),
            message: e.to_string(),
        })?;
        exit_code(status).map_err(|message| Error::Exec { command, pod, message })
    }
}

/// The exit code a finished exec's status carries (the API sends a Status, not a number).
fn exit_code(status: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> Result<i32, String> {
    let Some(status) = status else {
        return Err("the connection ended before the command said how it ended".into());
    };
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let code = status
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|causes| causes.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse().ok());
    code.ok_or_else(|| status.message.unwrap_or_else(|| "the command failed".into()))
}

fn indent(lines: &[String]) -> String {
    lines.iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

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

/// The user's kubeconfig: the files [`Env::kubeconfig`] lists, merged in order as kube-rs merges
/// them (kube-client 5.0.0, `src/config/file_config.rs`, `Kubeconfig::from_env`).
fn kubeconfig(env: &Env) -> Result<Kubeconfig, String> {
    if env.kubeconfig.is_empty() {
        return Err(KubeconfigError::FindPath.to_string());
    }
    env.kubeconfig
        .iter()
        .try_fold(Kubeconfig::default(), |merged, path| Kubeconfig::read_from(path).and_then(|c| merged.merge(c)))
        .map_err(|e| e.to_string())
}

/// The context kubectl uses now, if the kubeconfig names one.
pub fn current_context(env: &Env) -> Option<String> {
    kubeconfig(env).ok()?.current_context.filter(|c| !c.is_empty())
}

/// A client of one cluster's API, for one context of the user's kubeconfig.
#[derive(Clone)]
pub struct ApiClient {
    client: kube::Client,
}

impl ApiClient {
    /// A client for a context of the user's kubeconfig (KUBECONFIG, else ~/.kube/config).
    pub async fn connect(env: &Env, context: &str) -> Result<ApiClient, Error> {
        let config_error = |message: String| Error::Config { context: context.to_string(), message };
        let kubeconfig = kubeconfig(env).map_err(config_error)?;
        let options = KubeConfigOptions { context: Some(context.to_string()), ..KubeConfigOptions::default() };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| config_error(e.to_string()))?;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(Duration::from_secs(20));
        let client = kube::Client::try_from(config).map_err(|e| config_error(e.to_string()))?;
        Ok(ApiClient { client })
    }

    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, Error> {
        let nodes =
            Api::<Node>::all(self.client.clone()).list(&ListParams::default()).await.map_err(api("list nodes"))?;
        Ok(nodes.items.iter().map(NodeStatus::of).collect())
    }

    /// Applies objects server-side, in order, as devflow's field manager.
    pub async fn apply(&self, objects: &[Value]) -> Result<(), Error> {
        for object in objects {
            let (api, name) = self.dynamic(object)?;
            let params = PatchParams::apply(FIELD_MANAGER).force();
            api.patch(&name, &params, &Patch::Apply(object)).await.map_err(api_named("apply", object))?;
        }
        Ok(())
    }

    /// Deletes objects in reverse order; one already gone is not an error.
    pub async fn delete(&self, objects: &[Value]) -> Result<(), Error> {
        for object in objects.iter().rev() {
            let (api, name) = self.dynamic(object)?;
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(api_named("delete", object)(e)),
            }
        }
        Ok(())
    }

    fn dynamic(&self, object: &Value) -> Result<(Api<DynamicObject>, String), Error> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let (plural, cluster_scoped) = match kind {
            "Namespace" => ("namespaces", true),
            "PersistentVolume" => ("persistentvolumes", true),
            "PersistentVolumeClaim" => ("persistentvolumeclaims", false),
            "Secret" => ("secrets", false),
            "Service" => ("services", false),
            "ConfigMap" => ("configmaps", false),
            "StatefulSet" => ("statefulsets", false),
            "Deployment" => ("deployments", false),
            _ => return Err(Error::UnknownKind { kind: kind.into(), api_version: api_version.into() }),
        };
        let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api = if cluster_scoped {
            Api::all_with(self.client.clone(), &resource)
        } else {
            let namespace = object["metadata"]["namespace"].as_str().unwrap_or("default");
            Api::namespaced_with(self.client.clone(), namespace, &resource)
        };
        Ok((api, object["metadata"]["name"].as_str().unwrap_or_default().to_string()))
    }

    /// Deletes the jobs a label selector picks, with their pods.
    pub async fn delete_jobs(&self, namespace: &str, selector: &str) -> Result<(), Error> {
        let jobs = Api::<Job>::namespaced(self.client.clone(), namespace);
        let params = ListParams::default().labels(selector);
        jobs.delete_collection(&DeleteParams::background(), &params).await.map_err(api("delete the finished jobs"))?;
        Ok(())
    }

    /// Deletes the pods a label selector picks; their controllers make new ones.
    pub async fn delete_pods(&self, namespace: &str, selector: &str) -> Result<(), Error> {
        let pods = Api::<Pod>::namespaced(self.client.clone(), namespace);
        pods.delete_collection(&DeleteParams::default(), &ListParams::default().labels(selector))
            .await
            .map_err(api("restart the components"))?;
        Ok(())
    }

    /// Pods and jobs of a namespace, for [`Workloads::status`].
    pub async fn workloads(&self, namespace: &str) -> Result<Workloads, Error> {
        let pods = Api::<Pod>::namespaced(self.client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map_err(api("list pods"))?;
        let jobs = Api::<Job>::namespaced(self.client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map_err(api("list jobs"))?;
        Ok(Workloads { pods: pods.items, jobs: jobs.items })
    }

    /// The last lines a pod's container wrote (of its previous run, when it restarted).
    pub async fn logs(&self, namespace: &str, pod: &str, container: Option<&str>, previous: bool) -> Vec<String> {
        let params = LogParams {
            container: container.map(str::to_string),
            tail_lines: Some(LOG_LINES),
            previous,
            ..LogParams::default()
        };
        let api = Api::<Pod>::namespaced(self.client.clone(), namespace);
        match api.logs(pod, &params).await {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(_) if previous => Box::pin(self.logs(namespace, pod, container, false)).await,
            Err(e) => vec![format!("(no logs: {e})")],
        }
    }

    /// The pods a label selector picks, oldest first, without those being deleted.
    pub async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<Pod>, Error> {
        let pods = Api::<Pod>::namespaced(self.client.clone(), namespace)
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(api("list pods"))?;
        let mut pods: Vec<Pod> = pods.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        pods.sort_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
        Ok(pods)
    }

    /// A container's log, line by line as it is written (`follow`), or what it has so far; each
    /// line is handed to `line` until it returns false.
    pub async fn stream_logs(
        &self,
        namespace: &str,
        pod: &str,
        params: LogParams,
        mut line: impl FnMut(String) -> bool,
    ) -> Result<(), Error> {
        use futures_util::{AsyncBufReadExt, StreamExt};
        let api = Api::<Pod>::namespaced(self.client.clone(), namespace);
        let what = format!("read the log of {pod}");
        let stream = api
            .log_stream(pod, &params)
            .await
            .map_err(|e| Error::Api { what: what.clone(), message: e.to_string() })?;
        let mut lines = stream.lines();
        while let Some(next) = lines.next().await {
            let text = next.map_err(|e| Error::Api { what: what.clone(), message: e.to_string() })?;
            if !line(text) {
                break;
            }
        }
        Ok(())
    }

    /// Whose the namespace is: absent, someone else's, or marked with devflow's annotation.
    pub async fn namespace_owner(&self, namespace: &str, annotation: &str) -> Result<NamespaceOwner, Error> {
        let api = Api::<Namespace>::all(self.client.clone());
        let found = api.get_opt(namespace).await.map_err(api_error(format!("read the namespace {namespace}")))?;
        Ok(match found {
            None => NamespaceOwner::Absent,
            Some(ns) => match ns.metadata.annotations.as_ref().and_then(|a| a.get(annotation)) {
                Some(owner) => NamespaceOwner::Annotated(owner.clone()),
                None => NamespaceOwner::Unannotated,
            },
        })
    }

    /// Deletes a namespace (and so everything in it).
    pub async fn delete_namespace(&self, namespace: &str) -> Result<(), Error> {
        let api = Api::<Namespace>::all(self.client.clone());
        match api.delete(namespace, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(api_error(format!("delete the namespace {namespace}"))(e)),
        }
    }

    /// Runs a command in a pod's container, `stdin` written to it and closed; what it wrote, and
    /// its exit code.
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, Error> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let command = argv.join(" ");
        let failed = |message: String| Error::Exec { command: command.clone(), pod: pod.to_string(), message };
        let mut params = AttachParams::default().stdin(stdin.is_some()).stdout(true).stderr(true);
        params.container = container.map(str::to_string);
        // The tar of a push goes through this buffer: large enough that the copy is not the bottleneck.
        params.max_stdin_buf_size = Some(1 << 20);
        let api = Api::<Pod>::namespaced(self.client.clone(), namespace);
        let mut process = api.exec(pod, argv.to_vec(), &params).await.map_err(|e| failed(e.to_string()))?;
        let status = process.take_status();
        let writer = process.stdin();
        let mut out = process.stdout().ok_or_else(|| failed("no standard output".into()))?;
        let mut err = process.stderr().ok_or_else(|| failed("no standard error".into()))?;
        let write = async {
            if let (Some(mut writer), Some(bytes)) = (writer, stdin) {
                writer.write_all(bytes).await?;
                writer.shutdown().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let (written, read_out, read_err) =
            tokio::join!(write, out.read_to_end(&mut stdout), err.read_to_end(&mut stderr));
        let status = match status {
            Some(status) => status.await,
            None => None,
        };
        process.join().await.map_err(|e| failed(e.to_string()))?;
        // A command that ends without reading all its input breaks the pipe: its status says why.
        read_out.and(read_err).map_err(|e| failed(e.to_string()))?;
        let code = exit_code(status).map_err(|message| {
            failed(format!("{message}{}", written.err().map(|e| format!(" ({e})")).unwrap_or_default()))
        })?;
        Ok(ExecOutput { code, stdout, stderr })
    }

    /// Starts a command in a pod with its standard streams handed to the caller; `terminal` asks
    /// for a terminal of that size (stderr then comes through stdout).
    pub async fn attach(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        argv: &[String],
        terminal: Option<kube::api::TerminalSize>,
    ) -> Result<Attached, Error> {
        let tty = terminal.is_some();
        let command = argv.join(" ");
        let failed = |message: String| Error::Exec { command: command.clone(), pod: pod.to_string(), message };
        let mut params = AttachParams::default().stdin(true).stdout(true).stderr(!tty).tty(tty);
        params.container = container.map(str::to_string);
        let api = Api::<Pod>::namespaced(self.client.clone(), namespace);
        let mut process = api.exec(pod, argv.to_vec(), &params).await.map_err(|e| failed(e.to_string()))?;
        let stdin = process.stdin().ok_or_else(|| failed("no standard input".into()))?;
        let stdout = process.stdout().ok_or_else(|| failed("no standard output".into()))?;
        let stderr = process.stderr().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>);
        if let (Some(mut resize), Some(size)) = (process.terminal_size(), terminal) {
            // The remote terminal starts at the local one's size (a later resize is not followed).
            let _ = resize.try_send(size);
        }
        Ok(Attached {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr,
            exit: Exit { process, command, pod: pod.to_string() },
        })
    }

    /// Carries one local connection to a port of a pod, both ways, until either side closes.
    pub async fn forward(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
        mut local: tokio::net::TcpStream,
    ) -> Result<(), Error> {
        let failed = |message: String| Error::Forward { pod: pod.to_string(), port, message };
        let api = Api::<Pod>::namespaced(self.client.clone(), namespace);
        let mut forwarder = api.portforward(pod, &[port]).await.map_err(|e| failed(e.to_string()))?;
        let mut remote = forwarder.take_stream(port).ok_or_else(|| failed("no stream".into()))?;
        let error = forwarder.take_error(port);
        let copied = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
        drop(remote);
        let said = match error {
            Some(error) => error.await,
            None => None,
        };
        forwarder.join().await.map_err(|e| failed(e.to_string()))?;
        if let Some(message) = said {
            return Err(failed(message));
        }
        copied.map(|_| ()).map_err(|e| failed(e.to_string()))
    }

    /// Completes a failure with the failing pod's last log lines.
    pub async fn with_logs(&self, namespace: &str, mut failure: Failure, container: Option<String>) -> Failure {
        if !failure.pod.is_empty() {
            let previous = failure.reason == "CrashLoopBackOff" || failure.reason == "OOMKilled";
            failure.logs = self.logs(namespace, &failure.pod, container.as_deref(), previous).await;
        }
        failure
    }
}

fn api_error(what: String) -> impl Fn(kube::Error) -> Error {
    move |e| Error::Api { what: what.clone(), message: e.to_string() }
}

fn api(what: &'static str) -> impl Fn(kube::Error) -> Error {
    move |e| Error::Api { what: what.to_string(), message: e.to_string() }
}

fn api_named(verb: &'static str, object: &Value) -> impl Fn(kube::Error) -> Error {
    let what = format!(
        "{verb} {} {}",
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    );
    move |e| Error::Api { what: what.clone(), message: e.to_string() }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub ready: bool,
    pub version: String,
}

impl NodeStatus {
    fn of(node: &Node) -> NodeStatus {
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

/// What to wait for: a long-running component (its pods) or a job that must complete.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Pods selected by one label.
    Pods { name: String, label: (String, String) },
    /// A job, by its pods' `component` label.
    Job { name: String, component: String },
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
    use serde_json::json;

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

    /// kind's and k3d's API servers speak TLS: the client must have a crypto provider to build.
    #[tokio::test]
    async fn a_client_for_an_https_cluster_builds() {
        let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        assert!(kube::Client::try_from(config).is_ok());
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
