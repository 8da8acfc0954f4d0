//! The process's environment, read once when devflow starts and handed to whatever needs it: the
//! folder it runs in, where its state and cache go, the user, where the kubeconfig and the Docker
//! daemon are, PATH. Nothing else in devflow reads an environment variable or the working folder.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// Replaces `https://github.com` and `https://get.helm.sh` in the tool download URLs: a company
/// mirror of the release files (the checksums still apply).
pub const MIRROR_ENV: &str = "DEVFLOW_DOWNLOAD_MIRROR";

#[derive(Debug, Clone, Default)]
pub struct Env {
    /// The folder devflow runs in.
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
    /// `XDG_STATE_HOME` and `XDG_CACHE_HOME`, when set and not empty.
    pub state_home: Option<PathBuf>,
    pub cache_home: Option<PathBuf>,
    /// The system's temporary folder: the state's last resort when there is no HOME.
    pub temp: PathBuf,
    /// The login name (`USER`), empty when unset: it names the namespace on a shared cluster.
    pub user: String,
    /// Where programs are looked for.
    pub path: OsString,
    /// The kubeconfig files in the order they merge: `KUBECONFIG`'s, else `~/.kube/config`.
    pub kubeconfig: Vec<PathBuf>,
    /// `DOCKER_HOST`, as the user set it (not empty).
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT` (not empty): the Docker CLI's context when DOCKER_HOST is not set.
    pub docker_context: Option<String>,
    /// `DOCKER_CONFIG`, else `~/.docker`: the Docker CLI's config.json and contexts.
    pub docker_config: Option<PathBuf>,
    /// `DOCKER_TLS_VERIFY` is set (not empty): a tcp DOCKER_HOST that needs TLS.
    pub docker_tls_verify: bool,
    /// `NO_COLOR` is set (to anything but nothing): no colour, even on a terminal.
    pub no_color: bool,
    /// A mirror of the tools' release files ([`MIRROR_ENV`]).
    pub download_mirror: Option<String>,
    /// `AIRFLOW_PASSWORD`: the password for an Airflow devflow did not start (never a flag: a
    /// command line is visible to every user of the machine).
    pub airflow_password: Option<Password>,
}

/// A password that `Debug` does not show.
#[derive(Clone, Default)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Env {
    pub fn read() -> Result<Env> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
        Ok(Env {
            cwd: std::env::current_dir().context("cannot read the current folder")?,
            home: std::env::var_os("HOME").map(PathBuf::from),
            state_home: var("XDG_STATE_HOME").map(PathBuf::from),
            cache_home: var("XDG_CACHE_HOME").map(PathBuf::from),
            temp: std::env::temp_dir(),
            user: std::env::var("USER").unwrap_or_default(),
            path: std::env::var_os("PATH").unwrap_or_default(),
            kubeconfig: kubeconfig_files(std::env::var_os("KUBECONFIG"), std::env::home_dir()),
            docker_host: text("DOCKER_HOST"),
            docker_context: text("DOCKER_CONTEXT"),
            docker_config: var("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker"))),
            docker_tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            no_color: var("NO_COLOR").is_some(),
            download_mirror: text(MIRROR_ENV),
            airflow_password: text("AIRFLOW_PASSWORD").map(Password),
        })
    }

    /// Where devflow keeps what it makes for projects: `$XDG_STATE_HOME/devflow`, else
    /// `~/.local/state/devflow`. Outside every project, so devflow never writes into the user's
    /// folders.
    pub fn state_base(&self) -> PathBuf {
        let base = self.state_home.clone().or_else(|| self.home.as_ref().map(|home| home.join(".local/state")));
        base.unwrap_or_else(|| self.temp.clone()).join("devflow")
    }

    /// Where devflow keeps the tools it installs: `$XDG_CACHE_HOME/devflow/bin`, else `~/.cache/…`.
    pub fn tool_cache(&self) -> PathBuf {
        self.cache().join("bin")
    }

    /// Where devflow keeps the values schema of each chart version it has pulled:
    /// `$XDG_CACHE_HOME/devflow/charts`.
    pub fn chart_cache(&self) -> PathBuf {
        self.cache().join("charts")
    }

    fn cache(&self) -> PathBuf {
        let base = self.cache_home.clone().or_else(|| self.home.as_ref().map(|home| home.join(".cache")));
        base.unwrap_or_else(|| PathBuf::from(".cache")).join("devflow")
    }
}

/// kube-rs's rule (kube-client 5.0.0, `src/config/file_config.rs`, `Kubeconfig::read` and
/// `from_env`): the non-empty entries of `KUBECONFIG`, merged in order; when there are none,
/// `~/.kube/config` (`std::env::home_dir`).
fn kubeconfig_files(variable: Option<OsString>, home: Option<PathBuf>) -> Vec<PathBuf> {
    let listed: Vec<PathBuf> =
        variable.iter().flat_map(std::env::split_paths).filter(|p| !p.as_os_str().is_empty()).collect();
    if !listed.is_empty() {
        return listed;
    }
    home.map(|home| home.join(".kube").join("config")).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_follows_kube_rs_empty_entries_and_the_default() {
        let home = Some(PathBuf::from("/home/a"));
        assert_eq!(kubeconfig_files(Some("/x:/y::".into()), home.clone()), [PathBuf::from("/x"), PathBuf::from("/y")]);
        assert_eq!(kubeconfig_files(Some(":".into()), home.clone()), [PathBuf::from("/home/a/.kube/config")]);
        assert_eq!(kubeconfig_files(None, None), Vec::<PathBuf>::new());
    }

    #[test]
    fn state_and_cache_go_under_xdg_then_home() {
        let env = Env { home: Some("/home/a".into()), temp: "/tmp".into(), ..Env::default() };
        assert_eq!(env.state_base(), PathBuf::from("/home/a/.local/state/devflow"));
        assert_eq!(env.tool_cache(), PathBuf::from("/home/a/.cache/devflow/bin"));
        let xdg = Env { state_home: Some("/s".into()), cache_home: Some("/c".into()), ..env };
        assert_eq!((xdg.state_base(), xdg.tool_cache()), ("/s/devflow".into(), "/c/devflow/bin".into()));
    }
}
