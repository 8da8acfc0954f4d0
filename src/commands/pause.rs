//! `devflow stop` and `devflow start`: the cluster's node containers paused and resumed, with
//! every volume (and so the database) kept.

use std::time::Instant;

use anyhow::Result;

use crate::cli::StartArgs;
use crate::config::Flags;
use crate::env::Env;
use crate::kube;
use crate::provider::Backend;
use crate::session::{Follow, Session};
use crate::ui::Printer;

pub async fn stop(env: &Env, printer: &mut Printer) -> Result<()> {
    let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    let mut backend = Backend::of(&session);
    // An existing cluster is never devflow's to pause, before `up` as after it.
    backend.pausable("`devflow stop`")?;
    session.require_made()?;
    backend.pause(printer).await?;
    session.record(|state| state.stopped = true)?;
    let plan = &session.plan;
    printer.json_result(&Paused {
        project: &plan.project,
        cluster: plan.cluster_ref(),
        state: "stopped",
        url: None,
    })?;
    Ok(())
}

/// `stop --json` and `start --json`: the environment and its state now.
#[derive(serde::Serialize)]
struct Paused<'a> {
    project: &'a str,
    cluster: crate::plan::ClusterRef,
    state: &'static str,
    /// Where Airflow answers again, after `start`.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

pub async fn start(args: &StartArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    let mut backend = Backend::of(&session);
    backend.pausable("`devflow start`")?;
    session.require_made()?;
    let deadline = Instant::now() + args.timeout;
    let plan = &session.plan;
    let resumed = std::time::SystemTime::now();
    let kube = backend.resume(deadline, printer).await?;
    // The API serves the pods' status from before the stop until the kubelet restarts them.
    kube::wait::workloads_restarted(&kube, &plan.namespace, &plan.expectations(), deadline, resumed, printer).await?;
    session.record(|state| state.stopped = false)?;
    let started =
        Paused { project: &plan.project, cluster: plan.cluster_ref(), state: "running", url: Some(&plan.url) };
    printer.result(&started, |_| format!("Airflow is up: {}", plan.url))?;
    Ok(())
}
