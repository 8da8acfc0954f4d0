//! `devflow logs [COMPONENT] [-f]`: the logs of one or all of Airflow's components, each line
//! prefixed with where it came from.

use ::kube::api::LogParams;
use anyhow::{Result, bail};

use crate::cli::LogsArgs;
use crate::env::Env;
use crate::kube;
use crate::session::Session;
use crate::ui::{Mode, Printer};

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
    let tags: Vec<String> =
        sources.iter().enumerate().map(|(index, s)| printer.tag(&format!("{:<width$} |", s.prefix), index)).collect();
    if !args.follow {
        for (index, source) in sources.iter().enumerate() {
            let mut lines = Vec::new();
            kube.stream_logs(&plan.namespace, &source.pod, params(source), |line| {
                lines.push(line);
                true
            })
            .await?;
            show(printer, source, &tags[index], &lines)?;
        }
        return Ok(());
    }
    // Every pod's stream at once, lines printed as they come, until Ctrl-C.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    for (index, source) in sources.iter().enumerate() {
        let (kube, tx, params, namespace) = (kube.clone(), tx.clone(), params(source), plan.namespace.clone());
        let pod = source.pod.clone();
        tokio::spawn(async move {
            let result = kube.stream_logs(&namespace, &pod, params, |line| tx.send((index, line)).is_ok()).await;
            if let Err(e) = result {
                let _ = tx.send((index, format!("(the log stream ended: {e})")));
            }
        });
    }
    drop(tx);
    tokio::select! {
        _ = async {
            while let Some((index, line)) = rx.recv().await {
                if show(printer, &sources[index], &tags[index], &[line]).is_err() {
                    break;
                }
            }
        } => {}
        // Following ends when the user stops it: not an error.
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Lines of one pod's log: under its tag, or (`--json`) one object a line.
fn show(printer: &mut Printer, source: &Source, tag: &str, lines: &[String]) -> std::io::Result<()> {
    if printer.mode() == Mode::Json {
        for line in lines {
            printer.line(&LogLine { component: &source.prefix, pod: &source.pod, line })?;
        }
        return Ok(());
    }
    if lines.is_empty() {
        return Ok(());
    }
    printer.out(&lines.iter().map(|line| format!("{tag} {line}")).collect::<Vec<_>>().join("\n"))
}

/// `logs --json`: one line of a pod's log.
#[derive(serde::Serialize)]
struct LogLine<'a> {
    /// The component, numbered when it has several pods (`worker-1`), as the text's prefix.
    component: &'a str,
    pod: &'a str,
    line: &'a str,
}
