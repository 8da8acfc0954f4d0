//! The `KEY=value` files devflow reads beside devflow.toml (`.env`, `.devflow/secrets.env`): one
//! assignment a line, blank lines and `#` comments skipped, a value trimmed and unquoted once (`'…'`
//! or `"…"`), each mistake reported at its file and line.

use std::collections::BTreeMap;

use super::Error;

/// How one such file is written.
pub(super) struct Form<'a> {
    pub file: &'a str,
    /// A shell's `export ` before the key is allowed (`.env` files are often sourced).
    pub export: bool,
    /// What a line must look like, said when one has no `=`.
    pub expected: &'a str,
    /// Says why a key is not one, if it is not.
    pub check_key: fn(&str) -> Result<(), String>,
}

pub(super) fn parse(text: &str, form: &Form<'_>) -> Result<BTreeMap<String, String>, Error> {
    let mut entries = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = if form.export { line.strip_prefix("export ").unwrap_or(line) } else { line };
        let at = |message: String| Error::At { file: form.file.to_string(), line: i + 1, column: 1, message };
        let Some((key, value)) = line.split_once('=') else {
            return Err(at(form.expected.to_string()));
        };
        let key = key.trim();
        (form.check_key)(key).map_err(at)?;
        let value = value.trim();
        let unquoted =
            ['"', '\''].iter().find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q))).unwrap_or(value);
        entries.insert(key.to_string(), unquoted.to_string());
    }
    Ok(entries)
}
