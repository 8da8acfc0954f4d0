//! `devflow doctor`: every check `up` depends on, each with what was found and how to fix it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::env::Env;
use crate::provider::{Backend, Check, tool_check};
use crate::session::{Follow, Session};
use crate::tool::Tool;
use crate::ui::Printer;

#[derive(Debug, thiserror::Error)]
#[error("{0} blocking check(s) failed: `devflow up` would not get far (each has a fix above)")]
pub struct Blocked(usize);

crate::error::one_kind!(Blocked, Environment);

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    checks: Vec<Check>,
}

pub async fn run(args: &DoctorArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let session = Session::open(env, &args.project.settings(&[]), Follow::Settings, printer)?;
    let plan = &session.plan;
    let mut checks = Backend::of(&session).checks().await;
    checks.push(tool_check(Tool::Helm, env).await);
    checks.push(port_check(plan.ui_port, session.state.as_ref().is_some_and(|s| !s.stopped)));
    checks.push(dags_check(&plan.dags_folder));
    if let Some(check) = inotify_check() {
        checks.push(check);
    }
    checks.extend(crate::provider::reach::checks(plan, env));
    let blocked = checks.iter().filter(|c| !c.ok && c.blocking).count();
    printer.set_mode(super::json_mode(args.json));
    printer.result(&Report { ok: blocked == 0, checks }, text)?;
    if blocked > 0 {
        return Err(Blocked(blocked).into());
    }
    Ok(())
}

fn text(report: &Report) -> String {
    let line = |c: &Check| {
        let mark = match (c.ok, c.blocking) {
            (true, _) => "✓",
            (false, true) => "✗",
            (false, false) => "!",
        };
        let fix = c.fix.as_ref().map(|f| format!("\n    fix: {f}")).unwrap_or_default();
        format!("{mark} {:<9} {}{fix}", c.name, c.detail)
    };
    report.checks.iter().map(line).collect::<Vec<_>>().join("\n")
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
