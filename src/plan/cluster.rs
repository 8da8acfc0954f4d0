//! The kind or k3d config file for a project: the nodes, the pinned node image, the read-only DAG
//! mount on every node and the UI port on 127.0.0.1.

use std::path::Path;

use serde_json::json;

use crate::config::{ClusterTool, Delivery, Project};
use crate::values::Value;

/// Where every node sees the project's folders. Pods mount these through hostPath volumes.
pub const NODE_DAGS: &str = "/devflow/dags";
pub const NODE_PLUGINS: &str = "/devflow/plugins";

/// The NodePort of the UI service, mapped to `127.0.0.1:<ui_port>` on the host.
pub const UI_NODE_PORT: u16 = 30080;

/// The node label that tells `kubectl get nodes` which project a cluster belongs to.
pub const OWNER_LABEL: &str = "devflow.io/project";

/// Where every node container mounts the project's ownership marker, a file in devflow's state
/// folder. Docker records a bind mount's source, so `docker inspect` proves which project made a
/// cluster even while it is stopped, on kind (whose node containers cannot carry custom labels)
/// and k3d alike. `down` checks it before it deletes anything.
pub const NODE_OWNER_MARKER: &str = "/devflow/owner";

/// One supported Kubernetes minor and the node images pinned for it.
#[derive(Debug)]
pub struct NodeImages {
    pub minor: &'static str,
    /// Built for kind v0.33.0; kind's release notes require the digest.
    pub kind: &'static str,
    pub k3s: &'static str,
}

/// Sources: the kind v0.33.0 release notes for the kindest/node digests, the k3s stable-channel
/// history and k3s releases for the tags. The newest minor a provider's release defaults to
/// (1.37 for kind v0.33) needs cgroup v2 on the host, so the default is the one before it.
pub const NODE_IMAGES: [NodeImages; 4] = [
    NodeImages {
        minor: "1.37",
        kind: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
        k3s: "rancher/k3s:v1.37.1-k3s1",
    },
    NodeImages {
        minor: "1.36",
        kind: "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
        k3s: "rancher/k3s:v1.36.4-k3s1",
    },
    NodeImages {
        minor: "1.35",
        kind: "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
        k3s: "rancher/k3s:v1.35.8-k3s1",
    },
    NodeImages {
        minor: "1.34",
        kind: "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
        k3s: "rancher/k3s:v1.34.11-k3s1",
    },
];

pub const DEFAULT_KUBERNETES: &str = "1.36";

pub fn supported_minors() -> String {
    NODE_IMAGES.iter().map(|i| i.minor).collect::<Vec<_>>().join(", ")
}

/// The pinned images for a Kubernetes version written as `1.35` or `1.35.8` (the patch is the
/// pinned one, whatever is written: the node image decides it).
pub fn node_images(version: &str) -> Result<&'static NodeImages, String> {
    let trimmed = version.trim_start_matches('v');
    let parts: Vec<&str> = trimmed.split('.').collect();
    let numeric = parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric || !(2..=3).contains(&parts.len()) {
        return Err(format!(
            "`kubernetes` = {version:?} is not a Kubernetes version\n  expected MAJOR.MINOR such as \"{DEFAULT_KUBERNETES}\"; supported: {}",
            supported_minors()
        ));
    }
    let minor = format!("{}.{}", parts[0], parts[1]);
    NODE_IMAGES.iter().find(|i| i.minor == minor).ok_or_else(|| {
        format!(
            "Kubernetes {minor} is not supported\n  devflow pins node images for {} (the Airflow chart needs 1.30 or later); pick one of them",
            supported_minors()
        )
    })
}

/// The kube context the provider writes for the cluster.
pub fn context(tool: ClusterTool, name: &str) -> String {
    format!("{tool}-{name}")
}

/// `owner_marker`: the marker file in devflow's state folder (see [`NODE_OWNER_MARKER`]).
pub fn config(tool: ClusterTool, project: &Project, images: &NodeImages, owner_marker: &Path) -> Value {
    let mounts = host_mounts(project, owner_marker);
    match tool {
        ClusterTool::Kind => kind_config(project, images.kind, mounts),
        ClusterTool::K3d => k3d_config(project, images.k3s, mounts),
    }
}

fn host_mounts(project: &Project, owner_marker: &Path) -> Vec<(String, &'static str)> {
    let mut mounts = vec![(owner_marker.display().to_string(), NODE_OWNER_MARKER)];
    // Pushed folders need no mount (and may be where Docker cannot mount from).
    if project.delivery == Delivery::Mount {
        mounts.push((project.dags.display().to_string(), NODE_DAGS));
        if let Some(plugins) = &project.plugins {
            mounts.push((plugins.display().to_string(), NODE_PLUGINS));
        }
    }
    mounts
}

fn kind_config(project: &Project, image: &str, mounts: Vec<(String, &str)>) -> Value {
    let mounts: Vec<Value> = mounts
        .into_iter()
        .map(|(host, node)| json!({"hostPath": host, "containerPath": node, "readOnly": true}))
        .collect();
    let labels = json!({ OWNER_LABEL: project.name });
    let mut control_plane = json!({
        "role": "control-plane",
        "image": image,
        "labels": labels,
        "extraMounts": mounts,
        "extraPortMappings": [{
            "containerPort": UI_NODE_PORT,
            "hostPort": project.ui_port,
            "listenAddress": "127.0.0.1",
            "protocol": "TCP",
        }],
    });
    let worker = json!({"role": "worker", "image": image, "labels": labels, "extraMounts": mounts});
    let mut nodes = vec![control_plane.take()];
    nodes.extend(std::iter::repeat_n(worker, project.workers.into()));
    json!({
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": project.name,
        "networking": {"apiServerAddress": "127.0.0.1"},
        "nodes": nodes,
    })
}

fn k3d_config(project: &Project, image: &str, mounts: Vec<(String, &str)>) -> Value {
    let nodes = json!(["server:*", "agent:*"]);
    let volumes: Vec<Value> = mounts
        .into_iter()
        .map(|(host, node)| json!({"volume": format!("{host}:{node}:ro"), "nodeFilters": nodes}))
        .collect();
    json!({
        "apiVersion": "k3d.io/v1alpha5",
        "kind": "Simple",
        "metadata": {"name": project.name},
        "servers": 1,
        "agents": project.workers,
        "image": image,
        "kubeAPI": {"hostIP": "127.0.0.1"},
        "volumes": volumes,
        "ports": [{"port": format!("127.0.0.1:{}:{UI_NODE_PORT}", project.ui_port), "nodeFilters": ["loadbalancer"]}],
        "options": {
            "k3s": {
                // Airflow's UI is reached through the NodePort; Traefik would only take memory.
                "extraArgs": [{"arg": "--disable=traefik", "nodeFilters": ["server:*"]}],
                "nodeLabels": [{"label": format!("{OWNER_LABEL}={}", project.name), "nodeFilters": nodes}],
            },
            "kubeconfig": {"updateDefaultKubeconfig": true, "switchCurrentContext": false},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_pins_and_strangers_are_refused() {
        assert_eq!(node_images("1.35").unwrap().minor, "1.35");
        assert_eq!(node_images("v1.36.2").unwrap().minor, "1.36");
        assert!(node_images("1.20").unwrap_err().contains("not supported"));
        assert!(node_images("latest").unwrap_err().contains("not a Kubernetes version"));
        assert!(NODE_IMAGES.iter().all(|i| i.kind.contains("@sha256:")));
        assert!(node_images(DEFAULT_KUBERNETES).is_ok());
    }
}
