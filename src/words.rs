//! How devflow words a mistake for a person: the likely typo behind an unknown name ("did you
//! mean"), and serde's messages in the user's words (keys, values, numbers).

/// The closest of `choices` to `word`, when it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, choices: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    choices
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` for the closest of `choices`, or nothing when none is close: the tail of
/// a message that names an unknown word.
pub fn did_you_mean<'a>(word: &str, choices: impl IntoIterator<Item = &'a str>) -> String {
    nearest(word, choices).map(|near| format!("; did you mean `{near}`?")).unwrap_or_default()
}

/// The words between backticks in serde's lists of expected fields or variants.
pub fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Turns serde's wording (fields, variants, Rust types) into the user's (keys, values, numbers).
/// `path` is the dotted key the message is about, empty when it is not known.
pub fn describe_serde_error(path: &str, message: &str) -> String {
    let (table, key) = match path.rsplit_once('.') {
        Some((table, key)) => (format!("in [{table}]"), key),
        None => ("at the top level".to_string(), path),
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (unknown, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let choices = backticked(expected);
        let near = did_you_mean(unknown, choices.iter().copied());
        return format!("unknown key `{unknown}` {table}{near}\n  expected one of: {}", choices.join(", "));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (unknown, expected) = rest.split_once('`').unwrap_or((rest, ""));
        return format!("`{key}` cannot be `{unknown}`\n  expected one of: {}", backticked(expected).join(", "));
    }
    let friendly = message
        .replace("expected u16", "expected a whole number from 1 to 65535")
        .replace("expected u8", "expected a whole number")
        .replace("expected a sequence", "expected a list")
        .replace("expected a map", "expected a table")
        .replace("invalid type: ", "")
        .replace("invalid value: ", "");
    format!("`{key}` {table}: {friendly}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        assert_eq!(nearest("provder", ["provider", "workers"]), Some("provider"));
        assert_eq!(nearest("zzz", ["provider", "workers"]), None);
        assert_eq!(did_you_mean("schedular", ["scheduler"]), "; did you mean `scheduler`?");
        assert_eq!(did_you_mean("zzz", ["scheduler"]), "");
    }

    #[test]
    fn serde_speaks_of_keys_and_tables() {
        let unknown =
            describe_serde_error("cluster.provder", "unknown field `provder`, expected `provider` or `workers`");
        assert_eq!(
            unknown,
            "unknown key `provder` in [cluster]; did you mean `provider`?\n  expected one of: provider, workers"
        );
        assert_eq!(
            describe_serde_error("cluster.ui_port", "invalid type: string \"x\", expected u16"),
            "`ui_port` in [cluster]: string \"x\", expected a whole number from 1 to 65535"
        );
    }
}
