//! `devflow down`: removes what devflow made for this project (the cluster, if its marker proves
//! it is ours, or the namespace, if its annotation does; the images it built; its state folder)
//! and nothing else.

use anyhow::Result;

use crate::cli::DownArgs;
use crate::config::Flags;
use crate::env::Env;
use crate::provider::{Backend, Removal};
use crate::session::{Follow, Session};
use crate::ui::Printer;

pub async fn run(args: &DownArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    Backend::of(&session).down(Removal { yes: args.yes, keep_cluster: args.keep_cluster }, printer).await
}
