//! `.devflow/secrets.env`: the values of the Secrets and ConfigMaps devflow stands in for, one
//! `name/key=value` a line (`#` starts a comment). Git-ignored and 0600, as a secret file must be.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Error;
use crate::plan::standins::FILE;

/// The file's entries; none when it does not exist.
pub fn read(root: &Path) -> Result<BTreeMap<String, String>, Error> {
    let path = root.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(io) => return Err(Error::Read { path: path.display().to_string(), io }),
    };
    let mode = path.metadata().map(|m| m.permissions().mode() & 0o777).unwrap_or(0o600);
    if mode & 0o077 != 0 {
        return Err(Error::Setting {
            message: format!("{FILE} holds secrets but others can read it (mode {mode:o})\n  run `chmod 600 {FILE}`"),
        });
    }
    parse(&text)
}

fn parse(text: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut entries = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |message: String| Error::At { file: FILE.to_string(), line: i + 1, column: 1, message };
        let Some((entry, value)) = line.split_once('=') else {
            return Err(at("expected `name/key=value` (the Secret or ConfigMap's name, its key, the value)".into()));
        };
        let entry = entry.trim();
        if !entry.split_once('/').is_some_and(|(name, key)| !name.is_empty() && !key.is_empty() && !key.contains('/')) {
            return Err(at(format!(
                "`{entry}` is not `name/key`: write the Secret or ConfigMap's name, a slash, then its key"
            )));
        }
        let value = value.trim();
        let unquoted =
            ['"', '\''].iter().find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q))).unwrap_or(value);
        entries.insert(entry.to_string(), unquoted.to_string());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_name_slash_key_and_a_bad_line_is_named() {
        let entries = parse("# slack\nslack-conn/uri = 'slack://:t@/'\n\nextra/EMPTY=\n").unwrap();
        assert_eq!(entries["slack-conn/uri"], "slack://:t@/");
        assert_eq!(entries["extra/EMPTY"], "");
        let error = parse("ok/k=1\nslack-conn=x\n").unwrap_err().to_string();
        assert!(error.starts_with(".devflow/secrets.env:2:1: `slack-conn` is not `name/key`"), "{error}");
    }
}
