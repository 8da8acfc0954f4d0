//! The Docker daemon, through its API (bollard): what the machine offers, the cluster's node
//! containers found by their labels, pausing and resuming them, and the images devflow built.

use std::collections::HashMap;

use std::path::PathBuf;

use sha2::Digest;

use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, ListContainersOptionsBuilder, RemoveImageOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use bollard::{API_DEFAULT_VERSION, Docker};

use crate::env::Env;
use crate::plan::image::{Context, Dockerfile, ImageBuild};

/// Docker's own socket, where DOCKER_HOST names none (bollard's `DEFAULT_SOCKET`).
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";
/// bollard's default: seconds a request may take.
const CONNECT_TIMEOUT: u64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot reach the Docker daemon ({message})\n  start Docker (Docker Desktop, Rancher Desktop, OrbStack, or `sudo systemctl start docker`), or set DOCKER_HOST to its socket"
    )]
    Unreachable { message: String },
    #[error("Docker could not {what}: {message}")]
    Request { what: String, message: String },
    #[error("building {image} failed: {message}{}\n  the release keeps running the image it had", indent_tail(output))]
    Build { image: String, message: String, output: Vec<String> },
}

crate::error::one_kind!(Error, Environment);

fn indent_tail(lines: &[String]) -> String {
    let tail = &lines[lines.len().saturating_sub(15)..];
    if tail.is_empty() { String::new() } else { format!("\n  its last lines:\n    {}", tail.join("\n    ")) }
}

/// What the daemon offers the cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub server_version: String,
    pub operating_system: String,
    pub memory_bytes: u64,
    pub cpus: u64,
}

impl Machine {
    pub fn memory_gib(&self) -> f64 {
        self.memory_bytes as f64 / f64::from(1 << 30)
    }
}

/// A container as devflow needs to see it.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub running: bool,
    pub labels: HashMap<String, String>,
    /// (source on the host, destination in the container) of each bind mount.
    pub mounts: Vec<(String, String)>,
}

pub struct Daemon {
    docker: Docker,
}

impl Daemon {
    /// Connects and agrees an API version with the daemon: a `unix://` DOCKER_HOST, else the local
    /// socket, as bollard 0.21.1's `connect_with_unix_defaults` chooses (`src/docker.rs`).
    pub async fn connect(env: &Env) -> Result<Daemon, Error> {
        let unreachable = |e: bollard::errors::Error| Error::Unreachable { message: e.to_string() };
        let socket = env.docker_host.as_deref().filter(|host| host.starts_with("unix://"));
        let docker = Docker::connect_with_unix(socket.unwrap_or(DEFAULT_SOCKET), CONNECT_TIMEOUT, API_DEFAULT_VERSION)
            .map_err(unreachable)?;
        let docker = tokio::time::timeout(std::time::Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| Error::Unreachable { message: "no answer within 10 s".into() })?
            .map_err(unreachable)?;
        Ok(Daemon { docker })
    }

    pub async fn machine(&self) -> Result<Machine, Error> {
        let info = self.docker.info().await.map_err(|e| request("describe itself", e))?;
        let positive = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        Ok(Machine {
            server_version: info.server_version.unwrap_or_default(),
            operating_system: info.operating_system.unwrap_or_default(),
            memory_bytes: positive(info.mem_total),
            cpus: positive(info.ncpu),
        })
    }

    /// Every container, running or not, carrying all of these labels (`key` or `key=value`).
    pub async fn containers(&self, labels: &[String]) -> Result<Vec<Container>, Error> {
        let filters = HashMap::from([("label".to_string(), labels.to_vec())]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let found = self.docker.list_containers(Some(options)).await.map_err(|e| request("list containers", e))?;
        let mut containers: Vec<Container> = found
            .into_iter()
            .map(|c| Container {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
                labels: c.labels.unwrap_or_default(),
                mounts: c
                    .mounts
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| (m.source.unwrap_or_default(), m.destination.unwrap_or_default()))
                    .collect(),
            })
            .collect();
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(containers)
    }

    pub async fn stop(&self, container: &Container) -> Result<(), Error> {
        let options = StopContainerOptionsBuilder::default().t(30).build();
        match self.docker.stop_container(&container.id, Some(options)).await {
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) | Ok(()) => Ok(()),
            Err(e) => Err(request(&format!("stop {}", container.name), e)),
        }
    }

    pub async fn start(&self, container: &Container) -> Result<(), Error> {
        match self.docker.start_container(&container.id, None::<StartContainerOptions>).await {
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) | Ok(()) => Ok(()),
            Err(e) => Err(request(&format!("start {}", container.name), e)),
        }
    }

    /// Builds an image from a tar of its context, passing each line of the build's output on as
    /// it comes (pip's included).
    pub async fn build_image(
        &self,
        context: Vec<u8>,
        tag: &str,
        labels: &HashMap<String, String>,
        mut on_line: impl FnMut(&str),
    ) -> Result<(), Error> {
        use futures_util::StreamExt;
        let options =
            BuildImageOptionsBuilder::default().dockerfile("Dockerfile").t(tag).rm(true).labels(labels).build();
        let mut stream = self.docker.build_image(options, None, Some(bollard::body_full(context.into())));
        let mut output = Vec::new();
        while let Some(item) = stream.next().await {
            let info =
                item.map_err(|e| Error::Build { image: tag.into(), message: e.to_string(), output: output.clone() })?;
            if let Some(detail) = info.error_detail {
                let message = detail.message.unwrap_or_default();
                return Err(Error::Build { image: tag.into(), message: message.trim().to_string(), output });
            }
            for line in
                info.stream.iter().flat_map(|text| text.lines()).map(str::trim_end).filter(|l| !l.trim().is_empty())
            {
                on_line(line);
                output.push(line.to_string());
            }
        }
        Ok(())
    }

    /// Whether the daemon has the image (by name or id).
    pub async fn has_image(&self, image: &str) -> Result<bool, Error> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(request(&format!("inspect the image {image}"), e)),
        }
    }

    /// Removes an image devflow built; one already gone is not an error.
    pub async fn remove_image(&self, image: &str) -> Result<(), Error> {
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        match self.docker.remove_image(image, Some(options), None).await {
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) | Ok(_) => Ok(()),
            Err(e) => Err(request(&format!("remove the image {image}"), e)),
        }
    }
}

/// The build context of a project's image as a tar (files in name order, times and owners zeroed,
/// so the same files give the same bytes), and a digest of it that names the image.
pub fn build_context(build: &ImageBuild) -> std::io::Result<(Vec<u8>, String)> {
    let mut files: Vec<(String, PathBuf)> = match &build.context {
        Context::Files(files) => files.clone(),
        Context::Folder(root) => {
            let mut files = Vec::new();
            let walk = ignore::WalkBuilder::new(root)
                .standard_filters(false)
                .add_custom_ignore_filename(".dockerignore")
                .build();
            for entry in walk {
                let entry = entry.map_err(std::io::Error::other)?;
                if entry.file_type().is_some_and(|t| t.is_file()) {
                    let name =
                        entry.path().strip_prefix(root).unwrap_or(entry.path()).to_string_lossy().replace('\\', "/");
                    files.push((name, entry.path().to_path_buf()));
                }
            }
            files
        }
    };
    files.sort();
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
    };
    if let Dockerfile::Generated(text) = &build.dockerfile {
        add("Dockerfile", text.as_bytes())?;
    }
    for (name, path) in &files {
        add(name, &std::fs::read(path)?)?;
    }
    let bytes = tar.into_inner()?;
    let digest = sha2::Sha256::digest(&bytes).iter().take(6).map(|b| format!("{b:02x}")).collect();
    Ok((bytes, digest))
}

fn request(what: &str, error: bollard::errors::Error) -> Error {
    Error::Request { what: what.to_string(), message: error.to_string() }
}
