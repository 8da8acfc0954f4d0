//! `devflow stop` and `devflow start`: the cluster's node containers paused and resumed, with
//! every volume (and so the database) kept.

use std::time::Instant;

use anyhow::{Result, bail};

use super::lifecycle::{self, step};
use crate::cli::StartArgs;
use crate::cluster::{self, Ownership};
use crate::config::Flags;
use crate::env::Env;
use crate::kube;
use crate::session::{Follow, Session};
use crate::ui::Printer;

/// The project's cluster, when devflow made it; an error saying what to do otherwise.
async fn owned(
    what: &str,
    env: &Env,
    printer: &mut Printer,
) -> Result<(Session, cluster::Cluster, crate::docker::Daemon)> {
    let target = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    let laptop = lifecycle::cluster_tool(&target, what)?;
    let cluster = lifecycle::cluster(&target, laptop)?;
    let daemon = lifecycle::docker(env).await?;
    let (_, ownership) = lifecycle::nodes(&target, laptop, &daemon).await?;
    lifecycle::check_ours(&ownership, &target.plan, &lifecycle::marker(&target))?;
    if ownership == Ownership::Absent {
        bail!("the project `{}` has no cluster\n  `devflow up` creates it", target.plan.project);
    }
    Ok((target, cluster, daemon))
}

pub async fn stop(env: &Env, printer: &mut Printer) -> Result<()> {
    let (target, cluster, daemon) = owned("`devflow stop`", env, printer).await?;
    let doing = format!("Stopping the cluster {}", target.plan.cluster_name);
    step(printer, &doing, cluster.stop(&daemon), |_| {
        "Stopped the cluster: its database and volumes are kept; `devflow start` resumes it".into()
    })
    .await?;
    if let Some(mut state) = target.state {
        state.stopped = true;
        target.store.save(&state)?;
    }
    Ok(())
}

pub async fn start(args: &StartArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let (target, cluster, daemon) = owned("`devflow start`", env, printer).await?;
    let deadline = Instant::now() + args.timeout;
    let plan = &target.plan;
    let doing = format!("Starting the cluster {}", plan.cluster_name);
    step(printer, &doing, cluster.start(&daemon), |_| format!("Started the cluster {}", plan.cluster_name)).await?;
    let kube = kube::ApiClient::connect(env, &plan.context).await?;
    let nodes = cluster
        .containers(&daemon)
        .await?
        .iter()
        .filter(|c| c.labels.get("k3d.role").is_none_or(|r| r != "loadbalancer"))
        .count();
    lifecycle::wait_nodes(&kube, nodes, deadline, printer).await?;
    lifecycle::wait_airflow(&kube, &plan.namespace, &lifecycle::expectations(plan), deadline, printer).await?;
    if let Some(mut state) = target.state {
        state.stopped = false;
        target.store.save(&state)?;
    }
    printer.out(&format!("Airflow is up: {}", plan.url))?;
    Ok(())
}
