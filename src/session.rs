//! A project's environment opened once, in the order data flows: the project resolved (flags,
//! devflow.toml, the environment and the files they name), then what devflow has made for it read
//! from its state folder, then one plan. Every command that acts on a project starts here.

use std::path::Path;

use anyhow::{Context, Result};

use crate::config::{self, Flags, Project};
use crate::env::Env;
use crate::helm::Helm;
use crate::plan::{self, Plan};
use crate::state::{State, Store};
use crate::ui::Printer;

/// One project's plan and what devflow has made for it.
pub struct Session {
    pub env: Env,
    pub project: Project,
    pub store: Store,
    /// What `up` has made so far; None before the first `up`.
    pub state: Option<State>,
    pub plan: Plan,
}

/// A day-2 command run before the first `up`: there is nothing to act on yet.
#[derive(Debug, thiserror::Error)]
#[error("no environment for this project yet: devflow up creates it")]
pub struct NoEnvironment;

crate::error::one_kind!(NoEnvironment, Environment);

/// Which provider a session plans for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// The one devflow.toml and `--provider` ask for: what `up` makes.
    Settings,
    /// The one `up` made the environment with, whatever devflow.toml says now: what `down`,
    /// `stop`, `status` and the day-2 commands act on.
    Made,
}

impl Session {
    pub fn open(env: &Env, flags: &Flags, follow: Follow, printer: &mut Printer) -> Result<Session> {
        let mut project = resolve(env, flags, printer)?;
        let store = Store::new(project.state_dir.clone());
        let state = store.load()?;
        if let (Follow::Made, Some(made)) = (follow, state.as_ref().and_then(|s| s.provider)) {
            project.provider = made;
        }
        let plan = plan::build(&project)?;
        Ok(Session { env: env.clone(), project, store, state, plan })
    }

    /// The session of an environment found in its state folder (`down --project`, `--path`):
    /// opened in its project folder when that still leads to it, else rebuilt from what the state
    /// recorded.
    pub fn recorded(env: &Env, store: Store, state: State) -> Result<Session> {
        let there = Env { cwd: state.project_root.clone(), ..env.clone() };
        let resolved = state
            .project_root
            .is_dir()
            .then(|| config::load(&there, &Flags::default(), &mut Vec::new()).ok())
            .flatten();
        let provider = state.provider.unwrap_or_default();
        let mut project = match resolved.filter(|p| p.state_dir.dir() == store.dir()) {
            Some(project) => project,
            None => {
                let name = config::StateDir::at(store.dir().to_path_buf()).project_name();
                config::load_recorded(env, &state.project_root, &name, provider, &state.context)?
            }
        };
        project.provider = provider;
        let plan = plan::build(&project)?;
        // A state folder this devflow would not have made (another version's) is not acted on.
        if plan.state_dir.dir() != store.dir() || plan.cluster_name != state.cluster_name {
            anyhow::bail!(
                "the state folder {} does not match what devflow makes for project `{}` (cluster `{}`)\n  remove the cluster `{}` and that folder by hand",
                store.dir().display(),
                project.name,
                plan.cluster_name,
                state.cluster_name
            );
        }
        Ok(Session { env: env.clone(), project, store, state: Some(state), plan })
    }

    /// The environment `up` made, for a command that acts on it (`logs`, `shell`, `stop`, …): refused
    /// before the first `up`, which would otherwise fail later on a kube context or a cluster that
    /// does not exist yet.
    pub fn open_made(env: &Env, printer: &mut Printer) -> Result<Session> {
        let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
        session.require_made()?;
        Ok(session)
    }

    /// Refuses a project `up` has not made anything for yet.
    pub fn require_made(&self) -> Result<(), NoEnvironment> {
        if self.state.is_none() { Err(NoEnvironment) } else { Ok(()) }
    }

    /// Changes what the state folder records, when `up` has recorded anything.
    pub fn record(&self, change: impl FnOnce(&mut State)) -> Result<()> {
        if let Some(mut state) = self.state.clone() {
            change(&mut state);
            self.store.save(&state)?;
        }
        Ok(())
    }
}

/// The project at or above the working folder, with a note of what was assumed (the defaults,
/// when there is no devflow.toml).
pub fn resolve(env: &Env, flags: &Flags, printer: &mut Printer) -> Result<Project> {
    let mut notes = Vec::new();
    let mut project = config::load(env, flags, &mut notes);
    if let Err(config::Error::ChartSchemaMissing { version, oci, cache }) = &project {
        pull_chart_schema(env, oci.as_deref(), version, cache, printer)?;
        notes.clear();
        project = config::load(env, flags, &mut notes);
    }
    if let Ok(project) = &project {
        printer.hide(project.secrets());
    }
    for note in &notes {
        printer.note(note);
    }
    Ok(project?)
}

/// Pulls the chart version's package for its values schema, once per version (devflow's cache
/// keeps it). On a thread of its own, with a runtime of its own: a session may be opened from
/// async work.
fn pull_chart_schema(env: &Env, oci: Option<&str>, version: &str, cache: &Path, printer: &mut Printer) -> Result<()> {
    let helm = Helm { tool: crate::tool::locate(crate::tool::Tool::Helm, env)? };
    printer.note(&format!("pulling the Airflow chart {version} for its values schema (kept in {})", cache.display()));
    let pull = || -> Result<()> {
        let runtime = crate::runtime::new()?;
        runtime
            .block_on(helm.pull_schema(oci, version, cache))
            .with_context(|| format!("cannot check your values against the Airflow chart {version}"))
    };
    std::thread::scope(|scope| scope.spawn(pull).join().unwrap_or_else(|_| anyhow::bail!("the chart pull panicked")))
}
