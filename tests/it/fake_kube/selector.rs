//! `labelSelector` and `fieldSelector`. kube-core has the selector's types and its matching
//! (`kube::core::Selector`, `SelectorExt`), not a parser of the text form: the parser is here,
//! after apimachinery's `pkg/labels/selector.go` (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`).

use std::collections::{BTreeMap, BTreeSet};

use kube::core::{Expression, Selector, SelectorExt};
use serde_json::Value;

use super::api::Query;

/// Whether an object passes the query's label and field selectors.
pub(super) fn selected(obj: &Value, q: &Query) -> bool {
    let labels: BTreeMap<String, String> = obj["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    let by_labels = given(q, "labelSelector").is_none_or(|text| parse(text).matches(&labels));
    let by_fields = given(q, "fieldSelector").is_none_or(|text| {
        let selector = parse(text);
        let fields = keys(&selector).into_iter().filter_map(|k| field(obj, &k).map(|v| (k, v))).collect();
        selector.matches(&fields)
    });
    by_labels && by_fields
}

fn given<'q>(q: &'q Query, key: &str) -> Option<&'q str> {
    q.get(key).filter(|s| !s.is_empty())
}

fn parse(text: &str) -> Selector {
    terms(text).iter().map(|t| expression(t)).collect()
}

/// The comma-separated terms, a set's commas inside its parentheses kept.
fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
}

fn expression(term: &str) -> Expression {
    let set = |s: &str| -> BTreeSet<String> {
        s.trim().trim_start_matches('(').trim_end_matches(')').split(',').map(|x| x.trim().to_string()).collect()
    };
    let pair = |k: &str, v: &str| (k.trim().to_string(), v.trim().to_string());
    if let Some((k, v)) = term.split_once("!=") {
        let (k, v) = pair(k, v);
        Expression::NotEqual(k, v)
    } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        let (k, v) = pair(k, v);
        Expression::Equal(k, v)
    } else if let Some((k, v)) = term.split_once(" notin ") {
        Expression::NotIn(k.trim().to_string(), set(v))
    } else if let Some((k, v)) = term.split_once(" in ") {
        Expression::In(k.trim().to_string(), set(v))
    } else if let Some(k) = term.strip_prefix('!') {
        Expression::DoesNotExist(k.trim().to_string())
    } else {
        Expression::Exists(term.to_string())
    }
}

fn keys(selector: &Selector) -> Vec<String> {
    selector
        .clone()
        .into_iter()
        .map(|e| match e {
            Expression::In(k, _)
            | Expression::NotIn(k, _)
            | Expression::Equal(k, _)
            | Expression::NotEqual(k, _)
            | Expression::Exists(k)
            | Expression::DoesNotExist(k) => k,
        })
        .collect()
}

/// A field of an object by its dotted path (`metadata.name`, `status.phase`), as text.
fn field(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}
