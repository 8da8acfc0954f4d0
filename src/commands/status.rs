//! `devflow status`: the cluster, its nodes, each Airflow component, and how to reach it.

use anyhow::Result;
use serde::Serialize;

use super::lifecycle;
use crate::cli::JsonFlag;
use crate::cluster::Ownership;
use crate::config::Flags;
use crate::env::Env;
use crate::kube::{self, ComponentStatus, NodeStatus};
use crate::plan::manifests;
use crate::session::{Follow, Session};
use crate::ui::Printer;

#[derive(Debug, Serialize)]
struct Status {
    project: String,
    provider: crate::config::Provider,
    cluster: String,
    context: String,
    namespace: String,
    /// How the DAG folder reaches the pods: mount or push.
    dag_delivery: crate::config::Delivery,
    /// running, stopped, absent, or foreign (a cluster of that name that devflow did not make).
    state: &'static str,
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
}

pub async fn run(args: &JsonFlag, env: &Env, printer: &mut Printer) -> Result<()> {
    let target = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    let plan = &target.plan;
    let state = match plan.provider.cluster_tool() {
        Some(laptop) => {
            let daemon = lifecycle::docker(env).await?;
            let (containers, ownership) = lifecycle::nodes(&target, laptop, &daemon).await?;
            match ownership {
                Ownership::Absent => "absent",
                Ownership::Foreign { .. } => "foreign",
                Ownership::Ours if containers.iter().all(|c| c.running) => "running",
                Ownership::Ours => "stopped",
            }
        }
        None => {
            let kube = kube::ApiClient::connect(env, &plan.context).await?;
            match kube.namespace_owner(&plan.namespace, manifests::OWNER_ANNOTATION).await? {
                kube::NamespaceOwner::Absent => "absent",
                kube::NamespaceOwner::Annotated(owner) if owner == plan.owner => "running",
                _ => "foreign",
            }
        }
    };
    let mut status = Status {
        project: plan.project.clone(),
        provider: plan.provider,
        cluster: plan.cluster_name.clone(),
        context: plan.context.clone(),
        namespace: plan.namespace.clone(),
        dag_delivery: plan.delivery,
        state,
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
    };
    if state == "running" {
        match ask_cluster(&target).await {
            Ok((nodes, components)) => (status.nodes, status.components) = (nodes, components),
            Err(e) => status.problem = Some(e.to_string()),
        }
    }
    printer.set_mode(super::json_mode(args.json));
    printer.result(&status, text)?;
    Ok(())
}

async fn ask_cluster(session: &Session) -> Result<(Vec<NodeStatus>, Vec<ComponentStatus>), kube::Error> {
    let plan = &session.plan;
    let kube = kube::ApiClient::connect(&session.env, &plan.context).await?;
    // A shared cluster's nodes are the platform team's (and often not listable by developers).
    let nodes = if plan.provider.makes_cluster() { kube.nodes().await? } else { Vec::new() };
    let workloads = kube.workloads(&plan.namespace).await?;
    let components = lifecycle::expectations(plan).iter().map(|e| workloads.status(e)).collect();
    Ok((nodes, components))
}

fn text(s: &Status) -> String {
    let existing = !s.provider.makes_cluster();
    let cluster = match s.state {
        "running" if existing => format!("existing {} — namespace {} (this project's)", s.context, s.namespace),
        "foreign" if existing => format!(
            "existing {} — namespace {} exists, but devflow did not create it for this project",
            s.context, s.namespace
        ),
        _ if existing => {
            format!("existing {} — namespace {} not created (`devflow up` creates it)", s.context, s.namespace)
        }
        "running" => {
            let ready = s.nodes.iter().filter(|n| n.ready).count();
            format!("{} {} — running, {ready}/{} node(s) Ready", s.provider, s.cluster, s.nodes.len())
        }
        "stopped" => format!("{} {} — stopped (`devflow start` resumes it)", s.provider, s.cluster),
        "foreign" => format!("{} {} — exists, but devflow did not create it for this project", s.provider, s.cluster),
        _ => format!("{} {} — not created (`devflow up` creates it)", s.provider, s.cluster),
    };
    let mut out = format!(
        "project   {} (profile {}, Airflow {}, chart {}, {})\ncluster   {cluster}\nurl       {}{}\ndags      {} → {} (read-only, {})\n",
        s.project,
        s.profile,
        s.airflow_version,
        s.chart_version,
        s.executor,
        s.url,
        if existing { "  (while `devflow watch` or `devflow open` forwards it)" } else { "" },
        s.dags_folder,
        s.dags_mount,
        s.dag_delivery.described()
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
