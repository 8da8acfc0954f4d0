//! A cluster of Docker containers that kind or k3d makes on this machine: found by the labels the
//! tool puts on its node containers (no tool is needed to look), proved this project's by the
//! ownership marker every node mounts, made, paused, resumed and deleted with the command lines
//! of `plan::cluster`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Check, Error, Presence, Removal, confirmed, forget, nothing_made, tool_check, uninstall_release};
use crate::config::{ClusterTool, StateFile};
use crate::docker::{self, Container, Daemon, Machine};
use crate::kube::{self, ApiClient, NodeStatus};
use crate::plan::cluster::{self as commands, NODE_OWNER_MARKER};
use crate::plan::command::Command;
use crate::session::Session;
use crate::state::Phase;
use crate::tool::{self, Program, Tool};
use crate::ui::Printer;
use crate::values::Value;

#[derive(Debug, thiserror::Error)]
#[error("cannot read `{command}`'s output: {message}")]
pub struct OutputError {
    command: String,
    message: String,
}

crate::error::one_kind!(OutputError, Environment);

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

/// What `up` finds of the cluster before its create step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// This project's cluster, made with the plan's settings; `stopped` when paused.
    Current { stopped: bool },
    /// None to use: it is to be made.
    Missing,
}

/// The project's kind or k3d cluster.
pub struct NodeCluster<'a> {
    session: &'a Session,
    tool: ClusterTool,
    /// The tool's program once found (or installed by preflight).
    program: Option<Program>,
    daemon: Option<Daemon>,
}

impl<'a> NodeCluster<'a> {
    pub fn new(session: &'a Session, tool: ClusterTool) -> NodeCluster<'a> {
        NodeCluster { session, tool, program: None, daemon: None }
    }

    fn name(&self) -> &str {
        &self.session.plan.cluster_name
    }

    /// The Docker daemon, connected on first use.
    pub async fn daemon(&mut self) -> Result<&Daemon, docker::Error> {
        if self.daemon.is_none() {
            self.daemon = Some(Daemon::connect(&self.session.env).await?);
        }
        Ok(self.daemon.as_ref().expect("connected above"))
    }

    /// The tool, found on PATH or in devflow's cache, of a version that works (only `up`'s
    /// preflight installs it).
    async fn program(&mut self) -> Result<&Program, tool::Error> {
        if self.program.is_none() {
            self.program = Some(tool::usable(Tool::from(self.tool), &self.session.env).await?);
        }
        Ok(self.program.as_ref().expect("found above"))
    }

    async fn run(&mut self, command: &Command, stdin: Option<&[u8]>, timeout: Duration) -> Result<String, tool::Error> {
        self.program().await?.run(&command.args(), stdin, timeout).await
    }

    /// Runs a command whose output says how a step goes (create, load, start): each line the
    /// tool prints is the step's progress as it comes.
    async fn run_showing(
        &mut self,
        command: &Command,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<String, tool::Error> {
        self.program().await?.run_showing(&command.args(), stdin, timeout).await
    }

    /// Docker with the memory the profile needs, the tool (installed when the user agrees), and
    /// the ownership marker the nodes mount.
    pub async fn preflight(&mut self, yes: bool, printer: &mut Printer) -> Result<()> {
        let plan = &self.session.plan;
        let machine = self.daemon().await?.machine().await?;
        if super::refuses_cgroup_v1(&machine.cgroup_version, plan.kubernetes) {
            return Err(Error::CgroupV1 { minor: plan.kubernetes.to_string() }.into());
        }
        let memory = memory_check(&machine, plan);
        if !memory.ok {
            printer.warn(&format!("{}: {}", memory.detail, memory.fix.unwrap_or_default()));
        }
        self.program = Some(tool::ensure(Tool::from(self.tool), yes, &self.session.env, printer).await?);
        let marker = marker_text(&self.session.project.root, &plan.cluster_name);
        self.session.store.write(StateFile::OwnerMarker, marker.as_bytes(), 0o644)?;
        Ok(())
    }

    /// The cluster's node containers (k3d's load balancer included), running or not, and whose
    /// they are.
    pub async fn look(&mut self) -> Result<(Vec<Container>, Ownership)> {
        let label = commands::node_label(self.tool, self.name());
        let containers = self.daemon().await?.containers(&[label]).await?;
        let ownership = ownership(&containers, &self.session.plan.state_dir.file(StateFile::OwnerMarker));
        Ok((containers, ownership))
    }

    /// Refuses a cluster of this name that devflow did not make for this project.
    fn refuse_foreign(&self, ownership: &Ownership) -> Result<(), Error> {
        match ownership {
            Ownership::Foreign { containers } => Err(Error::ForeignCluster {
                provider: self.session.plan.provider,
                name: self.name().to_string(),
                containers: containers.clone(),
                marker: self.session.plan.state_dir.file(StateFile::OwnerMarker).display().to_string(),
            }),
            _ => Ok(()),
        }
    }

    pub async fn presence(&mut self) -> Result<Presence> {
        let (containers, ownership) = self.look().await?;
        Ok(presence(&containers, &ownership))
    }

    /// What `up` finds before its create step, given what the state says was made (`phase`) and
    /// the digest of the cluster config now. A cluster whose creation was interrupted is deleted,
    /// to be made again.
    pub async fn standing(&mut self, phase: &Phase, digest: &str, printer: &mut Printer) -> Result<Standing> {
        let (containers, ownership) = self.look().await?;
        self.refuse_foreign(&ownership)?;
        if ownership == Ownership::Absent && self.exists().await? {
            // The tool knows the name but Docker shows no node: not a cluster devflow can prove is its.
            self.refuse_foreign(&Ownership::Foreign { containers: Vec::new() })?;
        }
        if ownership != Ownership::Ours {
            return Ok(Standing::Missing);
        }
        match phase {
            Phase::Started { .. } => {
                printer.warn(
                    "the last `up` stopped while creating the cluster: deleting the half-made cluster to create it again",
                );
                printer
                    .step("Deleting the half-made cluster", self.delete(), |_| "Deleted the half-made cluster".into())
                    .await?;
                Ok(Standing::Missing)
            }
            Phase::Done { digest: made } if made != digest => {
                Err(Error::SettingsChanged { provider: self.session.plan.provider }.into())
            }
            _ => Ok(Standing::Current { stopped: containers.iter().any(|c| !c.running) }),
        }
    }

    /// Whether the tool knows a cluster of this name.
    async fn exists(&mut self) -> Result<bool> {
        let out = self.run(&commands::list(self.tool), None, Duration::from_secs(30)).await?;
        Ok(match self.tool {
            ClusterTool::Kind => out.lines().any(|line| line.trim() == self.name()),
            ClusterTool::K3d => {
                let clusters: Vec<Value> = serde_json::from_str(&out)
                    .map_err(|e| OutputError { command: "k3d cluster list -o json".into(), message: e.to_string() })?;
                clusters.iter().any(|c| c["name"] == self.name())
            }
        })
    }

    /// Runs the plan's create command (kind reads the config on stdin, k3d from the file devflow
    /// wrote), keeping the user's current kube context: k3d's config tells it not to switch; kind
    /// always switches it (`pkg/cluster/internal/kubeconfig/internal/kubeconfig/merge.go`), so it
    /// is put back. Returns the user's current context, when there is one.
    pub async fn create(&mut self, command: &Command, timeout: Duration) -> Result<Option<String>> {
        let config = command.stdin.map(|_| crate::values::to_yaml(&self.session.plan.cluster));
        let target = merge_target(&self.session.env.kubeconfig).map(Path::to_path_buf);
        let users = target.as_deref().and_then(current_context).filter(|c| c != &self.session.plan.context);
        let created = self.run_showing(command, config.as_deref().map(str::as_bytes), timeout).await;
        if let (Some(path), Some(theirs)) = (&target, &users)
            && current_context(path).as_deref() == Some(self.session.plan.context.as_str())
        {
            set_current_context(path, theirs)?;
        }
        created?;
        Ok(users)
    }

    /// Deletes the cluster and the kube context the tool wrote for it. Only for [`Ownership::Ours`].
    async fn delete(&mut self) -> Result<(), tool::Error> {
        self.run(&commands::delete(self.tool, &self.session.plan.cluster_name), None, Duration::from_secs(300)).await?;
        Ok(())
    }

    /// Runs the plan's load command for a built image.
    pub async fn load_image(&mut self, command: &Command) -> Result<(), tool::Error> {
        self.run_showing(command, None, Duration::from_secs(600)).await?;
        Ok(())
    }

    /// Starts a stopped cluster (the control plane first: the workers' kubelets register with it).
    pub async fn start(&mut self) -> Result<()> {
        match commands::pause(self.tool, self.name(), false) {
            Some(start) => {
                self.run_showing(&start, None, Duration::from_secs(300)).await?;
            }
            None => {
                let (mut containers, _) = self.look().await?;
                containers.sort_by_key(|c| c.labels.get("io.x-k8s.kind.role").is_none_or(|r| r != "control-plane"));
                for container in containers {
                    self.daemon().await?.start(&container).await?;
                }
            }
        }
        Ok(())
    }

    /// Pauses the cluster, keeping every container and volume (and so the database).
    async fn stop(&mut self) -> Result<()> {
        match commands::pause(self.tool, self.name(), true) {
            Some(stop) => {
                self.run(&stop, None, Duration::from_secs(180)).await?;
            }
            // kind has no stop: its node containers are paused through Docker.
            None => {
                let (containers, _) = self.look().await?;
                for container in containers {
                    self.daemon().await?.stop(&container).await?;
                }
            }
        }
        Ok(())
    }

    /// The project's cluster, refusing one it does not have or that is not its.
    async fn owned(&mut self) -> Result<Vec<Container>> {
        self.program().await?;
        let (containers, ownership) = self.look().await?;
        self.refuse_foreign(&ownership)?;
        if ownership == Ownership::Absent {
            return Err(Error::NoCluster { project: self.session.plan.project.clone() }.into());
        }
        Ok(containers)
    }

    pub async fn pause(&mut self, printer: &mut Printer) -> Result<()> {
        self.owned().await?;
        let doing = format!("Stopping the cluster {}", self.name());
        printer
            .step(&doing, self.stop(), |_| {
                "Stopped the cluster: its database and volumes are kept; `devflow start` resumes it".into()
            })
            .await
    }

    pub async fn resume(&mut self, deadline: Instant, printer: &mut Printer) -> Result<ApiClient> {
        self.owned().await?;
        let name = self.name().to_string();
        printer
            .step(&format!("Starting the cluster {name}"), self.start(), |_| format!("Started the cluster {name}"))
            .await?;
        let kube = ApiClient::connect(&self.session.env, &self.session.plan.context).await?;
        let (containers, _) = self.look().await?;
        let nodes = containers.iter().filter(|c| c.labels.get("k3d.role").is_none_or(|r| r != "loadbalancer")).count();
        kube::wait::nodes(&kube, nodes, deadline, printer).await?;
        Ok(kube)
    }

    pub async fn down(&mut self, removal: Removal, printer: &mut Printer) -> Result<()> {
        let session = self.session;
        let plan = &session.plan;
        let (_, ownership) = self.look().await?;
        if nothing_made(session, ownership == Ownership::Absent, printer) {
            return Ok(());
        }
        self.refuse_foreign(&ownership)?;
        let what = if removal.keep_cluster {
            format!(
                "the Airflow release and devflow's objects (namespace {}, DAG volume) in {}",
                plan.namespace, plan.context
            )
        } else if ownership == Ownership::Ours {
            format!(
                "the {} cluster {} (its database too) and devflow's state for this project",
                plan.provider, plan.cluster_name
            )
        } else {
            "devflow's state for this project (no cluster of it exists)".to_string()
        };
        if !confirmed(what, removal.yes, printer)? {
            return Ok(());
        }
        if removal.keep_cluster {
            return self.empty(ownership, printer).await;
        }
        if ownership == Ownership::Ours {
            let doing = format!("Deleting the {} cluster {}", plan.provider, plan.cluster_name);
            printer
                .step(&doing, self.delete(), |_| {
                    format!("Deleted the cluster {} and its kube context", plan.cluster_name)
                })
                .await?;
        }
        for image in session.state.iter().flat_map(|s| s.images.iter()) {
            self.daemon().await?.remove_image(image).await?;
            printer.done(&format!("Removed the image {image}"));
        }
        forget(session, printer)
    }

    /// `down --keep-cluster`: the release and devflow's objects go, the cluster stays, and the next
    /// `up` applies them again.
    async fn empty(&mut self, ownership: Ownership, printer: &mut Printer) -> Result<()> {
        let session = self.session;
        if ownership != Ownership::Ours {
            return Err(Error::NoClusterToKeep.into());
        }
        uninstall_release(session, printer).await?;
        let kube = ApiClient::connect(&session.env, &session.plan.context).await?;
        let manifests = &session.plan.manifests;
        let namespace = &session.plan.namespace;
        // The namespace goes last, once the cluster has removed what is in it: an `up` right
        // after would otherwise meet a namespace that refuses new objects.
        let work = async {
            kube.delete(manifests).await?;
            kube.namespace_gone(namespace, crate::kube::NAMESPACE_GONE_WITHIN).await
        };
        let doing = format!("Deleting devflow's objects (the namespace {namespace} goes once all in it has)");
        printer.step(&doing, work, |_| format!("Deleted devflow's objects ({})", manifests.len())).await?;
        if let Some(mut state) = session.state.clone() {
            state.manifests = Phase::NotStarted;
            state.release = Phase::NotStarted;
            session.store.save(&state)?;
        }
        Ok(())
    }

    pub async fn checks(&mut self) -> Vec<Check> {
        let mut checks = self.docker_checks().await;
        checks.push(tool_check(Tool::from(self.tool), &self.session.env).await);
        checks
    }

    /// Docker runs, with the memory and CPUs the profile needs: a cluster devflow makes lives there.
    async fn docker_checks(&mut self) -> Vec<Check> {
        let plan = &self.session.plan;
        let (machine, endpoint) = match self.daemon().await {
            Ok(daemon) => (daemon.machine().await, daemon.endpoint.clone()),
            Err(e) => {
                let text = e.to_string();
                let (detail, fix) = text.split_once("\n  ").unwrap_or((&text, "start Docker"));
                return vec![Check::fail("docker", true, detail.to_string(), fix.to_string())];
            }
        };
        let m = match machine {
            Ok(machine) => machine,
            Err(e) => {
                let fix = "check that the Docker daemon is healthy (`docker info`)".into();
                return vec![Check::fail("docker", true, e.to_string(), fix)];
            }
        };
        let needs = plan.needs;
        let cpus = format!("{} CPUs for Docker; the profile `{}` asks for {}", m.cpus, plan.profile, needs.cpus);
        vec![
            cgroup_check(&m.cgroup_version, plan.kubernetes),
            Check::pass(
                "docker",
                format!(
                    "Docker {} on {} at {} ({})",
                    m.server_version, m.operating_system, endpoint.host, endpoint.from
                ),
            ),
            memory_check(&m, plan),
            if m.cpus >= u64::from(needs.cpus) {
                Check::pass("cpus", cpus)
            } else {
                Check::fail("cpus", false, cpus, "give Docker more CPUs: Airflow starts, but slowly".into())
            },
        ]
    }

    pub fn describe(&self, presence: Presence, nodes: &[NodeStatus]) -> String {
        let (provider, cluster) = (self.session.plan.provider, self.name());
        match presence {
            Presence::Running => {
                let ready = nodes.iter().filter(|n| n.ready).count();
                format!("{provider} {cluster} — running, {ready}/{} node(s) Ready", nodes.len())
            }
            Presence::Stopped => format!("{provider} {cluster} — stopped (`devflow start` resumes it)"),
            Presence::Foreign => {
                format!("{provider} {cluster} — exists, but devflow did not create it for this project")
            }
            Presence::Absent => format!("{provider} {cluster} — not created (`devflow up` creates it)"),
        }
    }
}

/// Docker's cgroup version against the Kubernetes the plan runs.
fn cgroup_check(cgroup_version: &str, minor: &str) -> Check {
    if super::refuses_cgroup_v1(cgroup_version, minor) {
        let detail = format!(
            "Docker runs on cgroup v1: Kubernetes {minor} will not start there (the kubelet refuses cgroup v1 since 1.35, KEP-5573)"
        );
        return Check::fail("cgroups", true, detail, super::CGROUP_V1_FIX.into());
    }
    match cgroup_version {
        "1" => Check::pass("cgroups", format!("cgroup v1: Kubernetes {minor} runs on it (1.35 and later do not)")),
        "" => Check::pass("cgroups", "Docker does not say its cgroup version".into()),
        version => Check::pass("cgroups", format!("cgroup v{version}")),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot put back your current kube context in {path}: {message}\n  `kubectl config use-context NAME` sets it")]
pub struct KubeconfigError {
    path: String,
    message: String,
}

crate::error::one_kind!(KubeconfigError, Environment);

/// The kubeconfig file kind merges its context into, as kind's `pathForMerge` chooses
/// (`pkg/cluster/internal/kubeconfig/internal/kubeconfig/paths.go`): the only file, else the
/// first that exists, else the last.
fn merge_target(files: &[std::path::PathBuf]) -> Option<&Path> {
    match files {
        [] => None,
        [only] => Some(only),
        _ => files.iter().find(|f| f.is_file()).or(files.last()).map(|f| f.as_path()),
    }
}

/// The `current-context` of a kubeconfig file, when it names one.
fn current_context(path: &Path) -> Option<String> {
    let config = crate::values::from_yaml_str(&std::fs::read_to_string(path).ok()?).ok()?;
    config["current-context"].as_str().filter(|c| !c.is_empty()).map(str::to_string)
}

/// Sets the `current-context` of the file kind has just written (as YAML, as kind writes it; the
/// file keeps its mode).
fn set_current_context(path: &Path, context: &str) -> Result<(), KubeconfigError> {
    let failed = |message: String| KubeconfigError { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let mut config = crate::values::from_yaml_str(&text).map_err(|e| failed(e.to_string()))?;
    config["current-context"] = Value::String(context.to_string());
    std::fs::write(path, crate::values::to_yaml(&config)).map_err(|e| failed(e.to_string()))
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

/// Docker's memory against the profile's needs: the one rule of `up` (which warns and goes on:
/// a profile's figure has a margin, and pods may still fit) and `doctor` (a warning, not a block).
fn memory_check(machine: &Machine, plan: &crate::plan::Plan) -> Check {
    let detail = format!(
        "{:.1} GiB for Docker; the profile `{}` needs {} GiB",
        machine.memory_gib(),
        plan.profile,
        plan.needs.memory_gib
    );
    // Docker Desktop reports a little less than the memory it was given.
    if machine.memory_gib() + 0.25 >= f64::from(plan.needs.memory_gib) {
        Check::pass("memory", detail)
    } else {
        Check::fail(
            "memory",
            false,
            format!("{detail}: pods may not fit"),
            "give Docker more memory (Docker Desktop: Settings → Resources), or use a smaller profile such as `local`"
                .into(),
        )
    }
}

/// Running only when every node container of ours runs.
pub fn presence(containers: &[Container], ownership: &Ownership) -> Presence {
    match ownership {
        Ownership::Absent => Presence::Absent,
        Ownership::Foreign { .. } => Presence::Foreign,
        Ownership::Ours if containers.iter().all(|c| c.running) => Presence::Running,
        Ownership::Ours => Presence::Stopped,
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
