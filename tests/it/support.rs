//! The test builder: a project folder in a temporary directory, devflow run in it as a user would,
//! and its output with the temporary paths made stable for snapshots.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub const PROJECT: &str = "acme-pipelines";

/// The fixtures folder of the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub struct Test {
    temp: TempDir,
    cwd: PathBuf,
    /// Where devflow runs, relative to the project folder.
    run_dir: String,
    args: Vec<String>,
    env: Vec<(String, std::ffi::OsString)>,
}

impl Test {
    /// An empty project folder named `acme-pipelines`.
    pub fn empty() -> Self {
        let temp = tempfile::Builder::new().prefix("devflow-test").tempdir().expect("a temporary directory");
        let cwd = temp.path().join(PROJECT);
        fs::create_dir(&cwd).unwrap();
        Test { temp, cwd, run_dir: String::new(), args: Vec::new(), env: Vec::new() }
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
    pub fn env(mut self, key: &str, value: impl Into<std::ffi::OsString>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// The temporary folder that holds the project, `home/` and `state/`.
    pub fn temp(&self) -> &Path {
        self.temp.path()
    }

    /// The same project, for another command.
    pub fn then(mut self) -> Self {
        self.args.clear();
        self
    }

    /// Run devflow in this folder of the project rather than the project folder itself.
    pub fn inside(mut self, dir: &str) -> Self {
        self.run_dir = dir.to_string();
        self
    }

    pub fn command_line(&self) -> String {
        self.args.join(" ")
    }

    /// devflow as this test runs it: in the project, with a clean environment of its own.
    pub fn command(&self) -> Command {
        self.command_for(&self.args)
    }

    /// devflow as this test runs it, with other arguments.
    pub fn command_for<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_devflow"));
        command
            .args(args)
            .current_dir(self.cwd.join(&self.run_dir))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.temp.path().join("home"))
            .env("XDG_STATE_HOME", self.temp.path().join("state"))
            .env("XDG_CACHE_HOME", self.temp.path().join("cache"))
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs devflow, keeping the project for more runs.
    pub fn run(&self) -> Output {
        self.run_command(self.command())
    }

    /// Runs a command made by [`Test::command_for`] (perhaps with more environment).
    pub fn run_command(&self, mut command: Command) -> Output {
        let output = command.output().expect("devflow runs");
        self.output(output)
    }

    /// The output of a devflow process this test started itself.
    pub fn output(&self, output: std::process::Output) -> Output {
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
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code, Some(0), "devflow failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "unexpected exit code:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

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
