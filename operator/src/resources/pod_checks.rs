//! Deployment validation (k8s.io/kubernetes pkg/apis/core/validation) that a StatelessService's container
//! fields reach and its schema cannot express: resource names, env var sources and the names they point at.
//! Caught here, a mistake is a Degraded condition naming the field (and a `render` error), not a failed apply.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVarSource, ResourceRequirements};

use super::{InvalidSpec, deployment::CONTAINER_NAME, labels};

/// cpu, memory, ephemeral-storage, `hugepages-<size>`, or an extended resource with a domain prefix.
pub fn check_resource_name(name: &str) -> Result<(), String> {
    labels::check_qualified_name(name).map_err(|e| format!("resource name {e}"))?;
    if ["cpu", "memory", "ephemeral-storage"].contains(&name)
        || name.starts_with("hugepages-")
        || name.contains('/')
    {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a container resource: use cpu, memory, ephemeral-storage, hugepages-<size> or an \
             extended resource with a domain prefix such as example.com/gpu"
        ))
    }
}

/// Extended resources and huge pages cannot be overcommitted: the limit is required and a request may
/// only repeat it; extended resources come in whole units.
pub fn check_non_overcommittable(
    requests: &BTreeMap<String, f64>,
    limits: &BTreeMap<String, f64>,
) -> Result<(), InvalidSpec> {
    let is_extended = |name: &str| name.contains('/');
    let strict = |name: &str| is_extended(name) || name.starts_with("hugepages-");
    for (kind, amounts) in [("requests", requests), ("limits", limits)] {
        for (name, amount) in amounts {
            if is_extended(name) && amount.fract() != 0.0 {
                return Err(InvalidSpec::new(
                    format!("spec.resources.{kind}.{name}"),
                    "an extended resource must be a whole number",
                ));
            }
        }
    }
    for (name, request) in requests.iter().filter(|(name, _)| strict(name)) {
        match limits.get(name) {
            Some(limit) if limit == request => {}
            Some(_) => {
                return Err(InvalidSpec::new(
                    format!("spec.resources.requests.{name}"),
                    "must equal the limit: this resource cannot be overcommitted",
                ));
            }
            None => {
                return Err(InvalidSpec::new(
                    format!("spec.resources.limits.{name}"),
                    "Required value: set the limit (the request may only repeat it) for a resource that cannot \
                     be overcommitted",
                ));
            }
        }
    }
    Ok(())
}

/// Resource claims refer to the pod's `resourceClaims`, which a StatelessService never sets.
pub fn check_no_claims(resources: &ResourceRequirements) -> Result<(), InvalidSpec> {
    if resources.claims.as_ref().is_some_and(|claims| !claims.is_empty()) {
        return Err(InvalidSpec::new(
            "spec.resources.claims",
            "not supported: the pods of a StatelessService declare no resourceClaims for a container to use",
        ));
    }
    Ok(())
}

/// Pod fields the downward API exposes as environment variables, besides single labels and annotations.
const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

fn check_field_path(path: &str) -> Result<(), String> {
    // Single labels and annotations: metadata.labels['key'].
    for map in ["metadata.labels", "metadata.annotations"] {
        if let Some(key) = path
            .strip_prefix(map)
            .and_then(|rest| rest.strip_prefix("['"))
            .and_then(|rest| rest.strip_suffix("']"))
        {
            return labels::check_qualified_name(key);
        }
    }
    if ENV_FIELD_PATHS.contains(&path) {
        Ok(())
    } else {
        Err(format!(
            "{path:?} is not a supported field: use one of {}, metadata.labels['KEY'] or \
             metadata.annotations['KEY']",
            ENV_FIELD_PATHS.join(", ")
        ))
    }
}

fn check_container_resource(resource: &str) -> Result<(), String> {
    let supported = ["cpu", "memory", "ephemeral-storage"];
    let ok = ["limits.", "requests."].iter().any(|prefix| {
        resource
            .strip_prefix(prefix)
            .is_some_and(|name| supported.contains(&name) || name.starts_with("hugepages-"))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{resource:?} is not supported: use limits.cpu, limits.memory, limits.ephemeral-storage, \
             requests.cpu, requests.memory or requests.ephemeral-storage"
        ))
    }
}

/// A ConfigMap or Secret key: at most 253 of `[-._a-zA-Z0-9]`, not `.` or `..`.
fn check_key(key: &str) -> Result<(), String> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{key:?} is not a valid key: 1 to 253 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// The name of a referenced ConfigMap or Secret.
pub fn check_object_name(field: &str, name: &str) -> Result<(), InvalidSpec> {
    labels::check_dns_subdomain(name).map_err(|e| InvalidSpec::new(field, format!("{name:?} {e}")))
}

/// One env var's `valueFrom`, whose single source is already known to be set.
pub fn check_value_from(field: &str, from: &EnvVarSource) -> Result<(), InvalidSpec> {
    if let Some(selector) = &from.field_ref {
        if let Some(version) = selector
            .api_version
            .as_deref()
            .filter(|v| !v.is_empty() && *v != "v1")
        {
            return Err(InvalidSpec::new(
                format!("{field}.fieldRef.apiVersion"),
                format!("{version:?} is not supported: use v1"),
            ));
        }
        check_field_path(&selector.field_path)
            .map_err(|e| InvalidSpec::new(format!("{field}.fieldRef.fieldPath"), e))?;
    }
    if let Some(selector) = &from.resource_field_ref {
        if let Some(container) = selector
            .container_name
            .as_deref()
            .filter(|c| !c.is_empty() && *c != CONTAINER_NAME)
        {
            return Err(InvalidSpec::new(
                format!("{field}.resourceFieldRef.containerName"),
                format!(
                    "{container:?} is not a container of the pod; herd's container is {CONTAINER_NAME:?}"
                ),
            ));
        }
        check_container_resource(&selector.resource)
            .map_err(|e| InvalidSpec::new(format!("{field}.resourceFieldRef.resource"), e))?;
    }
    if let Some(selector) = &from.secret_key_ref {
        check_object_name(&format!("{field}.secretKeyRef.name"), &selector.name)?;
        check_key(&selector.key).map_err(|e| InvalidSpec::new(format!("{field}.secretKeyRef.key"), e))?;
    }
    if let Some(selector) = &from.config_map_key_ref {
        check_object_name(&format!("{field}.configMapKeyRef.name"), &selector.name)?;
        check_key(&selector.key).map_err(|e| InvalidSpec::new(format!("{field}.configMapKeyRef.key"), e))?;
    }
    Ok(())
}
