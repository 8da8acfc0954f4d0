//! `devflow doctor`: every check `up` depends on, each with what was found and how to fix it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::env::Env;
use crate::session::{Follow, Session};
use crate::tool::{self, Tool, install};
use crate::ui::Printer;

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    /// `up` cannot succeed while a blocking check fails.
    blocking: bool,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: String) -> Check {
        Check { name, ok: true, blocking: false, detail, fix: None }
    }

    fn fail(name: &'static str, blocking: bool, detail: String, fix: String) -> Check {
        Check { name, ok: false, blocking, detail, fix: Some(fix) }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} blocking check(s) failed: `devflow up` would not get far (each has a fix above)")]
pub struct Blocked(usize);

crate::error::one_kind!(Blocked, Environment);

pub async fn run(args: &DoctorArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let target = Session::open(env, &args.project.settings(&[]), Follow::Settings, printer)?;
    let plan = &target.plan;
    let mut checks = Vec::new();

    match plan.provider.cluster_tool() {
        Some(_) => docker_checks(env, plan, &mut checks).await,
        None => checks.push(existing_check(env, plan).await),
    }
    let tools = plan.provider.cluster_tool().map(Tool::from).into_iter().chain([Tool::Helm]);
    for tool in tools {
        checks.push(tool_check(tool, env).await);
    }
    checks.push(port_check(plan.ui_port, target.state.as_ref().is_some_and(|s| !s.stopped)));
    checks.push(dags_check(&plan.dags_folder));
    if let Some(check) = inotify_check() {
        checks.push(check);
    }

    let blocked = checks.iter().filter(|c| !c.ok && c.blocking).count();
    let text = if args.json {
        serde_json::to_string_pretty(&serde_json::json!({"ok": blocked == 0, "checks": checks}))?
    } else {
        checks
            .iter()
            .map(|c| {
                let mark = if c.ok {
                    "✓"
                } else if c.blocking {
                    "✗"
                } else {
                    "!"
                };
                let fix = c.fix.as_ref().map(|f| format!("\n    fix: {f}")).unwrap_or_default();
                format!("{mark} {:<9} {}{fix}", c.name, c.detail)
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    printer.out(&text)?;
    if blocked > 0 {
        return Err(Blocked(blocked).into());
    }
    Ok(())
}

async fn tool_check(tool: Tool, env: &Env) -> Check {
    let name = tool.name();
    let program = match tool::locate(tool, env) {
        Ok(program) => program,
        Err(_) => {
            let fix = match install::pin_for_this_machine(tool) {
                Ok(pin) => format!(
                    "`devflow up` offers to install the pinned {name} v{} (checksum-verified); or install it: {}",
                    pin.version,
                    install::docs_url(tool)
                ),
                Err(_) => format!("install it: {}", install::docs_url(tool)),
            };
            let blocking = install::pin_for_this_machine(tool).is_err();
            return Check::fail(name, blocking, "not found on PATH or in devflow's cache".into(), fix);
        }
    };
    let (minimum, why) = tool.minimum();
    match tool.version(&program).await {
        Ok((Some(version), text)) if version >= minimum => {
            Check::pass(name, format!("{text} ({})", program.path.display()))
        }
        Ok((_, text)) => Check::fail(
            name,
            tool == Tool::Helm,
            format!("{text} ({}): {why}", program.path.display()),
            format!(
                "upgrade {name} to {}.{}.{} or later: {}",
                minimum.0,
                minimum.1,
                minimum.2,
                install::docs_url(tool)
            ),
        ),
        Err(e) => Check::fail(name, true, e.to_string(), format!("reinstall {name}: {}", install::docs_url(tool))),
    }
}

/// Docker runs, with the memory and CPUs the profile needs: a cluster devflow makes lives there.
async fn docker_checks(env: &Env, plan: &crate::plan::Plan, checks: &mut Vec<Check>) {
    match crate::docker::Daemon::connect(env).await {
        Ok(daemon) => match daemon.machine().await {
            Ok(m) => {
                let needs = plan.needs;
                checks.push(Check::pass("docker", format!("Docker {} on {}", m.server_version, m.operating_system)));
                let memory = format!(
                    "{:.1} GiB for Docker; the profile `{}` needs {} GiB",
                    m.memory_gib(),
                    plan.profile,
                    needs.memory_gib
                );
                checks.push(if m.memory_gib() + 0.25 >= f64::from(needs.memory_gib) {
                    Check::pass("memory", memory)
                } else {
                    Check::fail("memory", true, memory, "give Docker more memory (Docker Desktop: Settings → Resources), or use a smaller profile such as `local`".into())
                });
                let cpus =
                    format!("{} CPUs for Docker; the profile `{}` asks for {}", m.cpus, plan.profile, needs.cpus);
                checks.push(if m.cpus >= u64::from(needs.cpus) {
                    Check::pass("cpus", cpus)
                } else {
                    Check::fail("cpus", false, cpus, "give Docker more CPUs: Airflow starts, but slowly".into())
                });
            }
            Err(e) => checks.push(Check::fail(
                "docker",
                true,
                e.to_string(),
                "check that the Docker daemon is healthy (`docker info`)".into(),
            )),
        },
        Err(e) => {
            let text = e.to_string();
            let (detail, fix) = text.split_once("\n  ").unwrap_or((&text, "start Docker"));
            checks.push(Check::fail("docker", true, detail.to_string(), fix.to_string()));
        }
    }
}

/// The existing cluster answers for the context, and the namespace is free or this project's.
async fn existing_check(env: &Env, plan: &crate::plan::Plan) -> Check {
    let owner = match crate::kube::ApiClient::connect(env, &plan.context).await {
        Ok(kube) => kube.namespace_owner(&plan.namespace, crate::plan::manifests::OWNER_ANNOTATION).await,
        Err(e) => Err(e),
    };
    let detail = |what: &str| format!("kube context {}, namespace {}: {what}", plan.context, plan.namespace);
    match owner {
        Ok(crate::kube::NamespaceOwner::Absent) => Check::pass("cluster", detail("free, `devflow up` creates it")),
        Ok(owner) => match super::lifecycle::check_namespace_ours(plan, &owner) {
            Ok(()) => Check::pass("cluster", detail("this project's")),
            Err(e) => Check::fail(
                "cluster",
                true,
                detail("someone else's"),
                format!("{e}").lines().skip(1).map(str::trim).collect::<Vec<_>>().join("; "),
            ),
        },
        Err(e) => Check::fail(
            "cluster",
            true,
            detail(&e.to_string()),
            "check the context (`kubectl config get-contexts`), your login to the cluster, and the network".into(),
        ),
    }
}

fn port_check(port: u16, ours_running: bool) -> Check {
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Check::pass("port", format!("127.0.0.1:{port} is free for Airflow's UI and API")),
        Err(_) if ours_running => Check::pass("port", format!("127.0.0.1:{port} is held by this project's cluster")),
        Err(e) => Check::fail(
            "port",
            true,
            format!("127.0.0.1:{port} is taken ({e})"),
            format!(
                "set another `ui_port` under [cluster] in devflow.toml, or stop what listens there (`lsof -i :{port}`)"
            ),
        ),
    }
}

/// Airflow runs as uid 50000: through the bind mount it reads the folder as "others".
fn dags_check(dags: &Path) -> Check {
    let mut unreadable: Vec<PathBuf> = Vec::new();
    let mut count = 0usize;
    let mut stack = vec![dags.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        let mode = meta.permissions().mode();
        let needed = if meta.is_dir() { 0o005 } else { 0o004 };
        if mode & needed != needed {
            unreadable.push(path.clone());
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                let name = entry.file_name();
                if name != ".git" && name != "__pycache__" {
                    stack.push(entry.path());
                }
            }
        } else {
            count += 1;
        }
    }
    if !dags.is_dir() {
        return Check::fail(
            "dags",
            true,
            format!("{} is not a folder", dags.display()),
            "create it, or set `dags` in devflow.toml".into(),
        );
    }
    if unreadable.is_empty() {
        return Check::pass("dags", format!("{} ({count} files) is readable by Airflow's uid 50000", dags.display()));
    }
    unreadable.sort();
    let shown: Vec<String> = unreadable.iter().take(3).map(|p| p.display().to_string()).collect();
    Check::fail(
        "dags",
        true,
        format!(
            "{} path(s) not readable by others (Airflow runs as uid 50000): {}{}",
            unreadable.len(),
            shown.join(", "),
            if unreadable.len() > 3 { ", …" } else { "" }
        ),
        format!("chmod -R o+rX {}", dags.display()),
    )
}

/// kind's known issue: too few inotify watches or instances make pods fail with "too many open files".
fn inotify_check() -> Option<Check> {
    let read =
        |name: &str| std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}")).ok()?.trim().parse::<u64>().ok();
    let (watches, instances) = (read("max_user_watches")?, read("max_user_instances")?);
    let detail = format!("max_user_watches {watches}, max_user_instances {instances}");
    Some(if watches >= 524_288 && instances >= 512 {
        Check::pass("inotify", detail)
    } else {
        Check::fail(
            "inotify",
            false,
            format!("{detail}: below kind's advice (524288 and 512); pods may fail with \"too many open files\""),
            "sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512".into(),
        )
    })
}
