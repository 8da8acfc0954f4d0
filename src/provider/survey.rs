//! Every environment devflow made on this machine (`devflow list`): the state folders under
//! devflow's state home, each held against its project folder and its cluster's node containers,
//! and the node containers that mount a devflow ownership marker whose state folder is gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Presence;
use super::nodes::ownership;
use crate::config::{self, ClusterTool, Provider, StateDir, StateFile};
use crate::docker::{Container, Daemon};
use crate::env::Env;
use crate::plan::ClusterRef;
use crate::plan::cluster::{NODE_OWNER_MARKER, context, delete, node_label};
use crate::state::{State, Store};

/// One environment, in the vocabulary of `status --json`.
#[derive(Debug, Serialize)]
pub struct Environment {
    pub project: String,
    /// The project folder `up` ran in.
    pub folder: PathBuf,
    pub provider: Provider,
    pub cluster: ClusterRef,
    pub state: Standing,
    /// Why it is orphaned, or what could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its state folder, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_folder: Option<PathBuf>,
}

/// What `list` says of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    Running,
    Stopped,
    /// Recorded, but its cluster is not there (deleted behind devflow's back, or never finished).
    Absent,
    /// Its project folder is gone or now holds another project, or its state folder is gone:
    /// `down --project`/`--path` removes it.
    Orphaned,
    /// On an existing cluster, which `list` does not contact: `devflow status` in its folder does.
    Unchecked,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Running => "running",
            Standing::Stopped => "stopped",
            Standing::Absent => "absent",
            Standing::Orphaned => "orphaned",
            Standing::Unchecked => "unchecked",
        }
    }
}

/// Surveys the machine. Docker is asked once, for every kind and k3d node container; when it
/// cannot be reached, clusters are `unchecked` with the reason.
pub async fn environments(env: &Env) -> Result<Vec<Environment>, crate::state::Error> {
    let base = env.state_base();
    let stores = Store::all(&base)?;
    let nodes = node_containers(env).await;
    let mut found: Vec<Environment> = stores.iter().map(|(store, state)| recorded(env, store, state, &nodes)).collect();
    if let Ok(nodes) = &nodes {
        let known: Vec<&Path> = stores.iter().map(|(store, _)| store.dir()).collect();
        found.extend(markers_without_state(&base, &known, nodes));
    }
    Ok(found)
}

async fn node_containers(env: &Env) -> Result<Vec<Container>, String> {
    let daemon = Daemon::connect(env).await.map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    // A label key alone matches every value: every kind and every k3d cluster's nodes.
    for key in ["io.x-k8s.kind.cluster", "k3d.cluster"] {
        all.extend(daemon.containers(&[key.to_string()]).await.map_err(|e| e.to_string())?);
    }
    Ok(all)
}

fn recorded(env: &Env, store: &Store, state: &State, nodes: &Result<Vec<Container>, String>) -> Environment {
    let dir = StateDir::at(store.dir().to_path_buf());
    let provider = state.provider.unwrap_or_default();
    let (mut standing, mut reason) = match (provider.cluster_tool(), nodes) {
        (None, _) => (
            Standing::Unchecked,
            Some(format!("a namespace of `{}`: `devflow status` in its folder asks the cluster", state.context)),
        ),
        (Some(_), Err(why)) => (Standing::Unchecked, Some(format!("Docker cannot be asked: {why}"))),
        (Some(tool), Ok(nodes)) => {
            (cluster_standing(tool, &state.cluster_name, &dir.file(StateFile::OwnerMarker), nodes), None)
        }
    };
    if let Some(why) = folder_problem(env, &state.project_root, &dir) {
        (standing, reason) = (Standing::Orphaned, Some(why));
    }
    Environment {
        project: dir.project_name(),
        folder: state.project_root.clone(),
        provider,
        cluster: ClusterRef { name: state.cluster_name.clone(), provider, context: state.context.clone() },
        state: standing,
        reason,
        state_folder: Some(store.dir().to_path_buf()),
    }
}

/// How a project's earlier environment lost its way to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// Made for a project of the same name in a folder that is gone: the project moved here.
    Moved { from: PathBuf },
    /// Made in this very folder when the project had another name.
    Renamed { was: String },
}

/// An environment devflow made for this project before it moved or was renamed.
pub struct Predecessor {
    pub store: Store,
    pub state: State,
    pub how: Move,
}

impl Predecessor {
    /// Whether it stands in the way of the project's own: a cluster of the same name (kind and
    /// k3d name a cluster after its project), or the same namespace of the same cluster.
    pub fn blocks(&self, plan: &crate::plan::Plan) -> bool {
        self.state.cluster_name == plan.cluster_name && self.state.context == plan.context
    }

    pub fn describe(&self) -> String {
        let made = match self.state.provider.unwrap_or_default().cluster_tool() {
            Some(_) => format!("the {} cluster {}", self.state.provider.unwrap_or_default(), self.state.cluster_name),
            None => format!("an environment in the cluster {}", self.state.context),
        };
        match &self.how {
            Move::Moved { from } => format!(
                "devflow made {made} for this project in {}, which is gone (the project moved here)",
                from.display()
            ),
            Move::Renamed { was } => format!("devflow made {made} for this folder when its project was named `{was}`"),
        }
    }
}

/// The environments made for `project` before its folder moved or its name changed: a state
/// folder of the same name whose project folder is gone, or one recorded for this folder under
/// another name. Its own state folder is not among them.
pub fn predecessors(env: &Env, project: &config::Project) -> Result<Vec<Predecessor>, crate::state::Error> {
    let root = project.root.canonicalize().unwrap_or_else(|_| project.root.clone());
    let found = Store::all(&env.state_base())?.into_iter().filter_map(|(store, state)| {
        if store.dir() == project.state_dir.dir() {
            return None;
        }
        let name = StateDir::at(store.dir().to_path_buf()).project_name();
        let how = if name == project.name && !state.project_root.is_dir() {
            Move::Moved { from: state.project_root.clone() }
        } else if name != project.name && (state.project_root == project.root || state.project_root == root) {
            Move::Renamed { was: name }
        } else {
            return None;
        };
        Some(Predecessor { store, state, how })
    });
    Ok(found.collect())
}

/// Running, stopped or absent, as `status` judges it: a cluster of that name without this
/// environment's marker is not this environment's.
fn cluster_standing(tool: ClusterTool, name: &str, marker: &Path, nodes: &[Container]) -> Standing {
    let label = node_label(tool, name);
    let (key, value) = label.split_once('=').unwrap_or((&label, ""));
    let cluster: Vec<Container> =
        nodes.iter().filter(|c| c.labels.get(key).is_some_and(|v| v == value)).cloned().collect();
    match super::nodes::presence(&cluster, &ownership(&cluster, marker)) {
        Presence::Running => Standing::Running,
        Presence::Stopped => Standing::Stopped,
        Presence::Absent | Presence::Foreign => Standing::Absent,
    }
}

/// Why the project folder no longer leads to this state folder: it is gone, or the project there
/// resolves (its devflow.toml's name) to another one.
fn folder_problem(env: &Env, root: &Path, dir: &StateDir) -> Option<String> {
    if !root.is_dir() {
        return Some(format!("its folder {} is gone", root.display()));
    }
    let there = Env { cwd: root.to_path_buf(), ..env.clone() };
    let project = config::load(&there, &config::Flags::default(), &mut Vec::new()).ok()?;
    (project.root != root || project.state_dir.dir() != dir.dir())
        .then(|| format!("the project in {} is now `{}`", root.display(), project.name))
}

/// Clusters whose nodes mount a marker from a state folder under `base` that is gone.
fn markers_without_state(base: &Path, known: &[&Path], nodes: &[Container]) -> Vec<Environment> {
    // By kube context: one entry per cluster, whichever of its nodes is met first.
    let mut clusters: BTreeMap<String, (ClusterTool, String, PathBuf)> = BTreeMap::new();
    for node in nodes {
        let Some((source, _)) = node.mounts.iter().find(|(_, dest)| dest == NODE_OWNER_MARKER) else { continue };
        let Some(folder) = Path::new(source).parent() else { continue };
        if !folder.starts_with(base) || known.contains(&folder) {
            continue;
        }
        let (tool, name) = match (node.labels.get("io.x-k8s.kind.cluster"), node.labels.get("k3d.cluster")) {
            (Some(name), _) => (ClusterTool::Kind, name),
            (None, Some(name)) => (ClusterTool::K3d, name),
            (None, None) => continue,
        };
        clusters.insert(context(tool, name), (tool, name.clone(), folder.to_path_buf()));
    }
    clusters
        .into_iter()
        .map(|(context, (tool, name, folder))| {
            let provider = match tool {
                ClusterTool::Kind => Provider::Kind,
                ClusterTool::K3d => Provider::K3d,
            };
            Environment {
                project: StateDir::at(folder.clone()).project_name(),
                folder: PathBuf::new(),
                provider,
                reason: Some(format!(
                    "its state folder {} is gone: `{}` removes the cluster",
                    folder.display(),
                    delete(tool, &name).argv.join(" ")
                )),
                cluster: ClusterRef { name, provider, context },
                state: Standing::Orphaned,
                state_folder: None,
            }
        })
        .collect()
}
