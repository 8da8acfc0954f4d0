//! `devflow stop` and `devflow start`: the cluster's node containers paused and resumed, with
//! every volume (and so the database) kept.

use std::time::Instant;

use anyhow::{Result, bail};

use super::lifecycle::{self, Target, step};
use crate::cli::{ProjectFlags, StartArgs};
use crate::cluster::{self, Ownership};
use crate::kube;
use crate::ui::Printer;

/// The project's cluster, when devflow made it; an error saying what to do otherwise.
async fn owned(what: &str, printer: &mut Printer) -> Result<(Target, cluster::Cluster, crate::docker::Daemon)> {
    let target = Target::load(&ProjectFlags::default(), &[], printer, true)?;
    let laptop = target.laptop(what)?;
    let cluster = target.cluster(laptop)?;
    let daemon = lifecycle::docker().await?;
    let (_, ownership) = target.nodes(laptop, &daemon).await?;
    lifecycle::check_ours(&ownership, &target.plan, &target.marker())?;
    if ownership == Ownership::Absent {
        bail!("the project `{}` has no cluster\n  `devflow up` creates it", target.plan.project);
    }
    Ok((target, cluster, daemon))
}

pub async fn stop(printer: &mut Printer) -> Result<()> {
    let (target, cluster, daemon) = owned("`devflow stop`", printer).await?;
    let doing = format!("Stopping the cluster {}", target.plan.cluster_name);
    step(printer, &doing, cluster.stop(&daemon), |_| {
        "Stopped the cluster: its database and volumes are kept; `devflow start` resumes it".into()
    })
    .await?;
    if let Some(mut state) = target.state {
        state.stopped = true;
        target.folder.save(&state)?;
    }
    Ok(())
}

pub async fn start(args: &StartArgs, printer: &mut Printer) -> Result<()> {
    let (target, cluster, daemon) = owned("`devflow start`", printer).await?;
    let deadline = Instant::now() + args.timeout;
    let plan = &target.plan;
    let doing = format!("Starting the cluster {}", plan.cluster_name);
    step(printer, &doing, cluster.start(&daemon), |_| format!("Started the cluster {}", plan.cluster_name)).await?;
    let kube = kube::Cluster::connect(&plan.context).await?;
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
        target.folder.save(&state)?;
    }
    printer.out(&format!("Airflow is up: {}", plan.url))?;
    Ok(())
}
