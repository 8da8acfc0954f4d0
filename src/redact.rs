//! Which of the user's values are secrets, and every output made safe to show: no secret value
//! from the user's files reaches a terminal, a CI log or a bug report.
//!
//! A value is secret by its key (the chart's secret keys, `password`, `token`, `*_key`… in
//! airflow.cfg, env and free-form maps), because it is the password of a URI (`scheme://user:pw@`)
//! or a Slack webhook, or because it sits in a Secret's data (`extraSecrets`). Strings that hold
//! YAML or JSON (the chart's templated `extraEnv`, `[secrets] backend_kwargs`) are read as such.

use crate::values::{Path, Value};

/// What a secret value shows as.
pub const REDACTED: &str = "<redacted>";
/// What a generated secret shows as until `up` generates it.
pub const GENERATED: &str = "<generated>";
/// What a laptop value shows as where it replaces a production secret.
pub const CHANGED: &str = "<redacted, changed>";
/// Shorter values are redacted where they sit, but not searched for in free text: a short
/// password such as `admin` would otherwise blank every word that happens to equal it.
const SHORTEST_SEARCHED: usize = 6;

/// The chart's keys whose value is a secret (values.schema.json of chart 1.22.0).
const CHART_SECRET_KEYS: &[&str] = &[
    "fernetKey",
    "apiSecretKey",
    "jwtSecret",
    "webserverSecretKey",
    "pass",
    "password",
    "postgresPassword",
    "keytabBase64Content",
    "sshKey",
];

/// Words of a key that make its value a secret (`smtp_password`, `AIRFLOW__API__SECRET_KEY`).
const SECRET_WORDS: &[&str] =
    &["password", "passwd", "pwd", "pass", "secret", "token", "credential", "credentials", "apikey"];
/// Words before `key` that make it a secret key rather than, say, a taint's key.
const KEY_KINDS: &[&str] =
    &["fernet", "secret", "api", "private", "access", "ssh", "account", "storage", "signing", "encryption", "client"];
/// A key ending in one of these names or locates a secret; its value is not one.
const NAMING_WORDS: &[&str] = &[
    "name",
    "names",
    "id",
    "ref",
    "refs",
    "path",
    "file",
    "cmd",
    "prefix",
    "arn",
    "annotations",
    "enabled",
    "mount",
    "volume",
    "region",
    "type",
    "backend",
    "length",
    "secrets",
    "url",
    "host",
    "user",
    "username",
    "class",
    "provider",
    "driver",
    "mode",
    "policy",
    "version",
    "kind",
    "format",
];

/// The secret values found in some values, longest first.
#[derive(Debug, Default, Clone)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// The secrets in a chart values tree (production values, overrides).
    pub fn of(tree: &Value) -> Self {
        let mut found = Vec::new();
        let _ = redacted(tree, &mut Vec::new(), Where::Chart, &mut found);
        let mut secrets = Secrets(found);
        secrets.tidy();
        secrets
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn extend(&mut self, other: Secrets) {
        self.0.extend(other.0);
        self.tidy();
    }

    fn tidy(&mut self) {
        self.0.retain(|s| !s.is_empty() && s != GENERATED && s != REDACTED);
        self.0.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.0.dedup();
    }

    /// Text with every secret long enough to search for replaced by `<redacted>`.
    pub fn hide(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.0.iter().filter(|s| s.chars().count() >= SHORTEST_SEARCHED) {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// A copy of a values tree fit to show: secret values redacted where they sit, and any
    /// known secret in other text.
    pub fn redact(&self, tree: &Value) -> Value {
        self.redact_at(&Path::default(), tree)
    }

    /// Like [`Secrets::redact`], for the subtree at `path` of a values tree.
    pub fn redact_at(&self, path: &Path, value: &Value) -> Value {
        let mut at: Vec<String> = path.segments().to_vec();
        let place = place_of(&at);
        let shown =
            if at.last().is_some_and(|key| secret_key(place, &at[..at.len() - 1], key)) && !is_placeholder(value) {
                Value::String(REDACTED.into())
            } else {
                redacted(value, &mut at, place, &mut Vec::new())
            };
        self.hide_strings(shown)
    }

    fn hide_strings(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.hide(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.hide_strings(v)).collect()),
            Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, self.hide_strings(v))).collect()),
            other => other,
        }
    }

    /// Whether the value at `path` of a values tree is a secret, by its key.
    pub fn is_secret_key(path: &Path) -> bool {
        let at = path.segments();
        at.last().is_some_and(|key| secret_key(place_of(at), &at[..at.len() - 1], key))
    }
}

fn is_placeholder(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s == GENERATED || s == REDACTED)
}

/// Where in the values a key sits, which decides how its name is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Where {
    /// The chart's own keys: secret only if the chart says so.
    Chart,
    /// airflow.cfg (`config.<section>.<key>`), env entries and anything free-form: by its words.
    Words,
}

fn place_of(at: &[String]) -> Where {
    if at.first().is_some_and(|k| k == "config") { Where::Words } else { Where::Chart }
}

fn secret_key(place: Where, parents: &[String], key: &str) -> bool {
    if parents.first().is_some_and(|k| k == "extraSecrets") && parents.len() >= 2 {
        // A Secret's `data`/`stringData` the chart creates.
        return true;
    }
    match place {
        Where::Chart => {
            CHART_SECRET_KEYS.contains(&key) || (key == "key" && parents.last().is_some_and(|p| p == "ssl"))
        }
        Where::Words => {
            // The chart's `secret:` list names a key of a Secret (`secretKey`), it holds none.
            key != "secretKey" && secret_words(key)
        }
    }
}

/// A command line fit to show (`--verbose`): the value of every argument whose name says it is a
/// secret redacted, given as the flag's next argument (`--password X`) or after `=`
/// (`--set auth.token=X`, `--token=X`, `API_SECRET_KEY=X`).
pub fn command_line(argv: &[&str]) -> String {
    let mut shown = Vec::with_capacity(argv.len());
    let mut value_is_secret = false;
    for arg in argv {
        shown.push(if value_is_secret { REDACTED.to_string() } else { redact_assignment(arg) });
        value_is_secret = arg.starts_with('-') && !arg.contains('=') && secret_words(arg.trim_start_matches('-'));
    }
    shown.join(" ")
}

fn redact_assignment(arg: &str) -> String {
    match arg.split_once('=') {
        Some((key, _)) if secret_words(key.trim_start_matches('-')) => format!("{key}={REDACTED}"),
        _ => arg.to_string(),
    }
}

/// `smtp_password`, `AIRFLOW__CORE__FERNET_KEY`, `apiToken` are secrets; `remote_log_conn_id`,
/// `secretName`, a taint's `key` are not.
pub fn secret_words(key: &str) -> bool {
    let words = words_of(key);
    if words.last().is_some_and(|w| NAMING_WORDS.contains(&w.as_str())) {
        return false;
    }
    words.iter().enumerate().any(|(i, word)| {
        SECRET_WORDS.contains(&word.as_str()) || (word == "key" && i > 0 && KEY_KINDS.contains(&words[i - 1].as_str()))
    })
}

/// `fernetKey` → fernet, key; `AIRFLOW__API__SECRET_KEY` → airflow, api, secret, key.
fn words_of(key: &str) -> Vec<String> {
    let mut words = vec![String::new()];
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            words.push(String::new());
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(String::new());
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        words.last_mut().expect("never empty").extend(c.to_lowercase());
    }
    words.retain(|w| !w.is_empty());
    words
}

/// A copy of `value` (at `at`) with its secrets replaced, each one found pushed on `found`.
fn redacted(value: &Value, at: &mut Vec<String>, place: Where, found: &mut Vec<String>) -> Value {
    match value {
        Value::Object(map) => {
            let env_value = map.get("name").and_then(Value::as_str).is_some_and(is_secret_env);
            let mut out = crate::values::Map::new();
            for (key, child) in map {
                let inner = if at.is_empty() && key == "config" { Where::Words } else { place };
                let secret = secret_key(inner, at, key) || (env_value && key == "value");
                let shown = if secret && !is_placeholder(child) {
                    leaf_secrets(child, found);
                    Value::String(REDACTED.into())
                } else {
                    at.push(key.clone());
                    let copy = redacted(child, at, inner, found);
                    at.pop();
                    copy
                };
                out.insert(key.clone(), shown);
            }
            Value::Object(out)
        }
        // Lists hold free-form things (env entries, containers, volumes): read by their words.
        Value::Array(items) => Value::Array(items.iter().map(|item| redacted(item, at, Where::Words, found)).collect()),
        Value::String(text) => Value::String(embedded(text, found)),
        other => other.clone(),
    }
}

/// An env entry's name that says its value is secret.
fn is_secret_env(name: &str) -> bool {
    secret_words(name)
}

/// Every string (or number) in a secret value.
fn leaf_secrets(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(s) => found.push(s.clone()),
        Value::Number(n) => found.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| leaf_secrets(v, found)),
        Value::Object(map) => map.values().for_each(|v| leaf_secrets(v, found)),
        _ => {}
    }
}

/// A string with the secrets inside it redacted: URI passwords, Slack webhooks, and the secrets
/// of the YAML or JSON it holds.
fn embedded(text: &str, found: &mut Vec<String>) -> String {
    let mut inner = Vec::new();
    uri_passwords(text, &mut inner);
    slack_webhooks(text, &mut inner);
    let looks_structured = text.contains('\n') || text.trim_start().starts_with(['{', '[']);
    if looks_structured
        && let Ok(parsed) = crate::values::from_yaml_str(text)
        && matches!(parsed, Value::Object(_) | Value::Array(_))
    {
        let _ = redacted(&parsed, &mut vec!["(text)".to_string()], Where::Words, &mut inner);
    }
    inner.retain(|s| !s.is_empty() && s != GENERATED && s != REDACTED);
    inner.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for secret in &inner {
        out = out.replace(secret.as_str(), REDACTED);
    }
    found.extend(inner);
    out
}

/// The password of each `scheme://user:password@host` in a text (percent-encoded as written).
fn uri_passwords(text: &str, found: &mut Vec<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let after = &rest[start + 3..];
        let authority_end = after.find(['/', '?', '#', ' ', '"', '\'', '\n']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        if let Some((userinfo, _host)) = authority.rsplit_once('@')
            && let Some((_user, password)) = userinfo.split_once(':')
            && !password.is_empty()
        {
            found.push(password.to_string());
        }
        rest = after;
    }
}

/// A Slack incoming webhook's path is its credential.
fn slack_webhooks(text: &str, found: &mut Vec<String>) {
    const HOOK: &str = "hooks.slack.com/services/";
    let mut rest = text;
    while let Some(start) = rest.find(HOOK) {
        let after = &rest[start + HOOK.len()..];
        let end = after.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '?' | '@')).unwrap_or(after.len());
        found.push(after[..end].to_string());
        rest = &after[end..];
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_command_line_shows_no_secret_value_of_a_flag_or_an_assignment() {
        let argv = ["helm", "upgrade", "--set", "auth.token=t0k3n", "--password", "hunter22", "--name", "x"];
        assert_eq!(
            super::command_line(&argv),
            "helm upgrade --set auth.token=<redacted> --password <redacted> --name x"
        );
        assert_eq!(
            super::command_line(&["kind", "--api-key=abc", "AIRFLOW__API__SECRET_KEY=s"]),
            "kind --api-key=<redacted> AIRFLOW__API__SECRET_KEY=<redacted>"
        );
        assert_eq!(
            super::command_line(&["kind", "create", "cluster", "--name", "dev", "--config", "-"]),
            "kind create cluster --name dev --config -"
        );
    }

    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_found_by_key_by_uri_and_inside_templated_text() {
        let values = json!({
            "fernetKey": "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg=",
            "fernetKeySecretName": "prod-fernet",
            "data": {"metadataConnection": {"user": "airflow", "pass": "db-Pa55word"}},
            "config": {"smtp": {"smtp_password": "SG.abcdef123456", "smtp_user": "apikey"},
                       "logging": {"remote_log_conn_id": "aws_default"}},
            "env": [{"name": "AIRFLOW_CONN_WAREHOUSE", "value": "postgresql://etl:Wh-9dK2p@dwh:5432/x"},
                    {"name": "DBT_API_TOKEN", "value": "dbtu_0123456789"},
                    {"name": "GOOGLE_CLOUD_PROJECT", "value": "acme"}],
            "secret": [{"envName": "AIRFLOW_CONN_SLACK", "secretName": "slack-conn", "secretKey": "uri"}],
            "extraEnv": "- name: AIRFLOW__SMTP__SMTP_PASSWORD\n  value: 'hunter2-long'\n",
            "tolerations": [{"key": "dedicated", "value": "airflow"}],
        });
        let secrets = Secrets::of(&values);
        let mut found = secrets.0.clone();
        found.sort();
        assert_eq!(
            found,
            [
                "SG.abcdef123456",
                "Wh-9dK2p",
                "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg=",
                "db-Pa55word",
                "dbtu_0123456789",
                "hunter2-long"
            ]
        );
        let shown = secrets.redact(&values);
        assert_eq!(shown["fernetKey"], REDACTED);
        assert_eq!(shown["fernetKeySecretName"], "prod-fernet");
        assert_eq!(shown["env"][0]["value"], "postgresql://etl:<redacted>@dwh:5432/x");
        assert_eq!(shown["env"][2]["value"], "acme");
        assert_eq!(shown["secret"][0]["secretKey"], "uri");
        assert_eq!(shown["tolerations"][0]["key"], "dedicated");
        assert!(!shown.to_string().contains("hunter2-long"), "{shown}");
        assert_eq!(shown["config"]["logging"]["remote_log_conn_id"], "aws_default");
    }

    #[test]
    fn key_words_tell_secrets_from_their_names() {
        for secret in ["smtp_password", "AIRFLOW__API__SECRET_KEY", "fernet_key", "apiToken", "AWS_SECRET_ACCESS_KEY"] {
            assert!(secret_words(secret), "{secret}");
        }
        for plain in [
            "remote_log_conn_id",
            "secretName",
            "key",
            "SLACK_SECRET_NAME",
            "encrypt_s3_logs",
            "backend",
            "secretProviderClass",
        ] {
            assert!(!secret_words(plain), "{plain}");
        }
        assert!(Secrets::is_secret_key(&Path::parse("data.metadataConnection.pass").unwrap()));
        assert!(!Secrets::is_secret_key(&Path::parse("data.metadataSecretName").unwrap()));
    }
}
