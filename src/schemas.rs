//! The JSON schemas devflow checks its own output (and the user's production values) against,
//! compiled once per process. The chart's: 1.22.0's is embedded (the offline fast path); another
//! chart version's is the one in that chart's package, which `helm::Helm::pull_schema` keeps in
//! devflow's cache, one file per version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

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
    compile_checked(text).expect("the embedded schemas are valid draft-07 JSON")
}

fn compile_checked(text: &str) -> Result<Schema, String> {
    let document: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let validator = jsonschema::draft7::new(&document).map_err(|e| format!("not a draft-07 schema: {e}"))?;
    Ok(Schema { document, validator })
}

/// The chart version whose values schema is in the binary.
pub const EMBEDDED_CHART: &str = "1.22.0";

pub fn chart() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| compile(embedded!("airflow-chart-1.22.0.values.schema.json")))
}

/// One chart version's values schema, as the project's values are checked against it.
#[derive(Clone, Copy)]
pub struct ChartSchema {
    pub version: &'static str,
    pub schema: &'static Schema,
}

impl std::fmt::Debug for ChartSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChartSchema({})", self.version)
    }
}

impl ChartSchema {
    pub fn embedded() -> ChartSchema {
        ChartSchema { version: EMBEDDED_CHART, schema: chart() }
    }
}

/// Where the schema of a chart version is kept in devflow's cache.
pub fn cached_chart_file(cache: &Path, version: &str) -> PathBuf {
    cache.join(format!("airflow-{version}.values.schema.json"))
}

/// The schema of a chart version: the embedded one, or the one cached from its package; None
/// when it is not cached yet. Each version is compiled once per process (and kept for it).
pub fn chart_for(version: &str, cache: &Path) -> Result<Option<ChartSchema>, String> {
    if version == EMBEDDED_CHART {
        return Ok(Some(ChartSchema::embedded()));
    }
    static LOADED: OnceLock<Mutex<BTreeMap<String, ChartSchema>>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(schema) = loaded.get(version) {
        return Ok(Some(*schema));
    }
    let file = cached_chart_file(cache, version);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let schema = compile_checked(&text).map_err(|why| format!("{} is {why}", file.display()))?;
    let schema = ChartSchema { version: Box::leak(version.into()), schema: Box::leak(Box::new(schema)) };
    loaded.insert(version.to_string(), schema);
    Ok(Some(schema))
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

    /// The first key in `value` the schema does not know, as its path, with the keys the schema
    /// knows beside it. The top level is checked too, which the chart's schema leaves open (a
    /// misspelt top-level key would pass Helm silently); below it, maps the schema closes
    /// (`additionalProperties: false`).
    pub fn unknown_key(&self, value: &Value) -> Option<(Vec<String>, Vec<String>)> {
        self.unknown_below(value, &self.document, &mut Vec::new())
    }

    fn unknown_below(&self, value: &Value, node: &Value, at: &mut Vec<String>) -> Option<(Vec<String>, Vec<String>)> {
        let node = self.resolve(node);
        let (Some(map), Some(properties)) = (value.as_object(), node["properties"].as_object()) else { return None };
        let closed = at.is_empty()
            || (node["additionalProperties"] == Value::Bool(false) && node.get("patternProperties").is_none());
        for (key, child) in map {
            at.push(key.clone());
            let found = match properties.get(key) {
                Some(property) => self.unknown_below(child, property, at),
                None if closed => Some((at.clone(), properties.keys().cloned().collect())),
                None => None,
            };
            at.pop();
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// A schema node with its `$ref` (to `#/definitions/...`) followed.
    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        while let Some(name) = node["$ref"].as_str().and_then(|r| r.strip_prefix("#/definitions/")) {
            node = &self.document["definitions"][name];
        }
        node
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
    fn unknown_keys_are_found_at_the_top_and_in_closed_maps() {
        let chart = super::chart();
        let (path, known) = chart.unknown_key(&json!({"workers": {"persistence": {"enabeld": true}}})).unwrap();
        assert_eq!(path, ["workers", "persistence", "enabeld"]);
        assert!(known.contains(&"enabled".to_string()));
        assert_eq!(chart.unknown_key(&json!({"wrokers": {}})).unwrap().0, ["wrokers"]);
        assert!(chart.unknown_key(&json!({"workers": {"replicas": 1}, "labels": {"any": "x"}})).is_none());
    }

    #[test]
    fn the_charts_defaults_are_read_from_its_schema() {
        assert_eq!(default("createUserJob.defaultUser.username"), Some(json!("admin")));
        assert_eq!(default("workers.persistence.enabled"), Some(json!(true)));
        assert_eq!(default("data.metadataConnection.port"), Some(json!(5432)));
        assert_eq!(default("workers.resources.limits.cpu"), None);
    }
}
