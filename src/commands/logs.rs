//! `devflow logs [COMPONENT] [-f]`: the logs of one or all of Airflow's components, each line
//! prefixed with where it came from.

use ::kube::api::LogParams;
use anyhow::{Result, bail};

use crate::cli::LogsArgs;
use crate::env::Env;
use crate::kube;
use crate::session::Session;
use crate::ui::Printer;

/// One pod's log to show, and the prefix its lines get.
struct Source {
    prefix: String,
    pod: String,
    container: Option<String>,
}

pub async fn run(args: &LogsArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let target = Session::open_made(env, printer)?;
    let plan = &target.plan;
    let chosen: Vec<String> = match &args.component {
        Some(given) => vec![given.clone()],
        None => plan.known_components(),
    };
    let kube = kube::ApiClient::connect(env, &plan.context).await?;
    let mut sources = Vec::new();
    for component in &chosen {
        let (selector, container) = plan.component(component)?;
        let pods = kube.pods(&plan.namespace, &selector).await?;
        let several = pods.len() > 1;
        for (index, pod) in pods.iter().enumerate() {
            let prefix = if several { format!("{component}-{index}") } else { component.clone() };
            sources.push(Source {
                prefix,
                pod: pod.metadata.name.clone().unwrap_or_default(),
                container: kube::main_container(pod, container),
            });
        }
    }
    if sources.is_empty() {
        bail!(
            "no pods of {} are running\n  `devflow status` shows the components; `devflow up` starts them",
            chosen.join(", ")
        );
    }
    let width = sources.iter().map(|s| s.prefix.len()).max().unwrap_or(0);
    let params = |source: &Source| LogParams {
        container: source.container.clone(),
        follow: args.follow,
        tail_lines: Some(args.tail),
        since_seconds: args.since.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        ..LogParams::default()
    };
    if !args.follow {
        for (index, source) in sources.iter().enumerate() {
            let tag = printer.tag(&format!("{:<width$} |", source.prefix), index);
            let mut lines = Vec::new();
            kube.stream_logs(&plan.namespace, &source.pod, params(source), |line| {
                lines.push(format!("{tag} {line}"));
                true
            })
            .await?;
            if !lines.is_empty() {
                printer.out(&lines.join("\n"))?;
            }
        }
        return Ok(());
    }
    // Every pod's stream at once, lines printed as they come, until Ctrl-C.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for (index, source) in sources.iter().enumerate() {
        let (kube, tx, params, namespace) = (kube.clone(), tx.clone(), params(source), plan.namespace.clone());
        let (pod, tag) = (source.pod.clone(), printer.tag(&format!("{:<width$} |", source.prefix), index));
        tokio::spawn(async move {
            let result =
                kube.stream_logs(&namespace, &pod, params, |line| tx.send(format!("{tag} {line}")).is_ok()).await;
            if let Err(e) = result {
                let _ = tx.send(format!("{tag} (the log stream ended: {e})"));
            }
        });
    }
    drop(tx);
    tokio::select! {
        _ = async {
            while let Some(line) = rx.recv().await {
                if printer.out(&line).is_err() {
                    break;
                }
            }
        } => {}
        // Following ends when the user stops it: not an error.
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
