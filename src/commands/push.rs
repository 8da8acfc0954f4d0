//! `devflow push`: the project's folders copied into the cluster now (push delivery), and what
//! was sent.

use anyhow::Result;

use crate::cli::JsonFlag;
use crate::config::Flags;
use crate::env::Env;
use crate::kube::ApiClient;
use crate::session::{Follow, Session};
use crate::sync::push::Pushers;
use crate::ui::Printer;

pub async fn run(args: &JsonFlag, env: &Env, printer: &mut Printer) -> Result<()> {
    let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    let Some(mut pushers) = Pushers::new(&session.plan, session.project.plugins.as_deref()) else {
        printer.note(&format!(
            "the project `{}` mounts its folders into the cluster: every save is there already (`dag_delivery = \"push\"` in [cluster] pushes instead)",
            session.plan.project
        ));
        return Ok(());
    };
    let kube = ApiClient::connect(env, &session.plan.context).await?;
    let mut done = Vec::new();
    for pusher in pushers.each() {
        done.push(pusher.push(&kube, printer).await?);
    }
    printer.set_mode(super::json_mode(args.json));
    printer.result(&done, |done| done.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
    Ok(())
}
