//! Embeds the vendored JSON schemas without the parts validation never reads (descriptions,
//! examples, defaults): a third of the size, which keeps `devflow render` inside its time budget.

use std::{env, fs, path::Path};

use serde_json::Value;

const SCHEMAS: [&str; 3] =
    ["airflow-chart-1.22.0.values.schema.json", "kind-v1alpha4.schema.json", "k3d-v1alpha5.schema.json"];

const DOCUMENTATION: [&str; 6] = ["description", "examples", "default", "title", "x-docsSection", "x-docsSectionOrder"];

/// Removes documentation keywords. The keys of `properties`-like maps are names, not keywords.
fn strip(value: Value, names: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| names || !DOCUMENTATION.contains(&key.as_str()))
                .map(|(key, child)| {
                    let holds_names =
                        !names && matches!(key.as_str(), "properties" | "definitions" | "patternProperties");
                    (key, strip(child, holds_names))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|i| strip(i, false)).collect()),
        other => other,
    }
}

/// The chart's defaults as a values tree: each property's `default`, the defaults of the
/// properties under it laid over it (`$ref`s followed). The parity report compares with it.
fn defaults(node: &Value, definitions: &Value, depth: usize) -> Option<Value> {
    let mut node = node;
    while let Some(name) = node["$ref"].as_str().and_then(|r| r.strip_prefix("#/definitions/")) {
        node = &definitions[name];
    }
    let mut tree = node.get("default").cloned();
    if depth > 16 {
        return tree;
    }
    for (key, property) in node["properties"].as_object().into_iter().flatten() {
        if let Some(value) = defaults(property, definitions, depth + 1) {
            if !tree.as_ref().is_some_and(Value::is_object) {
                tree = Some(Value::Object(Default::default()));
            }
            tree.as_mut().and_then(Value::as_object_mut).expect("made a map above").insert(key.clone(), value);
        }
    }
    tree
}

fn main() {
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for name in SCHEMAS {
        let source = Path::new("schemas").join(name);
        println!("cargo::rerun-if-changed={}", source.display());
        let text = fs::read_to_string(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        if name.starts_with("airflow-chart-") {
            let tree = defaults(&schema, &schema["definitions"], 0).unwrap_or_default();
            let file = name.replace(".values.schema.json", ".defaults.json");
            fs::write(Path::new(&out).join(file), serde_json::to_string(&tree).unwrap()).unwrap();
        }
        fs::write(Path::new(&out).join(name), serde_json::to_string(&strip(schema, false)).unwrap()).unwrap();
    }
}
