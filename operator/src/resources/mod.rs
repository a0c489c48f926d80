//! Pure builders: a StatelessService in, the k8s-openapi children that run it out. No client in scope.

mod deployment;
mod hpa;
pub mod image;
pub mod labels;
mod pdb;
mod pod_checks;
pub mod quantity;
mod service;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;

use crate::crd::StatelessService;

pub use deployment::CONTAINER_NAME;
pub use labels::{MANAGER as FIELD_MANAGER, selector_string};

/// Everything herd creates for one StatelessService. `apiVersion`/`kind` are part of each object's
/// serialization, so each can be server-side applied as is.
#[derive(Clone, Debug, PartialEq)]
pub struct Children {
    pub deployment: Deployment,
    pub service: Service,
    /// Present only when autoscaling is enabled.
    pub hpa: Option<HorizontalPodAutoscaler>,
    /// Absent for a single fixed replica unless the user asked for a budget.
    pub pdb: Option<PodDisruptionBudget>,
}

/// A spec that passed the schema but cannot be turned into valid children.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSpec {
    /// Path of the offending field, like `spec.resources.limits.cpu`.
    pub field: String,
    pub message: String,
}

impl InvalidSpec {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Builds the children. Pure: the same StatelessService always yields the same objects.
pub fn build(ss: &StatelessService) -> Result<Children, InvalidSpec> {
    let name = ss
        .metadata
        .name
        .as_deref()
        .ok_or_else(|| InvalidSpec::new("metadata.name", "is required"))?;
    // Children are named like the StatelessService and a Service name must be an RFC 1035 label.
    labels::check_dns1035_label(name)
        .map_err(|e| InvalidSpec::new("metadata.name", format!("{name:?} {e} (it names the Service)")))?;
    check_percent_strings(ss)?;
    Ok(Children {
        deployment: deployment::build(ss, name)?,
        service: service::build(ss, name),
        hpa: hpa::build(ss, name)?,
        pdb: pdb::build(ss, name),
    })
}

/// Deployments and PDBs read a string int-or-string only as a percentage; the CEL rule cannot tell `"5"` from
/// `5`, so a digits-only string is caught here.
fn check_percent_strings(ss: &StatelessService) -> Result<(), InvalidSpec> {
    let rollout = &ss.spec.rollout;
    let disruption = ss.spec.disruption.as_ref();
    let values = [
        ("spec.rollout.maxSurge", Some(&rollout.max_surge)),
        ("spec.rollout.maxUnavailable", Some(&rollout.max_unavailable)),
        (
            "spec.disruption.minAvailable",
            disruption.and_then(|d| d.min_available.as_ref()),
        ),
        (
            "spec.disruption.maxUnavailable",
            disruption.and_then(|d| d.max_unavailable.as_ref()),
        ),
    ];
    for (field, value) in values {
        if let Some(IntOrString::String(text)) = value
            && !text.ends_with('%')
        {
            return Err(InvalidSpec::new(
                field,
                format!(
                    "{text:?} is a string without '%': write a number ({text}) or a percentage (\"{text}%\")"
                ),
            ));
        }
    }
    Ok(())
}

/// Metadata every child shares: the StatelessService's name and namespace, herd's labels and a controller
/// owner reference. The owner reference needs the object's uid, so a manifest that never reached the API
/// server (`herd-operator render`) yields children without one.
fn child_metadata(ss: &StatelessService, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: ss.metadata.namespace.clone(),
        labels: Some(labels::common_labels(name)),
        owner_references: ss.controller_owner_ref(&()).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use crate::crd::StatelessService;

    /// A StatelessService named `web` in `shop` as the API server returns it (uid, generation), with the
    /// schema defaults filled in by deserialization.
    pub fn ss(spec: serde_json::Value) -> StatelessService {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "herd.dev/v1alpha1",
            "kind": "StatelessService",
            "metadata": {"name": "web", "namespace": "shop", "uid": "4f3a-uid", "generation": 1},
            "spec": spec,
        }))
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::ss;
    use super::*;
    use serde_json::json;

    #[test]
    fn every_child_is_named_owned_and_labelled_like_the_service() {
        let children = build(&ss(json!({
            "image": "web:1",
            "autoscaling": {"enabled": true, "targetCPUUtilizationPercentage": 60},
            "resources": {"requests": {"cpu": "100m"}}
        })))
        .unwrap();
        let metas = [
            &children.deployment.metadata,
            &children.service.metadata,
            &children.hpa.as_ref().unwrap().metadata,
            &children.pdb.as_ref().unwrap().metadata,
        ];
        for meta in metas {
            assert_eq!(meta.name.as_deref(), Some("web"));
            assert_eq!(meta.namespace.as_deref(), Some("shop"));
            let labels = meta.labels.as_ref().unwrap();
            assert_eq!(labels["app.kubernetes.io/name"], "web");
            assert_eq!(labels["app.kubernetes.io/instance"], "web");
            assert_eq!(labels["app.kubernetes.io/managed-by"], "herd-operator");
            let owners = meta.owner_references.as_ref().unwrap();
            assert_eq!(owners.len(), 1);
            assert_eq!(owners[0].kind, "StatelessService");
            assert_eq!(owners[0].api_version, "herd.dev/v1alpha1");
            assert_eq!(owners[0].name, "web");
            assert_eq!(owners[0].uid, "4f3a-uid");
            assert_eq!(owners[0].controller, Some(true));
        }
    }

    #[test]
    fn serialized_children_carry_api_version_and_kind_for_server_side_apply() {
        let children = build(&ss(json!({"image": "web:1", "replicas": 2}))).unwrap();
        let deployment = serde_json::to_value(&children.deployment).unwrap();
        assert_eq!(
            (deployment["apiVersion"].as_str(), deployment["kind"].as_str()),
            (Some("apps/v1"), Some("Deployment"))
        );
        let pdb = serde_json::to_value(children.pdb.unwrap()).unwrap();
        assert_eq!(pdb["apiVersion"], "policy/v1");
    }

    #[test]
    fn a_manifest_without_uid_builds_children_without_owner_reference() {
        let mut manifest = ss(json!({"image": "web:1"}));
        manifest.metadata.uid = None;
        let children = build(&manifest).unwrap();
        assert_eq!(children.deployment.metadata.owner_references, None);
    }

    #[test]
    fn a_name_that_cannot_name_a_service_is_invalid() {
        let mut manifest = ss(json!({"image": "web:1"}));
        manifest.metadata.name = Some("1web".into());
        let err = build(&manifest).unwrap_err();
        assert_eq!(err.field, "metadata.name");
        assert!(err.message.contains("start with a lower case letter"), "{err}");
    }

    #[test]
    fn selector_is_stable_across_spec_changes() {
        let before = build(&ss(json!({"image": "web:1", "podLabels": {"tier": "a"}}))).unwrap();
        let after = build(&ss(json!({
            "image": "web:2", "podLabels": {"tier": "b"}, "port": 9090, "replicas": 4,
            "autoscaling": {"enabled": true, "minReplicas": 2, "targetRequestsPerSecond": 10}
        })))
        .unwrap();
        assert_eq!(
            before.deployment.spec.as_ref().unwrap().selector,
            after.deployment.spec.as_ref().unwrap().selector
        );
        assert_eq!(
            before.service.spec.as_ref().unwrap().selector,
            after.service.spec.as_ref().unwrap().selector
        );
        assert_eq!(
            before.deployment.spec.unwrap().selector.match_labels.unwrap(),
            labels::selector_labels("web")
        );
    }

    #[test]
    fn a_digits_only_string_for_a_count_or_percentage_is_invalid() {
        let err = build(&ss(json!({"image": "web:1", "rollout": {"maxSurge": "25"}}))).unwrap_err();
        assert_eq!(err.field, "spec.rollout.maxSurge");
        assert!(err.message.contains("(\"25%\")"), "{err}");
        let err = build(&ss(
            json!({"image": "web:1", "disruption": {"minAvailable": "1"}}),
        ))
        .unwrap_err();
        assert_eq!(err.field, "spec.disruption.minAvailable");
        assert!(
            build(&ss(
                json!({"image": "web:1", "disruption": {"minAvailable": "1%"}})
            ))
            .is_ok()
        );
    }
}
