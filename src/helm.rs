//! The Airflow release, through the helm CLI: install or upgrade it with the values file devflow
//! wrote, ask for its status, uninstall it.

use std::time::Duration;

use crate::plan::command::Command;
use crate::plan::{CHART_NAME, Plan, RELEASE};
use crate::tool::{self, Program};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tool(#[from] tool::Error),
    #[error("cannot read `helm list`'s output: {0}")]
    Output(String),
    #[error("cannot keep the chart {version}'s values schema in {}: {io}", dir.display())]
    Cache { version: String, dir: std::path::PathBuf, io: std::io::Error },
    #[error("the Airflow chart {version}'s package has no values.schema.json")]
    NoSchema { version: String },
}

crate::error::one_kind!(Error, Environment);

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Release {
    pub revision: u64,
    pub status: String,
    pub chart_version: Option<String>,
}

impl Release {
    /// A Helm operation on it began and did not record its end: only a Helm killed with SIGKILL
    /// (or one still running) leaves a release so, and every later upgrade is refused with
    /// "another operation (install/upgrade/rollback) is in progress" (helm v3.19.0
    /// `pkg/action/upgrade.go`, `prepareUpgrade`).
    pub fn pending(&self) -> bool {
        self.status.starts_with("pending-")
    }
}

/// One row of `helm list -o json` (helm v3.19.0 `cmd/helm/list.go`, `releaseElement`: the
/// revision is a string, the chart `name-version`).
#[derive(serde::Deserialize)]
struct Listed {
    name: String,
    revision: String,
    status: String,
    chart: String,
}

pub struct Helm {
    pub tool: Program,
}

/// Helm's words for a release that does not exist (`driver.ErrReleaseNotFound`, helm v3.19.0
/// `pkg/storage/driver/driver.go`). Other errors say "not found" too (a kube context that is
/// not in the kubeconfig: client-go's "context was not found for specified context"): they are
/// errors, not an absent release.
fn not_found(error: &tool::Error) -> bool {
    matches!(error, tool::Error::Failed { stderr, .. } if stderr.contains("release: not found"))
}

impl Helm {
    /// Runs one of the plan's helm commands (`upgrade --install`, its values in a file, never on
    /// the command line), its output shown as the step's progress.
    pub async fn run(&self, command: &Command, timeout: Duration) -> Result<(), Error> {
        self.tool.run_showing(&command.args(), None, timeout).await?;
        Ok(())
    }

    /// The release, in whatever state, as `helm list --all` shows it: `helm status -o json`
    /// carries no chart (Helm sets it to nil before printing: v3.19.0 `cmd/helm/status.go`), and
    /// `helm list` without `--all` hides a pending release (`pkg/action/list.go`,
    /// `SetStateMask`).
    pub async fn status(&self, plan: &Plan) -> Result<Option<Release>, Error> {
        let filter = format!("^{RELEASE}$");
        let args = [
            "list",
            "--all",
            "--filter",
            &filter,
            "--namespace",
            &plan.namespace,
            "--kube-context",
            &plan.context,
            "-o",
            "json",
        ];
        let out = self.tool.run(&args, None, Duration::from_secs(60)).await?;
        parse_list(&out)
    }

    /// Uninstalls the release; false when there was none.
    pub async fn uninstall(&self, plan: &Plan) -> Result<bool, Error> {
        let args = ["uninstall", RELEASE, "--namespace", &plan.namespace, "--kube-context", &plan.context];
        match self.tool.run(&args, None, Duration::from_secs(300)).await {
            Ok(_) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls a chart version's package and keeps its values.schema.json in `cache` (as
    /// `schemas::cached_chart_file` names it). `helm show values` prints values.yaml only (helm
    /// `pkg/action/show.go`, `Show.Run`: the chart's metadata, `chrt.Values`, the README and CRDs,
    /// never `chrt.Schema`); `helm pull --untar` unpacks the whole package into
    /// `<untardir>/<chart name>/` (`pkg/action/pull.go`, `Pull.Run`: `chartutil.ExpandFile`), and
    /// refuses a folder that is there already ("failed to untar: a file or directory with the
    /// name … already exists"): each pull gets a fresh one.
    pub async fn pull_schema(&self, chart: Option<&str>, version: &str, cache: &std::path::Path) -> Result<(), Error> {
        let broken = |io| Error::Cache { version: version.to_string(), dir: cache.to_path_buf(), io };
        std::fs::create_dir_all(cache).map_err(broken)?;
        let unpacked = cache.join(format!(".pull-{version}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&unpacked);
        let into = unpacked.display().to_string();
        let mut args = match chart {
            Some(oci) => vec!["pull", oci],
            None => vec!["pull", CHART_NAME, "--repo", crate::plan::CHART_REPO],
        };
        args.extend(["--version", version, "--untar", "--untardir", &into]);
        let pulled = self.tool.run(&args, None, Duration::from_secs(300)).await;
        let schema = unpacked.join(CHART_NAME).join("values.schema.json");
        let kept = pulled.map_err(Error::from).and_then(|_| {
            if !schema.is_file() {
                return Err(Error::NoSchema { version: version.to_string() });
            }
            // Renamed into place: a pull stopped half-way leaves no half schema behind.
            std::fs::rename(&schema, crate::schemas::cached_chart_file(cache, version)).map_err(broken)
        });
        let _ = std::fs::remove_dir_all(&unpacked);
        kept
    }

    /// Rolls the release back to a revision (a new revision with that one's chart and values).
    pub async fn rollback(&self, plan: &Plan, revision: u64) -> Result<(), Error> {
        let revision = revision.to_string();
        let args = ["rollback", RELEASE, &revision, "--namespace", &plan.namespace, "--kube-context", &plan.context];
        self.tool.run(&args, None, Duration::from_secs(300)).await?;
        Ok(())
    }
}

fn parse_list(out: &str) -> Result<Option<Release>, Error> {
    let rows: Vec<Listed> = serde_json::from_str(out).map_err(|e| Error::Output(e.to_string()))?;
    let Some(row) = rows.into_iter().find(|r| r.name == RELEASE) else { return Ok(None) };
    let revision = row.revision.parse().map_err(|_| Error::Output(format!("revision {:?}", row.revision)))?;
    let chart_version = row.chart.strip_prefix(&format!("{CHART_NAME}-")).map(str::to_string);
    Ok(Some(Release { revision, status: row.status, chart_version }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_release_is_no_release() {
        let failed =
            |stderr: &str| tool::Error::Failed { command: "helm".into(), code: Some(1), stderr: stderr.into() };
        assert!(not_found(&failed("Error: uninstall: Release not loaded: airflow: release: not found")));
        assert!(!not_found(&failed(
            "Error: Kubernetes cluster unreachable: invalid configuration: context was not found for specified context: kind-x"
        )));
    }

    #[test]
    fn the_list_row_gives_revision_status_and_chart_version() {
        let out = r#"[{"name":"airflow","namespace":"airflow","revision":"3","updated":"x","status":"pending-upgrade","chart":"airflow-1.22.0","app_version":"3.2.2"}]"#;
        let release = parse_list(out).unwrap().unwrap();
        assert_eq!(
            release,
            Release { revision: 3, status: "pending-upgrade".into(), chart_version: Some("1.22.0".into()) }
        );
        assert!(release.pending());
        assert_eq!(parse_list("[]").unwrap(), None);
    }
}
