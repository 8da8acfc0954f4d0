//! devflow.toml as `devflow init` writes it: commented, every key shown with its default, the
//! [cluster] table the provider's.

use super::{FILE_NAME, Provider};
use crate::pins::{DEFAULT_KUBERNETES, supported_minors};
use crate::profile;

/// The [cluster] choices `init` writes down: its flags, and the current kube context for an
/// existing cluster when `--context` names none.
pub struct ClusterChoice<'a> {
    pub provider: Provider,
    pub context: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub ui_port: u16,
}

pub fn project_file(name: &str, cluster: &ClusterChoice<'_>, profile: &str, values: &[String]) -> String {
    let values_line = if values.is_empty() {
        "# values = [\"deploy/prod-values.yaml\"]   # your production Helm values, shrunk to laptop size".to_string()
    } else {
        let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        format!("values = [{}]   # your production Helm values, shrunk to laptop size", quoted.join(", "))
    };
    format!(
        r#"# devflow.toml: the project file of devflow. `devflow render` shows what it makes of it.
# Every key is optional; the values written here are the defaults unless noted.

name = "{name}"   # the cluster's name: lowercase letters, digits and -, at most 32 characters
dags = "dags"                      # mounted read-only into every Airflow pod
# plugins = "plugins"              # mounted too when the folder exists (the default)
requirements = "requirements.txt"  # baked into the Airflow image when it exists

[cluster]
{cluster}

[airflow]
profile = "{profile}"   # {profiles}, or a path to your own profile YAML (it can `extends:` one)
chart_version = "1.22.0"
# chart = "charts/airflow"   # a local chart folder or .tgz, or oci://…; default: https://airflow.apache.org
# version = "3.2.2"   # the Airflow version (default: the profile's)
# image = "registry.example.com/data/airflow:2025.11.1"   # your own image instead of apache/airflow
# executor = "CeleryExecutor"   # wins over the profile and your production values
{values_line}
# keep = ["AIRFLOW_CONN_WAREHOUSE"]   # production endpoints the fence would take off the laptop, kept by name

[airflow.set]   # chart values, applied last, e.g.
# "workers.replicas" = 2

[airflow.config]   # airflow.cfg settings, e.g.
# core = {{ parallelism = 8 }}
"#,
        cluster = cluster_table(cluster),
        profiles = profile::built_in_names(),
    )
}

fn cluster_table(cluster: &ClusterChoice<'_>) -> String {
    let (provider, port) = (cluster.provider, cluster.ui_port);
    match provider {
        Provider::Existing => format!(
            r#"provider = "existing"   # a cluster you already have; devflow works in a namespace of its own
context = {context:?}   # the kube context of the cluster (`kubectl config get-contexts`)
{namespace}
# storage_class = "efs-sc"   # a ReadWriteMany StorageClass for the pushed DAGs (default: the cluster's default)
ui_port = {port}         # the Airflow UI at http://127.0.0.1:{port}, through devflow's port-forward"#,
            context = cluster.context.unwrap_or_default(),
            namespace = match cluster.namespace {
                Some(namespace) => format!("namespace = {namespace:?}   # devflow creates it and marks it as this project's"),
                None => "# namespace = \"devflow-<your user>-<name>\"   # the default; devflow creates it and marks it as this project's".to_string(),
            }
        ),
        _ => format!(
            r#"provider = "{provider}"   # kind, k3d, or existing (a cluster you already have)
kubernetes = "{DEFAULT_KUBERNETES}"   # one of {minors}: each maps to a pinned node image
workers = 0            # extra worker nodes besides the control plane
ui_port = {port}         # the Airflow UI at http://127.0.0.1:{port}
# dag_delivery = "push"   # copy the DAGs in through exec instead of mounting them (workers = 0 only)"#,
            minors = supported_minors()
        ),
    }
}

/// What `init` says of the cluster it wrote down: for an existing cluster whose context no
/// `--context` named, the current one it took, or that there is none to take.
pub fn context_note(provider: Provider, named: bool, current: Option<&str>) -> Option<String> {
    match (provider, named, current) {
        (Provider::Existing, false, Some(context)) => Some(format!(
            "the cluster is your current kube context `{context}`: change `context` in {FILE_NAME} for another"
        )),
        (Provider::Existing, false, None) => Some(format!(
            "no current kube context: set `context` under [cluster] in {FILE_NAME} (`kubectl config get-contexts` lists them)"
        )),
        _ => None,
    }
}
