//! `devflow status`: the cluster, its nodes, each Airflow component, and how to reach it.

use anyhow::Result;
use serde::Serialize;

use crate::cli::JsonFlag;
use crate::config::{Delivery, Flags};
use crate::env::Env;
use crate::kube::{self, ComponentStatus, NodeStatus};
use crate::plan::ClusterRef;
use crate::provider::{Backend, Presence};
use crate::session::{Follow, Session};
use crate::ui::Printer;

#[derive(Debug, Serialize)]
struct Status {
    project: String,
    cluster: ClusterRef,
    namespace: String,
    /// How the DAG folder reaches the pods: mount or push.
    delivery: Delivery,
    /// running, stopped, absent, or foreign (a cluster of that name that devflow did not make).
    state: Presence,
    url: String,
    profile: String,
    chart_version: String,
    airflow_version: String,
    executor: String,
    dags_folder: String,
    dags_mount: String,
    nodes: Vec<NodeStatus>,
    components: Vec<ComponentStatus>,
    /// Why nodes and components are missing, when the API could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    /// The cluster line, as the provider's backend says it.
    #[serde(skip)]
    described: String,
    #[serde(skip)]
    forwarded: bool,
}

pub async fn run(args: &JsonFlag, env: &Env, printer: &mut Printer) -> Result<()> {
    let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    let plan = &session.plan;
    let mut backend = Backend::of(&session);
    let presence = backend.presence().await?;
    let mut status = Status {
        project: plan.project.clone(),
        cluster: plan.cluster_ref(),
        namespace: plan.namespace.clone(),
        delivery: plan.delivery,
        state: presence,
        url: plan.url.clone(),
        profile: plan.profile.clone(),
        chart_version: plan.chart_version.clone(),
        airflow_version: plan.airflow_version.clone(),
        executor: plan.executor.clone(),
        dags_folder: plan.dags_folder.display().to_string(),
        dags_mount: plan.dags_mount.clone(),
        nodes: Vec::new(),
        components: Vec::new(),
        problem: None,
        described: String::new(),
        forwarded: plan.ui_forwarded(),
    };
    if presence == Presence::Running {
        match ask_cluster(&session, &backend).await {
            Ok((nodes, components)) => (status.nodes, status.components) = (nodes, components),
            Err(e) => status.problem = Some(e.to_string()),
        }
    }
    status.described = backend.describe(presence, &status.nodes);
    printer.set_mode(super::json_mode(args.json));
    printer.result(&status, text)?;
    Ok(())
}

async fn ask_cluster(
    session: &Session,
    backend: &Backend<'_>,
) -> Result<(Vec<NodeStatus>, Vec<ComponentStatus>), kube::Error> {
    let plan = &session.plan;
    let kube = kube::ApiClient::connect(&session.env, &plan.context).await?;
    let nodes = backend.node_statuses(&kube).await?;
    let workloads = kube.workloads(&plan.namespace).await?;
    let components = plan.expectations().iter().map(|e| workloads.status(e)).collect();
    Ok((nodes, components))
}

fn text(s: &Status) -> String {
    let mut out = format!(
        "project   {} (profile {}, Airflow {}, chart {}, {})\ncluster   {}\nurl       {}{}\ndags      {} → {} (read-only, {})\n",
        s.project,
        s.profile,
        s.airflow_version,
        s.chart_version,
        s.executor,
        s.described,
        s.url,
        if s.forwarded { "  (while `devflow watch` or `devflow open` forwards it)" } else { "" },
        s.dags_folder,
        s.dags_mount,
        s.delivery.described()
    );
    if let Some(problem) = &s.problem {
        out.push_str(&format!("problem   {problem}\n"));
    }
    if !s.components.is_empty() {
        out.push_str(&format!("\n{:<16}{:<8}{:<10}{:<8}{}\n", "COMPONENT", "READY", "RESTARTS", "AGE", "STATE"));
        for c in &s.components {
            let age = c.age_seconds.map(age).unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{:<16}{:<8}{:<10}{:<8}{}\n",
                c.name,
                format!("{}/{}", c.ready, c.total),
                c.restarts,
                age,
                c.phase
            ));
        }
        // History (an OOMKill before the current run, an evicted pod beside its replacement).
        for note in s.components.iter().flat_map(|c| &c.notes) {
            out.push_str(&format!("note: {note}\n"));
        }
    }
    out
}

/// kubectl's way of writing an age: 45s, 12m, 3h, 2d.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}
