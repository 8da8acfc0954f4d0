//! `devflow.toml` as written: its tables with the span of every value, and the text it came from,
//! so that every mistake is reported at its file, line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Delivery, Error, Provider};
use crate::words;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub name: Option<Spanned<String>>,
    pub dags: Option<Spanned<String>>,
    pub plugins: Option<Spanned<String>>,
    pub requirements: Option<Spanned<String>>,
    #[serde(default)]
    pub cluster: ClusterTable,
    #[serde(default)]
    pub airflow: AirflowTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTable {
    pub provider: Option<Provider>,
    pub kubernetes: Option<Spanned<String>>,
    pub workers: Option<Spanned<u8>>,
    pub ui_port: Option<Spanned<u16>>,
    pub context: Option<Spanned<String>>,
    pub namespace: Option<Spanned<String>>,
    pub dag_delivery: Option<Delivery>,
    pub storage_class: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AirflowTable {
    pub profile: Option<String>,
    pub chart_version: Option<String>,
    pub chart: Option<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub executor: Option<Spanned<String>>,
    #[serde(default)]
    pub values: Vec<Spanned<String>>,
    #[serde(default)]
    pub set: toml::Table,
    #[serde(default)]
    pub config: BTreeMap<String, Spanned<toml::Table>>,
    /// Production endpoints and sidecars to keep, by name (an env var, a config key, a container).
    #[serde(default)]
    pub keep: Vec<String>,
    /// Environment variables for every Airflow pod.
    #[serde(default)]
    pub env: BTreeMap<String, toml::Value>,
}

/// The text of devflow.toml, to turn a byte span into a line and column.
pub struct Source<'a> {
    pub name: String,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Error {
        let (line, column) = line_column(self.text, span.start);
        Error::At { file: self.name.clone(), line, column, message: message.into() }
    }

    pub fn parse(&self) -> Result<ProjectFile, Error> {
        let deserializer = toml::Deserializer::parse(self.text)
            .map_err(|e| self.at(e.span().unwrap_or(0..0), format!("this is not valid TOML: {}", e.message())))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = key_path(&e.path().to_string());
            let inner = e.into_inner();
            self.at(inner.span().unwrap_or(0..0), words::describe_serde_error(&path, inner.message()))
        })
    }
}

pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `cluster.ui_port.$__serde_spanned_private_value` → `cluster.ui_port`.
fn key_path(path: &str) -> String {
    path.split('.').filter(|s| !s.starts_with("$__")).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_from_one() {
        assert_eq!(line_column("a = 1\nbb = 2\n", 6), (2, 1));
        assert_eq!(line_column("a = 1\nbb = 2\n", 11), (2, 6));
    }
}
