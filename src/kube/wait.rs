//! Waiting, with a live line each, until the cluster's nodes are Ready or Airflow's components
//! are: one policy for `up`, `start` and the restart after a plugin change. A pod that fails for a
//! reason waiting will not fix is reported at once, with its reason and its last log lines.

use std::time::{Duration, Instant};

use super::{ApiClient, ComponentStatus, Error, Seen};
use crate::plan::{Expect, selector};
use crate::ui::{self, Printer};

/// How often the API is asked again while waiting.
const POLL: Duration = Duration::from_millis(500);

/// Waits until `expected` nodes are Ready.
pub async fn nodes(kube: &ApiClient, expected: usize, deadline: Instant, printer: &mut Printer) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        // Right after create or start the API server may still refuse connections.
        let (ready, line) = match kube.nodes().await {
            Ok(nodes) => {
                let ready = nodes.iter().filter(|n| n.ready).count();
                (ready >= expected && nodes.len() >= expected, format!("nodes {ready}/{expected} Ready"))
            }
            Err(e) => (false, format!("waiting for the Kubernetes API ({e})")),
        };
        if ready {
            printer.live(&[]);
            printer.done(&format!("{expected} node(s) Ready  {}", ui::seconds(started.elapsed())));
            return Ok(());
        }
        if Instant::now() >= deadline {
            printer.failed(&line, started.elapsed());
            return Err(Error::TimedOut {
                what: "the cluster's nodes".into(),
                after: started.elapsed(),
                waiting: vec![line],
            });
        }
        printer.live(&[format!("{}{line}", printer.spin(started))]);
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every expected component is ready, with one live line each; a pod that fails is
/// reported at once, with its reason and last log lines. A state that may heal is said once as a
/// warning, history as a note when ready (the policy is `policy.rs`).
pub async fn workloads(
    kube: &ApiClient,
    namespace: &str,
    expect: &[Expect],
    deadline: Instant,
    printer: &mut Printer,
) -> Result<Vec<ComponentStatus>, Error> {
    judged_until_ready(kube, namespace, expect, deadline, Seen::default(), printer).await
}

/// The same after the cluster's node containers started again: a Ready status whose containers
/// started before `since` was written before the stop, and does not count.
pub async fn workloads_restarted(
    kube: &ApiClient,
    namespace: &str,
    expect: &[Expect],
    deadline: Instant,
    since: std::time::SystemTime,
    printer: &mut Printer,
) -> Result<Vec<ComponentStatus>, Error> {
    let since = k8s_openapi::jiff::Timestamp::try_from(since).ok();
    // metav1.Time has whole seconds: a container started in the same second as `since` is new.
    let since = since.and_then(|t| k8s_openapi::jiff::Timestamp::from_second(t.as_second()).ok());
    let seen = Seen::since(since);
    judged_until_ready(kube, namespace, expect, deadline, seen, printer).await
}

async fn judged_until_ready(
    kube: &ApiClient,
    namespace: &str,
    expect: &[Expect],
    deadline: Instant,
    mut seen: Seen,
    printer: &mut Printer,
) -> Result<Vec<ComponentStatus>, Error> {
    let started = Instant::now();
    let mut warned = std::collections::HashSet::new();
    loop {
        let workloads = kube.workloads(namespace).await?;
        let mut statuses: Vec<ComponentStatus> = expect.iter().map(|e| workloads.judge(e, &mut seen)).collect();
        if statuses.iter().any(|s| s.phase == "ImagePullBackOff") {
            // Between tries the kubelet says only `Back-off pulling image`: its event says why.
            seen.pull_events = kube.pull_failures(namespace).await?;
            statuses = expect.iter().map(|e| workloads.judge(e, &mut seen)).collect();
        }
        if let Some(status) = statuses.iter().find(|s| s.failure.is_some()) {
            let (failure, container) = status.failure.clone().expect("found above");
            printer.failed(&format!("{:<14} {}", status.name, status.phase), started.elapsed());
            let failure = kube.with_logs(namespace, failure, container).await;
            return Err(Error::Failed(Box::new(failure)));
        }
        for warning in statuses.iter().filter_map(|s| s.warning.clone()) {
            if warned.insert(warning.clone()) {
                printer.warn(&format!("{warning} (it may heal: devflow keeps waiting)"));
            }
        }
        if statuses.iter().all(|s| s.done) {
            printer.live(&[]);
            for note in statuses.iter().flat_map(|s| &s.notes) {
                printer.note(note);
            }
            printer.done(&format!(
                "Airflow is ready ({} components)  {}",
                statuses.len(),
                ui::seconds(started.elapsed())
            ));
            return Ok(statuses);
        }
        if Instant::now() >= deadline {
            let waiting = statuses.iter().filter(|s| !s.done).map(|s| format!("{}: {}", s.name, s.phase)).collect();
            printer.failed("Waiting for Airflow", started.elapsed());
            return Err(Error::TimedOut { what: "Airflow".into(), after: started.elapsed(), waiting });
        }
        let lines: Vec<String> = statuses.iter().map(|s| component_line(s, printer, started)).collect();
        printer.live(&lines);
        tokio::time::sleep(POLL).await;
    }
}

fn component_line(status: &ComponentStatus, printer: &Printer, started: Instant) -> String {
    let mark = match (status.done, printer.is_live()) {
        (true, _) => '✓',
        (false, true) => ui::spinner(started.elapsed()),
        (false, false) => '…',
    };
    format!("{mark} {:<14} {}", status.name, status.phase)
}

/// Restarts components (their controllers make new pods) and waits until they are ready again.
pub async fn restart(
    kube: &ApiClient,
    namespace: &str,
    components: &[&str],
    printer: &mut Printer,
) -> Result<(), Error> {
    kube.delete_pods(namespace, &selector::components(components)).await?;
    let expect: Vec<Expect> = components.iter().map(|c| Expect::component(c)).collect();
    // The old pods linger while they terminate; the wait counts only new ones.
    workloads(kube, namespace, &expect, Instant::now() + Duration::from_secs(600), printer).await?;
    Ok(())
}
