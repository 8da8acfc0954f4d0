//! The cluster's API, through kube-rs: nodes Ready, devflow's manifests applied server-side, and
//! Airflow's pods and jobs watched until they are ready, or reported the moment one fails with its
//! reason and its last log lines.

pub mod forward;
mod policy;
mod scale;
pub mod taskpods;
pub mod wait;
mod workloads;

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, AttachParams, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::core::{ApiResource, GroupVersionKind};

pub use scale::Scaled;
pub use workloads::{ComponentStatus, Failure, NodeStatus, Seen, Workloads, pod_ready, pod_running};

use crate::env::Env;
use crate::values::Value;

/// The field manager devflow's server-side applies are recorded under.
const FIELD_MANAGER: &str = "devflow";
/// How long a deleted namespace may take to go: the chart's pods have a 30 s grace period.
pub const NAMESPACE_GONE_WITHIN: Duration = Duration::from_secs(300);
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
    #[error(
        "the namespace {namespace} is still terminating after {}s: something in it does not go\n  `kubectl get all,pvc -n {namespace}` shows what is left (a finalizer waiting for a controller that is gone keeps it)",
        after.as_secs()
    )]
    StillTerminating { namespace: String, after: Duration },
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

/// The container a command runs in: a pod's, by name, and which of its containers (else its first).
#[derive(Debug, Clone, Copy)]
pub struct ExecTarget<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: Option<&'a str>,
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
    /// With a terminal: where each new size of the local terminal goes, for the remote one.
    pub resize: Option<Resize>,
    pub exit: Exit,
}

/// The remote terminal's size, changed as the local one's is: kube-rs sends each size on the
/// exec's channel 4 as `{"Width","Height"}` (kube-client 5.0.0 `src/api/remote_command.rs`,
/// `AttachedProcess::terminal_size`, `RESIZE_CHANNEL`).
pub struct Resize(Box<dyn FnMut(kube::api::TerminalSize) -> bool + Send>);

impl Resize {
    /// Sends the terminal's new size; false once the command has ended.
    pub fn to(&mut self, width: u16, height: u16) -> bool {
        (self.0)(kube::api::TerminalSize { width, height })
    }
}

/// How an attached command ends.
pub struct Exit {
    process: kube::api::AttachedProcess,
    command: String,
    pod: String,
}

impl Exit {
    /// Runs `copies` (the caller's copying of the command's streams) until the command ends; its
    /// exit code.
    pub async fn wait_with(self, copies: impl Future<Output = ()>) -> Result<i32, Error> {
        let Exit { process, command, pod } = self;
        let (status, ()) = finish(process, copies).await.map_err(|message| Error::Exec {
            command: command.clone(),
            pod: pod.clone(),
            message,
        })?;
        exit_code(status).map_err(|message| Error::Exec { command, pod, message })
    }
}

type Status = k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

/// Runs `copies` (reading the command's output, writing its input) beside the exec's message
/// loop; the Status the command ended with, and what `copies` returned. When the connection
/// breaks, kube 5's loop returns its error without shutting down the stdout/stderr pipes
/// (kube-client 5.0.0 `src/api/remote_command.rs`, `start_message_loop`: only a clean end reaches
/// the `shutdown()` calls), and tokio's `SimplexStream` halves do not close when dropped (tokio
/// 1.54 `src/io/util/mem.rs`: only `DuplexStream` has a `Drop`): a read of them would then wait
/// for ever. So the loop's end is watched too, and its error ends the command.
async fn finish<T>(
    mut process: kube::api::AttachedProcess,
    copies: impl Future<Output = T>,
) -> Result<(Option<Status>, T), String> {
    let status = process.take_status();
    let mut copies = std::pin::pin!(copies);
    let mut joined = std::pin::pin!(process.join());
    let (joined, copied) = tokio::select! {
        joined = &mut joined => (joined, None),
        copied = &mut copies => (joined.await, Some(copied)),
    };
    joined.map_err(|e| format!("the connection to the pod broke ({e}); the command may still be running there"))?;
    // A clean end shuts the pipes: what is left in them is read to its end.
    let copied = match copied {
        Some(copied) => copied,
        None => copies.await,
    };
    let status = match status {
        Some(status) => status.await,
        None => None,
    };
    Ok((status, copied))
}

/// The exit code a finished exec's status carries (the API sends a Status, not a number).
fn exit_code(status: Option<Status>) -> Result<i32, String> {
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

/// How long a request may wait for an answer. Streams (exec, attach, port-forward, a followed
/// log) have no such limit: they are silent for as long as the command or the log is, and kube's
/// read timeout applies to the whole connection (kube-client 5.0.0 `src/config/mod.rs`:
/// `read_timeout` "defaults to `None` to avoid breaking long-lived connections such as exec,
/// attach and port-forward sessions"; the kubelet itself allows 4 h of silence,
/// `streamingConnectionIdleTimeout`, kubernetes `pkg/kubelet/apis/config/v1beta1/defaults.go`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A client of one cluster's API, for one context of the user's kubeconfig: one for requests,
/// with a read timeout, and one for streams, without.
#[derive(Clone)]
pub struct ApiClient {
    client: kube::Client,
    streams: kube::Client,
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
        config.read_timeout = None;
        let streams = kube::Client::try_from(config.clone()).map_err(|e| config_error(e.to_string()))?;
        config.read_timeout = Some(REQUEST_TIMEOUT);
        let client = kube::Client::try_from(config).map_err(|e| config_error(e.to_string()))?;
        Ok(ApiClient { client, streams })
    }

    /// The pods API on the client for streams.
    fn pod_streams(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.streams.clone(), namespace)
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

    /// A job by name; None when there is none.
    pub async fn job(&self, namespace: &str, name: &str) -> Result<Option<Job>, Error> {
        Api::<Job>::namespaced(self.client.clone(), namespace).get_opt(name).await.map_err(api("read a job"))
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

    /// Each pod's last `Failed to pull image …` event (the kubelet's FailedToPullImage event,
    /// reason `Failed`), by pod name.
    pub async fn pull_failures(&self, namespace: &str) -> Result<std::collections::HashMap<String, String>, Error> {
        let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(self.client.clone(), namespace)
            .list(&ListParams::default().fields("reason=Failed,involvedObject.kind=Pod"))
            .await
            .map_err(api("list events"))?;
        let mut failures: Vec<_> = events
            .items
            .into_iter()
            .filter(|e| e.message.as_deref().is_some_and(|m| m.starts_with("Failed to pull image")))
            .collect();
        failures.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
        Ok(failures.into_iter().filter_map(|e| Some((e.involved_object.name?, e.message?))).collect())
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
        // What is there is a request; a followed log is a stream, silent while the pod is.
        let api =
            if params.follow { self.pod_streams(namespace) } else { Api::namespaced(self.client.clone(), namespace) };
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

    /// Whether the namespace is being deleted: it then stays, `Terminating`, until the namespace
    /// controller has deleted all in it, and refuses anything new (403 "unable to create new
    /// content in namespace … because it is being terminated": kubernetes
    /// `plugin/pkg/admission/namespace/lifecycle/admission.go`).
    pub async fn namespace_terminating(&self, namespace: &str) -> Result<bool, Error> {
        let api = Api::<Namespace>::all(self.client.clone());
        let found = api.get_opt(namespace).await.map_err(api_error(format!("read the namespace {namespace}")))?;
        Ok(found.is_some_and(|ns| ns.metadata.deletion_timestamp.is_some()))
    }

    /// Waits until a namespace is gone (at most `limit`).
    pub async fn namespace_gone(&self, namespace: &str, limit: Duration) -> Result<(), Error> {
        let api = Api::<Namespace>::all(self.client.clone());
        let deadline = std::time::Instant::now() + limit;
        while api.get_opt(namespace).await.map_err(api_error(format!("read the namespace {namespace}")))?.is_some() {
            if std::time::Instant::now() >= deadline {
                return Err(Error::StillTerminating { namespace: namespace.to_string(), after: limit });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// Deletes a namespace (and so everything in it).
    pub async fn delete_namespace(&self, namespace: &str) -> Result<(), Error> {
        let api = Api::<Namespace>::all(self.client.clone());
        match api.delete(namespace, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            // Gone, or already terminating (kubernetes `pkg/registry/core/namespace/storage/
            // storage.go` answers a second delete with 409 Conflict).
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
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
        let mut process =
            self.pod_streams(namespace).exec(pod, argv.to_vec(), &params).await.map_err(|e| failed(e.to_string()))?;
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
        let copies = async { tokio::join!(write, out.read_to_end(&mut stdout), err.read_to_end(&mut stderr)) };
        let (status, (written, read_out, read_err)) = finish(process, copies).await.map_err(failed)?;
        // A command that ends without reading all its input breaks the pipe: its status says why.
        read_out.and(read_err).map_err(|e| failed(e.to_string()))?;
        let code = exit_code(status).map_err(|message| {
            failed(format!("{message}{}", written.err().map(|e| format!(" ({e})")).unwrap_or_default()))
        })?;
        Ok(ExecOutput { code, stdout, stderr })
    }

    /// Runs a command in a pod's container with its standard input read from `input` and its
    /// standard output copied into `output` as it comes, so that a database dump of any size is
    /// never held in memory; what it wrote on standard error (its `stdout` is empty) and its exit
    /// code.
    pub async fn exec_streaming(
        &self,
        target: &ExecTarget<'_>,
        argv: &[String],
        input: Option<&mut (dyn tokio::io::AsyncRead + Unpin + Send)>,
        output: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<ExecOutput, Error> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let command = argv.join(" ");
        let pod = target.pod;
        let failed = |message: String| Error::Exec { command: command.clone(), pod: pod.to_string(), message };
        let mut params = AttachParams::default().stdin(input.is_some()).stdout(true).stderr(true);
        params.container = target.container.map(str::to_string);
        params.max_stdin_buf_size = Some(1 << 20);
        let mut process = self
            .pod_streams(target.namespace)
            .exec(pod, argv.to_vec(), &params)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let writer = process.stdin();
        let mut out = process.stdout().ok_or_else(|| failed("no standard output".into()))?;
        let mut err = process.stderr().ok_or_else(|| failed("no standard error".into()))?;
        let write = async {
            if let (Some(mut writer), Some(input)) = (writer, input) {
                tokio::io::copy(input, &mut writer).await?;
                writer.shutdown().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        let read = async {
            tokio::io::copy(&mut out, output).await?;
            output.flush().await
        };
        let mut stderr = Vec::new();
        let copies = async { tokio::join!(write, read, err.read_to_end(&mut stderr)) };
        let (status, (written, read_out, read_err)) = finish(process, copies).await.map_err(failed)?;
        read_out.map_err(|e| failed(format!("cannot write what it printed: {e}")))?;
        read_err.map_err(|e| failed(e.to_string()))?;
        let code = exit_code(status).map_err(|message| {
            failed(format!("{message}{}", written.err().map(|e| format!(" ({e})")).unwrap_or_default()))
        })?;
        Ok(ExecOutput { code, stdout: Vec::new(), stderr })
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
        let mut process =
            self.pod_streams(namespace).exec(pod, argv.to_vec(), &params).await.map_err(|e| failed(e.to_string()))?;
        let stdin = process.stdin().ok_or_else(|| failed("no standard input".into()))?;
        let stdout = process.stdout().ok_or_else(|| failed("no standard output".into()))?;
        let stderr = process.stderr().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>);
        let resize = process.terminal_size().zip(terminal).map(|(mut sender, size)| {
            // The remote terminal starts at the local one's size; kube-rs queues up to 10 sizes,
            // and a size that finds the queue full is dropped: the next one replaces it anyway.
            let _ = sender.try_send(size);
            Resize(Box::new(move |size| !matches!(sender.try_send(size), Err(e) if e.is_disconnected())))
        });
        Ok(Attached {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr,
            resize,
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
        let mut forwarder =
            self.pod_streams(namespace).portforward(pod, &[port]).await.map_err(|e| failed(e.to_string()))?;
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

    /// A running pod of the pods a selector picks (the newest), and which of its containers is
    /// `container` (else its first).
    pub async fn running_pod(
        &self,
        namespace: &str,
        selector: &str,
        container: &str,
    ) -> Result<Option<(String, Option<String>)>, Error> {
        let pods = self.pods(namespace, selector).await?;
        Ok(pods
            .iter()
            .rev()
            .find(|p| pod_running(p))
            .map(|pod| (pod.metadata.name.clone().unwrap_or_default(), main_container(pod, container))))
    }

    /// Completes a failure with the failing pod's last log lines.
    pub async fn with_logs(&self, namespace: &str, mut failure: Failure, container: Option<String>) -> Failure {
        if !failure.pod.is_empty() && container.is_some() {
            let previous = failure.reason == "CrashLoopBackOff" || failure.reason == "OOMKilled";
            failure.logs = self.logs(namespace, &failure.pod, container.as_deref(), previous).await;
        }
        failure
    }
}

/// The container of that name, else the pod's first.
pub fn main_container(pod: &Pod, wanted: &str) -> Option<String> {
    let containers = &pod.spec.as_ref()?.containers;
    containers.iter().find(|c| c.name == wanted).or(containers.first()).map(|c| c.name.clone())
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

#[cfg(test)]
mod tests {
    /// kind's and k3d's API servers speak TLS: the client must have a crypto provider to build.
    #[tokio::test]
    async fn a_client_for_an_https_cluster_builds() {
        let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        assert!(kube::Client::try_from(config).is_ok());
    }
}
