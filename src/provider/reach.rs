//! `doctor`'s reachability checks: can this machine reach what `up` downloads? Each is asked at
//! once with a short timeout, through the environment's proxy; a miss is a warning with the way
//! around it, since images already in Docker or a local chart need no network.

use std::time::Duration;

use super::Check;
use crate::env::{Env, MIRROR_ENV};
use crate::plan::{CHART_REPO, Plan};
use crate::tool::{self, Tool, install};

const TIMEOUT: Duration = Duration::from_secs(3);

/// One place `up` downloads from.
struct Source {
    name: &'static str,
    what: String,
    url: String,
    fix: String,
}

/// Blocking for at most [`TIMEOUT`]: the probes run at once, each on a thread of its own.
pub fn checks(plan: &Plan, env: &Env) -> Vec<Check> {
    let sources = sources(plan, env);
    std::thread::scope(|scope| {
        let probes: Vec<_> = sources.iter().map(|s| scope.spawn(|| install::probe(&s.url, TIMEOUT))).collect();
        sources
            .iter()
            .zip(probes)
            .map(|(source, probe)| match probe.join().unwrap_or_else(|_| Err("the probe failed".into())) {
                Ok(()) => Check::pass(source.name, format!("{} answers ({})", source.url, source.what)),
                Err(why) => Check::fail(
                    source.name,
                    false,
                    format!("{} cannot be reached ({}): {why}", source.url, source.what),
                    source.fix.clone(),
                ),
            })
            .collect()
    })
}

fn sources(plan: &Plan, env: &Env) -> Vec<Source> {
    let mut sources = Vec::new();
    if plan.provider.cluster_tool().is_some() {
        // Registry API root: 401 without a token, which is an answer.
        sources.push(Source {
            name: "registry",
            what: "Docker Hub: the node image and Airflow's images".into(),
            url: "https://registry-1.docker.io/v2/".into(),
            fix: "Docker pulls the node image and the cluster pulls Airflow's images from Docker Hub: where it is blocked, pull them where it is not and `docker save`/`docker load` them here, or set `image` under [airflow] to a registry you can reach".into(),
        });
    }
    if plan.chart.is_none() {
        sources.push(Source {
            name: "chart",
            what: "the Apache Airflow chart repository".into(),
            url: format!("{CHART_REPO}/index.yaml"),
            fix: format!(
                "fetch the chart where the network allows (`helm pull airflow --repo {CHART_REPO} --version {}`) and set `chart = \"airflow-{}.tgz\"` under [airflow]",
                plan.chart_version, plan.chart_version
            ),
        });
    }
    let mut tools = vec![Tool::Helm];
    tools.extend(plan.provider.cluster_tool().map(Tool::from));
    for tool in tools.into_iter().filter(|&t| tool::locate(t, env).is_err()) {
        let Ok(pin) = install::pin_for_this_machine(tool) else { continue };
        sources.push(Source {
            name: "downloads",
            what: format!("the {} release files: {} is not installed", tool.name(), tool.name()),
            url: install::url(pin, env.download_mirror.as_deref()),
            fix: format!(
                "set {MIRROR_ENV} to a mirror of the release files, or install {} yourself ({})",
                tool.name(),
                install::docs_url(tool)
            ),
        });
    }
    sources
}
