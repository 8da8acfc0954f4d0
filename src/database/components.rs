//! Airflow's components stopped around a change of the database, and started after: the chart's
//! Deployments and StatefulSets scaled to 0 (with a live line while their pods go), then back to
//! the replicas they had, waiting until they are Ready. What was stopped is kept in the state
//! folder until it is started again, so a restore interrupted in between is finished by the next.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use super::Error;
use crate::config::StateFile;
use crate::kube::{self, ApiClient, Scaled};
use crate::plan::{Expect, Plan, selector};
use crate::state::Store;
use crate::ui::{self, Printer};

/// How long the components' pods may take to go (the chart's grace periods are at most 60 s).
const GONE_WITHIN: Duration = Duration::from_secs(300);
/// How long the components may take to be Ready again.
const READY_WITHIN: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(500);

/// What [`stop`] scaled to 0, with the replicas each had.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stopped {
    pub workloads: Vec<Scaled>,
}

impl Stopped {
    fn components(&self) -> Vec<&str> {
        self.workloads.iter().filter(|w| !w.component.is_empty()).map(|w| w.component.as_str()).collect()
    }
}

/// Scales every Deployment and StatefulSet of the chart's release to 0 and waits until their pods
/// are gone. A workload a restore left at 0 keeps the replicas recorded then.
pub async fn stop(kube: &ApiClient, plan: &Plan, store: &Store, printer: &mut Printer) -> Result<Stopped, Error> {
    let recorded: Stopped = store.read_json(StateFile::StoppedComponents)?.unwrap_or_default();
    let before: BTreeMap<String, i32> = recorded.workloads.iter().map(|w| (w.name.clone(), w.replicas)).collect();
    let mut workloads = kube.scalable(&plan.namespace, &selector::release()).await?;
    for workload in &mut workloads {
        if workload.replicas == 0 {
            workload.replicas = before.get(&workload.name).copied().unwrap_or(0);
        }
    }
    let stopped = Stopped { workloads };
    let text = serde_json::to_vec_pretty(&stopped).expect("the stopped workloads serialise");
    store.write(StateFile::StoppedComponents, &text, 0o600)?;
    for workload in &stopped.workloads {
        kube.scale(&plan.namespace, workload, 0).await?;
    }
    wait_gone(kube, &plan.namespace, &stopped.components(), printer).await?;
    Ok(stopped)
}

/// Scales what [`stop`] stopped back to its replicas and waits until it is Ready.
pub async fn start(
    kube: &ApiClient,
    plan: &Plan,
    store: &Store,
    stopped: &Stopped,
    printer: &mut Printer,
) -> Result<(), Error> {
    for workload in &stopped.workloads {
        kube.scale(&plan.namespace, workload, workload.replicas).await?;
    }
    let expect: Vec<Expect> = stopped
        .workloads
        .iter()
        .filter(|w| w.replicas > 0 && !w.component.is_empty())
        .map(|w| Expect::component(&w.component))
        .collect();
    kube::wait::workloads(kube, &plan.namespace, &expect, Instant::now() + READY_WITHIN, printer).await?;
    store.remove_file(StateFile::StoppedComponents)?;
    Ok(())
}

/// Waits, with a live line for each component that still has pods, until none has.
async fn wait_gone(kube: &ApiClient, namespace: &str, components: &[&str], printer: &mut Printer) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let pods = kube.workloads(namespace).await?.pods;
        let left: Vec<(String, usize)> = components
            .iter()
            .map(|c| (c.to_string(), pods.iter().filter(|p| of_component(p, c)).count()))
            .filter(|(_, n)| *n > 0)
            .collect();
        if left.is_empty() {
            printer.live(&[]);
            printer.done(&format!("Stopped {} components  {}", components.len(), ui::seconds(started.elapsed())));
            return Ok(());
        }
        if started.elapsed() >= GONE_WITHIN {
            let waiting = left.iter().map(|(c, n)| format!("{c}: {n} pod(s) still there")).collect();
            return Err(kube::Error::TimedOut {
                what: "the components to stop".into(),
                after: started.elapsed(),
                waiting,
            }
            .into());
        }
        let lines = left
            .iter()
            .map(|(c, n)| format!("{}{c:<14} stopping ({n} pod(s))", printer.spin(started)))
            .collect::<Vec<_>>();
        printer.live(&lines);
        tokio::time::sleep(POLL).await;
    }
}

/// A pod of the release's component (not a job's pod, not a KubernetesExecutor task).
fn of_component(pod: &Pod, component: &str) -> bool {
    let labels = pod.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    label("component") == Some(component)
        && label("release") == Some(crate::plan::RELEASE)
        && label("kubernetes_executor") != Some("True")
        && label("job-name").is_none()
        && !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}
