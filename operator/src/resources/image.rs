//! Container image references, checked against the distribution/reference grammar the kubelet uses.

/// Checks `[domain[:port]/]path[:tag][@algorithm:hex]`. The error says which part is wrong and why.
pub fn check_image_reference(reference: &str) -> Result<(), String> {
    if reference.is_empty() {
        return Err("must not be empty".to_string());
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    // A tag follows the last ':' only when that ':' comes after the last '/'; otherwise it is a registry port.
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            (&rest[..colon], Some(&rest[colon + 1..]))
        }
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if name.len() > 255 {
        return Err(format!(
            "repository name is {} characters long, at most 255 are allowed",
            name.len()
        ));
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 && is_domain_like(components[0]) {
        check_domain(components.remove(0))?;
    }
    for component in components {
        check_path_component(component)?;
    }
    Ok(())
}

/// Like docker: the first component is a registry when it has a '.' or ':' or is `localhost`.
fn is_domain_like(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = if let Some(after_bracket) = domain.strip_prefix('[') {
        let (ipv6, rest) = after_bracket
            .split_once(']')
            .ok_or_else(|| format!("registry {domain:?} opens '[' without closing it"))?;
        if ipv6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry {domain:?} has an invalid IPv6 address"));
        }
        match rest {
            "" => (None, None),
            _ => match rest.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(format!("registry {domain:?}: only ':port' may follow ']'")),
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        let valid_part = |part: &str| {
            let bytes = part.as_bytes();
            !bytes.is_empty()
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
                && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        };
        if !host.split('.').all(valid_part) {
            return Err(format!(
                "registry host {host:?} must be dot-separated parts of alphanumerics and '-', each starting and \
                 ending alphanumeric"
            ));
        }
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("registry port {port:?} must be a number"));
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or runs of `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    let err = || {
        format!(
            "repository path component {component:?} must be lower case alphanumerics, joined by '.', '_', '__' \
             or '-'"
        )
    };
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return Err(err());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(&bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return Err(err());
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let bytes = tag.as_bytes();
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    if bytes.is_empty() || bytes.len() > 128 {
        return Err(format!("tag {tag:?} must be 1 to 128 characters"));
    }
    if !bytes.first().is_some_and(word) || !bytes.iter().all(|b| word(b) || matches!(b, b'.' | b'-')) {
        return Err(format!(
            "tag {tag:?} must consist of alphanumerics, '_', '.' or '-' and must not start with '.' or '-'"
        ));
    }
    Ok(())
}

/// `algorithm:hex` with algorithm components `[A-Za-z][A-Za-z0-9]*` joined by `+._-` and hex of >= 32 digits.
fn check_digest(digest: &str) -> Result<(), String> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("digest {digest:?} must look like sha256:<hex>"))?;
    let valid_component = |c: &str| {
        let bytes = c.as_bytes();
        bytes.first().is_some_and(u8::is_ascii_alphabetic) && bytes.iter().all(u8::is_ascii_alphanumeric)
    };
    if !algorithm.split(['+', '.', '_', '-']).all(valid_component) {
        return Err(format!("digest algorithm {algorithm:?} is not valid"));
    }
    if hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "digest {digest:?} must end in at least 32 hexadecimal digits"
        ));
    }
    if algorithm == "sha256" && hex.len() != 64 {
        return Err(format!(
            "sha256 digest must have 64 hexadecimal digits, {digest:?} has {}",
            hex.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_the_reference_forms_people_use() {
        let with_digest = format!("ghcr.io/acme/shop@{SHA}");
        let tag_and_digest = format!("nginx:1.27@{SHA}");
        for ok in [
            "nginx",
            "herd-shop:dev",
            "library/nginx:1.27-alpine",
            "ghcr.io/acme/shop:v1.2.3",
            "localhost:5000/shop",
            "localhost/shop:dev",
            "registry.example.com:443/team/app__x/a-b--c:latest",
            "[::1]:5000/shop:1",
            with_digest.as_str(),
            tag_and_digest.as_str(),
        ] {
            assert!(
                check_image_reference(ok).is_ok(),
                "{ok}: {:?}",
                check_image_reference(ok)
            );
        }
    }

    #[test]
    fn rejects_malformed_references_with_the_part_named() {
        let cases = [
            ("Nginx", "repository path component"),
            ("nginx:", "tag"),
            ("nginx:-x", "tag"),
            ("acme//shop", "repository path component"),
            ("acme/shop.", "repository path component"),
            ("ghcr.io:abc/shop", "registry port"),
            ("-bad.io/shop", "registry host"),
            ("shop@sha256:abc", "hexadecimal"),
            ("shop@md5", "digest"),
            ("a/b:c:d", "repository path component"),
        ];
        for (bad, part) in cases {
            let err = check_image_reference(bad).expect_err(bad);
            assert!(err.contains(part), "{bad}: {err}");
        }
    }
}
