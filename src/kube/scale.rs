//! The chart's Deployments and StatefulSets scaled down and back: what `db restore` does so that
//! nothing writes to the database while it is replaced.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use super::{ApiClient, Error, api_error};

/// One Deployment or StatefulSet, with the replicas it had and the `component` label of its pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scaled {
    /// `Deployment` or `StatefulSet`.
    pub kind: String,
    pub name: String,
    pub replicas: i32,
    /// Its pods' `component` label (the chart's), empty when they have none.
    pub component: String,
}

impl ApiClient {
    /// The Deployments and StatefulSets a label selector picks, with their replicas now.
    pub async fn scalable(&self, namespace: &str, selector: &str) -> Result<Vec<Scaled>, Error> {
        let params = ListParams::default().labels(selector);
        let what = |kind: &str| format!("list the {kind}s of {namespace}");
        let deployments = Api::<Deployment>::namespaced(self.client.clone(), namespace)
            .list(&params)
            .await
            .map_err(api_error(what("Deployment")))?;
        let stateful_sets = Api::<StatefulSet>::namespaced(self.client.clone(), namespace)
            .list(&params)
            .await
            .map_err(api_error(what("StatefulSet")))?;
        let component = |template: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>| {
            template
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref())
                .and_then(|l| l.get("component").cloned())
                .unwrap_or_default()
        };
        let mut found: Vec<Scaled> = deployments
            .items
            .iter()
            .map(|d| Scaled {
                kind: "Deployment".into(),
                name: d.metadata.name.clone().unwrap_or_default(),
                replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                component: component(d.spec.as_ref().map(|s| &s.template)),
            })
            .collect();
        found.extend(stateful_sets.items.iter().map(|s| Scaled {
            kind: "StatefulSet".into(),
            name: s.metadata.name.clone().unwrap_or_default(),
            replicas: s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            component: component(s.spec.as_ref().map(|s| &s.template)),
        }));
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// Sets a Deployment's or StatefulSet's replicas (a merge patch of `spec.replicas`, as
    /// `kubectl scale` changes only that field).
    pub async fn scale(&self, namespace: &str, workload: &Scaled, replicas: i32) -> Result<(), Error> {
        let patch = Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}}));
        let params = PatchParams::default();
        let what = format!("scale the {} {} to {replicas}", workload.kind, workload.name);
        if workload.kind == "StatefulSet" {
            let api = Api::<StatefulSet>::namespaced(self.client.clone(), namespace);
            api.patch(&workload.name, &params, &patch).await.map_err(api_error(what))?;
        } else {
            let api = Api::<Deployment>::namespaced(self.client.clone(), namespace);
            api.patch(&workload.name, &params, &patch).await.map_err(api_error(what))?;
        }
        Ok(())
    }
}
