//! The project's own Airflow image, when it needs one: the profile's (or devflow.toml's) image
//! with `requirements.txt` and `packages.txt` installed, or the project's own Dockerfile. Pure: the
//! files are read when the build happens.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::ImageFiles;
use crate::values::{self, Value};

/// How `up` builds the image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageBuild {
    /// What the image is built FROM (devflow's own Dockerfile only).
    pub base: String,
    /// The Dockerfile: devflow's, or the project's own (then `context` is the project folder).
    pub dockerfile: Dockerfile,
    /// Files sent as the build context, each as (name in the context, file on disk).
    pub context: Context,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dockerfile {
    Generated(String),
    Project(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    Files(Vec<(String, PathBuf)>),
    /// The project folder, less what `.dockerignore` excludes.
    Folder(PathBuf),
}

/// The image build for a project, if it needs one: `files` are those of its image files that exist.
pub fn build(root: &Path, files: &ImageFiles, values: &Value, airflow_version: &str) -> Option<ImageBuild> {
    let base = base_image(values, airflow_version);
    if let Some(dockerfile) = &files.dockerfile {
        return Some(ImageBuild {
            base,
            dockerfile: Dockerfile::Project(dockerfile.clone()),
            context: Context::Folder(root.to_path_buf()),
        });
    }
    if files.requirements.is_none() && files.packages.is_none() {
        return None;
    }
    // The Airflow image's user is 50000 (airflow); system packages need root. packages.txt may
    // hold comments (`init` explains it with some): they are not package names.
    let mut text = format!("FROM {base}\n");
    let mut context = Vec::new();
    if let Some(packages) = &files.packages {
        text.push_str("USER 0\nCOPY packages.txt /devflow/packages.txt\nRUN apt-get update && sed 's/#.*//' /devflow/packages.txt | xargs apt-get install -y --no-install-recommends && rm -rf /var/lib/apt/lists/*\nUSER 50000\n");
        context.push(("packages.txt".to_string(), packages.clone()));
    }
    if let Some(requirements) = &files.requirements {
        // Airflow's image docs pin the Airflow the image has, so that a provider in the
        // requirements cannot upgrade (or downgrade) Airflow under the user; the official image
        // sets AIRFLOW_VERSION when the values name no version.
        let version = if airflow_version.is_empty() { "${AIRFLOW_VERSION}" } else { airflow_version };
        text.push_str(&format!(
            "COPY requirements.txt /devflow/requirements.txt\nRUN pip install --no-cache-dir \"apache-airflow=={version}\" -r /devflow/requirements.txt\n"
        ));
        context.push(("requirements.txt".to_string(), requirements.clone()));
    }
    Some(ImageBuild { base, dockerfile: Dockerfile::Generated(text), context: Context::Files(context) })
}

/// Registries anyone can pull from without logging in; any other registry host is private (ECR,
/// Artifact Registry, ACR, Harbor…) and a laptop cluster, with no pull secret, cannot pull from it.
const PUBLIC_REGISTRIES: [&str; 6] =
    ["docker.io", "registry-1.docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "mirror.gcr.io"];

/// Whether an image lives in a private registry: its first path segment names a registry host
/// (a dot, a port or `localhost`) that is not a public one.
pub fn private_registry(image: &str) -> bool {
    let Some((host, _)) = image.split_once('/') else { return false };
    let names_host = host.contains('.') || host.contains(':') || host == "localhost";
    names_host && !PUBLIC_REGISTRIES.contains(&host) && !host.starts_with("localhost") && !host.starts_with("127.")
}

/// What `up` says, before it starts, when the private image is not on this machine.
pub fn cannot_pull(image: &str) -> String {
    format!(
        "the Airflow image {image} is in a private registry the cluster cannot pull from (production's pull secret does not exist on the laptop), and this machine's Docker does not have it\n  either log in to the registry and pull it (`docker pull {image}`): devflow then loads it onto the nodes; or run a public image: `image = \"apache/airflow:<version>\"` under [airflow] in devflow.toml"
    )
}

/// The Airflow image the chart would run: `images.airflow`, else the default repository and tag.
pub fn base_image(values: &Value, airflow_version: &str) -> String {
    let text =
        |key: &str| values::get(values, &values::Path::parse(key).unwrap()).and_then(Value::as_str).map(str::to_string);
    let repository = text("images.airflow.repository")
        .or_else(|| text("defaultAirflowRepository"))
        .unwrap_or_else(|| "apache/airflow".into());
    match (text("images.airflow.digest"), text("images.airflow.tag").or_else(|| text("defaultAirflowTag"))) {
        (Some(digest), _) => format!("{repository}@{digest}"),
        (None, Some(tag)) => format!("{repository}:{tag}"),
        (None, None) => format!("{repository}:{airflow_version}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn requirements_and_packages_go_on_the_airflow_image_the_chart_would_run() {
        let root = Path::new("/p");
        let values = json!({"images": {"airflow": {"repository": "registry.acme.io/airflow", "tag": "2025.11"}}});
        assert!(build(root, &ImageFiles::default(), &values, "3.2.2").is_none(), "nothing to build");

        let files = ImageFiles {
            requirements: Some(root.join("requirements.txt")),
            packages: Some(root.join("packages.txt")),
            dockerfile: None,
        };
        let image = build(root, &files, &values, "3.2.2").unwrap();
        let Dockerfile::Generated(text) = &image.dockerfile else { panic!("devflow's Dockerfile") };
        assert!(text.starts_with("FROM registry.acme.io/airflow:2025.11\nUSER 0\n"), "{text}");
        assert!(
            text.ends_with("RUN pip install --no-cache-dir \"apache-airflow==3.2.2\" -r /devflow/requirements.txt\n"),
            "{text}"
        );
        assert_eq!(base_image(&json!({}), "3.2.2"), "apache/airflow:3.2.2");
        for private in [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/a/airflow:1",
            "acme.azurecr.io/airflow:1",
            "harbor.acme.internal/x:1",
        ] {
            assert!(private_registry(private), "{private}");
        }
        for public in ["apache/airflow:3.2.2", "quay.io/a/b:1", "ghcr.io/a/b:1", "localhost:5001/a:1", "airflow:1"] {
            assert!(!private_registry(public), "{public}");
        }

        let files = ImageFiles { dockerfile: Some(root.join("Dockerfile")), ..files };
        let image = build(root, &files, &values, "3.2.2").unwrap();
        assert!(matches!(image.context, Context::Folder(_)) && matches!(image.dockerfile, Dockerfile::Project(_)));
    }
}
