//! A project whose folder moved or whose name changed: `up` and `down` find the environment devflow
//! made for it before (`provider::survey::predecessors`) and offer to carry it over. On kind and
//! k3d the nodes mount the old folder's DAGs, fixed when the cluster was made (kind's
//! `extraMounts`, k3d's `volumes`), and a cluster cannot be renamed, so carrying over is removing
//! the old environment, after the same ownership check as `down`, for `up` to make the project's
//! own in its place.

use anyhow::Result;

use crate::provider::survey::{self, Move, Predecessor};
use crate::provider::{Backend, Removal};
use crate::session::Session;
use crate::ui::Printer;

/// Before the first `up` of a project: each earlier environment of it said, and removed when the
/// user agrees (`yes`, or at the prompt). One in the way that stays is an error; one that is not
/// is left with a note on how to remove it.
pub async fn before_up(session: &Session, yes: bool, printer: &mut Printer) -> Result<()> {
    if session.state.is_some() {
        return Ok(());
    }
    for found in survey::predecessors(&session.env, &session.project)? {
        let what = found.describe();
        let folder = old_folder(&found);
        let blocks = found.blocks(&session.plan);
        printer.warn(&what);
        let question = "Carry it over: remove it (its nodes mount the old folder, so it cannot follow) and make this project's environment in its place?";
        let agreed = yes || printer.confirm(question).unwrap_or(false);
        if agreed {
            remove(session, found, printer).await?;
        } else if blocks {
            return Err(super::Error::InTheWay { what, folder }.into());
        } else {
            printer.note(&format!("left as it is: `devflow down --path {folder}` removes it"));
        }
    }
    Ok(())
}

/// `down` in a project that has made nothing under its present name and folder: the environment
/// it made before it moved or was renamed is what the user means, and goes after the usual
/// question. The last one removed, or None when there is none.
pub async fn down_instead(session: &Session, removal: Removal, printer: &mut Printer) -> Result<Option<Session>> {
    if session.state.is_some() || session.store.dir().exists() {
        return Ok(None);
    }
    let mut last = None;
    for earlier in survey::predecessors(&session.env, &session.project)? {
        printer.note(&earlier.describe());
        let old = Session::recorded(&session.env, earlier.store, earlier.state)?;
        Backend::of(&old).down(removal, printer).await?;
        last = Some(old);
    }
    Ok(last)
}

async fn remove(session: &Session, found: Predecessor, printer: &mut Printer) -> Result<()> {
    let old = Session::recorded(&session.env, found.store, found.state)?;
    Backend::of(&old).down(Removal { yes: true, keep_cluster: false }, printer).await
}

/// The folder `down --path` names the old environment by.
fn old_folder(found: &Predecessor) -> String {
    match &found.how {
        Move::Moved { from } => from.display().to_string(),
        Move::Renamed { .. } => found.state.project_root.display().to_string(),
    }
}
