//! The KubernetesExecutor's task pods, matched to the task instances of one run, for `devflow
//! run`'s live lines.
//!
//! What a worker pod carries is cncf-kubernetes `pod_generator.py`: `construct_pod` writes the
//! annotations `dag_id`, `task_id`, `try_number`, `run_id` and (for a mapped task) `map_index`
//! with their plain values; `build_labels_for_k8s_executor_pod` writes the same as labels, but
//! passed through `make_safe_label_value` (cut to 53 characters plus an md5 suffix when a value is
//! not a valid label as it is, e.g. a run id's `:` and `+`), so a run is matched by the
//! annotations, and the pods are picked by the label `kubernetes_executor: "True"` alone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::{ApiClient, Error};
use crate::env::Env;

/// The label `build_labels_for_k8s_executor_pod` gives every worker pod.
const SELECTOR: &str = "kubernetes_executor=True";

/// A task instance's pod as the cluster has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPod {
    pub name: String,
    /// Pending, Running, Succeeded, Failed (or Unknown).
    pub phase: String,
    /// Why a container waits (ImagePullBackOff, ContainerCreating, …), when one does.
    pub waiting: Option<String>,
}

/// One try of a task instance: its task id, map index (-1 unmapped) and try number.
pub type Try = (String, i64, u32);

/// The task pods of a namespace, read from synchronous code on a runtime of their own.
pub struct TaskPods {
    runtime: tokio::runtime::Runtime,
    client: ApiClient,
    namespace: String,
}

impl TaskPods {
    pub fn connect(env: &Env, context: &str, namespace: &str) -> Result<TaskPods, Error> {
        let runtime =
            crate::runtime::new().map_err(|e| Error::Api { what: "start a runtime".into(), message: e.to_string() })?;
        let client = runtime.block_on(ApiClient::connect(env, context))?;
        Ok(TaskPods { runtime, client, namespace: namespace.to_string() })
    }

    /// The pods of the run's task tries now.
    pub fn of_run(&self, dag_id: &str, run_id: &str) -> Result<BTreeMap<Try, TaskPod>, Error> {
        let pods = self.runtime.block_on(self.client.pods(&self.namespace, SELECTOR))?;
        Ok(matched(&pods, dag_id, run_id))
    }
}

/// The pods of the run's task tries, by their annotations; of two pods of one try (a pod the
/// executor made again), the newer: `pods` is oldest first.
fn matched(pods: &[Pod], dag_id: &str, run_id: &str) -> BTreeMap<Try, TaskPod> {
    let mut out = BTreeMap::new();
    for pod in pods {
        let Some(notes) = pod.metadata.annotations.as_ref() else { continue };
        let note = |key: &str| notes.get(key).map(String::as_str);
        if note("dag_id") != Some(dag_id) || note("run_id") != Some(run_id) {
            continue;
        }
        let (Some(task_id), Some(Ok(try_number))) = (note("task_id"), note("try_number").map(str::parse::<u32>)) else {
            continue;
        };
        let Ok(map_index) = note("map_index").unwrap_or("-1").parse::<i64>() else { continue };
        out.insert((task_id.to_string(), map_index, try_number), task_pod(pod));
    }
    out
}

fn task_pod(pod: &Pod) -> TaskPod {
    let status = pod.status.as_ref();
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    TaskPod {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into()),
        waiting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, annotations: serde_json::Value, status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "annotations": annotations,
                "labels": {"kubernetes_executor": "True", "run_id": "manual__2026-12-01T19_00_00.123456_00_00-5d3f0a1b2"}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_runs_task_pods_are_matched_by_their_annotations() {
        let run_id = "manual__2026-12-01T19:00:00.123456+00:00";
        let waiting = serde_json::json!({"phase": "Pending", "containerStatuses": [{"name": "base", "image": "x",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff"}}}]});
        let pods = [
            pod(
                "extract-1",
                serde_json::json!({"dag_id": "etl", "task_id": "extract", "try_number": "1", "run_id": run_id}),
                serde_json::json!({"phase": "Failed"}),
            ),
            pod(
                "extract-2",
                serde_json::json!({"dag_id": "etl", "task_id": "extract", "try_number": "1", "run_id": run_id}),
                serde_json::json!({"phase": "Running"}),
            ),
            pod(
                "load-3",
                serde_json::json!({"dag_id": "etl", "task_id": "load", "try_number": "2", "run_id": run_id,
                "map_index": "3"}),
                waiting,
            ),
            pod(
                "other-run",
                serde_json::json!({"dag_id": "etl", "task_id": "extract", "try_number": "1",
                "run_id": "manual__other"}),
                serde_json::json!({"phase": "Running"}),
            ),
            pod(
                "other-dag",
                serde_json::json!({"dag_id": "etl2", "task_id": "extract", "try_number": "1",
                "run_id": run_id}),
                serde_json::json!({"phase": "Running"}),
            ),
            pod("no-notes", serde_json::Value::Null, serde_json::json!({"phase": "Running"})),
        ];
        let matched = matched(&pods, "etl", run_id);
        let running = TaskPod { name: "extract-2".into(), phase: "Running".into(), waiting: None };
        let backing_off =
            TaskPod { name: "load-3".into(), phase: "Pending".into(), waiting: Some("ImagePullBackOff".into()) };
        assert_eq!(
            matched,
            BTreeMap::from([(("extract".into(), -1, 1), running), (("load".into(), 3, 2), backing_off)])
        );
    }
}
