//! The checks of single settings, each with the message that says what was expected: names,
//! namespaces, executors, images, versions and `--set` flags.

use std::path::Path;

use super::{Error, FILE_NAME, MAX_NAME_LEN, Override};
use crate::{values, version, words};

/// `devflow-<user>-<project>`: one namespace per developer and project on a shared cluster.
pub fn default_namespace(user: &str, project: &str) -> String {
    let user: String = user.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let user = user.trim_matches('-');
    let user = if user.is_empty() { "dev" } else { user };
    // A namespace is a DNS label: 63 characters at most; the project name is at most 32.
    let room = 63 - "devflow-".len() - 1 - project.len();
    let user = user[..user.len().min(room)].trim_end_matches('-');
    format!("devflow-{user}-{project}")
}

pub fn check_namespace(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a Kubernetes namespace name\n  expected lowercase letters, digits and `-`, at most 63, starting and ending with a letter or digit"
        ))
    }
}

/// k3d reads volumes as `SRC:DEST[:MODE]` and expands `$VAR` in its config file, with no escape.
pub fn check_k3d_mount_source(path: &Path) -> Result<(), Error> {
    let text = path.to_string_lossy();
    if let Some(c) = text.chars().find(|c| matches!(c, ':' | '$' | ',')) {
        return Err(Error::Setting {
            message: format!(
                "k3d cannot mount {text}: its path contains `{c}`, which k3d's volume syntax (SRC:DEST, $VAR expansion) cannot carry\n  move the project to a path without `:`, `$` or `,`, or use `provider = \"kind\"`"
            ),
        });
    }
    Ok(())
}

/// The cluster name is a DNS-1123 label, short enough for k3d.
pub fn check_cluster_name(name: &str) -> Result<(), String> {
    let valid_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ends_ok =
        name.starts_with(|c: char| c.is_ascii_alphanumeric()) && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.is_empty() || !valid_chars || !ends_ok {
        let suggestion = sanitize_name(name);
        let hint = if suggestion.is_empty() { String::new() } else { format!(", e.g. {suggestion:?}") };
        return Err(format!(
            "= {name:?} cannot be a cluster name\n  expected lowercase letters, digits and `-`, starting and ending with a letter or digit{hint}"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "= {name:?} is {} characters long\n  expected at most {MAX_NAME_LEN} (k3d's limit for a cluster name), e.g. {:?}",
            name.len(),
            sanitize_name(name)
        ));
    }
    Ok(())
}

/// A folder name made into a cluster name: lowercase, runs of other characters become `-`, cut to
/// k3d's length. Empty when nothing usable is left.
pub fn sanitize_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    out[..out.len().min(MAX_NAME_LEN)].trim_end_matches('-').to_string()
}

pub fn name_from_folder(root: &Path) -> Result<String, Error> {
    let folder = root.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let name = sanitize_name(&folder);
    if name.is_empty() {
        return Err(Error::Setting {
            message: format!(
                "the folder name {folder:?} cannot become a cluster name (no letters or digits)\n  set `name = \"my-project\"` in {FILE_NAME} (run `devflow init` to write one)"
            ),
        });
    }
    Ok(name)
}

const KNOWN_EXECUTORS: [&str; 6] = [
    "LocalExecutor",
    "CeleryExecutor",
    "KubernetesExecutor",
    "CeleryKubernetesExecutor",
    "LocalKubernetesExecutor",
    "EdgeExecutor",
];

/// `executor` is one executor or a comma list (Airflow 3); a dotted path names a custom class.
pub fn check_executor(executor: &str) -> Result<(), String> {
    for part in executor.split(',') {
        let part = part.trim();
        if part.contains('.') && part.ends_with("Executor") || KNOWN_EXECUTORS.contains(&part) {
            continue;
        }
        let near = words::did_you_mean(part, KNOWN_EXECUTORS);
        return Err(format!(
            "`executor` = {executor:?}: `{part}` is not an executor{near}\n  expected one of {} (or a comma list of them, or a custom class as module.path.NameExecutor)",
            KNOWN_EXECUTORS.join(", ")
        ));
    }
    Ok(())
}

/// An image reference must name its tag or digest: `latest` would drift away from production.
pub fn check_image(image: &str) -> Result<(), String> {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.is_empty() || image.contains(char::is_whitespace) || !(last.contains(':') || image.contains('@')) {
        return Err(format!(
            "`image` = {image:?} has no tag\n  expected REPOSITORY:TAG or REPOSITORY@sha256:DIGEST, e.g. \"registry.example.com/data/airflow:2025.11.1\""
        ));
    }
    Ok(())
}

/// An Airflow version is MAJOR.MINOR.PATCH, 2.11 or later (the chart's floor).
pub fn check_airflow_version(version: &str) -> Result<(), String> {
    match version::parse(version) {
        Some(_) if version::supported_airflow_major(version).is_some() => Ok(()),
        Some(_) => Err(format!(
            "`version` = {version:?} is not supported\n  the Airflow chart runs Airflow 2.11 and later: use 2.11.x or 3.x"
        )),
        None => Err(format!(
            "`version` = {version:?} is not an Airflow version\n  expected MAJOR.MINOR.PATCH, e.g. \"3.2.2\""
        )),
    }
}

/// A chart version is one of the 1.x releases from 1.19.0, the first for Airflow 3, to the newest
/// (whose schema devflow pulls). Chart 2.0 moves parts of the values to Kustomize overlays
/// (FACTS.md): its values are not the ones devflow writes.
pub fn check_chart_version(version: &str) -> Result<(), String> {
    match version::parse(version) {
        Some((1, minor, _)) if minor >= version::FIRST_AIRFLOW3_CHART.1 => Ok(()),
        Some(_) => Err(format!(
            "chart_version {version:?} is not supported\n  devflow runs the Airflow chart 1.19.0 (the first for Airflow 3) to the newest 1.x, e.g. \"{}\"",
            crate::schemas::EMBEDDED_CHART
        )),
        None => Err(format!(
            "chart_version {version:?} is not a chart version\n  expected MAJOR.MINOR.PATCH, e.g. \"{}\"",
            crate::schemas::EMBEDDED_CHART
        )),
    }
}

/// `--set KEY=VALUE`, VALUE read as YAML (so `2` is a number, `true` a boolean, `[a, b]` a list).
pub fn parse_set_flag(arg: &str) -> Result<Override, Error> {
    let bad = |why: String| Error::Setting { message: format!("--set {arg:?}: {why}") };
    let (key, raw) =
        arg.split_once('=').ok_or_else(|| bad("expected KEY=VALUE, e.g. --set workers.replicas=2".into()))?;
    let path = values::Path::parse(key).map_err(bad)?;
    let value = values::from_yaml_str(raw).map_err(|e| bad(format!("the value is not YAML: {e}")))?;
    Ok(Override { path, value, origin: "--set".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_become_cluster_names() {
        assert_eq!(sanitize_name("My_Project.v2"), "my-project-v2");
        assert_eq!(sanitize_name("--data--pipelines--"), "data-pipelines");
        assert_eq!(sanitize_name("___"), "");
        assert_eq!(sanitize_name("Ünïcode Täst"), "n-code-t-st");
        let long = sanitize_name("an-extremely-long-project-name-for-a-data-team");
        assert!(long.len() <= MAX_NAME_LEN && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn the_default_namespace_is_a_dns_label_of_the_user_and_the_project() {
        assert_eq!(default_namespace("alice", "etl"), "devflow-alice-etl");
        assert_eq!(default_namespace("Alice.Smith", "etl"), "devflow-alice-smith-etl");
        assert_eq!(default_namespace("", "etl"), "devflow-dev-etl");
        let long = default_namespace(&"x".repeat(80), &"p".repeat(32));
        assert_eq!(long.len(), 63, "{long}");
        assert!(check_namespace(&long).is_ok() && check_namespace("Team_A").is_err());
    }
}
