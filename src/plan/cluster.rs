//! The kind or k3d cluster of a project: its config file (the nodes, the pinned node image, the
//! read-only DAG mount on every node, the UI port on 127.0.0.1), and every kind and k3d command
//! line devflow runs, written here once.

use std::path::Path;

use serde_json::json;

use super::command::{Command, IMAGE, Stdin};
use crate::config::{ClusterTool, Delivery, Project};
use crate::pins::NodeImages;
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

/// The kube context the provider writes for the cluster.
pub fn context(tool: ClusterTool, name: &str) -> String {
    format!("{tool}-{name}")
}

/// Creates the cluster: kind reads its config on standard input, k3d from `config_file`.
pub fn create(tool: ClusterTool, name: &str, config_file: &Path) -> Command {
    match tool {
        ClusterTool::Kind => {
            Command::new("kind", ["create", "cluster", "--name", name, "--config", "-"]).reading(Stdin::ClusterConfig)
        }
        ClusterTool::K3d => Command::new("k3d", ["cluster", "create", "--config", &config_file.display().to_string()]),
    }
}

/// How the tool reads the config, as `devflow render` tells a reader.
pub fn reads_config(tool: ClusterTool) -> &'static str {
    match tool {
        ClusterTool::Kind => "kind create cluster --config -",
        ClusterTool::K3d => "k3d cluster create --config",
    }
}

/// Deletes the cluster and the kube context the tool wrote for it (kind and k3d exit 0 when there
/// is no such cluster).
pub fn delete(tool: ClusterTool, name: &str) -> Command {
    match tool {
        ClusterTool::Kind => Command::new("kind", ["delete", "cluster", "--name", name]),
        ClusterTool::K3d => Command::new("k3d", ["cluster", "delete", name]),
    }
}

/// Lists the tool's clusters: kind one name a line, k3d as JSON.
pub fn list(tool: ClusterTool) -> Command {
    match tool {
        ClusterTool::Kind => Command::new("kind", ["get", "clusters"]),
        ClusterTool::K3d => Command::new("k3d", ["cluster", "list", "-o", "json"]),
    }
}

/// Copies the built image ([`IMAGE`]) onto every node, so pods run it without a registry.
pub fn load_image(tool: ClusterTool, name: &str) -> Command {
    match tool {
        ClusterTool::Kind => Command::new("kind", ["load", "docker-image", IMAGE, "--name", name]),
        ClusterTool::K3d => Command::new("k3d", ["image", "import", IMAGE, "-c", name]),
    }
}

/// k3d stops and starts its own clusters; kind has no such command (its node containers are
/// paused through Docker).
pub fn pause(tool: ClusterTool, name: &str, stop: bool) -> Option<Command> {
    match tool {
        ClusterTool::Kind => None,
        ClusterTool::K3d => Some(Command::new("k3d", ["cluster", if stop { "stop" } else { "start" }, name])),
    }
}

/// The Docker label filter of the cluster's node containers (k3d's load balancer included), as
/// kind and k3d label them (FACTS.md).
pub fn node_label(tool: ClusterTool, name: &str) -> String {
    match tool {
        ClusterTool::Kind => format!("io.x-k8s.kind.cluster={name}"),
        ClusterTool::K3d => format!("k3d.cluster={name}"),
    }
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
