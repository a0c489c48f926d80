//! Kubernetes label selectors in their string form (`a=b,c!=d,e in (x,y),f notin (z),g,!h`).

use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// A selector string that is not valid Kubernetes label-selector syntax.
#[derive(Debug, Error, PartialEq)]
#[error("invalid label selector {selector:?}: {message}")]
pub struct SelectorError {
    pub selector: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed selector; the empty selector matches everything, as in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let fail = |message: String| SelectorError {
            selector: text.to_string(),
            message,
        };
        let mut requirements = Vec::new();
        for term in split_terms(text).map_err(|m| fail(m.to_string()))? {
            let term = term.trim();
            if term.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(fail("empty requirement between commas".to_string()));
            }
            requirements.push(parse_term(term).map_err(fail)?);
        }
        Ok(Selector { requirements })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// Splits on commas that are not inside a `( … )` value set.
fn split_terms(text: &str) -> Result<Vec<&str>, &'static str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err("nested parentheses"),
            ')' if depth == 1 => depth = 0,
            ')' => return Err("unbalanced ')'"),
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed '('");
    }
    terms.push(&text[start..]);
    Ok(terms)
}

fn parse_term(term: &str) -> Result<Requirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(check_key(key.trim())?));
    }
    for (op, build) in [
        ("!=", Requirement::NotEquals as fn(String, String) -> Requirement),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = term.split_once(op) {
            return Ok(build(check_key(key.trim())?, check_value(value.trim())?));
        }
    }
    if let Some(open) = term.find('(') {
        let head = term[..open].trim_end();
        let values = term[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("{term:?}: text after ')'"))?
            .split(',')
            .map(|v| check_value(v.trim()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if let Some(key) = head.strip_suffix(" notin") {
            return Ok(Requirement::NotIn(check_key(key.trim())?, values));
        }
        if let Some(key) = head.strip_suffix(" in") {
            return Ok(Requirement::In(check_key(key.trim())?, values));
        }
        return Err(format!("{term:?}: expected 'in' or 'notin' before '('"));
    }
    Ok(Requirement::Exists(check_key(term)?))
}

fn check_key(key: &str) -> Result<String, String> {
    let valid = !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(key.to_string())
    } else {
        Err(format!("{key:?} is not a label key"))
    }
}

fn check_value(value: &str) -> Result<String, String> {
    let valid = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not a label value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_hpa_selector_of_a_stateless_service_matches_its_pods_only() {
        let selector =
            Selector::parse("app.kubernetes.io/instance=shop,app.kubernetes.io/name=shop").unwrap();
        let shop = labels(&[
            ("app.kubernetes.io/name", "shop"),
            ("app.kubernetes.io/instance", "shop"),
        ]);
        let other = labels(&[
            ("app.kubernetes.io/name", "shop"),
            ("app.kubernetes.io/instance", "shop2"),
        ]);
        assert!(selector.matches(&shop));
        assert!(!selector.matches(&other));
    }

    #[test]
    fn every_operator_works() {
        let pod = labels(&[("tier", "web"), ("env", "prod"), ("canary", "")]);
        for (text, expected) in [
            ("", true),
            ("tier==web", true),
            ("tier!=web", false),
            ("missing!=x", true),
            ("env in (prod, staging)", true),
            ("env notin (prod)", false),
            ("missing notin (prod)", true),
            ("missing in (prod)", false),
            ("canary", true),
            ("!canary", false),
            ("!missing", true),
            ("tier=web,env in (dev,prod),!missing", true),
            ("tier=web,env=dev", false),
        ] {
            assert_eq!(Selector::parse(text).unwrap().matches(&pod), expected, "{text}");
        }
    }

    #[test]
    fn bad_selectors_are_refused_with_the_text() {
        for text in [
            "a=b,,c=d",
            "env in (prod",
            "env in prod)",
            "env within (x)",
            "a b=c",
            "a=b c",
        ] {
            let err = Selector::parse(text).unwrap_err();
            assert_eq!(err.selector, text);
        }
    }
}
