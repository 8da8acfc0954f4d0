//! The one change devflow makes to devflow.toml itself: `devflow upgrade` writing the versions it
//! upgraded to into [airflow], every other line (and comment) left as the user wrote it.

/// `text` with `key = "value"` in its [airflow] table: the line replaced where the key is, else
/// added under the table's header; a file without [airflow] gets the table at its end.
pub fn set_airflow_key(text: &str, key: &str, value: &str) -> String {
    let assignment = format!("{key} = {}", toml::Value::from(value));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = |line: &str| line.trim_start().starts_with('[');
    let is_airflow = |line: &str| line.split('#').next().is_some_and(|l| l.trim() == "[airflow]");
    let Some(start) = lines.iter().position(|l| is_airflow(l)) else {
        if lines.last().is_some_and(|l| !l.trim().is_empty()) {
            lines.push(String::new());
        }
        lines.extend(["[airflow]".to_string(), assignment]);
        return lines.join("\n") + "\n";
    };
    let end = lines[start + 1..].iter().position(|l| header(l)).map_or(lines.len(), |i| start + 1 + i);
    let assigns = |line: &str| line.split_once('=').is_some_and(|(k, _)| k.trim() == key);
    match lines[start + 1..end].iter().position(|l| assigns(l)) {
        Some(i) => lines[start + 1 + i] = assignment,
        None => lines.insert(start + 1, assignment),
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::set_airflow_key;

    #[test]
    fn the_key_is_replaced_in_airflow_only_and_the_rest_is_kept() {
        let text = "name = \"x\"\n# my comment\n[airflow]\nprofile = \"local\"\nversion = \"3.2.2\"  # old\n\n[airflow.set]\nversion = \"keep\"\n";
        assert_eq!(
            set_airflow_key(text, "version", "3.3.2"),
            "name = \"x\"\n# my comment\n[airflow]\nprofile = \"local\"\nversion = \"3.3.2\"\n\n[airflow.set]\nversion = \"keep\"\n"
        );
        assert_eq!(
            set_airflow_key("[airflow]\nprofile = \"local\"\n[cluster]\n", "chart_version", "1.21.0"),
            "[airflow]\nchart_version = \"1.21.0\"\nprofile = \"local\"\n[cluster]\n"
        );
        assert_eq!(
            set_airflow_key("name = \"x\"\n", "version", "3.3.2"),
            "name = \"x\"\n\n[airflow]\nversion = \"3.3.2\"\n"
        );
    }
}
