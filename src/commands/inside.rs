//! The day-2 commands that work inside the cluster, in an Airflow pod: `airflow`, `shell`, `test`
//! and `settings import`; and `open`, which takes the user to the UI.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::Exit;
use crate::airflow::incluster::{self, Settings, TestReport};
use crate::airflow::pod;
use crate::cli::{AirflowArgs, JsonFlag, OpenArgs, SettingsImportArgs, ShellArgs};
use crate::env::Env;
use crate::kube;
use crate::provider::Backend;
use crate::session::Session;
use crate::tool;
use crate::ui::Printer;

pub async fn airflow(args: &AirflowArgs, env: &Env, printer: &mut Printer) -> Result<Exit> {
    let mut argv = vec!["airflow".to_string()];
    argv.extend(args.args.iter().cloned());
    attached(&args.component, &argv, env, printer).await
}

pub async fn shell(args: &ShellArgs, env: &Env, printer: &mut Printer) -> Result<Exit> {
    // The Airflow image has bash; devflow's PostgreSQL and the tests' images may only have sh.
    let argv = ["sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash || exec sh"].map(String::from);
    attached(&args.component, &argv, env, printer).await
}

/// Runs a command in a component's pod with this process's standard streams: a terminal when
/// standard input is one, pipes otherwise. Ends with the command's exit code.
async fn attached(component: &str, argv: &[String], env: &Env, printer: &mut Printer) -> Result<Exit> {
    let target = Session::open_made(env, printer)?;
    let plan = &target.plan;
    let kube = kube::ApiClient::connect(env, &plan.context).await?;
    let (pod, container) = pod::running(&kube, &target, component).await?;
    let interactive = std::io::stdin().is_terminal();
    // Listening before the remote terminal opens: a resize between the two is not missed.
    let window_changes = interactive.then(|| signal(SignalKind::window_change()).ok()).flatten();
    let size = interactive
        .then(|| crossterm::terminal::size().ok())
        .flatten()
        .map(|(width, height)| ::kube::api::TerminalSize { width, height });
    let attached = kube.attach(&plan.namespace, &pod, container.as_deref(), argv, size).await?;
    let raw = if interactive { RawMode::enable() } else { None };
    let kube::Attached { mut stdin, mut stdout, stderr, resize, exit } = attached;
    let resizing = resize.zip(window_changes).map(|(resize, changes)| tokio::spawn(follow_resizes(resize, changes)));
    // Standard input is read on a thread of its own: a read blocked on the terminal must not
    // keep devflow from exiting when the command ends.
    let (keys, mut typed) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut input = std::io::stdin();
        let mut buffer = [0u8; 8192];
        while let Ok(n) = input.read(&mut buffer) {
            if n == 0 || keys.blocking_send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let feed = async move {
        while let Some(bytes) = typed.recv().await {
            if stdin.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = stdin.shutdown().await;
    };
    let out = async move {
        let _ = tokio::io::copy(&mut stdout, &mut tokio::io::stdout()).await;
    };
    let err = async move {
        if let Some(mut stderr) = stderr {
            let _ = tokio::io::copy(&mut stderr, &mut tokio::io::stderr()).await;
        }
    };
    let feeding = tokio::spawn(feed);
    // A broken connection ends the command with a message, rather than a wait for output that
    // never comes.
    let code = exit
        .wait_with(async {
            tokio::join!(out, err);
        })
        .await;
    feeding.abort();
    if let Some(resizing) = resizing {
        resizing.abort();
    }
    drop(raw);
    Ok(Exit(u8::try_from(code?).unwrap_or(1)))
}

/// Gives the remote terminal the local one's size each time the window changes (SIGWINCH),
/// until the command ends.
async fn follow_resizes(mut resize: kube::Resize, mut changes: Signal) {
    while changes.recv().await.is_some() {
        if let Ok((width, height)) = crossterm::terminal::size()
            && !resize.to(width, height)
        {
            return;
        }
    }
}

/// The terminal on standard input in raw mode while this lives: keys go to the remote shell as
/// they are typed, and only the remote terminal echoes them.
struct RawMode;

impl RawMode {
    /// None when the terminal cannot be put in raw mode.
    fn enable() -> Option<RawMode> {
        crossterm::terminal::enable_raw_mode().ok().map(|()| RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

pub async fn test(args: &JsonFlag, env: &Env, printer: &mut Printer) -> Result<Exit> {
    let target = Session::open_made(env, printer)?;
    let plan = &target.plan;
    let what = format!("Importing every DAG in {}", plan.dags_mount);
    let stdout = pod::run_script(
        &target,
        &what,
        "Imported the DAG folder",
        incluster::TEST_DAGS,
        &[&plan.dags_mount],
        None,
        printer,
    )
    .await?;
    let report = TestReport::read(&stdout)?;
    printer.set_mode(super::json_mode(args.json));
    printer.result(&report, |report| test_text(report, &plan.dags_mount))?;
    Ok(if report.passed() { Exit::SUCCESS } else { Exit(1) })
}

fn test_text(report: &TestReport, folder: &str) -> String {
    let relative =
        |file: &str| file.strip_prefix(folder).map(|f| f.trim_start_matches('/')).unwrap_or(file).to_string();
    let mut lines = Vec::new();
    for dag in &report.dags {
        lines.push(format!("✓ {}  {} ({} tasks)", relative(&dag.file), dag.dag_id, dag.tasks));
    }
    for error in &report.import_errors {
        let file = relative(&error.file);
        let (message, line) = crate::airflow::describe_error(&error.error, &file);
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        lines.push(format!("✗ {file}{at}  {message}"));
    }
    for problem in &report.problems {
        lines.push(format!("✗ {}  {}: {}", relative(&problem.file), problem.dag_id, problem.problem));
    }
    lines.push(format!(
        "{} DAGs, {} import errors, {} DAG problems ({:.1}s in the cluster's image)",
        report.dags.len(),
        report.import_errors.len(),
        report.problems.len(),
        report.seconds
    ));
    lines.join("\n")
}

pub async fn settings_import(args: &SettingsImportArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let settings = Settings::read(&args.file)?;
    if settings.is_empty() {
        printer.note(&format!("{} lists no connections, variables or pools: nothing to import", args.file.display()));
        return Ok(());
    }
    let target = Session::open_made(env, printer)?;
    // The settings, secrets included, go through standard input: never on a command line.
    let payload = serde_json::to_vec(&settings).context("cannot encode the settings")?;
    let what = format!("Importing {} into Airflow", args.file.display());
    let stdout =
        pod::run_script(&target, &what, "Imported", incluster::IMPORT_SETTINGS, &[], Some(&payload), printer).await?;
    let outcomes = incluster::outcomes(&stdout)?;
    printer.set_mode(super::json_mode(args.json));
    printer.result(&outcomes, |outcomes| {
        let mut lines: Vec<String> =
            outcomes.iter().map(|o| format!("{:<10} {:<11} {}", o.kind, o.result, o.name)).collect();
        let changed = outcomes.iter().filter(|o| o.result != "unchanged").count();
        lines.push(format!("{} settings, {changed} created or updated", outcomes.len()));
        lines.join("\n")
    })?;
    Ok(())
}

pub async fn open(args: &OpenArgs, env: &Env, printer: &mut Printer) -> Result<()> {
    let target = Session::open_made(env, printer)?;
    let plan = &target.plan;
    // An existing cluster's UI is reachable only through devflow's port-forward.
    let forward = Backend::of(&target).reach_ui(printer)?;
    if args.print {
        printer.out(&plan.url)?;
    } else {
        let opener = ["xdg-open", "open"].into_iter().find_map(|name| tool::on_path(name, env));
        match opener {
            Some(opener) => {
                opener.run(&[&plan.url], None, Duration::from_secs(30)).await?;
                printer.done(&format!(
                    "Opened {} (user {}; `devflow creds` prints the password)",
                    plan.url, plan.admin_user
                ));
            }
            None => printer.note(&format!("no xdg-open or open on PATH: open {} yourself", plan.url)),
        }
    }
    if forward.is_some() {
        printer.note(&format!("forwarding {} to Airflow in {} until Ctrl-C", plan.url, plan.namespace));
        tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    }
    Ok(())
}
