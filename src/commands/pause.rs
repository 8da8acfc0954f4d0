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

/// The project's session for `stop` and `start`, which are only for a cluster devflow makes
/// (the backend says so of an existing cluster) and only once `up` has made it.
fn made_cluster(env: &Env, printer: &mut Printer) -> Result<Session> {
    let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    if session.plan.provider.makes_cluster() {
        session.require_made()?;
    }
    Ok(session)
}

pub async fn stop(env: &Env, printer: &mut Printer) -> Result<()> {
    let session = made_cluster(env, printer)?;
    Backend::of(&session).pause(printer).await?;
    session.record(|state| state.stopped = true)
}

pub async fn start(args: &StartArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let session = made_cluster(env, printer)?;
    let deadline = Instant::now() + args.timeout;
    let plan = &session.plan;
    let kube = Backend::of(&session).resume(deadline, printer).await?;
    kube::wait::workloads(&kube, &plan.namespace, &plan.expectations(), deadline, printer).await?;
    session.record(|state| state.stopped = false)?;
    printer.out(&format!("Airflow is up: {}", plan.url))?;
    Ok(())
}
