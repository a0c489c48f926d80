//! herd's own labels on every child, the pod selector, and the Kubernetes name/label grammars.

use std::collections::BTreeMap;

/// Label carrying the StatelessService name; part of the pod selector.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// Label carrying the StatelessService name; part of the pod selector.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Label saying who manages the object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`], also the server-side apply field manager.
pub const MANAGER: &str = "herd-operator";

/// The pod selector of a StatelessService. It depends on the name only, so it never changes over the
/// object's life (a Deployment's selector is immutable).
pub fn selector_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_string(), name.to_string()),
        (INSTANCE_LABEL.to_string(), name.to_string()),
    ])
}

/// The labels herd puts on every child and on the pods.
pub fn common_labels(name: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(name);
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGER.to_string());
    labels
}

/// The pod selector in `key=value,...` form, for `status.selector` (the scale subresource reads it).
pub fn selector_string(name: &str) -> String {
    selector_labels(name)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters of `[A-Za-z0-9._-]` that starts and ends alphanumeric.
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        check_dns_subdomain(prefix).map_err(|e| format!("prefix {prefix:?} of key {key:?}: {e}"))?;
    }
    if name.is_empty() || name.len() > 63 {
        return Err(format!("key {key:?}: the name part must be 1 to 63 characters"));
    }
    if !is_label_body(name) {
        return Err(format!(
            "key {key:?}: the name part must consist of alphanumerics, '-', '_' or '.', and start and end \
             with an alphanumeric"
        ));
    }
    Ok(())
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9._-]` starting and ending alphanumeric.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 63 {
        return Err(format!("value {value:?} is longer than 63 characters"));
    }
    if !is_label_body(value) {
        return Err(format!(
            "value {value:?} must consist of alphanumerics, '-', '_' or '.', and start and end with an \
             alphanumeric"
        ));
    }
    Ok(())
}

fn is_label_body(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// RFC 1123 label: 1 to 63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn check_dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be 1 to 63 characters".to_string());
    }
    let bytes = s.as_bytes();
    let ok_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.iter().all(ok_char) || !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return Err(
            "must consist of lower case alphanumerics or '-', and start and end with an alphanumeric"
                .to_string(),
        );
    }
    Ok(())
}

/// RFC 1035 label (what a Service name must be): an RFC 1123 label that starts with a letter.
pub fn check_dns1035_label(s: &str) -> Result<(), String> {
    check_dns_label(s)?;
    if !s.as_bytes().first().is_some_and(u8::is_ascii_lowercase) {
        return Err("must start with a lower case letter".to_string());
    }
    Ok(())
}

/// RFC 1123 subdomain: at most 253 characters, dot-separated RFC 1123 labels.
pub fn check_dns_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be 1 to 253 characters".to_string());
    }
    for part in s.split('.') {
        check_dns_label(part).map_err(|e| format!("each dot-separated part {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_string_lists_both_selector_labels() {
        assert_eq!(
            selector_string("web"),
            "app.kubernetes.io/instance=web,app.kubernetes.io/name=web"
        );
    }

    #[test]
    fn qualified_names() {
        for ok in ["team", "example.com/team", "a.b-c_d", "app.kubernetes.io/part-of"] {
            assert!(check_qualified_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-team",
            "team-",
            "Example.com/team",
            "a/b/c",
            "x/",
            &"a".repeat(64),
        ] {
            assert!(check_qualified_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_values() {
        for ok in ["", "v1", "1.2.3", "a_b-c"] {
            assert!(check_label_value(ok).is_ok(), "{ok}");
        }
        for bad in ["-v1", "v1.", "a b", "ü", &"a".repeat(64)] {
            assert!(check_label_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_names() {
        assert!(check_dns1035_label("web-1").is_ok());
        assert!(check_dns1035_label("1web").is_err());
        assert!(check_dns_label("1web").is_ok());
        assert!(check_dns_label("Web").is_err());
        assert!(check_dns_subdomain("shop.example-1.com").is_ok());
        assert!(check_dns_subdomain("shop..com").is_err());
    }
}
