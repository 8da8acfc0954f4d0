//! The values layering of DESIGN.md, with a record of why each key got its value: that record is
//! the parity report. The laptop overlay's rules (what a laptop cannot have) live here too.

use std::collections::BTreeMap;

use crate::values::{self, Path, Value};

/// Chart values being built layer by layer, remembering which layer wrote each key and why.
pub struct Layers {
    pub values: Value,
    /// For each path written, the order it was written in and the reason. A key's reason is the
    /// most recent write at it or above it.
    written: BTreeMap<Path, (usize, String)>,
}

impl Layers {
    pub fn new() -> Self {
        Layers { values: Value::Object(values::Map::new()), written: BTreeMap::new() }
    }

    fn record(&mut self, path: Path, reason: String) {
        let order = self.written.len();
        self.written.insert(path, (order, reason));
    }

    /// Merges a whole layer, with a reason for each of its keys.
    pub fn merge(&mut self, layer: &Value, reason: impl Fn(&Path) -> String) {
        values::merge(&mut self.values, layer);
        for (path, _) in values::leaves(layer) {
            let why = reason(&path);
            self.record(path, why);
        }
    }

    pub fn set(&mut self, path: &Path, value: Value, reason: impl Into<String>) {
        values::set(&mut self.values, path, value);
        self.record(path.clone(), reason.into());
    }

    pub fn remove(&mut self, path: &Path, reason: impl Into<String>) {
        if values::remove(&mut self.values, path).is_some() {
            self.record(path.clone(), reason.into());
        }
    }

    pub fn get(&self, path: &Path) -> Option<&Value> {
        values::get(&self.values, path)
    }

    pub fn reason(&self, path: &Path) -> Option<&str> {
        self.written
            .iter()
            .filter(|(written, _)| path.starts_with(written))
            .max_by_key(|(_, (order, _))| *order)
            .map(|(_, (_, why))| why.as_str())
    }

    /// Applies the laptop overlay's rules to the keys the values have now.
    pub fn apply_laptop_rules(&mut self) {
        for rule in RULES {
            let Some(action) = &rule.action else { continue };
            for path in matching_paths(&self.values, rule.pattern) {
                match action {
                    Action::Remove => self.remove(&path, rule.reason),
                    Action::Disable => {
                        let enabled = path.child("enabled");
                        if self.get(&enabled) != Some(&Value::Bool(false)) {
                            self.set(&enabled, Value::Bool(false), rule.reason);
                        }
                    }
                    Action::Replace(text) => {
                        let value = values::from_yaml_str(text).expect("rule values are YAML");
                        if self.get(&path) != Some(&value) {
                            self.set(&path, value, rule.reason);
                        }
                    }
                }
            }
        }
    }
}

/// One thing a laptop cannot have, or one laptop value that needs explaining.
pub struct Rule {
    /// Dotted segments; `*` is any one key, a leading `**` any number of keys (none included).
    pub pattern: &'static str,
    /// What to do to production values that have the key; None where the rule only explains a
    /// value a profile sets.
    pub action: Option<Action>,
    pub reason: &'static str,
}

pub enum Action {
    /// Drop the key and everything under it.
    Remove,
    /// Set `<key>.enabled: false`.
    Disable,
    /// Replace the key's value with this YAML.
    Replace(&'static str),
}

const SCHEDULING: &str = "production scheduling constraints cannot be met by a laptop's nodes";

/// First match wins, so a specific rule goes before a general one.
pub const RULES: &[Rule] = &[
    Rule {
        pattern: "ingress",
        action: Some(Action::Remove),
        reason: "no ingress controller on a laptop: the UI is on 127.0.0.1 through a NodePort",
    },
    Rule {
        pattern: "**.nodeSelector",
        action: Some(Action::Remove),
        reason: "laptop nodes carry none of the production node labels",
    },
    Rule { pattern: "**.affinity", action: Some(Action::Remove), reason: SCHEDULING },
    Rule { pattern: "**.topologySpreadConstraints", action: Some(Action::Remove), reason: SCHEDULING },
    Rule { pattern: "**.tolerations", action: Some(Action::Remove), reason: "laptop nodes have no taints to tolerate" },
    Rule {
        pattern: "**.priorityClassName",
        action: Some(Action::Remove),
        reason: "the priority class does not exist on the laptop: pods naming it would be refused",
    },
    Rule {
        pattern: "priorityClasses",
        action: Some(Action::Remove),
        reason: "no cluster-wide priority classes on a laptop",
    },
    Rule {
        pattern: "**.schedulerName",
        action: Some(Action::Remove),
        reason: "a custom Kubernetes scheduler does not run on a laptop: pods would stay Pending",
    },
    Rule {
        pattern: "**.serviceAccount.annotations",
        action: Some(Action::Remove),
        reason: "cloud IAM bindings (IRSA, Workload Identity) mean nothing on a laptop",
    },
    Rule {
        pattern: "**.service.annotations",
        action: Some(Action::Remove),
        reason: "cloud load-balancer annotations mean nothing on a laptop",
    },
    Rule {
        pattern: "**.service.loadBalancerIP",
        action: Some(Action::Remove),
        reason: "no cloud load balancer on a laptop",
    },
    Rule {
        pattern: "**.service.loadBalancerSourceRanges",
        action: Some(Action::Remove),
        reason: "no cloud load balancer on a laptop",
    },
    Rule {
        pattern: "**.replicas",
        action: Some(Action::Replace("1")),
        reason: "one replica of each component on a laptop",
    },
    Rule { pattern: "**.hpa", action: Some(Action::Disable), reason: "no autoscaling on a laptop: one replica" },
    Rule { pattern: "**.keda", action: Some(Action::Disable), reason: "KEDA is not installed on a laptop cluster" },
    Rule {
        pattern: "**.podDisruptionBudget",
        action: Some(Action::Disable),
        reason: "disruption budgets guard replicas a laptop does not run",
    },
    Rule {
        pattern: "dags.gitSync",
        action: Some(Action::Disable),
        reason: "DAGs come from your local folder, mounted read-only, not from git",
    },
    Rule {
        pattern: "dags.persistence",
        action: Some(Action::Disable),
        reason: "DAGs come from your local folder, mounted read-only, not from a volume",
    },
    Rule {
        pattern: "**.persistence",
        action: Some(Action::Disable),
        reason: "no production-sized volumes on a laptop: Redis data lives with its pod, logs on devflow's own claim",
    },
    Rule {
        pattern: "**.resources",
        action: Some(Action::Remove),
        reason: "production requests and limits do not fit a laptop; the profile sizes each component",
    },
    Rule {
        pattern: "data.metadataSecretName",
        action: Some(Action::Remove),
        reason: "the production database secret does not exist on the laptop: devflow's PostgreSQL is used",
    },
    Rule {
        pattern: "data.resultBackendSecretName",
        action: Some(Action::Remove),
        reason: "the production result backend is not reachable: Celery results go to devflow's PostgreSQL",
    },
    Rule {
        pattern: "data.resultBackendConnection",
        action: Some(Action::Remove),
        reason: "the production result backend is not reachable: Celery results go to devflow's PostgreSQL",
    },
    Rule {
        pattern: "data.brokerUrlSecretName",
        action: Some(Action::Remove),
        reason: "the production broker is not reachable: the chart's Redis is used",
    },
    Rule {
        pattern: "data.brokerUrl",
        action: Some(Action::Remove),
        reason: "the production broker is not reachable: the chart's Redis is used",
    },
    Rule {
        pattern: "fernetKeySecretName",
        action: Some(Action::Remove),
        reason: "the production secret does not exist on the laptop: devflow generates the key",
    },
    Rule {
        pattern: "jwtSecretName",
        action: Some(Action::Remove),
        reason: "the production secret does not exist on the laptop: devflow generates the key",
    },
    Rule {
        pattern: "apiSecretKeySecretName",
        action: Some(Action::Remove),
        reason: "the production secret does not exist on the laptop: devflow generates the key",
    },
    Rule {
        pattern: "webserverSecretKeySecretName",
        action: Some(Action::Remove),
        reason: "the production secret does not exist on the laptop: devflow generates the key",
    },
    Rule {
        pattern: "elasticsearch",
        action: Some(Action::Disable),
        reason: "no Elasticsearch on a laptop: task logs stay in the cluster",
    },
    Rule {
        pattern: "opensearch",
        action: Some(Action::Disable),
        reason: "no OpenSearch on a laptop: task logs stay in the cluster",
    },
    Rule { pattern: "kerberos", action: Some(Action::Disable), reason: "no Kerberos realm on a laptop" },
    Rule { pattern: "**.kerberosSidecar", action: Some(Action::Disable), reason: "no Kerberos realm on a laptop" },
    Rule {
        pattern: "**.kerberosInitContainer",
        action: Some(Action::Disable),
        reason: "no Kerberos realm on a laptop",
    },
    Rule {
        pattern: "pgbouncer",
        action: Some(Action::Disable),
        reason: "one local database needs no connection pooler",
    },
    Rule { pattern: "otelCollector", action: Some(Action::Disable), reason: "no metrics pipeline on a laptop" },
    Rule {
        pattern: "imagePullSecrets",
        action: Some(Action::Remove),
        reason: "the production registry credentials do not exist on the laptop",
    },
    Rule {
        pattern: "registry",
        action: Some(Action::Remove),
        reason: "the production registry credentials do not exist on the laptop",
    },
    Rule {
        pattern: "quotas",
        action: Some(Action::Remove),
        reason: "a production resource quota would starve a laptop",
    },
    Rule { pattern: "limits", action: Some(Action::Remove), reason: "a production limit range would starve a laptop" },
    // Values the profiles set, explained.
    Rule { pattern: "statsd.enabled", action: None, reason: "no metrics pipeline on a laptop" },
    Rule { pattern: "redis.enabled", action: None, reason: "the CeleryExecutor's broker runs in the cluster" },
    Rule {
        pattern: "cleanup.enabled",
        action: None,
        reason: "finished task pods are removed so a laptop does not fill up",
    },
];

/// Every path in `root` that `pattern` matches, never inside `config` (airflow.cfg's sections)
/// or `env` unless the pattern names them.
pub fn matching_paths(root: &Value, pattern: &str) -> Vec<Path> {
    let parts: Vec<&str> = pattern.split('.').collect();
    let mut found = Vec::new();
    walk(root, &Path::default(), &parts, &mut found);
    found
}

fn walk(node: &Value, at: &Path, pattern: &[&str], found: &mut Vec<Path>) {
    let Some((head, rest)) = pattern.split_first() else {
        found.push(at.clone());
        return;
    };
    let Some(map) = node.as_object() else { return };
    if *head == "**" {
        walk(node, at, rest, found);
        for (key, child) in map {
            if at.segments().is_empty() && matches!(key.as_str(), "config" | "env" | "extraEnv" | "secret") {
                continue;
            }
            walk(child, &at.child(key), pattern, found);
        }
        return;
    }
    for (key, child) in map {
        if *head == "*" || head == key {
            walk(child, &at.child(key), rest, found);
        }
    }
}

/// The reason a rule gives for a key a profile sets, if any rule covers it.
pub fn rule_reason(path: &Path) -> Option<&'static str> {
    RULES.iter().find(|rule| path_matches(path, rule.pattern)).map(|rule| rule.reason)
}

fn path_matches(path: &Path, pattern: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let segments = path.segments();
    // A rule about a key covers everything under it.
    (1..=segments.len()).any(|len| segments_match(&segments[..len], &pattern))
}

fn segments_match(segments: &[String], pattern: &[&str]) -> bool {
    match pattern.split_first() {
        None => segments.is_empty(),
        Some((&"**", rest)) => (0..=segments.len()).any(|skip| segments_match(&segments[skip..], rest)),
        Some((head, rest)) => {
            segments.first().is_some_and(|s| *head == "*" || head == s) && segments_match(&segments[1..], rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn double_star_matches_at_any_depth_but_not_inside_airflow_cfg() {
        let v = json!({
            "nodeSelector": {"a": "b"},
            "workers": {"nodeSelector": {"a": "b"}, "celery": {"nodeSelector": {}}},
            "config": {"nodeSelector": {"x": "1"}},
        });
        let found: Vec<String> = matching_paths(&v, "**.nodeSelector").iter().map(ToString::to_string).collect();
        assert_eq!(found, ["nodeSelector", "workers.nodeSelector", "workers.celery.nodeSelector"]);
    }

    #[test]
    fn rules_explain_the_keys_under_them() {
        assert_eq!(
            rule_reason(&Path::parse("workers.resources.requests.cpu").unwrap()),
            rule_reason(&Path::parse("scheduler.resources").unwrap())
        );
        assert!(rule_reason(&Path::parse("statsd.enabled").unwrap()).unwrap().contains("metrics"));
        assert_eq!(rule_reason(&Path::parse("executor").unwrap()), None);
    }

    #[test]
    fn the_latest_write_explains_a_key() {
        let mut layers = Layers::new();
        layers.merge(&json!({"workers": {"replicas": 5}}), |_| "production".into());
        layers.apply_laptop_rules();
        assert_eq!(layers.values, json!({"workers": {"replicas": 1}}));
        assert_eq!(
            layers.reason(&Path::parse("workers.replicas").unwrap()),
            Some("one replica of each component on a laptop")
        );
    }
}
