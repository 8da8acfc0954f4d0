//! The label selectors of the pods and jobs devflow looks for, written once: the chart's
//! components carry `release` and `component`, devflow's own objects `app.kubernetes.io/name`.

use super::RELEASE;
use super::manifests::NAME_LABEL;

/// The pods of one of the chart's components.
pub fn component(component: &str) -> String {
    format!("release={RELEASE},component={component}")
}

/// The pods or jobs of several of the chart's components.
pub fn components(components: &[&str]) -> String {
    format!("release={RELEASE},component in ({})", components.join(","))
}

/// The pods of one of devflow's own objects (PostgreSQL, the DAG receiver).
pub fn named(name: &str) -> String {
    format!("{NAME_LABEL}={name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_the_release_and_the_components() {
        assert_eq!(component("scheduler"), "release=airflow,component=scheduler");
        assert_eq!(components(&["a", "b"]), "release=airflow,component in (a,b)");
        assert_eq!(named("devflow-postgres"), "app.kubernetes.io/name=devflow-postgres");
    }
}
