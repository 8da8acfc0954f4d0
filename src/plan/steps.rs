//! The steps of `up`, in order: each what `up --dry-run` and `render --only plan` print (its
//! `Display`) and what the executor runs, one and the same value. The commands of external tools
//! are complete here, argv and standard input; the rest is work devflow does itself.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::command::Command;
use super::{Expect, Plan, image, manifests};
use crate::config::{ClusterTool, Delivery, Project, StateFile};

/// What preflight checks before anything is made.
#[derive(Debug, Clone, PartialEq)]
pub enum Preflight {
    /// Docker with the memory and CPUs the profile needs, and the tool that makes the cluster.
    DockerNodes { memory_gib: u32, cpus: u32, profile: String, tool: ClusterTool, ui_port: u16 },
    /// The kube context of a cluster devflow did not make.
    Shared { context: String, ui_port: u16 },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Preflight(Preflight),
    /// An existing cluster: the namespace must be free or this project's.
    CheckNamespace {
        namespace: String,
        owner: String,
    },
    /// k3d reads its config from a file in the state folder.
    WriteClusterConfig {
        path: PathBuf,
    },
    CreateCluster(Command),
    WaitNodes {
        count: usize,
        context: String,
    },
    /// The project's own image, tagged `devflow/<project>:<digest of its files>`.
    BuildImage {
        project: String,
        build: image::ImageBuild,
    },
    /// The built image copied onto the nodes.
    LoadImage(Command),
    /// A private-registry image the nodes cannot pull, copied onto them from the local Docker
    /// daemon (where a `docker pull` after a registry login put it).
    LoadLocalImage(Command),
    /// devflow's own objects, applied server-side (`kind/name` each).
    ApplyManifests {
        objects: Vec<String>,
    },
    /// The Helm values, with the generated secrets, in a 0600 file.
    WriteValues {
        path: PathBuf,
    },
    InstallRelease(Command),
    /// Waits for each of these, in the order they become ready.
    WaitAirflow {
        expect: Vec<Expect>,
        components: Vec<&'static str>,
    },
    PushDags {
        dags: PathBuf,
    },
    /// A shared cluster's admin user, made by `airflow users create` through exec into the UI
    /// pod with the password on standard input (never an argument: the chart's job is off).
    CreateAdmin {
        user: &'static str,
        component: &'static str,
    },
    /// An existing cluster's UI is reached through devflow's port-forward while it watches.
    PortForward {
        url: String,
        component: &'static str,
    },
    Ready {
        url: String,
        user: &'static str,
    },
}

impl Step {
    /// The short name `--dry-run` prints before the step.
    pub fn title(&self) -> &'static str {
        match self {
            Step::Preflight(_) => "preflight",
            Step::CheckNamespace { .. } => "check namespace",
            Step::WriteClusterConfig { .. } => "write cluster config",
            Step::CreateCluster(_) => "create cluster",
            Step::WaitNodes { .. } => "wait for nodes",
            Step::BuildImage { .. } => "build image",
            Step::LoadImage(_) | Step::LoadLocalImage(_) => "load image",
            Step::ApplyManifests { .. } => "apply manifests",
            Step::WriteValues { .. } => "write values",
            Step::InstallRelease(_) => "install Airflow",
            Step::WaitAirflow { .. } => "wait for Airflow",
            Step::PushDags { .. } => "push DAGs",
            Step::CreateAdmin { .. } => "create admin",
            Step::PortForward { .. } => "port-forward",
            Step::Ready { .. } => "ready",
        }
    }

    /// The external command the step runs, if it is one.
    pub fn command(&self) -> Option<&Command> {
        match self {
            Step::CreateCluster(command)
            | Step::LoadImage(command)
            | Step::LoadLocalImage(command)
            | Step::InstallRelease(command) => Some(command),
            _ => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(command) = self.command() {
            return command.fmt(f);
        }
        match self {
            Step::Preflight(Preflight::DockerNodes { memory_gib, cpus, profile, tool, ui_port }) => write!(
                f,
                "check that Docker runs with at least {memory_gib} GiB of memory and {cpus} CPUs (profile `{profile}`), that {tool} is on PATH and that 127.0.0.1:{ui_port} is free"
            ),
            Step::Preflight(Preflight::Shared { context, ui_port }) => write!(
                f,
                "check that helm is on PATH, that the kube context {context} answers and that 127.0.0.1:{ui_port} is free"
            ),
            Step::CheckNamespace { namespace, owner } => write!(
                f,
                "use the namespace {namespace} only if it is absent or annotated {}={owner} (made by this project); never touch another",
                manifests::OWNER_ANNOTATION
            ),
            Step::WriteClusterConfig { path } => {
                write!(f, "write the cluster config (devflow render --only cluster) to {}", path.display())
            }
            Step::WaitNodes { count, context } => {
                write!(f, "wait until {count} node(s) are Ready (kube context {context})")
            }
            Step::BuildImage { project, build } => {
                let from = match &build.dockerfile {
                    image::Dockerfile::Generated(_) => {
                        format!("FROM {} with the project's requirements.txt/packages.txt", build.base)
                    }
                    image::Dockerfile::Project(path) => format!("from {}", path.display()),
                };
                write!(f, "build devflow/{project}:<digest of its files> {from}; the release then runs it")
            }
            Step::ApplyManifests { objects } => {
                write!(f, "apply server-side (devflow render --only manifests): {}", objects.join(", "))
            }
            Step::WriteValues { path } => write!(
                f,
                "write the Helm values (devflow render --only values) with generated secrets to {}, mode 0600",
                path.display()
            ),
            Step::WaitAirflow { components, .. } => write!(
                f,
                "wait for PostgreSQL, the database migration job and the {} pods, reporting any that fail with the reason",
                components.join(", ")
            ),
            Step::PushDags { dags } => write!(
                f,
                "copy {} into the volume {} through exec into the {} pod (changed files only, deletes applied, .airflowignore and .gitignore honoured)",
                dags.display(),
                super::names::DAGS_CLAIM,
                manifests::RECEIVER
            ),
            Step::CreateAdmin { user, component } => write!(
                f,
                "create the admin user `{user}` with `airflow users create` through exec into the {component} pod, the password on standard input (`devflow creds` prints it)"
            ),
            Step::PortForward { url, component } => {
                write!(f, "forward {url} to the {component} pod's port, for as long as devflow watches")
            }
            Step::Ready { url, user } => {
                write!(f, "print {url} and the user `{user}` (`devflow creds` prints the password)")
            }
            Step::CreateCluster(_) | Step::LoadImage(_) | Step::LoadLocalImage(_) | Step::InstallRelease(_) => {
                unreachable!("a command, above")
            }
        }
    }
}

/// `{"title": …, "command": {"argv": […], "stdin": …}}` or `{"title": …, "devflow": "…"}`.
impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Action<'a> {
            Command(&'a Command),
            Devflow(String),
        }
        #[derive(Serialize)]
        struct Shown<'a> {
            title: &'static str,
            #[serde(flatten)]
            action: Action<'a>,
        }
        let action = match self.command() {
            Some(command) => Action::Command(command),
            None => Action::Devflow(self.to_string()),
        };
        Shown { title: self.title(), action }.serialize(serializer)
    }
}

/// The steps, numbered, one line each: what `up --dry-run` prints.
pub fn text(steps: &[Step]) -> String {
    let width = steps.iter().map(|s| s.title().len()).max().unwrap_or(0);
    steps.iter().enumerate().map(|(i, step)| format!("{:>2}. {:<width$}  {step}\n", i + 1, step.title())).collect()
}

/// The steps of `up` for a plan.
pub fn of(plan: &Plan, project: &Project) -> Vec<Step> {
    let mut steps = match project.provider.cluster_tool() {
        Some(tool) => cluster(plan, project, tool),
        None => shared(plan, project),
    };
    let objects = plan
        .manifests
        .iter()
        .map(|m| format!("{}/{}", m["kind"].as_str().unwrap_or("?"), m["metadata"]["name"].as_str().unwrap_or("?")))
        .collect();
    steps.push(Step::ApplyManifests { objects });
    let values_file = plan.state_dir.file(StateFile::Values);
    let helm = Command::new("helm", plan.helm_args(&values_file.display().to_string()));
    steps.push(Step::WriteValues { path: values_file });
    steps.push(Step::InstallRelease(helm));
    steps.push(Step::WaitAirflow { expect: plan.expectations(), components: plan.components.clone() });
    if plan.delivery == Delivery::Push {
        steps.push(Step::PushDags { dags: plan.dags_folder.clone() });
    }
    if plan.ui_forwarded() {
        steps.push(Step::CreateAdmin { user: plan.admin_user, component: plan.components[0] });
        steps.push(Step::PortForward { url: plan.url.clone(), component: plan.components[0] });
    }
    steps.push(Step::Ready { url: plan.url.clone(), user: plan.admin_user });
    steps
}

/// A cluster devflow makes: preflight, the cluster, its nodes, the project's image.
fn cluster(plan: &Plan, project: &Project, tool: ClusterTool) -> Vec<Step> {
    let preflight = Preflight::DockerNodes {
        memory_gib: plan.needs.memory_gib,
        cpus: plan.needs.cpus,
        profile: plan.profile.clone(),
        tool,
        ui_port: project.ui_port,
    };
    let mut steps = vec![Step::Preflight(preflight)];
    let config = plan.state_dir.file(StateFile::K3dConfig);
    if tool == ClusterTool::K3d {
        steps.push(Step::WriteClusterConfig { path: config.clone() });
    }
    steps.push(Step::CreateCluster(super::cluster::create(tool, &plan.cluster_name, &config)));
    steps.push(Step::WaitNodes { count: 1 + usize::from(project.workers), context: plan.context.clone() });
    if let Some(build) = &plan.image {
        steps.push(Step::BuildImage { project: plan.project.clone(), build: build.clone() });
        steps.push(Step::LoadImage(super::cluster::load_image(tool, &plan.cluster_name)));
    }
    if let Some(image) = &plan.private_image {
        steps.push(Step::LoadLocalImage(super::cluster::load_image(tool, &plan.cluster_name).with_image(image)));
    }
    steps
}

/// A cluster devflow did not make: preflight and its namespace.
fn shared(plan: &Plan, project: &Project) -> Vec<Step> {
    vec![
        Step::Preflight(Preflight::Shared { context: plan.context.clone(), ui_port: project.ui_port }),
        Step::CheckNamespace { namespace: plan.namespace.clone(), owner: plan.owner.clone() },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::command::{IMAGE, Stdin};

    #[test]
    fn a_command_shows_as_typed_and_serialises_as_argv() {
        let command = Command::new("kind", ["create", "cluster", "--name", "it's"]).reading(Stdin::ClusterConfig);
        assert_eq!(
            command.to_string(),
            "$ kind create cluster --name 'it'\\''s' < the cluster config (devflow render --only cluster)"
        );
        let step = serde_json::to_value(Step::CreateCluster(command.clone())).unwrap();
        assert_eq!(step["title"], "create cluster");
        assert_eq!(step["command"]["argv"][4], "it's");
        assert_eq!(step["command"]["stdin"], "the cluster config (devflow render --only cluster)");
        let load = Command::new("k3d", ["image", "import", IMAGE, "-c", "acme"]).with_image("devflow/acme:ab12");
        assert_eq!(load.args(), ["image", "import", "devflow/acme:ab12", "-c", "acme"]);
        let ready = serde_json::to_value(Step::Ready { url: "http://127.0.0.1:8080".into(), user: "admin" }).unwrap();
        assert_eq!(
            ready["devflow"],
            "print http://127.0.0.1:8080 and the user `admin` (`devflow creds` prints the password)"
        );
    }
}
