//! Chart values as one tree type (JSON's, insertion-ordered), addressed by dotted paths: reading
//! YAML and TOML into it, deep-merging layers, and listing its leaves for the parity report.

use std::fmt;

pub use serde_json::{Map, Value};

/// A dotted key such as `workers.persistence.enabled`. A key that itself contains a dot (an
/// annotation like `eks.amazonaws.com/role-arn`) is one segment, written `eks\.amazonaws\.com/role-arn`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Path(Vec<String>);

impl Path {
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Path(keys.into_iter().map(str::to_string).collect())
    }

    pub fn parse(dotted: &str) -> Result<Self, String> {
        let mut segments = vec![String::new()];
        let mut chars = dotted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => segments.last_mut().unwrap().push(chars.next().unwrap_or('\\')),
                '.' => segments.push(String::new()),
                c => segments.last_mut().unwrap().push(c),
            }
        }
        if segments.iter().any(String::is_empty) {
            return Err(format!(
                "{dotted:?} is not a dotted key: a key cannot be empty (expected e.g. workers.replicas)"
            ));
        }
        Ok(Path(segments))
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    pub fn child(&self, key: &str) -> Path {
        let mut next = self.0.clone();
        next.push(key.to_string());
        Path(next)
    }

    /// True when `self` is `other` or lies under it.
    pub fn starts_with(&self, other: &Path) -> bool {
        self.0.starts_with(&other.0)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped: Vec<String> = self.0.iter().map(|s| s.replace('.', "\\.")).collect();
        f.write_str(&escaped.join("."))
    }
}

pub fn get<'a>(root: &'a Value, path: &Path) -> Option<&'a Value> {
    path.0.iter().try_fold(root, |node, key| node.as_object()?.get(key))
}

/// Sets `path` to `value`, creating the maps on the way; a scalar in the way becomes a map.
pub fn set(root: &mut Value, path: &Path, value: Value) {
    let mut node = root;
    for key in &path.0 {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        node = node.as_object_mut().unwrap().entry(key.clone()).or_insert(Value::Null);
    }
    *node = value;
}

/// Removes `path`, and the maps it leaves empty on the way up. Returns what was there.
pub fn remove(root: &mut Value, path: &Path) -> Option<Value> {
    let (last, parents) = path.0.split_last()?;
    let parent = parents.iter().try_fold(&mut *root, |node, key| node.as_object_mut()?.get_mut(key))?;
    let removed = parent.as_object_mut()?.shift_remove(last);
    if removed.is_some() && parent.as_object().is_some_and(Map::is_empty) && !parents.is_empty() {
        remove(root, &Path(parents.to_vec()));
    }
    removed
}

/// Helm's merge: maps merge key by key, anything else (lists included) is replaced.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// Every leaf with its path: scalars, lists (compared whole) and empty maps.
pub fn leaves(root: &Value) -> Vec<(Path, &Value)> {
    fn walk<'a>(node: &'a Value, path: &Path, out: &mut Vec<(Path, &'a Value)>) {
        match node {
            Value::Object(map) if !map.is_empty() => {
                for (key, value) in map {
                    walk(value, &path.child(key), out);
                }
            }
            _ if !path.0.is_empty() => out.push((path.clone(), node)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, &Path::default(), &mut out);
    out
}

/// A YAML document as a value tree. Merge keys (`<<: *anchor`) are applied as Helm applies them;
/// map keys must be strings, as Helm values' are.
pub fn from_yaml_str(text: &str) -> Result<Value, YamlError> {
    let mut yaml: serde_norway::Value = serde_norway::from_str(text).map_err(|e| YamlError {
        location: e.location().map(|l| (l.line(), l.column())),
        message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
    })?;
    yaml.apply_merge().map_err(|e| YamlError { location: None, message: e.to_string() })?;
    from_yaml(yaml).map_err(|message| YamlError { location: None, message })
}

#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn from_yaml(yaml: serde_norway::Value) -> Result<Value, String> {
    use serde_norway::Value as Y;
    Ok(match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).map_err(|e| e.to_string())?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(from_yaml).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let key = match key {
                    Y::String(s) => s,
                    other => {
                        return Err(format!(
                            "the key {} is not a string: chart values use string keys (quote it)",
                            to_yaml(&from_yaml(other)?).trim()
                        ));
                    }
                };
                out.insert(key, from_yaml(value)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => from_yaml(tagged.value)?,
    })
}

pub fn from_toml(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(from_toml).collect()),
        toml::Value::Table(table) => Value::Object(table.into_iter().map(|(k, v)| (k, from_toml(v))).collect()),
    }
}

/// The line (from 1) where the key at `path` is written in a block-style YAML text, found by
/// indentation; None when it is not written there that way.
pub fn line_of(text: &str, path: &[String]) -> Option<usize> {
    let mut parent_indent: Option<usize> = None;
    // The indentation of the parent's own keys: the first line under it sets it.
    let mut child_indent: Option<usize> = Some(0);
    let mut depth = 0;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if parent_indent.is_some_and(|parent| indent <= parent) {
            return None;
        }
        let children = *child_indent.get_or_insert(indent);
        let key = &path[depth];
        let written = [key.clone(), format!("\"{key}\""), format!("'{key}'")]
            .iter()
            .any(|k| trimmed.strip_prefix(k.as_str()).is_some_and(|rest| rest.trim_start().starts_with(':')));
        if written && indent == children {
            if depth + 1 == path.len() {
                return Some(i + 1);
            }
            parent_indent = Some(indent);
            child_indent = None;
            depth += 1;
        }
    }
    None
}

pub fn to_yaml(value: &Value) -> String {
    serde_norway::to_string(value).expect("a JSON value always serialises as YAML")
}

/// A short one-line form of a value for tables: scalars as they are, trees as compact JSON.
pub fn brief(value: &Value, width: usize) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() <= width {
        text
    } else {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_escape_dots_inside_a_key() {
        let path = Path::parse(r"workers.serviceAccount.annotations.eks\.amazonaws\.com/role-arn").unwrap();
        assert_eq!(path.segments().len(), 4);
        assert_eq!(path.segments()[3], "eks.amazonaws.com/role-arn");
        assert_eq!(path.to_string(), r"workers.serviceAccount.annotations.eks\.amazonaws\.com/role-arn");
        assert!(Path::parse("workers..replicas").is_err());
    }

    #[test]
    fn a_nested_key_is_found_by_its_indentation() {
        let text = "executor: X\nworkers:\n  # sized\n  replicas: 3\n  persistence:\n    enabeld: true\nscheduler:\n  enabeld: 1\n";
        let at = |keys: &[&str]| line_of(text, &keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
        assert_eq!(at(&["workers", "persistence", "enabeld"]), Some(6));
        assert_eq!(at(&["scheduler", "enabeld"]), Some(8));
        assert_eq!(at(&["workers", "enabeld"]), None);
    }

    #[test]
    fn merge_joins_maps_and_replaces_lists() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": 1});
        merge(&mut base, &json!({"a": {"y": [3], "z": true}, "b": {"c": 1}}));
        assert_eq!(base, json!({"a": {"x": 1, "y": [3], "z": true}, "b": {"c": 1}}));
    }

    #[test]
    fn remove_prunes_maps_it_empties() {
        let mut v = json!({"ingress": {"apiServer": {"enabled": true}}, "keep": 1});
        assert_eq!(remove(&mut v, &Path::parse("ingress.apiServer.enabled").unwrap()), Some(json!(true)));
        assert_eq!(v, json!({"keep": 1}));
    }

    #[test]
    fn yaml_merge_keys_apply_and_numeric_keys_are_refused() {
        let v = from_yaml_str("base: &b {cpu: 1}\nworkers:\n  <<: *b\n  mem: 2\n").unwrap();
        assert_eq!(v["workers"], json!({"cpu": 1, "mem": 2}));
        let err = from_yaml_str("1: one\n").unwrap_err();
        assert!(err.message.contains("not a string"), "{err}");
    }
}
