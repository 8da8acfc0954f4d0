//! The JSON schemas devflow checks its own output (and the user's production values) against,
//! compiled once per process.

use std::sync::OnceLock;

use jsonschema::Validator;

use crate::values::Value;

pub struct Schema {
    pub document: Value,
    validator: Validator,
}

macro_rules! embedded {
    ($file:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/", $file))
    };
}

fn compile(text: &str) -> Schema {
    let document: Value = serde_json::from_str(text).expect("the embedded schemas are JSON");
    let validator = jsonschema::draft7::new(&document).expect("the embedded schemas are valid draft-07");
    Schema { document, validator }
}

pub fn chart() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| compile(embedded!("airflow-chart-1.22.0.values.schema.json")))
}

/// The chart's defaults as a values tree, read from its values.schema.json at build time (the
/// `default` of each property; build.rs).
pub fn chart_defaults() -> &'static Value {
    static DEFAULTS: OnceLock<Value> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        serde_json::from_str(embedded!("airflow-chart-1.22.0.defaults.json")).expect("build.rs writes JSON")
    })
}

/// The chart's default for one value; None: the chart gives it none.
pub fn chart_default(path: &crate::values::Path) -> Option<&'static Value> {
    crate::values::get(chart_defaults(), path)
}

pub fn kind() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| compile(embedded!("kind-v1alpha4.schema.json")))
}

pub fn k3d() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| compile(embedded!("k3d-v1alpha5.schema.json")))
}

impl Schema {
    /// The problems with `instance`, each as `key: what is wrong`, at most `limit` of them.
    pub fn problems(&self, instance: &Value, limit: usize) -> Vec<String> {
        self.validator
            .iter_errors(instance)
            .take(limit)
            .map(|error| {
                let pointer = error.instance_path().to_string();
                let key = pointer.trim_start_matches('/').replace('/', ".");
                let key = if key.is_empty() { "(top level)".to_string() } else { key };
                format!("{key}: {error}")
            })
            .collect()
    }

    /// The top-level keys the schema knows.
    pub fn top_level_keys(&self) -> impl Iterator<Item = &str> {
        self.document["properties"].as_object().into_iter().flat_map(|p| p.keys().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn default(dotted: &str) -> Option<serde_json::Value> {
        super::chart_default(&crate::values::Path::parse(dotted).unwrap()).cloned()
    }

    #[test]
    fn the_charts_defaults_are_read_from_its_schema() {
        assert_eq!(default("createUserJob.defaultUser.username"), Some(json!("admin")));
        assert_eq!(default("workers.persistence.enabled"), Some(json!(true)));
        assert_eq!(default("data.metadataConnection.port"), Some(json!(5432)));
        assert_eq!(default("workers.resources.limits.cpu"), None);
    }
}
