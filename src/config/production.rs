//! The team's production values files (`values`, `--values`): read, checked against the chart's
//! schema (and, at the top level, which the schema leaves open, against the keys the chart knows),
//! then merged in order.

use std::path::{Path, PathBuf};

use super::Error;
use crate::schemas::ChartSchema;
use crate::values::{self, Value};
use crate::words;

pub fn load(files: &[PathBuf], cwd: &Path, chart: ChartSchema) -> Result<Value, Error> {
    let mut merged = Value::Object(values::Map::new());
    for file in files {
        values::merge(&mut merged, &load_one(file, cwd, chart)?);
    }
    Ok(merged)
}

fn load_one(file: &Path, cwd: &Path, chart: ChartSchema) -> Result<Value, Error> {
    let shown = file.strip_prefix(cwd).unwrap_or(file).display().to_string();
    let at = |line: Option<usize>, message: String| Error::Setting {
        message: match line {
            Some(line) => format!("{shown}:{line}: {message}"),
            None => format!("{shown}: {message}"),
        },
    };
    let text = std::fs::read_to_string(file).map_err(|e| at(None, format!("cannot read it: {e}")))?;
    let value = values::from_yaml_str(&text).map_err(|e| {
        let message = format!(
            "this is not YAML: {}\n  production values are the YAML file you pass to `helm upgrade -f`",
            e.message
        );
        match e.location {
            Some((line, column)) => Error::Setting { message: format!("{shown}:{line}:{column}: {message}") },
            None => at(None, message),
        }
    })?;
    let value = match value {
        Value::Object(map) => Value::Object(map),
        Value::Null => Value::Object(values::Map::new()),
        other => {
            let kind = match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                _ => "a scalar",
            };
            return Err(at(
                None,
                format!(
                    "the document is {kind}\n  expected a mapping of chart values, e.g. `executor: CeleryExecutor`"
                ),
            ));
        }
    };

    let version = chart.version;
    let chart = chart.schema;
    if let Some((path, known)) = chart.unknown_key(&value) {
        let key = path.join(".");
        let near = words::did_you_mean(path.last().expect("a key"), known.iter().map(String::as_str));
        return Err(at(
            values::line_of(&text, &path),
            format!(
                "`{key}` is not a value the Airflow chart {version} knows{near}\n  {}; fix the key or remove it",
                if path.len() == 1 { "Helm would ignore it silently" } else { "Helm would refuse these values" }
            ),
        ));
    }
    // The schema's messages quote the value they refuse: a secret among them stays hidden.
    let secrets = crate::redact::Secrets::of(&value);
    let problems: Vec<String> = chart.problems(&value, 5).iter().map(|p| secrets.hide(p)).collect();
    if !problems.is_empty() {
        return Err(at(
            None,
            format!("these values do not fit the Airflow chart {version}'s schema:\n  {}", problems.join("\n  ")),
        ));
    }
    Ok(value)
}
