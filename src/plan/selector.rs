//! The label selectors of the pods and jobs devflow looks for, written once: the chart's
//! components carry `release` and `component`, devflow's own objects `app.kubernetes.io/name`.
//! KubernetesExecutor task pods carry the pod template's `component: worker` too, plus
//! `kubernetes_executor: "True"` (cncf-kubernetes `pod_generator.py`): they are tasks, never a
//! component's pods, so no selector here picks them (`!=` matches a pod without the label,
//! apimachinery `pkg/labels/selector.go`), and a restart never deletes a running task.

use super::RELEASE;
use super::manifests::NAME_LABEL;

/// The pods of one of the chart's components.
pub fn component(component: &str) -> String {
    format!("release={RELEASE},component={component},{NOT_A_TASK}")
}

/// The pods or jobs of several of the chart's components.
pub fn components(components: &[&str]) -> String {
    format!("release={RELEASE},component in ({}),{NOT_A_TASK}", components.join(","))
}

/// Every workload of the chart's release (Deployments and StatefulSets carry the label too).
pub fn release() -> String {
    format!("release={RELEASE}")
}

const NOT_A_TASK: &str = "kubernetes_executor!=True";

/// The pods of one of devflow's own objects (PostgreSQL, the DAG receiver).
pub fn named(name: &str) -> String {
    format!("{NAME_LABEL}={name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_the_release_and_the_components() {
        assert_eq!(component("scheduler"), "release=airflow,component=scheduler,kubernetes_executor!=True");
        assert_eq!(components(&["a", "b"]), "release=airflow,component in (a,b),kubernetes_executor!=True");
        assert_eq!(named("devflow-postgres"), "app.kubernetes.io/name=devflow-postgres");
    }
}
