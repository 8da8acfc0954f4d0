//! The objects devflow applies itself, before the chart: the namespace, the volumes that carry the
//! project's folders, and the PostgreSQL database Airflow uses.

use serde_json::json;

use super::cluster::{NODE_DAGS, NODE_PLUGINS, OWNER_LABEL};
use super::{GENERATED, NAMESPACE};
use crate::values::Value;

pub const DAGS_CLAIM: &str = "devflow-dags";
pub const PLUGINS_CLAIM: &str = "devflow-plugins";
pub const POSTGRES: &str = "devflow-postgres";
/// The official image (the chart's Bitnami subchart images no longer pull), a version Airflow supports.
pub const POSTGRES_IMAGE: &str = "postgres:17.6";

pub fn build(project_name: &str, with_plugins: bool) -> Vec<Value> {
    let labels = json!({"app.kubernetes.io/managed-by": "devflow", OWNER_LABEL: project_name});
    let mut objects = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": labels},
    })];
    objects.extend(folder_volume(DAGS_CLAIM, NODE_DAGS, &labels));
    if with_plugins {
        objects.extend(folder_volume(PLUGINS_CLAIM, NODE_PLUGINS, &labels));
    }
    objects.extend(postgres(&labels));
    objects
}

/// A hostPath PersistentVolume bound to its claim by name: the chart's values only name the claim,
/// so a cluster where the folder is pushed instead of mounted needs no other values.
fn folder_volume(name: &str, node_path: &str, labels: &Value) -> [Value; 2] {
    let pv_name = format!("{NAMESPACE}-{name}");
    [
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "labels": labels},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadOnlyMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": node_path, "type": "Directory"},
                "claimRef": {"namespace": NAMESPACE, "name": name},
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "volumeName": pv_name,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }),
    ]
}

fn postgres(labels: &Value) -> [Value; 3] {
    let selector = json!({"app.kubernetes.io/name": POSTGRES});
    let mut pod_labels = labels.clone();
    crate::values::merge(&mut pod_labels, &selector);
    [
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": POSTGRES, "namespace": NAMESPACE, "labels": labels},
            "type": "Opaque",
            "stringData": {"password": GENERATED},
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": POSTGRES, "namespace": NAMESPACE, "labels": labels},
            "spec": {"selector": selector, "ports": [{"name": "postgres", "port": 5432, "targetPort": 5432}]},
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": POSTGRES, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "serviceName": POSTGRES,
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "containers": [{
                            "name": "postgres",
                            "image": POSTGRES_IMAGE,
                            "env": [
                                {"name": "POSTGRES_USER", "value": "airflow"},
                                {"name": "POSTGRES_DB", "value": "airflow"},
                                {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": POSTGRES, "key": "password"}}},
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                            ],
                            "ports": [{"name": "postgres", "containerPort": 5432}],
                            "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "airflow", "-d", "airflow"]}, "periodSeconds": 2},
                            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                        }],
                    },
                },
                // The cluster's default StorageClass (local-path on kind and k3d) keeps the data
                // across pod restarts and `devflow stop`/`start`.
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
                }],
            },
        }),
    ]
}
