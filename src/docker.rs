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

/// Docker's own socket, where nothing names another (docker/cli `opts/hosts.go` on Unix).
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";
/// bollard's default: seconds a request may take.
const CONNECT_TIMEOUT: u64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot reach the Docker daemon at {host} ({from}: {message})\n  start Docker (Docker Desktop, Rancher Desktop, OrbStack, or `sudo systemctl start docker`), or point DOCKER_HOST or `docker context use` at it"
    )]
    Unreachable { host: String, from: String, message: String },
    #[error(
        "the Docker context `{name}` ({from}) cannot be read: {message}\n  `docker context ls` lists the contexts; `docker context use NAME` picks one"
    )]
    Context { name: String, from: String, message: String },
    #[error("the Docker daemon at {host} ({from}) is not one devflow can reach: {why}")]
    Unsupported { host: String, from: String, why: &'static str },
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
    /// The daemon's cgroup version, "1" or "2" (`docker info`'s `CgroupVersion`); empty when it
    /// does not say.
    pub cgroup_version: String,
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
    /// Where it was found, for messages.
    pub endpoint: Endpoint,
}

/// The daemon's address and what named it, e.g. (`unix:///…/docker.sock`, `the Docker context colima`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub from: String,
}

/// The daemon the `docker` CLI, and so kind and k3d, talks to. docker/cli v28
/// `cli/command/cli.go` `resolveContextName`: a non-empty DOCKER_HOST means the default context
/// with that host; else DOCKER_CONTEXT; else `currentContext` in `config.json` (in DOCKER_CONFIG,
/// else ~/.docker); else `default`, the local socket. A named context's endpoint is
/// `Endpoints.docker.Host` in `contexts/meta/<sha256 of the name>/meta.json`
/// (`cli/context/store/metadatastore.go`, the folder named by the digest of the name).
pub fn endpoint(env: &Env) -> Result<Endpoint, Error> {
    if let Some(host) = &env.docker_host {
        return Ok(Endpoint { host: host.clone(), from: "DOCKER_HOST".into() });
    }
    let config = env.docker_config.as_deref();
    let (name, from) = match (&env.docker_context, config.and_then(current_context)) {
        (Some(name), _) => (name.clone(), "DOCKER_CONTEXT".to_string()),
        (None, Some(name)) => (name, "the current context in config.json".to_string()),
        (None, None) => return Ok(Endpoint { host: DEFAULT_SOCKET.into(), from: "Docker's default socket".into() }),
    };
    if name == "default" {
        return Ok(Endpoint { host: DEFAULT_SOCKET.into(), from: format!("the Docker context default ({from})") });
    }
    let failed = |message: String| Error::Context { name: name.clone(), from: from.clone(), message };
    let digest: String = sha2::Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let meta = config.unwrap_or(std::path::Path::new(".docker")).join("contexts/meta").join(digest).join("meta.json");
    let text = std::fs::read_to_string(&meta).map_err(|e| failed(format!("{}: {e}", meta.display())))?;
    let parsed: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| failed(format!("{}: {e}", meta.display())))?;
    let host = parsed["Endpoints"]["docker"]["Host"].as_str().filter(|h| !h.is_empty());
    let host = host.ok_or_else(|| failed(format!("{} has no Endpoints.docker.Host", meta.display())))?;
    Ok(Endpoint { host: host.to_string(), from: format!("the Docker context {name}, {from}") })
}

/// `currentContext` in config.json, when set (docker/cli `cli/config/configfile/file.go`).
fn current_context(config_dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    config["currentContext"].as_str().filter(|name| !name.is_empty()).map(str::to_string)
}

impl Daemon {
    /// Connects to the [`endpoint`] and agrees an API version with the daemon: a unix socket, or
    /// plain tcp (bollard's `http` transport).
    pub async fn connect(env: &Env) -> Result<Daemon, Error> {
        let found = endpoint(env)?;
        let Endpoint { host, from } = found.clone();
        let unreachable = |message: String| Error::Unreachable { host: host.clone(), from: from.clone(), message };
        let unsupported = |why| Error::Unsupported { host: host.clone(), from: from.clone(), why };
        let connected = match host.split_once("://").map(|(scheme, _)| scheme) {
            Some("unix") => Docker::connect_with_unix(&host, CONNECT_TIMEOUT, API_DEFAULT_VERSION),
            Some("tcp" | "http") if env.docker_tls_verify => {
                return Err(unsupported(
                    "DOCKER_TLS_VERIFY asks for TLS, which devflow does not speak\n  reach the daemon through its unix socket, or an SSH tunnel to it (`ssh -L`)",
                ));
            }
            Some("tcp" | "http") => Docker::connect_with_http(&host, CONNECT_TIMEOUT, API_DEFAULT_VERSION),
            _ => {
                return Err(unsupported(
                    "devflow speaks to a unix socket or plain tcp\n  for an ssh:// host, forward its socket (`ssh -L /tmp/docker.sock:/var/run/docker.sock HOST`) and set DOCKER_HOST=unix:///tmp/docker.sock",
                ));
            }
        };
        let docker = connected.map_err(|e| unreachable(e.to_string()))?;
        let docker = tokio::time::timeout(std::time::Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 10 s".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Daemon { docker, endpoint: found })
    }

    pub async fn machine(&self) -> Result<Machine, Error> {
        let info = self.docker.info().await.map_err(|e| request("describe itself", e))?;
        let positive = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        Ok(Machine {
            server_version: info.server_version.unwrap_or_default(),
            operating_system: info.operating_system.unwrap_or_default(),
            memory_bytes: positive(info.mem_total),
            cpus: positive(info.ncpu),
            cgroup_version: info.cgroup_version.map(|v| v.to_string()).unwrap_or_default(),
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
