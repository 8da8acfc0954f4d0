//! `devflow watch`: the reload loop against this project's Airflow or any other. `up` ends in the
//! same loop for its project, and the loop runs `up` again, with the flags it was given, when the
//! project's settings or image files change.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::cli::WatchArgs;
use crate::config::Flags;
use crate::env::Env;
use crate::executor::{self, Options};
use crate::kube::{self, forward::Forward};
use crate::provider::Backend;
use crate::session::{Follow, Session};
use crate::sync::push::{Pusher, Pushers};
use crate::ui::{Mode, Printer};
use crate::watch::{self, Action, Hook, Settings};

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
            let session = Session::open(env, &Flags::default(), Follow::Made, printer)?;
            let mut watching = for_session(&session, None, Options::from_project_files(), printer)?;
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

/// The loop's settings for this project's own Airflow. `pushers`: the ones `up` has just pushed
/// with, which know what the cluster holds; `up`: how a change of the project's settings runs
/// `up` again.
pub fn for_session(session: &Session, pushers: Option<Pushers>, up: Options, printer: &Printer) -> Result<Watching> {
    let (env, plan) = (&session.env, &session.plan);
    let ProjectAirflow { url, user, password, forward } = project_airflow(session, "watch", printer)?;
    let mut settings = settings(&env.cwd, url, user, password, &plan.dags_folder)?;
    settings.slow_parse = plan.slow_parse;
    let (dags, plugins) = match pushers.or_else(|| Pushers::new(plan, session.project.plugins.as_deref())) {
        Some(pushers) => (Some(pushers.dags), pushers.plugins),
        None => (None, None),
    };
    settings.push = dags.map(|pusher| push_action(pusher, session));
    if let Some(folder) = session.project.plugins.as_ref().and_then(|p| p.canonicalize().ok()) {
        settings.hooks.push(plugins_hook(session, folder, plugins.map(|pusher| push_action(pusher, session))));
    }
    // What `up` builds from: the image's files, devflow.toml and the production values.
    let mut paths = session.project.image_inputs().to_vec();
    paths.extend(session.project.file.iter().cloned());
    paths.extend(plan.production_files.iter().cloned());
    settings.hooks.push(Hook {
        paths,
        what: "the project's settings or image files",
        doing: "running `devflow up` to apply the difference",
        done: "Applied: Airflow runs the new settings",
        action: reapply(env.clone(), up),
    });
    Ok(Watching { settings, forward })
}

/// This project's Airflow: where it answers, devflow's admin login, and the port-forward that
/// reaches it on an existing cluster (it lives as long as this does).
pub struct ProjectAirflow {
    pub url: String,
    pub user: &'static str,
    pub password: String,
    pub forward: Option<Forward>,
}

/// Reaches the project's Airflow for `command` (which names itself in the message when there is
/// no Airflow yet).
pub fn project_airflow(session: &Session, command: &str, printer: &Printer) -> Result<ProjectAirflow> {
    let plan = &session.plan;
    let secrets = session.store.read_secrets()?;
    let Some(password) = secrets.as_ref().and_then(|s| s.admin_password()) else {
        bail!(
            "the project `{}` has no Airflow yet\n  `devflow up` starts it; `devflow {command} --airflow-url URL` uses another one",
            plan.project
        );
    };
    let forward = Backend::of(session).reach_ui(printer)?;
    Ok(ProjectAirflow { url: plan.url.clone(), user: plan.admin_user, password: password.to_string(), forward })
}

/// `up` run again, with the options it was first run with; its own printer, with results on
/// standard error: standard output is the watch's.
fn reapply(env: Env, up: Options) -> Action {
    Box::new(move |printer: &mut Printer| {
        let mut printer = printer.progress();
        crate::runtime::new()?.block_on(executor::up(&env, &up, &mut printer))?;
        Ok(())
    })
}

/// A plugin change: the plugins pushed (when they are), then the components that load plugins
/// restarted, and waited for.
fn plugins_hook(session: &Session, folder: PathBuf, mut push: Option<Action>) -> Hook {
    let (env, plan) = (session.env.clone(), &session.plan);
    let (context, namespace, loaders) = (plan.context.clone(), plan.namespace.clone(), plan.plugin_loaders());
    Hook {
        paths: vec![folder],
        what: "plugins",
        doing: "restarting the components that load them",
        done: "Restarted: the new plugins are loaded",
        action: Box::new(move |printer: &mut Printer| {
            if let Some(push) = push.as_mut() {
                push(printer)?;
            }
            crate::runtime::new()?.block_on(async {
                let kube = kube::ApiClient::connect(&env, &context).await?;
                kube::wait::restart(&kube, &namespace, &loaders, printer).await
            })?;
            Ok(())
        }),
    }
}

/// A push as the loop's action: a runtime and a client of its own, made on first use, and a line
/// only when something was sent (`{"pushed": …}` on standard output in JSON mode).
fn push_action(mut pusher: Pusher, session: &Session) -> Action {
    let (env, context) = (session.env.clone(), session.plan.context.clone());
    let mut connected: Option<(tokio::runtime::Runtime, kube::ApiClient)> = None;
    Box::new(move |printer: &mut Printer| {
        if connected.is_none() {
            let runtime = crate::runtime::new()?;
            let kube = runtime.block_on(kube::ApiClient::connect(&env, &context))?;
            connected = Some((runtime, kube));
        }
        let (runtime, kube) = connected.as_ref().expect("connected above");
        let pushed = runtime.block_on(pusher.push(kube, printer))?;
        match (pushed.uploaded + pushed.deleted > 0, printer.mode()) {
            (false, _) => {}
            (true, Mode::Json) => printer.out(&serde_json::json!({ "pushed": pushed }).to_string())?,
            (true, Mode::Text | Mode::Quiet) => printer.done(&pushed.to_string()),
        }
        Ok(())
    })
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
        slow_parse: crate::profile::SlowParse::default(),
    })
}

fn canonical(dags: &Path) -> Result<PathBuf> {
    Ok(dags.canonicalize().map_err(|_| WatchError::NoDags { path: dags.display().to_string() })?)
}

/// Runs the loop until Ctrl-C, which ends it quietly: stopping is how a watch ends.
pub fn until_ctrl_c(watching: Watching, printer: &mut Printer) -> Result<()> {
    let Watching { mut settings, forward } = watching;
    let stop = super::ctrl_c_flag()?;
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
