//! Running one of `incluster`'s scripts in an Airflow pod of the project, through kube's exec:
//! the pod found, the script given with `python -c`, its output or its failure.

use anyhow::{Result, bail};

use crate::kube;
use crate::session::Session;
use crate::ui::Printer;

/// The component whose pod runs the scripts: it has the project's image, the DAGs and the
/// database.
const WORKHORSE: &str = "scheduler";

/// Runs one of `incluster`'s scripts with `python -c` in the scheduler's pod, under a progress
/// line; its standard output, or an error with the end of its standard error.
pub async fn run_script(
    session: &Session,
    what: &str,
    done: &str,
    script: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    printer: &mut Printer,
) -> Result<Vec<u8>> {
    let plan = &session.plan;
    let kube = kube::ApiClient::connect(&session.env, &plan.context).await?;
    let (pod, container) = running(&kube, session, WORKHORSE).await?;
    let mut argv = vec!["python".to_string(), "-c".into(), script.into()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let doing = format!("{what} (pod {pod})");
    let exec = kube.exec(&plan.namespace, &pod, container.as_deref(), &argv, stdin);
    let out = printer.step(&doing, exec, |_| done.to_string()).await?;
    if out.code != 0 {
        bail!("{what} in the pod {pod} failed (exit code {}):\n    {}", out.code, last_lines(&out.stderr));
    }
    Ok(out.stdout)
}

/// A running pod of the component, and its main container.
pub async fn running(kube: &kube::ApiClient, session: &Session, component: &str) -> Result<(String, Option<String>)> {
    let plan = &session.plan;
    let (selector, container) = plan.component(component)?;
    match kube.running_pod(&plan.namespace, &selector, container).await? {
        Some(running) => Ok(running),
        None => bail!(
            "no pod of {component} is running in the namespace {}\n  `devflow status` shows the components; `devflow up` starts them",
            plan.namespace
        ),
    }
}

/// The end of a failing script's standard error: the exception, not all of Airflow's logging.
fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n    ")
}
