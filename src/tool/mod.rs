//! The one way devflow runs an external program (kind, k3d, helm): found on PATH or in devflow's
//! cache, its argv and stdin given explicitly, its standard error kept for the error message, a
//! deadline, and its process group stopped when devflow stops waiting for it (timeout or Ctrl-C):
//! SIGTERM, then SIGKILL.

pub mod install;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::config::ClusterTool;
use crate::env::Env;
use crate::ui::Printer;
use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Kind,
    K3d,
    Helm,
}

impl From<ClusterTool> for Tool {
    fn from(tool: ClusterTool) -> Tool {
        match tool {
            ClusterTool::Kind => Tool::Kind,
            ClusterTool::K3d => Tool::K3d,
        }
    }
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Kind => "kind",
            Tool::K3d => "k3d",
            Tool::Helm => "helm",
        }
    }

    /// The oldest version that works, and why.
    pub fn minimum(self) -> (Version, &'static str) {
        match self {
            Tool::Kind => ((0, 33, 0), "the pinned kindest/node images are the ones kind v0.33.0 was released with"),
            Tool::K3d => ((5, 5, 0), "devflow writes k3d's v1alpha5 config"),
            Tool::Helm => ((3, 19, 0), "the Airflow chart 1.22 needs Helm 3.19 or later"),
        }
    }

    fn version_args(self) -> &'static [&'static str] {
        match self {
            Tool::Kind | Tool::K3d => &["version"],
            Tool::Helm => &["version", "--short"],
        }
    }

    /// The version in the first line of `<tool> version`: `kind v0.33.0 go…`,
    /// `k3d version v5.8.3`, `v3.19.0+g3d8990f`.
    fn parse_version(self, output: &str) -> Option<Version> {
        let first = output.lines().next()?;
        let word = first
            .split_whitespace()
            .find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))?;
        let core = word[1..].split(['+', '-']).next()?;
        crate::version::parse(core)
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{tool} is not installed: it is not on PATH, nor in devflow's cache ({cache})\n  `devflow up --yes` installs a pinned, checksum-verified {tool}; or install it yourself: {url}"
    )]
    Missing { tool: Tool, cache: String, url: &'static str },
    #[error("`{command}` failed{}{}", code.map(|c| format!(" (exit {c})")).unwrap_or_default(), indent_output(stderr))]
    Failed { command: String, code: Option<i32>, stderr: String },
    #[error("`{command}` did not finish within {:.1}s: devflow stopped it", after.as_secs_f64())]
    TimedOut { command: String, after: Duration },
    #[error("cannot run {path}: {io}")]
    Spawn { path: String, io: std::io::Error },
    #[error("{tool} at {path} is {found}: {why}\n  {}", too_old_fix(*tool, url, *pinned))]
    TooOld {
        tool: Tool,
        path: String,
        found: String,
        why: &'static str,
        url: &'static str,
        pinned: Option<&'static str>,
    },
    #[error(transparent)]
    Install(#[from] install::Error),
}

crate::error::one_kind!(Error, Environment);

fn too_old_fix(tool: Tool, url: &str, pinned: Option<&str>) -> String {
    match pinned {
        Some(version) => format!(
            "`devflow up --yes` downloads and uses devflow's pinned {tool} v{version} (checksum-verified); or upgrade {tool} yourself: {url}"
        ),
        None => format!("upgrade {tool}: {url}"),
    }
}

fn indent_output(text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() { String::new() } else { format!(":\n    {}", text.replace('\n', "\n    ")) }
}

/// An external program found and ready to run: one of devflow's tools, or another the user's
/// system has (the browser opener).
#[derive(Debug, Clone)]
pub struct Program {
    pub name: &'static str,
    pub path: PathBuf,
}

/// The tool on PATH, else the pinned copy in devflow's cache.
pub fn locate(tool: Tool, env: &Env) -> Result<Program, Error> {
    let cached =
        || Some(install::cached_path(tool, env)).filter(|p| which::which_in(p, None::<&str>, &env.cwd).is_ok());
    match on_path(tool.name(), env).map(|p| p.path).or_else(cached) {
        Some(path) => Ok(Program { name: tool.name(), path }),
        None => {
            Err(Error::Missing { tool, cache: env.tool_cache().display().to_string(), url: install::docs_url(tool) })
        }
    }
}

/// A program on PATH.
pub fn on_path(name: &'static str, env: &Env) -> Option<Program> {
    which::which_in(name, Some(&env.path), &env.cwd).ok().map(|path| Program { name, path })
}

/// The tool on PATH, else in devflow's cache ([`locate`]), of its [`Tool::minimum`] version or
/// later: when the one on PATH is older, the pinned copy in devflow's cache if it is there.
pub async fn usable(tool: Tool, env: &Env) -> Result<Program, Error> {
    let program = locate(tool, env)?;
    match tool.require_minimum(&program).await {
        Err(Error::TooOld { tool, path, found, why, url, .. }) => {
            let cached = Program { name: tool.name(), path: install::cached_path(tool, env) };
            if cached.path != program.path && cached.path.is_file() && tool.require_minimum(&cached).await.is_ok() {
                return Ok(cached);
            }
            let pinned = install::pin_for_this_machine(tool).map(|pin| pin.version).ok();
            Err(Error::TooOld { tool, path, found, why, url, pinned })
        }
        checked => checked.map(|()| program),
    }
}

/// The tool on PATH or in devflow's cache, of its [`Tool::minimum`] version or later; when missing
/// or older (kind's pinned node images are built for its release), the pinned release from
/// devflow's cache, installed there after the user agrees (or with `yes`).
pub async fn ensure(tool: Tool, yes: bool, env: &Env, printer: &mut Printer) -> Result<Program, Error> {
    let refused = match usable(tool, env).await {
        Err(refused @ (Error::Missing { .. } | Error::TooOld { .. })) => refused,
        found => return found,
    };
    let pin = match (install::pin_for_this_machine(tool), &refused) {
        (Ok(pin), _) => pin,
        (Err(_), Error::TooOld { .. }) => return Err(refused),
        (Err(e), _) => return Err(e.into()),
    };
    let target = install::cached_path(tool, env);
    let why = match &refused {
        Error::TooOld { path, found, .. } => format!("{tool} at {path} is {found}, older than devflow needs"),
        _ => format!("{tool} is not installed"),
    };
    let question = format!(
        "{why}. Download {tool} v{} (checksum-verified) into {} and use it?",
        pin.version,
        target.parent().unwrap_or(&target).display()
    );
    if !yes && printer.confirm(&question) != Some(true) {
        return Err(refused);
    }
    let mirror = env.download_mirror.clone();
    let doing = format!("Downloading {tool} v{}", pin.version);
    let work = async move {
        tokio::task::spawn_blocking(move || install::install(pin, mirror.as_deref(), &target))
            .await
            .expect("the download thread does not panic")
    };
    printer.step(&doing, work, |_| format!("Installed {tool} v{} (sha256 verified)", pin.version)).await?;
    locate(tool, env)
}

impl Tool {
    /// Refuses a program older than the tool's [`Tool::minimum`].
    pub async fn require_minimum(self, program: &Program) -> Result<(), Error> {
        let (version, found) = self.version(program).await?;
        let (minimum, why) = self.minimum();
        if version.is_some_and(|v| v < minimum) {
            let path = program.path.display().to_string();
            return Err(Error::TooOld { tool: self, path, found, why, url: install::docs_url(self), pinned: None });
        }
        Ok(())
    }

    /// The version of the tool a program is, parsed from `<tool> version`.
    pub async fn version(self, program: &Program) -> Result<(Option<Version>, String), Error> {
        let out = program.run(self.version_args(), None, Duration::from_secs(20)).await?;
        let text = out.lines().next().unwrap_or_default().trim().to_string();
        Ok((self.parse_version(&out), text))
    }
}

impl Program {
    /// Runs the tool to completion and returns its standard output. Standard error is kept for the
    /// error; at the timeout, or when the returned future is dropped (Ctrl-C), the tool and its
    /// children are stopped (see [`Group`]).
    pub async fn run(&self, args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Result<String, Error> {
        self.run_reporting(args, stdin, timeout, Output::Kept).await
    }

    /// Like [`Program::run`], each line the tool prints becoming, as it comes, the detail of the
    /// step that waits for it (kind's "Ensuring node image", k3d's INFO lines, Helm's output).
    pub async fn run_showing(&self, args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Result<String, Error> {
        self.run_reporting(args, stdin, timeout, Output::Shown).await
    }

    /// Runs the tool and records the run (command line, time, exit status; never its input) for
    /// `--verbose`.
    async fn run_reporting(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        timeout: Duration,
        output: Output,
    ) -> Result<String, Error> {
        let started = std::time::Instant::now();
        let result = self.run_to_end(args, stdin, timeout, output).await;
        let argv: Vec<&str> = std::iter::once(self.name).chain(args.iter().copied()).collect();
        let input = if stdin.is_some() { " < input" } else { "" };
        let ended = match &result {
            Ok(_) => "exit 0".to_string(),
            Err(Error::Failed { code: Some(code), .. }) => format!("exit {code}"),
            Err(Error::Failed { code: None, .. }) => "killed by a signal".to_string(),
            Err(Error::TimedOut { .. }) => "stopped at its timeout".to_string(),
            Err(_) => "did not start".to_string(),
        };
        let took = crate::ui::seconds(started.elapsed());
        crate::ui::record_run(format!("{}{input}  ({took}, {ended})", crate::redact::command_line(&argv)));
        result
    }

    async fn run_to_end(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        timeout: Duration,
        output: Output,
    ) -> Result<String, Error> {
        let command = std::iter::once(self.name).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
        let spawn_error = |io| Error::Spawn { path: self.path.display().to_string(), io };
        let mut child = Command::new(&self.path)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own: the terminal's Ctrl-C reaches devflow only, and devflow stops
            // the tool with its children (kind's `docker` calls) as one.
            .process_group(0)
            .spawn()
            .map_err(spawn_error)?;
        let mut group = Group::of(&child);
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A tool that exits without reading its input is reported by its exit status, not here.
            let _ = pipe.write_all(input).await;
        }
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let ended = async {
            let (stdout, stderr, status) = tokio::join!(read_lines(out, output), read_lines(err, output), child.wait());
            status.map(|status| (status, stdout, stderr))
        };
        let (status, stdout, stderr) = match tokio::time::timeout(timeout, ended).await {
            Ok(result) => result.map_err(spawn_error)?,
            Err(_) => return Err(Error::TimedOut { command, after: timeout }),
        };
        group.ended = true;
        if status.success() {
            Ok(String::from_utf8_lossy(&stdout).into_owned())
        } else {
            let mut stderr = String::from_utf8_lossy(&stderr).into_owned();
            if stderr.trim().is_empty() {
                stderr = String::from_utf8_lossy(&stdout).into_owned();
            }
            Err(Error::Failed { command, code: status.code(), stderr })
        }
    }
}

/// What becomes of a tool's output besides being kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Kept,
    /// Each line is also a progress line of the step under way.
    Shown,
}

/// All a tool writes on one of its pipes, line by line as it comes.
async fn read_lines(pipe: Option<impl tokio::io::AsyncRead + Unpin>, output: Output) -> Vec<u8> {
    use tokio::io::AsyncBufReadExt;
    let mut all = Vec::new();
    let Some(pipe) = pipe else { return all };
    let mut reader = tokio::io::BufReader::new(pipe);
    loop {
        let from = all.len();
        match reader.read_until(b'\n', &mut all).await {
            Ok(0) | Err(_) => return all,
            Ok(_) if output == Output::Shown => crate::ui::progress_line(&String::from_utf8_lossy(&all[from..])),
            Ok(_) => {}
        }
    }
}

/// How long a tool has to end after SIGTERM before it gets SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The process group of a running tool. Dropped before the tool ended (a timeout, Ctrl-C), it
/// stops the group: SIGTERM first, which lets Helm record the release as failed rather than
/// leave it pending (helm v3.19.0 `cmd/helm/install.go` and `cmd/helm/upgrade.go` cancel the
/// operation on SIGTERM and SIGINT; `pkg/action/install.go` `failRelease`), then SIGKILL for
/// what is left after [`GRACE`].
struct Group {
    id: Option<i32>,
    ended: bool,
    /// Copies of the read ends of the tool's stdout and stderr, open until the tool has ended:
    /// Helm prints "Release … has been cancelled." as it stops, and a Go program writing to a
    /// closed stdout dies of SIGPIPE (Go `os/signal` documentation) before it records anything.
    _pipes: Vec<std::os::fd::OwnedFd>,
}

impl Group {
    fn of(child: &tokio::process::Child) -> Group {
        use std::os::fd::AsFd;
        let out = child.stdout.as_ref().and_then(|p| p.as_fd().try_clone_to_owned().ok());
        let err = child.stderr.as_ref().and_then(|p| p.as_fd().try_clone_to_owned().ok());
        Group {
            id: child.id().and_then(|id| i32::try_from(id).ok()),
            ended: false,
            _pipes: out.into_iter().chain(err).collect(),
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let Some(id) = self.id.filter(|_| !self.ended) else { return };
        // SAFETY: signals to the process group devflow made for this tool (`process_group(0)`
        // made the tool its leader), and a non-blocking reap of that leader, devflow's child.
        unsafe { libc::kill(-id, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + GRACE;
        while std::time::Instant::now() < deadline {
            // SAFETY: as above.
            let gone = unsafe {
                libc::waitpid(id, std::ptr::null_mut(), libc::WNOHANG);
                libc::kill(-id, 0) != 0
            };
            if gone {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-id, libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_each_tools_own_output() {
        assert_eq!(Tool::Kind.parse_version("kind v0.33.0 go1.25.5 linux/amd64"), Some((0, 33, 0)));
        assert_eq!(Tool::K3d.parse_version("k3d version v5.8.3\nk3s version v1.31.5-k3s1 (default)"), Some((5, 8, 3)));
        assert_eq!(Tool::Helm.parse_version("v3.19.0+g3d8990f"), Some((3, 19, 0)));
        assert_eq!(Tool::Helm.parse_version("v4.0.1+gabcdef"), Some((4, 0, 1)));
        assert_eq!(Tool::Helm.parse_version("something else"), None);
    }
}
