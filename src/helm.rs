//! The Airflow release, through the helm CLI: install or upgrade it with the values file devflow
//! wrote, ask for its status, uninstall it.

use std::time::Duration;

use crate::plan::command::Command;
use crate::plan::{Plan, RELEASE};
use crate::tool::{self, Program};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tool(#[from] tool::Error),
    #[error("cannot read `helm status`'s output: {0}")]
    Output(String),
}

crate::error::one_kind!(Error, Environment);

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Release {
    pub revision: u64,
    pub status: String,
    pub chart_version: Option<String>,
}

pub struct Helm {
    pub tool: Program,
}

/// Helm's words for a release that does not exist.
fn not_found(error: &tool::Error) -> bool {
    matches!(error, tool::Error::Failed { stderr, .. } if stderr.contains("not found"))
}

impl Helm {
    /// Runs one of the plan's helm commands (`upgrade --install`, its values in a file, never on
    /// the command line).
    pub async fn run(&self, command: &Command, timeout: Duration) -> Result<(), Error> {
        self.tool.run(&command.args(), None, timeout).await?;
        Ok(())
    }

    pub async fn status(&self, plan: &Plan) -> Result<Option<Release>, Error> {
        let args = ["status", RELEASE, "--namespace", &plan.namespace, "--kube-context", &plan.context, "-o", "json"];
        match self.tool.run(&args, None, Duration::from_secs(60)).await {
            Ok(out) => {
                let json: serde_json::Value = serde_json::from_str(&out).map_err(|e| Error::Output(e.to_string()))?;
                Ok(Some(Release {
                    revision: json["version"].as_u64().unwrap_or(0),
                    status: json["info"]["status"].as_str().unwrap_or("unknown").to_string(),
                    chart_version: json["chart"]["metadata"]["version"].as_str().map(str::to_string),
                }))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
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
}
