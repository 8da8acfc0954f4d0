//! `devflow down`: removes what devflow made for this project (the cluster, if its marker proves
//! it is ours, or the namespace, if its annotation does; the images it built; its state folder)
//! and nothing else. `--project`/`--path` name the environment from any folder, as `devflow list`
//! shows them, orphans among them.

use anyhow::{Result, bail};

use crate::cli::DownArgs;
use crate::config::{Flags, StateDir};
use crate::env::Env;
use crate::provider::{Backend, Removal};
use crate::session::{Follow, Session};
use crate::state::Store;
use crate::ui::Printer;

pub async fn run(args: &DownArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let removal = Removal { yes: args.yes, keep_cluster: args.keep_cluster };
    let session = match (&args.project, &args.path) {
        (None, None) => {
            let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
            if let Some(earlier) = super::moved::down_instead(&session, removal, printer).await? {
                return removed(&earlier, printer);
            }
            session
        }
        (name, path) => named(env, name.as_deref(), path.as_deref())?,
    };
    Backend::of(&session).down(removal, printer).await?;
    removed(&session, printer)
}

/// What `down --json` prints once the environment is gone.
fn removed(session: &Session, printer: &mut Printer) -> Result<()> {
    let plan = &session.plan;
    let removed = !session.store.dir().exists();
    printer.json_result(&Removed {
        project: &plan.project,
        cluster: plan.cluster_ref(),
        namespace: &plan.namespace,
        removed,
    })?;
    Ok(())
}

/// `down --json`: the environment, and whether devflow's state of it is gone (each thing removed
/// was a `done` event).
#[derive(serde::Serialize)]
struct Removed<'a> {
    project: &'a str,
    cluster: crate::plan::ClusterRef,
    namespace: &'a str,
    removed: bool,
}

/// The one environment of project `name`, or of the project in folder `path`.
fn named(env: &Env, name: Option<&str>, path: Option<&std::path::Path>) -> Result<Session> {
    let path = path.map(|p| env.cwd.join(p));
    let mut found: Vec<_> = Store::all(&env.state_base())?
        .into_iter()
        .filter(|(store, state)| {
            name.is_none_or(|n| StateDir::at(store.dir().to_path_buf()).project_name() == n)
                && path
                    .as_ref()
                    .is_none_or(|p| state.project_root == *p || p.canonicalize().is_ok_and(|p| p == state.project_root))
        })
        .collect();
    let asked = name.map_or_else(
        || format!("--path {}", path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
        |n| format!("--project {n}"),
    );
    match found.len() {
        0 => bail!(Error::NoSuch { asked }),
        1 => {
            let (store, state) = found.remove(0);
            Session::recorded(env, store, state)
        }
        _ => bail!(Error::Ambiguous {
            asked,
            folders: found
                .iter()
                .map(|(_, s)| format!("    --path {}", s.project_root.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("devflow made no environment for `{asked}` on this machine\n  `devflow list` shows the ones it made")]
    NoSuch { asked: String },
    #[error("several environments match `{asked}`: name one by its folder\n{folders}")]
    Ambiguous { asked: String, folders: String },
}

crate::error::one_kind!(Error, Input);
