//! The objects devflow applies itself, before the chart: the namespace, the volumes that carry the
//! project's folders (and, when they are pushed, the pod that receives them), and the PostgreSQL
//! database Airflow uses.

use serde_json::json;

use super::GENERATED;
use super::cluster::{NODE_DAGS, NODE_PLUGINS, OWNER_LABEL};
use crate::values::Value;

use super::names::{DAGS_CLAIM, PLUGINS_CLAIM, POSTGRES, POSTGRES_DB, POSTGRES_USER};
/// The official image (the chart's Bitnami subchart images no longer pull), a version Airflow supports.
pub const POSTGRES_IMAGE: &str = "postgres:17.6";
/// The pod devflow pushes the project's folders into: it mounts their volumes read-write.
pub const RECEIVER: &str = "devflow-receiver";
/// Where the receiver sees the DAG and plugins volumes.
pub const RECEIVER_DAGS: &str = "/devflow/dags";
pub const RECEIVER_PLUGINS: &str = "/devflow/plugins";
/// The namespace's annotation that proves devflow made it for this project on this machine.
pub const OWNER_ANNOTATION: &str = "devflow.io/owner";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";

/// How the project's folders become volumes.
pub enum Volumes<'a> {
    /// hostPath volumes of the folders the node containers mount.
    Mounted,
    /// Claims of the cluster's storage that devflow fills through the receiver pod.
    Pushed {
        storage_class: Option<&'a str>,
        /// ReadWriteMany where the pods may land on several nodes, else ReadWriteOnce.
        access_mode: &'static str,
        /// The Airflow image: it has the `sh`, `tar` and `find` the push runs.
        receiver_image: &'a str,
    },
}

pub struct Objects<'a> {
    pub project: &'a str,
    pub namespace: &'a str,
    pub owner: &'a str,
    pub with_plugins: bool,
    pub volumes: Volumes<'a>,
    /// The Secrets and ConfigMaps only production has, which devflow stands in for.
    pub stand_ins: &'a [super::standins::StandIn],
    /// The names of the project's secret environment variables: devflow's env Secret holds them.
    pub env_secrets: &'a [String],
}

pub fn build(o: &Objects<'_>) -> Vec<Value> {
    let labels = json!({"app.kubernetes.io/managed-by": "devflow", OWNER_LABEL: o.project});
    let mut objects = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": o.namespace, "labels": labels, "annotations": {OWNER_ANNOTATION: o.owner}},
    })];
    let mut folders = vec![(DAGS_CLAIM, NODE_DAGS, RECEIVER_DAGS)];
    if o.with_plugins {
        folders.push((PLUGINS_CLAIM, NODE_PLUGINS, RECEIVER_PLUGINS));
    }
    match &o.volumes {
        Volumes::Mounted => {
            for (claim, node_path, _) in &folders {
                objects.extend(folder_volume(o.namespace, claim, node_path, &labels));
            }
        }
        Volumes::Pushed { storage_class, access_mode, receiver_image } => {
            for (claim, _, _) in &folders {
                objects.push(pushed_claim(o.namespace, claim, *storage_class, access_mode, &labels));
            }
            let mounts: Vec<(&str, &str)> = folders.iter().map(|(claim, _, at)| (*claim, *at)).collect();
            objects.push(receiver(o.namespace, receiver_image, &mounts, &labels));
        }
    }
    objects.extend(postgres(o.namespace, &labels));
    objects.extend(o.stand_ins.iter().map(|s| s.manifest(o.namespace, &labels)));
    if !o.env_secrets.is_empty() {
        let data: serde_json::Map<String, Value> =
            o.env_secrets.iter().map(|name| (name.clone(), Value::String(GENERATED.into()))).collect();
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": super::names::ENV_SECRET, "namespace": o.namespace, "labels": labels},
            "stringData": data,
        }));
    }
    objects
}

/// A hostPath PersistentVolume bound to its claim by name: the chart's values only name the claim,
/// so a cluster where the folder is pushed instead of mounted needs no other values.
fn folder_volume(namespace: &str, name: &str, node_path: &str, labels: &Value) -> [Value; 2] {
    let pv_name = format!("{namespace}-{name}");
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
                "claimRef": {"namespace": namespace, "name": name},
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "volumeName": pv_name,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }),
    ]
}

/// A claim of the cluster's own storage; the receiver writes it, every Airflow pod reads it.
fn pushed_claim(namespace: &str, name: &str, storage_class: Option<&str>, access_mode: &str, labels: &Value) -> Value {
    let mut claim = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"accessModes": [access_mode], "resources": {"requests": {"storage": "1Gi"}}},
    });
    if let Some(class) = storage_class {
        claim["spec"]["storageClassName"] = json!(class);
    }
    claim
}

/// A pod that only holds the pushed volumes open for devflow's exec; it runs as Airflow's user
/// (50000, group 0) so that the files it writes are Airflow's to read.
fn receiver(namespace: &str, image: &str, mounts: &[(&str, &str)], labels: &Value) -> Value {
    let selector = json!({NAME_LABEL: RECEIVER});
    let mut pod_labels = labels.clone();
    crate::values::merge(&mut pod_labels, &selector);
    let volumes: Vec<Value> =
        mounts.iter().map(|(claim, _)| json!({"name": claim, "persistentVolumeClaim": {"claimName": claim}})).collect();
    let volume_mounts: Vec<Value> = mounts.iter().map(|(claim, at)| json!({"name": claim, "mountPath": at})).collect();
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": RECEIVER, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            // A ReadWriteOnce volume cannot be held by the old and the new pod at once.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "securityContext": {"runAsUser": 50000, "runAsGroup": 0, "fsGroup": 0},
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "receiver",
                        "image": image,
                        "command": ["sleep", "infinity"],
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
                        "volumeMounts": volume_mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    })
}

fn postgres(namespace: &str, labels: &Value) -> [Value; 3] {
    let selector = json!({NAME_LABEL: POSTGRES});
    let mut pod_labels = labels.clone();
    crate::values::merge(&mut pod_labels, &selector);
    [
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": POSTGRES, "namespace": namespace, "labels": labels},
            "type": "Opaque",
            "stringData": {"password": GENERATED},
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": POSTGRES, "namespace": namespace, "labels": labels},
            "spec": {"selector": selector, "ports": [{"name": "postgres", "port": 5432, "targetPort": 5432}]},
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": POSTGRES, "namespace": namespace, "labels": labels},
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
                                {"name": "POSTGRES_USER", "value": POSTGRES_USER},
                                {"name": "POSTGRES_DB", "value": POSTGRES_DB},
                                {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": POSTGRES, "key": "password"}}},
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                            ],
                            "ports": [{"name": "postgres", "containerPort": 5432}],
                            "readinessProbe": {"exec": {"command": ["pg_isready", "-U", POSTGRES_USER, "-d", POSTGRES_DB]}, "periodSeconds": 2},
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
