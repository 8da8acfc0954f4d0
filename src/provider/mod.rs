//! Where the cluster runs, one backend per family: a cluster of Docker containers that kind or
//! k3d makes on this machine ([`nodes`]), or a cluster that exists already, of which devflow owns
//! one namespace ([`shared`]). Preflight, making and removing, pausing, ownership, reaching the UI
//! and the doctor's checks are asked of the backend: nothing else branches on the provider.

pub mod nodes;
pub mod reach;
pub mod shared;
pub mod survey;

use std::net::TcpListener;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::config::Provider;
use crate::helm::Helm;
use crate::kube::forward::Forward;
use crate::kube::{self, ApiClient, NodeStatus};
use crate::plan::Plan;
use crate::session::Session;
use crate::tool::{self, Tool, install};
use crate::ui::Printer;

/// The project's cluster, as its family makes, finds and removes it.
pub enum Backend<'a> {
    Nodes(nodes::NodeCluster<'a>),
    Shared(shared::Namespace<'a>),
}

/// Whether the project's environment is there, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Running,
    /// Paused by `devflow stop`, every volume kept.
    Stopped,
    Absent,
    /// A cluster or namespace of that name that devflow did not make for this project.
    Foreign,
}

/// How `down` goes.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    /// Do not ask.
    pub yes: bool,
    /// Keep the cluster: remove only the release and devflow's objects in it.
    pub keep_cluster: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{what} is for a cluster devflow makes in Docker; this project runs in the namespace {namespace} of the existing cluster {context}\n  `devflow down` removes that namespace; nothing else of the cluster is devflow's to pause"
    )]
    NotForExisting { what: String, context: String, namespace: String },
    #[error(
        "the namespace {namespace} of {context} exists, but devflow did not create it for this project\n  {why}\n  devflow leaves it alone: set another `namespace` under [cluster] in devflow.toml, or, if it is yours to give, `kubectl annotate namespace {namespace} {annotation}={owner}`"
    )]
    ForeignNamespace { namespace: String, context: String, why: String, annotation: &'static str, owner: String },
    #[error(
        "a {provider} cluster named {name} exists, but devflow did not create it for this project\n  its node containers ({}) do not mount this project's marker {marker}\n  devflow leaves it alone: delete it yourself, or give this project another `name` in devflow.toml",
        containers.join(", ")
    )]
    ForeignCluster { provider: Provider, name: String, containers: Vec<String>, marker: String },
    #[error(
        "Docker runs on cgroup v1, and Kubernetes {minor} will not start there: since 1.35 the kubelet refuses cgroup v1 (KEP-5573), and kind and k3s follow\n  {}",
        CGROUP_V1_FIX
    )]
    CgroupV1 { minor: String },
    #[error("the project `{project}` has no cluster\n  `devflow up` creates it")]
    NoCluster { project: String },
    #[error(
        "there is no cluster of this project to keep: `devflow down` (without --keep-cluster) removes what is left"
    )]
    NoClusterToKeep,
    #[error(
        "the cluster settings changed since the cluster was created (nodes, Kubernetes version, mounts or ports)\n  {provider} cannot change a cluster in place: `devflow down` then `devflow up` recreates it (its database is lost); `devflow render --only cluster` shows the new settings"
    )]
    SettingsChanged { provider: Provider },
    #[error(
        "the namespace {namespace} is still terminating after 5 minutes\n  `kubectl get namespace {namespace} -o yaml` shows what holds it (often a finalizer)"
    )]
    StillTerminating { namespace: String },
    #[error(
        "127.0.0.1:{port}, where {cluster} would serve Airflow's UI, is taken ({io})\n  set another `ui_port` under [cluster] in devflow.toml, or stop what listens there (`lsof -i :{port}`)"
    )]
    PortTaken { port: u16, cluster: String, io: std::io::Error },
    #[error(
        "not removing {what}: there is no terminal to confirm on\n  run `devflow down --yes` to remove it without asking"
    )]
    NotConfirmed { what: String },
    /// The plan has a step of one family and the backend is of the other.
    #[error("devflow's plan asks the {family} backend to {step}: this is a bug in devflow, please report it")]
    OtherFamily { family: &'static str, step: &'static str },
}

/// What a user on a cgroup v1 Docker host can do.
pub const CGROUP_V1_FIX: &str = "Kubernetes 1.34 is the newest that runs on cgroup v1: set `kubernetes = \"1.34\"` under [cluster] in devflow.toml; or move Docker to a cgroup v2 host (on WSL2, a newer WSL kernel: `wsl --update`)";

/// Whether the plan's Kubernetes runs on the daemon's cgroups: 1.35 and later refuse cgroup v1
/// (kubelet `failCgroupV1` defaults to true, KEP-5573; kind v0.33 sets no override in
/// `pkg/cluster/internal/kubeadm/config.go` and only warns in `create.go` `validateProvider`).
pub fn refuses_cgroup_v1(cgroup_version: &str, minor: &str) -> bool {
    let newer = crate::version::parse(&format!("{minor}.0")).is_some_and(|v| v >= (1, 35, 0));
    cgroup_version == "1" && newer
}

impl crate::error::Kind for Error {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            Error::NotConfirmed { .. } => crate::error::ErrorKind::Input,
            Error::OtherFamily { .. } => crate::error::ErrorKind::Bug,
            _ => crate::error::ErrorKind::Environment,
        }
    }
}

impl<'a> Backend<'a> {
    /// The backend of the session's provider; nothing is asked of the world yet.
    pub fn of(session: &'a Session) -> Backend<'a> {
        match session.plan.provider.cluster_tool() {
            Some(tool) => Backend::Nodes(nodes::NodeCluster::new(session, tool)),
            None => Backend::Shared(shared::Namespace::new(session)),
        }
    }

    /// What `up` checks before anything is made, beyond helm.
    pub async fn preflight(&mut self, yes: bool, printer: &mut Printer) -> Result<()> {
        match self {
            Backend::Nodes(nodes) => nodes.preflight(yes, printer).await,
            Backend::Shared(_) => Ok(()),
        }
    }

    pub async fn presence(&mut self) -> Result<Presence> {
        match self {
            Backend::Nodes(nodes) => nodes.presence().await,
            Backend::Shared(shared) => shared.presence().await,
        }
    }

    /// `devflow down`: what devflow made for the project goes, after asking; nothing else.
    pub async fn down(&mut self, removal: Removal, printer: &mut Printer) -> Result<()> {
        match self {
            Backend::Nodes(nodes) => nodes.down(removal, printer).await,
            Backend::Shared(shared) => shared.down(removal, printer).await,
        }
    }

    /// `devflow stop`: the cluster paused, every volume kept.
    /// Refuses `what` (`stop`, `start`) on an existing cluster, which is not devflow's to pause.
    pub fn pausable(&mut self, what: &str) -> Result<(), Error> {
        self.nodes_for(what).map(drop)
    }

    pub async fn pause(&mut self, printer: &mut Printer) -> Result<()> {
        self.nodes_for("`devflow stop`")?.pause(printer).await
    }

    /// `devflow start`: the cluster resumed and its nodes Ready; a client of its API.
    pub async fn resume(&mut self, deadline: Instant, printer: &mut Printer) -> Result<ApiClient> {
        self.nodes_for("`devflow start`")?.resume(deadline, printer).await
    }

    /// A port-forward when the UI is not published on this machine by the cluster itself.
    pub fn reach_ui(&self, printer: &Printer) -> Result<Option<Forward>> {
        match self {
            Backend::Nodes(_) => Ok(None),
            Backend::Shared(shared) => Ok(Some(shared.forward(printer)?)),
        }
    }

    /// The doctor's checks of where the cluster runs and of the tool that makes it.
    pub async fn checks(&mut self) -> Vec<Check> {
        match self {
            Backend::Nodes(nodes) => nodes.checks().await,
            Backend::Shared(shared) => vec![shared.check().await],
        }
    }

    /// The cluster's nodes, when they are the project's to show (a shared cluster's are the
    /// platform team's, and often not listable by developers).
    pub async fn node_statuses(&self, kube: &ApiClient) -> Result<Vec<NodeStatus>, kube::Error> {
        match self {
            Backend::Nodes(_) => kube.nodes().await,
            Backend::Shared(_) => Ok(Vec::new()),
        }
    }

    /// The cluster line of `devflow status`.
    pub fn describe(&self, presence: Presence, nodes: &[NodeStatus]) -> String {
        match self {
            Backend::Nodes(cluster) => cluster.describe(presence, nodes),
            Backend::Shared(shared) => shared.describe(presence),
        }
    }

    /// The Docker-node backend, for the steps only a cluster devflow makes has.
    pub fn nodes(&mut self, step: &'static str) -> Result<&mut nodes::NodeCluster<'a>, Error> {
        match self {
            Backend::Nodes(nodes) => Ok(nodes),
            Backend::Shared(_) => Err(Error::OtherFamily { family: "existing-cluster", step }),
        }
    }

    /// The existing-cluster backend, for the steps only a shared cluster has.
    pub fn shared(&mut self, step: &'static str) -> Result<&mut shared::Namespace<'a>, Error> {
        match self {
            Backend::Shared(shared) => Ok(shared),
            Backend::Nodes(_) => Err(Error::OtherFamily { family: "Docker-node", step }),
        }
    }

    /// The Docker-node backend, or why `what` is not for this project.
    fn nodes_for(&mut self, what: &str) -> Result<&mut nodes::NodeCluster<'a>, Error> {
        match self {
            Backend::Nodes(nodes) => Ok(nodes),
            Backend::Shared(shared) => Err(shared.not_for_existing(what)),
        }
    }
}

/// 127.0.0.1:<ui_port>, where the cluster publishes Airflow's UI (or devflow forwards it), bound;
/// dropping it at once checks that the port is free.
pub fn bind_ui_port(plan: &Plan) -> Result<TcpListener, Error> {
    let port = plan.ui_port;
    TcpListener::bind(("127.0.0.1", port)).map_err(|io| Error::PortTaken {
        port,
        cluster: plan.cluster_name.clone(),
        io,
    })
}

/// Asks before removing, unless `yes`; false when the user said no.
fn confirmed(what: String, yes: bool, printer: &mut Printer) -> Result<bool, Error> {
    if yes {
        return Ok(true);
    }
    match printer.confirm(&format!("Remove {what}?")) {
        Some(true) => Ok(true),
        Some(false) => {
            printer.note("nothing was removed");
            Ok(false)
        }
        None => Err(Error::NotConfirmed { what }),
    }
}

/// Whether devflow has made nothing at all for the project: no cluster or namespace, no state.
/// Says so when it has not.
fn nothing_made(session: &Session, absent: bool, printer: &mut Printer) -> bool {
    let nothing = absent && session.state.is_none() && !session.store.dir().exists();
    if nothing {
        printer
            .done(&format!("Nothing to remove: devflow has made nothing for the project `{}`", session.plan.project));
    }
    nothing
}

async fn uninstall_release(session: &Session, printer: &mut Printer) -> Result<()> {
    let helm = Helm { tool: tool::locate(Tool::Helm, &session.env)? };
    printer
        .step("Uninstalling the Airflow release", helm.uninstall(&session.plan), |removed| {
            if *removed { "Uninstalled the Airflow release".into() } else { "No Airflow release to uninstall".into() }
        })
        .await?;
    Ok(())
}

/// The state folder gone: the last of what `down` removes.
fn forget(session: &Session, printer: &mut Printer) -> Result<()> {
    session.store.remove()?;
    printer.done(&format!("Removed devflow's state {}", session.store.dir().display()));
    Ok(())
}

/// One check of the doctor's: what was found, and how to fix it.
#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// `up` cannot succeed while a blocking check fails.
    pub blocking: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: &'static str, detail: String) -> Check {
        Check { name, ok: true, blocking: false, detail, fix: None }
    }

    pub fn fail(name: &'static str, blocking: bool, detail: String, fix: String) -> Check {
        Check { name, ok: false, blocking, detail, fix: Some(fix) }
    }
}

/// A tool on PATH or in devflow's cache, of a version that works.
pub async fn tool_check(tool: Tool, env: &crate::env::Env) -> Check {
    let name = tool.name();
    let program = match tool::locate(tool, env) {
        Ok(program) => program,
        Err(_) => {
            let fix = match install::pin_for_this_machine(tool) {
                Ok(pin) => format!(
                    "`devflow up` offers to install the pinned {name} v{} (checksum-verified); or install it: {}",
                    pin.version,
                    install::docs_url(tool)
                ),
                Err(_) => format!("install it: {}", install::docs_url(tool)),
            };
            let blocking = install::pin_for_this_machine(tool).is_err();
            return Check::fail(name, blocking, "not found on PATH or in devflow's cache".into(), fix);
        }
    };
    let (minimum, why) = tool.minimum();
    match tool.version(&program).await {
        Ok((Some(version), text)) if version >= minimum => {
            Check::pass(name, format!("{text} ({})", program.path.display()))
        }
        Ok((_, text)) => Check::fail(
            name,
            tool == Tool::Helm,
            format!("{text} ({}): {why}", program.path.display()),
            format!(
                "upgrade {name} to {}.{}.{} or later: {}",
                minimum.0,
                minimum.1,
                minimum.2,
                install::docs_url(tool)
            ),
        ),
        Err(e) => Check::fail(name, true, e.to_string(), format!("reinstall {name}: {}", install::docs_url(tool))),
    }
}
