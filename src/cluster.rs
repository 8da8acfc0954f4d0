//! The cluster itself: whether it exists, creating and deleting it with kind or k3d, finding its
//! node containers in Docker, checking devflow's ownership marker, pausing and resuming it.

use std::path::Path;
use std::time::Duration;

use crate::config::ClusterTool;
use crate::docker::{self, Container, Daemon};
use crate::plan::cluster::NODE_OWNER_MARKER;
use crate::tool::{self, Program};
use crate::values::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tool(#[from] tool::Error),
    #[error(transparent)]
    Docker(#[from] docker::Error),
    #[error("cannot read `{command}`'s output: {message}")]
    Output { command: String, message: String },
}

crate::error::one_kind!(Error, Environment);

/// Whose a cluster of this name is, as its node containers tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Ownership {
    /// No node container with this cluster's name.
    Absent,
    /// A node mounts this project's marker file.
    Ours,
    /// Node containers exist and none mounts this project's marker.
    Foreign { containers: Vec<String> },
}

/// A kind or k3d cluster of one name.
pub struct Cluster {
    pub provider: ClusterTool,
    pub name: String,
    pub tool: Program,
}

impl Cluster {
    pub fn new(provider: ClusterTool, name: &str, tool: Program) -> Cluster {
        Cluster { provider, name: name.to_string(), tool }
    }

    pub async fn exists(&self) -> Result<bool, Error> {
        let short = Duration::from_secs(30);
        match self.provider {
            ClusterTool::Kind => {
                let out = self.tool.run(&["get", "clusters"], None, short).await?;
                Ok(out.lines().any(|line| line.trim() == self.name))
            }
            ClusterTool::K3d => {
                let out = self.tool.run(&["cluster", "list", "-o", "json"], None, short).await?;
                let clusters: Vec<Value> = serde_json::from_str(&out).map_err(|e| Error::Output {
                    command: "k3d cluster list -o json".into(),
                    message: e.to_string(),
                })?;
                Ok(clusters.iter().any(|c| c["name"] == self.name.as_str()))
            }
        }
    }

    /// Creates the cluster: kind reads its config on stdin, k3d from the file devflow wrote.
    pub async fn create(&self, config: &Value, k3d_config: &Path, timeout: Duration) -> Result<(), Error> {
        match self.provider {
            ClusterTool::Kind => {
                let yaml = crate::values::to_yaml(config);
                self.tool
                    .run(&["create", "cluster", "--name", &self.name, "--config", "-"], Some(yaml.as_bytes()), timeout)
                    .await?;
            }
            ClusterTool::K3d => {
                let path = k3d_config.display().to_string();
                self.tool.run(&["cluster", "create", "--config", &path], None, timeout).await?;
            }
        }
        Ok(())
    }

    /// Deletes the cluster and the kube context the tool wrote for it. Call only for [`Ownership::Ours`].
    pub async fn delete(&self) -> Result<(), Error> {
        let timeout = Duration::from_secs(300);
        match self.provider {
            ClusterTool::Kind => self.tool.run(&["delete", "cluster", "--name", &self.name], None, timeout).await?,
            ClusterTool::K3d => self.tool.run(&["cluster", "delete", &self.name], None, timeout).await?,
        };
        Ok(())
    }

    pub async fn containers(&self, daemon: &Daemon) -> Result<Vec<Container>, Error> {
        containers(daemon, self.provider, &self.name).await
    }

    /// Copies a local image onto every node, so pods run it without a registry.
    pub async fn load_image(&self, image: &str) -> Result<(), Error> {
        let timeout = Duration::from_secs(600);
        match self.provider {
            ClusterTool::Kind => {
                self.tool.run(&["load", "docker-image", image, "--name", &self.name], None, timeout).await?
            }
            ClusterTool::K3d => self.tool.run(&["image", "import", image, "-c", &self.name], None, timeout).await?,
        };
        Ok(())
    }

    /// Pauses the cluster, keeping every container and volume (and so the database).
    pub async fn stop(&self, daemon: &Daemon) -> Result<(), Error> {
        match self.provider {
            ClusterTool::K3d => {
                self.tool.run(&["cluster", "stop", &self.name], None, Duration::from_secs(180)).await?;
            }
            // kind has no stop: its node containers are paused through Docker.
            ClusterTool::Kind => {
                for container in self.containers(daemon).await? {
                    daemon.stop(&container).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn start(&self, daemon: &Daemon) -> Result<(), Error> {
        match self.provider {
            ClusterTool::K3d => {
                self.tool.run(&["cluster", "start", &self.name], None, Duration::from_secs(300)).await?;
            }
            ClusterTool::Kind => {
                // The control plane first: the workers' kubelets register with it.
                let mut containers = self.containers(daemon).await?;
                containers.sort_by_key(|c| c.labels.get("io.x-k8s.kind.role").is_none_or(|r| r != "control-plane"));
                for container in containers {
                    daemon.start(&container).await?;
                }
            }
        }
        Ok(())
    }
}

/// A cluster's node containers (k3d's load balancer included), running or not, found by the
/// labels kind and k3d put on them: no tool is needed to look.
pub async fn containers(daemon: &Daemon, provider: ClusterTool, name: &str) -> Result<Vec<Container>, Error> {
    let label = match provider {
        ClusterTool::Kind => format!("io.x-k8s.kind.cluster={name}"),
        ClusterTool::K3d => format!("k3d.cluster={name}"),
    };
    Ok(daemon.containers(&[label]).await?)
}

/// Whose cluster the node containers belong to: ours only if one mounts this project's marker.
pub fn ownership(containers: &[Container], marker: &Path) -> Ownership {
    if containers.is_empty() {
        return Ownership::Absent;
    }
    let marker = marker.display().to_string();
    if containers.iter().any(|c| c.mounts.iter().any(|(source, dest)| source == &marker && dest == NODE_OWNER_MARKER)) {
        Ownership::Ours
    } else {
        Ownership::Foreign { containers: containers.iter().map(|c| c.name.clone()).collect() }
    }
}

/// The marker's content: which project made the cluster, for a person who finds the file.
pub fn marker_text(project_root: &Path, cluster: &str) -> String {
    format!("devflow made the cluster {cluster} for the project at {}\n", project_root.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, mounts: &[(&str, &str)]) -> Container {
        Container {
            id: name.into(),
            name: name.into(),
            running: true,
            labels: Default::default(),
            mounts: mounts.iter().map(|(s, d)| (s.to_string(), d.to_string())).collect(),
        }
    }

    #[test]
    fn only_the_projects_own_marker_makes_a_cluster_ours() {
        let marker = Path::new("/state/devflow/p-1234/owner");
        assert_eq!(ownership(&[], marker), Ownership::Absent);
        let ours = container("p-control-plane", &[("/state/devflow/p-1234/owner", NODE_OWNER_MARKER)]);
        assert_eq!(ownership(&[container("lb", &[]), ours], marker), Ownership::Ours);
        let other_project = container("p-control-plane", &[("/state/devflow/p-9999/owner", NODE_OWNER_MARKER)]);
        let same_file_elsewhere = container("p-worker", &[("/state/devflow/p-1234/owner", "/etc/owner")]);
        assert_eq!(
            ownership(&[other_project, same_file_elsewhere], marker),
            Ownership::Foreign { containers: vec!["p-control-plane".into(), "p-worker".into()] }
        );
    }
}
