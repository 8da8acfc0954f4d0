//! `devflow down`: removes what devflow made for this project (the cluster, if its marker proves
//! it is ours; the images it built; its state folder) and nothing else.

use anyhow::{Result, bail};

use super::lifecycle::{self, step};
use crate::cli::DownArgs;
use crate::cluster::Ownership;
use crate::config::{ClusterTool, Flags};
use crate::env::Env;
use crate::helm::Helm;
use crate::kube;
use crate::plan::manifests;
use crate::session::{Follow, Session};
use crate::state::Phase;
use crate::tool::{self, Tool};
use crate::ui::Printer;

pub async fn run(args: &DownArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let target = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    match target.plan.provider.cluster_tool() {
        Some(laptop) => laptop_down(laptop, target, args, printer).await,
        None => existing_down(target, args, printer).await,
    }
}

/// Asks before removing, unless `--yes`; false when the user said no.
fn confirmed(what: String, args: &DownArgs, printer: &mut Printer) -> Result<bool> {
    if args.yes {
        return Ok(true);
    }
    match printer.confirm(&format!("Remove {what}?")) {
        Some(true) => Ok(true),
        Some(false) => {
            printer.note("nothing was removed");
            Ok(false)
        }
        None => bail!(DownError::NotConfirmed { what }),
    }
}

/// An existing cluster keeps everything but this project's namespace, which goes only when its
/// annotation says devflow made it for this project.
async fn existing_down(target: Session, args: &DownArgs, printer: &mut Printer) -> Result<()> {
    let plan = &target.plan;
    let kube = kube::ApiClient::connect(&target.env, &plan.context).await?;
    let owner = kube.namespace_owner(&plan.namespace, manifests::OWNER_ANNOTATION).await?;
    if owner == kube::NamespaceOwner::Absent && target.state.is_none() && !target.store.dir().exists() {
        printer.done(&format!("Nothing to remove: devflow has made nothing for the project `{}`", plan.project));
        return Ok(());
    }
    lifecycle::check_namespace_ours(plan, &owner)?;
    let what = match owner {
        kube::NamespaceOwner::Absent => "devflow's state for this project (its namespace is gone)".to_string(),
        _ => format!(
            "the Airflow release and the namespace {} of {} (its database too) and devflow's state for this project",
            plan.namespace, plan.context
        ),
    };
    if !confirmed(what, args, printer)? {
        return Ok(());
    }
    if owner != kube::NamespaceOwner::Absent {
        uninstall_release(&target, printer).await?;
        let doing = format!("Deleting the namespace {}", plan.namespace);
        step(printer, &doing, delete_namespace(&kube, &plan.namespace), |_| {
            format!("Deleted the namespace {} and everything in it", plan.namespace)
        })
        .await?;
    }
    target.store.remove()?;
    printer.done(&format!("Removed devflow's state {}", target.store.dir().display()));
    Ok(())
}

async fn uninstall_release(session: &Session, printer: &mut Printer) -> Result<()> {
    let helm = Helm { tool: tool::locate(Tool::Helm, &session.env)? };
    step(printer, "Uninstalling the Airflow release", helm.uninstall(&session.plan), |removed| {
        if *removed { "Uninstalled the Airflow release".into() } else { "No Airflow release to uninstall".into() }
    })
    .await?;
    Ok(())
}

/// Deletes the namespace and waits until it is gone: an `up` into a terminating namespace fails.
async fn delete_namespace(kube: &kube::ApiClient, namespace: &str) -> Result<()> {
    kube.delete_namespace(namespace).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while kube.namespace_owner(namespace, manifests::OWNER_ANNOTATION).await? != kube::NamespaceOwner::Absent {
        if std::time::Instant::now() >= deadline {
            bail!(
                "the namespace {namespace} is still terminating after 5 minutes\n  `kubectl get namespace {namespace} -o yaml` shows what holds it (often a finalizer)"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn laptop_down(laptop: ClusterTool, mut target: Session, args: &DownArgs, printer: &mut Printer) -> Result<()> {
    let plan = &target.plan;
    let marker = lifecycle::marker(&target);
    let daemon = lifecycle::docker(&target.env).await?;
    let (_, ownership) = lifecycle::nodes(&target, laptop, &daemon).await?;
    if ownership == Ownership::Absent && target.state.is_none() && !target.store.dir().exists() {
        printer.done(&format!("Nothing to remove: devflow has made nothing for the project `{}`", plan.project));
        return Ok(());
    }
    lifecycle::check_ours(&ownership, plan, &marker)?;

    let what = if args.keep_cluster {
        format!(
            "the Airflow release and devflow's objects (namespace {}, DAG volume) in {}",
            plan.namespace, plan.context
        )
    } else if ownership == Ownership::Ours {
        format!(
            "the {} cluster {} (its database too) and devflow's state for this project",
            plan.provider, plan.cluster_name
        )
    } else {
        "devflow's state for this project (no cluster of it exists)".to_string()
    };
    if !confirmed(what, args, printer)? {
        return Ok(());
    }

    if args.keep_cluster {
        if ownership != Ownership::Ours {
            bail!(
                "there is no cluster of this project to keep: `devflow down` (without --keep-cluster) removes what is left"
            );
        }
        uninstall_release(&target, printer).await?;
        let kube = kube::ApiClient::connect(&target.env, &plan.context).await?;
        step(printer, "Deleting devflow's objects", kube.delete(&plan.manifests), |_| {
            format!("Deleted devflow's objects ({})", plan.manifests.len())
        })
        .await?;
        if let Some(state) = target.state.as_mut() {
            state.manifests = Phase::NotStarted;
            state.release = Phase::NotStarted;
            target.store.save(state)?;
        }
        return Ok(());
    }

    if ownership == Ownership::Ours {
        let cluster = lifecycle::cluster(&target, laptop)?;
        step(
            printer,
            &format!("Deleting the {} cluster {}", plan.provider, plan.cluster_name),
            cluster.delete(),
            |_| format!("Deleted the cluster {} and its kube context", plan.cluster_name),
        )
        .await?;
    }
    for image in target.state.iter().flat_map(|s| s.images.iter()) {
        daemon.remove_image(image).await?;
        printer.done(&format!("Removed the image {image}"));
    }
    target.store.remove()?;
    printer.done(&format!("Removed devflow's state {}", target.store.dir().display()));
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum DownError {
    #[error(
        "not removing {what}: there is no terminal to confirm on\n  run `devflow down --yes` to remove it without asking"
    )]
    NotConfirmed { what: String },
}

crate::error::one_kind!(DownError, Input);
