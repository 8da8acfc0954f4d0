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
        printer.json_result(&Pushes {
            project: &session.plan.project,
            delivery: session.plan.delivery,
            pushed: Vec::new(),
        })?;
        return Ok(());
    };
    let kube = ApiClient::connect(env, &session.plan.context).await?;
    let mut done = Vec::new();
    for pusher in pushers.each() {
        done.push(pusher.push(&kube, printer).await?);
    }
    printer.set_mode(super::json_mode(args.json));
    let pushes = Pushes { project: &session.plan.project, delivery: session.plan.delivery, pushed: done };
    printer.result(&pushes, |p| p.pushed.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
    Ok(())
}

/// `push --json`: what each push sent (none when the folders are mounted).
#[derive(serde::Serialize)]
struct Pushes<'a> {
    project: &'a str,
    delivery: crate::config::Delivery,
    pushed: Vec<crate::sync::push::Pushed>,
}
