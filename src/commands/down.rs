//! `devflow down`: removes what devflow made for this project (the cluster, if its marker proves
//! it is ours; the images it built; its state folder) and nothing else.

use anyhow::{Result, bail};

use super::lifecycle::{self, Target, step};
use crate::cli::{DownArgs, ProjectFlags};
use crate::cluster::Ownership;
use crate::helm::Helm;
use crate::kube;
use crate::state::Phase;
use crate::tool::{self, Tool};
use crate::ui::Printer;

pub async fn run(args: &DownArgs, printer: &mut Printer) -> Result<()> {
    let mut target = Target::load(&ProjectFlags::default(), &[], printer, true)?;
    let plan = &target.plan;
    let marker = target.marker();
    let daemon = lifecycle::docker().await?;
    let (_, ownership) = target.nodes(&daemon).await?;
    if ownership == Ownership::Absent && target.state.is_none() && !target.folder.dir.exists() {
        printer.done(&format!("Nothing to remove: devflow has made nothing for the project `{}`", plan.project));
        return Ok(());
    }
    lifecycle::check_ours(&ownership, plan, &marker)?;

    let what = if args.keep_cluster {
        format!(
            "the Airflow release and devflow's objects (namespace {}, DAG volume) in {}",
            crate::plan::NAMESPACE,
            plan.context
        )
    } else if ownership == Ownership::Ours {
        format!(
            "the {} cluster {} (its database too) and devflow's state for this project",
            plan.provider, plan.cluster_name
        )
    } else {
        "devflow's state for this project (no cluster of it exists)".to_string()
    };
    if !args.yes {
        match printer.confirm(&format!("Remove {what}?")) {
            Some(true) => {}
            Some(false) => {
                printer.note("nothing was removed");
                return Ok(());
            }
            None => bail!(DownError::NotConfirmed { what }),
        }
    }

    if args.keep_cluster {
        if ownership != Ownership::Ours {
            bail!(
                "there is no cluster of this project to keep: `devflow down` (without --keep-cluster) removes what is left"
            );
        }
        let helm = Helm { tool: tool::locate(Tool::Helm)? };
        step(printer, "Uninstalling the Airflow release", helm.uninstall(plan), |removed| {
            if *removed { "Uninstalled the Airflow release".into() } else { "No Airflow release to uninstall".into() }
        })
        .await?;
        let kube = kube::Cluster::connect(&plan.context).await?;
        step(printer, "Deleting devflow's objects", kube.delete(&plan.manifests), |_| {
            format!("Deleted devflow's objects ({})", plan.manifests.len())
        })
        .await?;
        if let Some(state) = target.state.as_mut() {
            state.manifests = Phase::NotStarted;
            state.release = Phase::NotStarted;
            target.folder.save(state)?;
        }
        return Ok(());
    }

    if ownership == Ownership::Ours {
        let cluster = target.cluster()?;
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
    target.folder.remove()?;
    printer.done(&format!("Removed devflow's state {}", target.folder.dir.display()));
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum DownError {
    #[error(
        "not removing {what}: there is no terminal to confirm on\n  run `devflow down --yes` to remove it without asking"
    )]
    NotConfirmed { what: String },
}
