//! What `up`, `down`, `stop`, `start` and `status` share: the project's plan and state, the tools,
//! a progress line around slow work, and the waits for nodes and for Airflow.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cluster::{self, Cluster};
use crate::config::{ClusterTool, Delivery, StateFile};
use crate::docker::Daemon;
use crate::env::Env;
use crate::kube::{self, ComponentStatus, Expect};
use crate::plan::{self, Plan, manifests};
use crate::session::Session;
use crate::tool::{self, Program, Tool, install};
use crate::ui::{self, Printer};

/// The kind or k3d of a cluster devflow makes; for an existing cluster, `what` cannot be done.
pub fn cluster_tool(session: &Session, what: &str) -> Result<ClusterTool> {
    let plan = &session.plan;
    match plan.provider.cluster_tool() {
        Some(tool) => Ok(tool),
        None => Err(LifecycleError::NotForExisting {
            what: what.to_string(),
            context: plan.context.clone(),
            namespace: plan.namespace.clone(),
        }
        .into()),
    }
}

/// The cluster's node containers as Docker shows them, and whose they are.
pub async fn nodes(
    session: &Session,
    tool: ClusterTool,
    daemon: &Daemon,
) -> Result<(Vec<crate::docker::Container>, cluster::Ownership)> {
    let containers = cluster::containers(daemon, tool, &session.plan.cluster_name).await?;
    let ownership = cluster::ownership(&containers, &marker(session));
    Ok((containers, ownership))
}

pub fn marker(session: &Session) -> PathBuf {
    session.plan.state_dir.file(StateFile::OwnerMarker)
}

/// The cluster, with its tool found (not installed: only `up` installs).
pub fn cluster(session: &Session, tool: ClusterTool) -> Result<Cluster> {
    let program = tool::locate(Tool::from(tool), &session.env)?;
    Ok(Cluster::new(tool, &session.plan.cluster_name, program))
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "{what} is for a cluster devflow makes in Docker; this project runs in the namespace {namespace} of the existing cluster {context}\n  `devflow down` removes that namespace; nothing else of the cluster is devflow's to pause"
    )]
    NotForExisting { what: String, context: String, namespace: String },
    #[error(
        "the namespace {namespace} of {context} exists, but devflow did not create it for this project\n  {why}\n  devflow leaves it alone: set another `namespace` under [cluster] in devflow.toml, or, if it is yours to give, `kubectl annotate namespace {namespace} {annotation}={owner}`"
    )]
    ForeignNamespace { namespace: String, context: String, why: String, annotation: &'static str, owner: String },
}

crate::error::one_kind!(LifecycleError, Environment);

/// The components a user can name (`logs`, `shell`, `airflow -c`): devflow's PostgreSQL and the
/// chart's components.
pub fn known_components(plan: &Plan) -> Vec<String> {
    let mut known = vec!["postgresql".to_string()];
    known.extend(plan.components.iter().map(|c| c.to_string()));
    known
}

/// The label selector of a component's pods; an unknown name is the user's mistake.
pub fn component_selector(plan: &Plan, component: &str) -> Result<String, ComponentError> {
    let known = known_components(plan);
    if !known.iter().any(|k| k == component) {
        return Err(ComponentError::Unknown { given: component.to_string(), known });
    }
    Ok(match component {
        "postgresql" => format!("{}={}", manifests::NAME_LABEL, manifests::POSTGRES),
        _ => format!("release={},component={component}", plan::RELEASE),
    })
}

/// The container named after the component (the chart's and devflow's naming), else the first.
pub fn main_container(pod: &k8s_openapi::api::core::v1::Pod, component: &str) -> Option<String> {
    let containers = &pod.spec.as_ref()?.containers;
    let wanted = if component == "postgresql" { "postgres" } else { component };
    containers.iter().find(|c| c.name == wanted).or(containers.first()).map(|c| c.name.clone())
}

/// A running pod of the component, and its main container.
pub async fn running_pod(kube: &kube::ApiClient, plan: &Plan, component: &str) -> Result<(String, Option<String>)> {
    let pods = kube.pods(&plan.namespace, &component_selector(plan, component)?).await?;
    let running = pods.iter().rev().find(|p| kube::pod_running(p));
    match running {
        Some(pod) => Ok((pod.metadata.name.clone().unwrap_or_default(), main_container(pod, component))),
        None => anyhow::bail!(
            "no pod of {component} is running in the namespace {}\n  `devflow status` shows the components; `devflow up` starts them",
            plan.namespace
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("`{given}` is not a component of this Airflow{}\n  expected one of: {}", hint(.given, .known), known.join(", "))]
    Unknown { given: String, known: Vec<String> },
}

crate::error::one_kind!(ComponentError, Input);

fn hint(given: &str, known: &[String]) -> String {
    crate::words::did_you_mean(given, known.iter().map(String::as_str))
}

/// Whether the namespace of an existing cluster is this project's (or free), refusing with an
/// explanation when it is someone else's.
pub fn check_namespace_ours(plan: &Plan, owner: &kube::NamespaceOwner) -> Result<()> {
    let why = match owner {
        kube::NamespaceOwner::Absent => return Ok(()),
        kube::NamespaceOwner::Annotated(o) if *o == plan.owner => return Ok(()),
        kube::NamespaceOwner::Annotated(o) => {
            format!("its annotation {}={o} names another project or machine", manifests::OWNER_ANNOTATION)
        }
        kube::NamespaceOwner::Unannotated => format!("it has no {} annotation", manifests::OWNER_ANNOTATION),
    };
    Err(LifecycleError::ForeignNamespace {
        namespace: plan.namespace.clone(),
        context: plan.context.clone(),
        why,
        annotation: manifests::OWNER_ANNOTATION,
        owner: plan.owner.clone(),
    }
    .into())
}

/// Runs slow work under a progress line, then prints `✓ <done>  <time>` when it succeeds.
pub async fn step<T, E>(
    printer: &mut Printer,
    doing: &str,
    work: impl Future<Output = Result<T, E>>,
    done: impl FnOnce(&T) -> String,
) -> Result<T, E> {
    printer.step(doing, work, done).await
}

/// The tool on PATH or in devflow's cache; when missing, the pinned release installed after the
/// user agrees (or with `--yes`).
pub async fn ensure_tool(tool: Tool, yes: bool, env: &Env, printer: &mut Printer) -> Result<Program> {
    match tool::locate(tool, env) {
        Ok(program) => return Ok(program),
        Err(missing) => {
            let pin = install::pin_for_this_machine(tool)?;
            let target = install::cached_path(tool, env);
            let question = format!(
                "{tool} is not installed. Download {tool} v{} (checksum-verified) into {}?",
                pin.version,
                target.parent().unwrap_or(&target).display()
            );
            if !yes && printer.confirm(&question) != Some(true) {
                return Err(missing.into());
            }
            let mirror = env.download_mirror.clone();
            let doing = format!("Downloading {tool} v{}", pin.version);
            let install_to = target.clone();
            let work = async move {
                tokio::task::spawn_blocking(move || install::install(pin, mirror.as_deref(), &install_to))
                    .await
                    .expect("the download thread does not panic")
            };
            step(printer, &doing, work, |_| format!("Installed {tool} v{} (sha256 verified)", pin.version)).await?;
        }
    }
    Ok(tool::locate(tool, env)?)
}

/// What `up` and `start` wait for, in the order they become ready.
pub fn expectations(plan: &Plan) -> Vec<Expect> {
    let pods = |name: &str, key: &str, value: &str| Expect::Pods {
        name: name.to_string(),
        label: (key.to_string(), value.to_string()),
    };
    let mut expect = vec![pods("postgresql", manifests::NAME_LABEL, manifests::POSTGRES)];
    if plan.delivery == Delivery::Push {
        expect.push(pods("dag receiver", manifests::NAME_LABEL, manifests::RECEIVER));
    }
    expect.push(Expect::Job { name: "migrations".into(), component: plan::MIGRATIONS_JOB.into() });
    expect.extend(plan.components.iter().map(|c| component_pods(c)));
    expect.push(Expect::Job { name: "create-user".into(), component: plan::CREATE_USER_JOB.into() });
    expect
}

/// Waits until the cluster's nodes are Ready, with a live line.
pub async fn wait_nodes(
    kube: &kube::ApiClient,
    expected: usize,
    deadline: Instant,
    printer: &mut Printer,
) -> Result<()> {
    let started = Instant::now();
    loop {
        // Right after create or start the API server may still refuse connections.
        let (ready, line) = match kube.nodes().await {
            Ok(nodes) => {
                let ready = nodes.iter().filter(|n| n.ready).count();
                (ready >= expected && nodes.len() >= expected, format!("nodes {ready}/{expected} Ready"))
            }
            Err(e) => (false, format!("waiting for the Kubernetes API ({e})")),
        };
        if ready {
            printer.live(&[]);
            printer.done(&format!("{expected} node(s) Ready  {}", ui::seconds(started.elapsed())));
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(kube::Error::TimedOut {
                what: "the cluster's nodes".into(),
                after: started.elapsed(),
                waiting: vec![line],
            }
            .into());
        }
        let spin = if printer.is_live() { format!("{} ", ui::spinner(started.elapsed())) } else { String::new() };
        printer.live(&[format!("{spin}{line}")]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until PostgreSQL, the migration job and every component are ready: one live line each.
/// A pod that fails is reported at once, with its reason and last log lines.
pub async fn wait_airflow(
    kube: &kube::ApiClient,
    namespace: &str,
    expect: &[Expect],
    deadline: Instant,
    printer: &mut Printer,
) -> Result<Vec<ComponentStatus>> {
    let started = Instant::now();
    loop {
        let workloads = kube.workloads(namespace).await?;
        let statuses: Vec<ComponentStatus> = expect.iter().map(|e| workloads.status(e)).collect();
        if let Some(status) = statuses.iter().find(|s| s.failure.is_some()) {
            let (failure, container) = status.failure.clone().expect("found above");
            printer.live(&[]);
            let failure = kube.with_logs(namespace, failure, container).await;
            return Err(kube::Error::Failed(Box::new(failure)).into());
        }
        if statuses.iter().all(|s| s.done) {
            printer.live(&[]);
            printer.done(&format!(
                "Airflow is ready ({} components)  {}",
                statuses.len(),
                ui::seconds(started.elapsed())
            ));
            return Ok(statuses);
        }
        if Instant::now() >= deadline {
            let waiting = statuses.iter().filter(|s| !s.done).map(|s| format!("{}: {}", s.name, s.phase)).collect();
            return Err(kube::Error::TimedOut { what: "Airflow".into(), after: started.elapsed(), waiting }.into());
        }
        let lines: Vec<String> =
            statuses.iter().map(|s| component_line(s, printer.is_live(), started.elapsed())).collect();
        printer.live(&lines);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn component_line(status: &ComponentStatus, live: bool, elapsed: Duration) -> String {
    let mark = match (status.done, live) {
        (true, _) => '✓',
        (false, true) => ui::spinner(elapsed),
        (false, false) => '…',
    };
    format!("{mark} {:<14} {}", status.name, status.phase)
}

/// The chart components that load plugins at start, and so restart when a plugin changes.
pub fn plugin_loaders(plan: &Plan) -> Vec<&'static str> {
    plan.components.iter().copied().filter(|c| *c != "redis").collect()
}

fn component_pods(component: &str) -> Expect {
    Expect::Pods { name: component.to_string(), label: ("component".to_string(), component.to_string()) }
}

/// Restarts the components that load plugins (their controllers make new pods) and waits until
/// they are ready again, with a live line each.
pub fn restart_for_plugins(
    env: &Env,
    context: &str,
    namespace: &str,
    loaders: &[&str],
    printer: &mut Printer,
) -> Result<()> {
    let selector = format!("release={},component in ({})", plan::RELEASE, loaders.join(","));
    let expect: Vec<Expect> = loaders.iter().map(|c| component_pods(c)).collect();
    super::runtime()?.block_on(async {
        let kube = kube::ApiClient::connect(env, context).await?;
        kube.delete_pods(namespace, &selector).await?;
        // The old pods linger while they terminate; the wait counts only new ones.
        wait_airflow(&kube, namespace, &expect, Instant::now() + Duration::from_secs(600), printer).await?;
        Ok(())
    })
}

/// Whether the project's cluster is devflow's, refusing with an explanation when it is not.
pub fn check_ours(ownership: &cluster::Ownership, plan: &Plan, marker: &Path) -> Result<()> {
    if let cluster::Ownership::Foreign { containers } = ownership {
        anyhow::bail!(
            "a {} cluster named {} exists, but devflow did not create it for this project\n  its node containers ({}) do not mount this project's marker {}\n  devflow leaves it alone: delete it yourself, or give this project another `name` in devflow.toml",
            plan.provider,
            plan.cluster_name,
            containers.join(", "),
            marker.display()
        );
    }
    Ok(())
}

/// 127.0.0.1:<ui_port>, where the cluster publishes Airflow's UI (or devflow forwards it), bound;
/// dropping it at once checks that the port is free.
pub fn ui_listener(plan: &Plan) -> Result<std::net::TcpListener> {
    let port = plan.ui_port;
    std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        anyhow::anyhow!(
            "127.0.0.1:{port}, where {} would serve Airflow's UI, is taken ({e})\n  set another `ui_port` under [cluster] in devflow.toml, or stop what listens there (`lsof -i :{port}`)",
            plan.cluster_name
        )
    })
}

/// A Docker daemon, or the reason there is none.
pub async fn docker(env: &Env) -> Result<Daemon> {
    Ok(Daemon::connect(env).await?)
}
