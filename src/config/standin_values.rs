//! `.devflow/secrets.env`: the values of the Secrets and ConfigMaps devflow stands in for, one
//! `name/key=value` a line (`#` starts a comment). Git-ignored and 0600, as a secret file must be.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Error;
use super::assignments::{self, Form};

/// Where the stand-ins' values are: beside devflow.toml, git-ignored, 0600.
pub const FILE: &str = ".devflow/secrets.env";

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
    let form = Form {
        file: FILE,
        export: false,
        expected: "expected `name/key=value` (the Secret or ConfigMap's name, its key, the value)",
        check_key: check_entry,
    };
    assignments::parse(text, &form)
}

/// `name/key`: the Secret or ConfigMap's name, a slash, then one of its keys.
fn check_entry(entry: &str) -> Result<(), String> {
    if entry.split_once('/').is_some_and(|(name, key)| !name.is_empty() && !key.is_empty() && !key.contains('/')) {
        Ok(())
    } else {
        Err(format!("`{entry}` is not `name/key`: write the Secret or ConfigMap's name, a slash, then its key"))
    }
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
