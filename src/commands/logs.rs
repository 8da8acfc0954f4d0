//! `devflow logs [COMPONENT] [-f]`: the logs of one or all of Airflow's components, each line
//! prefixed with where it came from.

use ::kube::api::LogParams;
use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::Pod;

use super::lifecycle::Target;
use crate::cli::{LogsArgs, ProjectFlags};
use crate::kube;
use crate::plan::{self, manifests};
use crate::ui::Printer;

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("`{given}` is not a component of this Airflow{}\n  expected one of: {}", hint(.given, .known), known.join(", "))]
    UnknownComponent { given: String, known: Vec<String> },
}

fn hint(given: &str, known: &[String]) -> String {
    crate::config::nearest(given, known.iter().map(String::as_str))
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

/// One pod's log to show, and the prefix its lines get.
struct Source {
    prefix: String,
    pod: String,
    container: Option<String>,
}

pub async fn run(args: &LogsArgs, printer: &mut Printer) -> Result<()> {
    let target = Target::load(&ProjectFlags::default(), &[], printer, true)?;
    let plan = &target.plan;
    let mut known = vec!["postgresql".to_string()];
    known.extend(plan.components.iter().map(|c| c.to_string()));
    let chosen: Vec<String> = match &args.component {
        Some(given) if known.contains(given) => vec![given.clone()],
        Some(given) => bail!(LogsError::UnknownComponent { given: given.clone(), known }),
        None => known,
    };
    let kube = kube::Cluster::connect(&plan.context).await?;
    let mut sources = Vec::new();
    for component in &chosen {
        let selector = match component.as_str() {
            "postgresql" => format!("app.kubernetes.io/name={}", manifests::POSTGRES),
            _ => format!("release={},component={component}", plan::RELEASE),
        };
        let pods = kube.pods(plan::NAMESPACE, &selector).await?;
        let several = pods.len() > 1;
        for (index, pod) in pods.iter().enumerate() {
            let prefix = if several { format!("{component}-{index}") } else { component.clone() };
            sources.push(Source {
                prefix,
                pod: pod.metadata.name.clone().unwrap_or_default(),
                container: main_container(pod, component),
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
            kube.stream_logs(plan::NAMESPACE, &source.pod, params(source), |line| {
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
        let (kube, tx, params) = (kube.clone(), tx.clone(), params(source));
        let (pod, tag) = (source.pod.clone(), printer.tag(&format!("{:<width$} |", source.prefix), index));
        tokio::spawn(async move {
            let result =
                kube.stream_logs(plan::NAMESPACE, &pod, params, |line| tx.send(format!("{tag} {line}")).is_ok()).await;
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

/// The container named after the component (the chart's and devflow's naming), else the first.
fn main_container(pod: &Pod, component: &str) -> Option<String> {
    let containers = &pod.spec.as_ref()?.containers;
    let wanted = if component == "postgresql" { "postgres" } else { component };
    containers.iter().find(|c| c.name == wanted).or(containers.first()).map(|c| c.name.clone())
}
