//! `devflow watch`: the reload loop against this project's Airflow or any other. `up` ends in the
//! same loop for its project.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, bail};

use super::forward::Forward;
use super::push::Pushers;
use crate::cli::WatchArgs;
use crate::config::{Flags, Provider};
use crate::env::Env;
use crate::session::{Follow, Session};
use crate::ui::{Mode, Printer};
use crate::watch::{self, Hook, Settings};

pub fn run(args: &WatchArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let cwd = &env.cwd;
    printer.set_mode(match (args.json, args.quiet) {
        (true, _) => Mode::Json,
        (false, true) => Mode::Quiet,
        (false, false) => Mode::Text,
    });
    let watching = match &args.airflow_url {
        Some(url) => {
            let dags = match &args.dags {
                Some(dags) => cwd.join(dags),
                None => Session::open(env, &Flags::default(), Follow::Made, printer)?.plan.dags_folder,
            };
            let Some(password) = args.password.clone() else {
                bail!(WatchError::NoPassword { url: url.clone() });
            };
            settings(cwd, url.clone(), &args.username, password, &dags)?.into()
        }
        None => {
            let target = Session::open(env, &Flags::default(), Follow::Made, printer)?;
            let mut watching = for_project(&target, None, printer)?;
            let settings = &mut watching.settings;
            if let Some(password) = &args.password {
                settings.password = password.clone();
                settings.user = args.username.clone();
            }
            if let Some(dags) = &args.dags {
                settings.dags = canonical(&cwd.join(dags))?;
            }
            watching
        }
    };
    until_ctrl_c(watching, printer)
}

/// A watch about to run, with what must live as long as it does.
pub struct Watching {
    pub settings: Settings,
    /// The port-forward to an existing cluster's Airflow.
    forward: Option<Forward>,
}

impl From<Settings> for Watching {
    fn from(settings: Settings) -> Watching {
        Watching { settings, forward: None }
    }
}

/// The loop's settings for this project's own Airflow (after `up`).
/// `pushers`: the ones `up` has just pushed with, which know what the cluster holds.
pub fn for_project(target: &Session, pushers: Option<Pushers>, printer: &Printer) -> Result<Watching> {
    let env = &target.env;
    let secrets = target.store.read_secrets()?;
    let Some(password) = secrets.as_ref().and_then(|s| s.admin_password()) else {
        bail!(
            "the project `{}` has no Airflow yet\n  `devflow up` starts it; `devflow watch --airflow-url URL` watches another one",
            target.plan.project
        );
    };
    let plan = &target.plan;
    let mut settings = settings(&env.cwd, plan.url.clone(), plan.admin_user, password.to_string(), &plan.dags_folder)?;
    let forward = match plan.provider {
        Provider::Existing => Some(Forward::start(env, plan, printer.progress())?),
        _ => None,
    };
    let mut plugins_push = None;
    if let Some(pushers) = pushers.or_else(|| Pushers::for_session(target)) {
        settings.push = Some(pushers.dags.into_action(env, &plan.context));
        plugins_push = pushers.plugins;
    }
    if let Some(plugins) = target.project.plugins.as_ref().and_then(|p| p.canonicalize().ok()) {
        let (context, namespace, env) = (plan.context.clone(), plan.namespace.clone(), env.clone());
        let loaders = super::lifecycle::plugin_loaders(plan);
        let mut push = plugins_push.map(|pusher| pusher.into_action(&env, &context));
        settings.hooks.push(Hook {
            paths: vec![plugins],
            what: "plugins",
            doing: "restarting the components that load them",
            done: "Restarted: the new plugins are loaded",
            action: Box::new(move |printer: &mut Printer| {
                if let Some(push) = push.as_mut() {
                    push(printer)?;
                }
                super::lifecycle::restart_for_plugins(&env, &context, &namespace, &loaders, printer)
            }),
        });
    }
    // What `up` builds from: the image's files, devflow.toml and the production values.
    let mut paths = target.project.image_inputs().to_vec();
    paths.extend(target.project.file.iter().cloned());
    paths.extend(plan.production_files.iter().cloned());
    settings.hooks.push(Hook {
        paths,
        what: "the project's settings or image files",
        doing: "running `devflow up` to apply the difference",
        done: "Applied: Airflow runs the new settings",
        action: Box::new({
            let env = env.clone();
            move |printer: &mut Printer| {
                // Its own printer, with results on standard error: standard output is the watch's.
                let mut printer = printer.progress();
                super::runtime()?.block_on(super::up::run(&crate::cli::UpArgs::reapply(), &env, &mut printer))?;
                Ok(())
            }
        }),
    });
    Ok(Watching { settings, forward })
}

fn settings(cwd: &Path, url: String, user: &str, password: String, dags: &Path) -> Result<Settings> {
    let dags = canonical(dags)?;
    let base = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let shown =
        dags.strip_prefix(&base).map(|p| p.display().to_string()).unwrap_or_else(|_| dags.display().to_string());
    Ok(Settings {
        url,
        user: user.to_string(),
        password,
        shown_root: if shown.is_empty() { String::new() } else { format!("{shown}/") },
        dags,
        hooks: Vec::new(),
        push: None,
    })
}

fn canonical(dags: &Path) -> Result<PathBuf> {
    Ok(dags.canonicalize().map_err(|_| WatchError::NoDags { path: dags.display().to_string() })?)
}

/// Runs the loop until Ctrl-C, which ends it quietly: stopping is how a watch ends.
pub fn until_ctrl_c(watching: Watching, printer: &mut Printer) -> Result<()> {
    let Watching { mut settings, forward } = watching;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A runtime of its own on a thread of its own, only to hear the signal.
    let runtime = super::runtime()?;
    std::thread::spawn(move || {
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    watch::run(&mut settings, printer, &stop)?;
    drop(forward);
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("no password for {url}\n  set AIRFLOW_PASSWORD (or pass --password) for the user given with --username")]
    NoPassword { url: String },
    #[error("the DAG folder {path} does not exist\n  pass the folder Airflow reads with --dags")]
    NoDags { path: String },
}

crate::error::one_kind!(WatchError, Input);
