//! The names devflow gives its own objects in the cluster, which the manifests make and the
//! Helm values and stand-ins refer to.

/// The claims of the DAG (and plugins) volume.
pub const DAGS_CLAIM: &str = "devflow-dags";
pub const PLUGINS_CLAIM: &str = "devflow-plugins";
/// devflow's PostgreSQL: its StatefulSet, Service and Secret.
pub const POSTGRES: &str = "devflow-postgres";
/// devflow's Secret for the project's secret environment variables.
pub const ENV_SECRET: &str = "devflow-env";
/// The user and database devflow's PostgreSQL makes at its first start, which Airflow connects as.
pub const POSTGRES_USER: &str = "airflow";
pub const POSTGRES_DB: &str = "airflow";
