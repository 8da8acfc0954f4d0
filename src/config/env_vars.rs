//! The project's environment variables for every Airflow pod: a `.env` file beside devflow.toml
//! (`NAME=value` a line, as Astro users write it), then `[airflow.env]` in devflow.toml, which wins.

use std::collections::BTreeMap;
use std::path::Path;

use super::Error;
use super::assignments::{self, Form};

pub const DOT_ENV: &str = ".env";

/// Name → value, `.env` first, `[airflow.env]` over it.
pub fn read(root: &Path, table: &BTreeMap<String, toml::Value>) -> Result<BTreeMap<String, String>, Error> {
    let mut vars = match std::fs::read_to_string(root.join(DOT_ENV)) {
        Ok(text) => parse(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(io) => return Err(Error::Read { path: root.join(DOT_ENV).display().to_string(), io }),
    };
    for (name, value) in table {
        check_name(name)
            .map_err(|why| Error::Setting { message: format!("{} [airflow.env] {why}", super::FILE_NAME) })?;
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => value.to_string(),
            _ => {
                return Err(Error::Setting {
                    message: format!(
                        "{} [airflow.env] `{name}` must be a string, number or boolean: an environment variable is text",
                        super::FILE_NAME
                    ),
                });
            }
        };
        vars.insert(name.clone(), text);
    }
    Ok(vars)
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid { Ok(()) } else { Err(format!("`{name}` is not an environment variable name (letters, digits and _)")) }
}

fn parse(text: &str) -> Result<BTreeMap<String, String>, Error> {
    let form = Form { file: DOT_ENV, export: true, expected: "expected `NAME=value`", check_key: check_name };
    assignments::parse(text, &form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_env_lines_and_a_bad_name() {
        let vars = parse("# team\nexport AIRFLOW_VAR_TEAM=data\nAPI_TOKEN='t0k3n-123456'\n").unwrap();
        assert_eq!(vars["AIRFLOW_VAR_TEAM"], "data");
        assert_eq!(vars["API_TOKEN"], "t0k3n-123456");
        let error = parse("9LIVES=1\n").unwrap_err().to_string();
        assert!(error.starts_with(".env:1:1: `9LIVES` is not an environment variable name"), "{error}");
    }
}
