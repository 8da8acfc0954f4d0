//! The test builder: a project folder in a temporary directory, devflow run in it as a user would,
//! what the run must show (checked by `run()`), and its output with the temporary paths made
//! stable for snapshots.
//!
//! ```ignore
//! Test::new().args(["render", "--only", "cluster"]).status(0).stdout_contains("name: acme-pipelines\n").run();
//! lab.devflow(&["up", "--no-watch"]).status(0).stderr_contains("✓ 1 node(s) Ready").run();
//! ```

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub const PROJECT: &str = "acme-pipelines";

/// The fixtures folder of the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The name of the test function it is written in, `module::function` (a closure's counts as its
/// function's): worlds, their containers and their folders carry it.
#[macro_export]
macro_rules! test_name {
    () => {{
        fn here() {}
        $crate::support::test_name_of(std::any::type_name_of_val(&here))
    }};
}

/// `it::lifecycle::up_works::{{closure}}::here` → `lifecycle::up_works`.
pub fn test_name_of(path: &'static str) -> &'static str {
    let mut name = path.strip_suffix("::here").unwrap_or(path);
    while let Some(outer) = name.strip_suffix("::{{closure}}") {
        name = outer;
    }
    name.split_once("::").map_or(name, |(_crate, rest)| rest)
}

/// What a run of devflow must show. Every expectation is checked, and all that fail are reported
/// together, with the whole output.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    status: Option<i32>,
    stdout: Option<String>,
    stderr: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
    stdout_lacks: Vec<String>,
    stderr_lacks: Vec<String>,
}

/// The expectations a run records (on a [`Test`] or a [`Run`]), checked when it runs.
pub trait Expect: Sized {
    fn expected(&mut self) -> &mut Expected;

    /// The exit code.
    fn status(mut self, code: i32) -> Self {
        self.expected().status = Some(code);
        self
    }

    /// Standard output, exactly (temporary paths made stable).
    fn stdout(mut self, text: impl Into<String>) -> Self {
        self.expected().stdout = Some(text.into());
        self
    }

    /// Standard error, exactly (temporary paths made stable).
    fn stderr(mut self, text: impl Into<String>) -> Self {
        self.expected().stderr = Some(text.into());
        self
    }

    fn stdout_contains(mut self, text: impl Into<String>) -> Self {
        self.expected().stdout_contains.push(text.into());
        self
    }

    fn stderr_contains(mut self, text: impl Into<String>) -> Self {
        self.expected().stderr_contains.push(text.into());
        self
    }

    /// Text that must not be on standard output (a secret, say).
    fn stdout_lacks(mut self, text: impl Into<String>) -> Self {
        self.expected().stdout_lacks.push(text.into());
        self
    }

    fn stderr_lacks(mut self, text: impl Into<String>) -> Self {
        self.expected().stderr_lacks.push(text.into());
        self
    }
}

impl Expected {
    /// Panics with every unmet expectation: a diff for exact texts, the missing or unwanted text
    /// for the others, then the command and all it printed.
    #[track_caller]
    fn check(&self, command_line: &str, out: &Output) {
        let mut failures = Vec::new();
        if let Some(code) = self.status
            && out.code != Some(code)
        {
            failures.push(format!(
                "exit code: expected {code}, got {}",
                out.code.map_or("none (a signal)".into(), |c| c.to_string())
            ));
        }
        for (stream, expected, got) in [("stdout", &self.stdout, &out.stdout), ("stderr", &self.stderr, &out.stderr)] {
            if let Some(expected) = expected
                && expected != got
            {
                let diff = similar::TextDiff::from_lines(expected.as_str(), got.as_str());
                failures.push(format!("{stream} differs:\n{}", diff.unified_diff().header("expected", "got")));
            }
        }
        let streams = [
            ("stdout", &self.stdout_contains, &self.stdout_lacks, &out.stdout),
            ("stderr", &self.stderr_contains, &self.stderr_lacks, &out.stderr),
        ];
        for (stream, wanted, unwanted, got) in streams {
            failures
                .extend(wanted.iter().filter(|t| !got.contains(t.as_str())).map(|t| format!("{stream} lacks {t:?}")));
            failures
                .extend(unwanted.iter().filter(|t| got.contains(t.as_str())).map(|t| format!("{stream} has {t:?}")));
        }
        if !failures.is_empty() {
            panic!(
                "`devflow {command_line}` did not do what was expected:\n- {}\n── stdout\n{}── stderr\n{}──",
                failures.join("\n- "),
                out.stdout,
                out.stderr
            );
        }
    }
}

pub struct Test {
    temp: TempDir,
    cwd: PathBuf,
    /// Where devflow runs, relative to the project folder.
    run_dir: String,
    args: Vec<String>,
    env: Vec<(String, OsString)>,
    expected: Expected,
}

impl Expect for Test {
    fn expected(&mut self) -> &mut Expected {
        &mut self.expected
    }
}

impl Test {
    /// An empty project folder named `acme-pipelines`.
    pub fn empty() -> Self {
        let temp = tempfile::Builder::new().prefix("devflow-test").tempdir().expect("a temporary directory");
        let cwd = temp.path().join(PROJECT);
        fs::create_dir(&cwd).unwrap();
        Test { temp, cwd, run_dir: String::new(), args: Vec::new(), env: Vec::new(), expected: Expected::default() }
    }

    /// A project folder with `dags/` holding one DAG file, and no devflow.toml.
    pub fn new() -> Self {
        Self::empty().file("dags/etl.py", "from airflow.sdk import dag\n")
    }

    pub fn dir(&self) -> &Path {
        &self.cwd
    }

    pub fn file(self, path: &str, text: &str) -> Self {
        let target = self.cwd.join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, text).unwrap();
        self
    }

    /// A production values fixture copied into the project as `deploy/<name>`.
    pub fn production(self, name: &str) -> Self {
        let text = fs::read_to_string(fixtures().join("production").join(name)).unwrap();
        self.file(&format!("deploy/{name}"), &text)
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// An environment variable for devflow; `PATH` replaces the test's own.
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// The temporary folder that holds the project, `home/` and `state/`.
    pub fn temp(&self) -> &Path {
        self.temp.path()
    }

    /// Run devflow in this folder of the project rather than the project folder itself.
    pub fn inside(mut self, dir: &str) -> Self {
        self.run_dir = dir.to_string();
        self
    }

    pub fn command_line(&self) -> String {
        self.args.join(" ")
    }

    /// Runs devflow with this test's arguments and checks what it expects, keeping the project
    /// for more runs.
    #[track_caller]
    pub fn run(&self) -> Output {
        Run { test: self, args: self.args.clone(), env: Vec::new(), expected: self.expected.clone() }.run()
    }

    /// devflow with other arguments, in this project.
    pub fn devflow<S: AsRef<str>>(&self, args: &[S]) -> Run<'_> {
        let args = args.iter().map(|a| a.as_ref().to_string()).collect();
        Run { test: self, args, env: Vec::new(), expected: Expected::default() }
    }

    /// The output of a devflow process this test started, temporary paths made stable.
    fn output(&self, output: std::process::Output) -> Output {
        let clean = |bytes: &[u8]| stable(&String::from_utf8_lossy(bytes), self.temp.path());
        Output {
            code: output.status.code(),
            stdout: clean(&output.stdout),
            stderr: clean(&output.stderr),
            raw_stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        }
    }

    /// Every file under the project, for checking that a command left nothing behind.
    pub fn tree(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(base).unwrap().display().to_string());
                if path.is_dir() {
                    walk(&path, base, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.temp.path(), self.temp.path(), &mut out);
        out.sort();
        out
    }
}

/// One run of devflow in a [`Test`]'s project: its arguments, more environment, and what it
/// must show.
pub struct Run<'t> {
    test: &'t Test,
    args: Vec<String>,
    env: Vec<(String, OsString)>,
    expected: Expected,
}

impl Expect for Run<'_> {
    fn expected(&mut self) -> &mut Expected {
        &mut self.expected
    }
}

impl Run<'_> {
    /// An environment variable for this run only.
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// devflow as this run starts it: in the project, with a clean environment of its own.
    pub fn command(&self) -> Command {
        let test = self.test;
        let mut command = Command::new(env!("CARGO_BIN_EXE_devflow"));
        command
            .args(&self.args)
            .current_dir(test.cwd.join(&test.run_dir))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", test.temp.path().join("home"))
            .env("XDG_STATE_HOME", test.temp.path().join("state"))
            .env("XDG_CACHE_HOME", test.temp.path().join("cache"))
            .env("NO_COLOR", "1")
            .envs(test.env.iter().chain(&self.env).map(|(k, v)| (k, v)));
        command
    }

    /// Runs devflow and checks what this run expects.
    #[track_caller]
    pub fn run(self) -> Output {
        let output = self.command().output().expect("devflow runs");
        self.check(output)
    }

    /// Checks the output of a process started from [`Run::command`] (on a terminal, or stopped
    /// with a signal).
    #[track_caller]
    pub fn check(self, output: std::process::Output) -> Output {
        let out = self.test.output(output);
        self.expected.check(&self.args.join(" "), &out);
        out
    }
}

#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    /// Standard output with the temporary paths made stable, for comparing with text.
    pub stdout: String,
    pub stderr: String,
    /// Standard output as devflow wrote it, real paths included.
    raw_stdout: String,
}

impl Output {
    /// Standard output as devflow wrote it, real paths included.
    pub fn raw_stdout(&self) -> &str {
        &self.raw_stdout
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.raw_stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// The temporary folder becomes `[TMP]` and the state folder's hash of the project path `[HASH]`.
fn stable(text: &str, temp: &Path) -> String {
    let text = text.replace(&temp.display().to_string(), "[TMP]");
    let marker = format!("{PROJECT}-");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(&marker) {
        let after = &rest[at + marker.len()..];
        out.push_str(&rest[..at + marker.len()]);
        let hex = after.len() >= 8 && after[..8].bytes().all(|b| b.is_ascii_hexdigit());
        rest = if hex {
            out.push_str("[HASH]");
            &after[8..]
        } else {
            after
        };
    }
    out.push_str(rest);
    out
}
