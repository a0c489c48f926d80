//! The Deployment: one container, rolling updates that keep capacity, probes and a drain before stop.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction, Lifecycle, LifecycleHandler, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SleepAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{InvalidSpec, child_metadata, image, labels, pod_checks, quantity};
use crate::crd::StatelessService;

/// Name of the one container in every pod (`kubectl logs -c app`).
pub const CONTAINER_NAME: &str = "app";
/// Name of the container port; the Service and the probes refer to it by name.
pub const PORT_NAME: &str = "http";

pub(super) fn build(ss: &StatelessService, name: &str) -> Result<Deployment, InvalidSpec> {
    let spec = &ss.spec;
    image::check_image_reference(&spec.image).map_err(|e| InvalidSpec::new("spec.image", e))?;
    if let Some(resources) = &spec.resources {
        check_resources(resources)?;
    }
    check_env(spec.env.as_deref().unwrap_or_default())?;
    check_env_from(spec.env_from.as_deref().unwrap_or_default())?;
    if let Some(account) = &spec.service_account_name {
        labels::check_dns_subdomain(account)
            .map_err(|e| InvalidSpec::new("spec.serviceAccountName", format!("{account:?} {e}")))?;
    }
    let pod_labels = pod_labels(spec.pod_labels.as_ref(), name)?;
    if let Some(annotations) = &spec.pod_annotations {
        check_annotations(annotations)?;
    }

    let rollout = &spec.rollout;
    let container = Container {
        name: CONTAINER_NAME.to_string(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().to_string()),
        command: spec.command.clone(),
        args: spec.args.clone(),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.to_string()),
            container_port: spec.port,
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        }]),
        env: spec.env.clone(),
        env_from: spec.env_from.clone(),
        resources: spec.resources.clone(),
        readiness_probe: Some(http_probe(&spec.probes.readiness_path, 5)),
        liveness_probe: Some(http_probe(&spec.probes.liveness_path, 10)),
        // The sleep keeps the old pod serving until every endpoint watcher dropped it; without it a
        // rollout loses the requests routed to the pod between SIGTERM and the endpoint update.
        lifecycle: (rollout.drain_delay_seconds > 0).then(|| Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: i64::from(rollout.drain_delay_seconds),
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        ..Container::default()
    };

    Ok(Deployment {
        metadata: child_metadata(ss, name),
        spec: Some(DeploymentSpec {
            // Under autoscaling the HPA owns the count; a value here would fight it on every apply.
            replicas: if spec.autoscaling.enabled {
                None
            } else {
                spec.replicas
            },
            selector: LabelSelector {
                match_labels: Some(labels::selector_labels(name)),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(rollout.max_surge.clone()),
                    max_unavailable: Some(rollout.max_unavailable.clone()),
                }),
            }),
            progress_deadline_seconds: Some(rollout.progress_deadline_seconds),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: spec.pod_annotations.clone(),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    service_account_name: spec.service_account_name.clone(),
                    termination_grace_period_seconds: Some(i64::from(
                        rollout.termination_grace_period_seconds,
                    )),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    })
}

fn http_probe(path: &str, period_seconds: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String(PORT_NAME.to_string()),
            scheme: Some("HTTP".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(1),
        failure_threshold: Some(3),
        success_threshold: Some(1),
        ..Probe::default()
    }
}

/// The user's pod labels plus herd's. A user label may repeat one of herd's with the same value, but not
/// change it: that would move pods out of their own selector.
fn pod_labels(
    user: Option<&BTreeMap<String, String>>,
    name: &str,
) -> Result<BTreeMap<String, String>, InvalidSpec> {
    let own = labels::common_labels(name);
    let mut merged = BTreeMap::new();
    for (key, value) in user.into_iter().flatten() {
        let field = format!("spec.podLabels[{key}]");
        labels::check_qualified_name(key).map_err(|e| InvalidSpec::new(&field, e))?;
        labels::check_label_value(value).map_err(|e| InvalidSpec::new(&field, e))?;
        if let Some(ours) = own.get(key)
            && ours != value
        {
            return Err(InvalidSpec::new(
                field,
                format!("herd sets this label to {ours:?}; it cannot be overridden"),
            ));
        }
        merged.insert(key.clone(), value.clone());
    }
    merged.extend(own);
    Ok(merged)
}

/// The API server caps all annotations of an object at 256 KiB together.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

fn check_annotations(annotations: &BTreeMap<String, String>) -> Result<(), InvalidSpec> {
    let mut total = 0;
    for (key, value) in annotations {
        labels::check_qualified_name(key)
            .map_err(|e| InvalidSpec::new(format!("spec.podAnnotations[{key}]"), e))?;
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATIONS_BYTES {
        return Err(InvalidSpec::new(
            "spec.podAnnotations",
            format!("annotations total {total} bytes, at most {MAX_ANNOTATIONS_BYTES} are allowed"),
        ));
    }
    Ok(())
}

fn check_resources(resources: &ResourceRequirements) -> Result<(), InvalidSpec> {
    let parse_all =
        |kind: &str,
         map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            let mut parsed = BTreeMap::new();
            for (resource, value) in map.into_iter().flatten() {
                let field = format!("spec.resources.{kind}.{resource}");
                pod_checks::check_resource_name(resource).map_err(|e| InvalidSpec::new(&field, e))?;
                let amount = quantity::parse_quantity(&value.0).map_err(|e| InvalidSpec::new(&field, e))?;
                if amount < 0.0 {
                    return Err(InvalidSpec::new(
                        field,
                        format!("{:?} must not be negative", value.0),
                    ));
                }
                parsed.insert(resource.clone(), amount);
            }
            Ok(parsed)
        };
    let requests = parse_all("requests", resources.requests.as_ref())?;
    let limits = parse_all("limits", resources.limits.as_ref())?;
    pod_checks::check_non_overcommittable(&requests, &limits)?;
    pod_checks::check_no_claims(resources)?;
    for (resource, request) in &requests {
        if let Some(limit) = limits.get(resource)
            && request > limit
        {
            return Err(InvalidSpec::new(
                format!("spec.resources.requests.{resource}"),
                format!(
                    "request must not exceed the limit ({})",
                    limit_text(resources, resource)
                ),
            ));
        }
    }
    Ok(())
}

fn limit_text(resources: &ResourceRequirements, resource: &str) -> String {
    resources
        .limits
        .as_ref()
        .and_then(|l| l.get(resource))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

/// Classic env var names: `[-._a-zA-Z][-._a-zA-Z0-9]*`, which every supported Kubernetes accepts.
fn check_env(env: &[EnvVar]) -> Result<(), InvalidSpec> {
    for (i, var) in env.iter().enumerate() {
        let field = format!("spec.env[{i}].name");
        check_env_name(&var.name).map_err(|e| InvalidSpec::new(field, e))?;
        if var.value.as_deref().is_some_and(|v| !v.is_empty()) && var.value_from.is_some() {
            return Err(InvalidSpec::new(
                format!("spec.env[{i}]"),
                format!("{:?} sets both value and valueFrom; use one", var.name),
            ));
        }
        if let Some(from) = &var.value_from {
            let sources = [
                from.config_map_key_ref.is_some(),
                from.secret_key_ref.is_some(),
                from.field_ref.is_some(),
                from.resource_field_ref.is_some(),
            ];
            if sources.iter().filter(|set| **set).count() != 1 {
                return Err(InvalidSpec::new(
                    format!("spec.env[{i}].valueFrom"),
                    "must set exactly one of configMapKeyRef, secretKeyRef, fieldRef and resourceFieldRef",
                ));
            }
            pod_checks::check_value_from(&format!("spec.env[{i}].valueFrom"), from)?;
        }
    }
    Ok(())
}

fn check_env_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let valid_first = bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'-' | b'.' | b'_'));
    let valid_rest = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if valid_first && valid_rest {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid environment variable name: use letters, digits, '_', '-' or '.', not starting \
             with a digit"
        ))
    }
}

fn check_env_from(sources: &[EnvFromSource]) -> Result<(), InvalidSpec> {
    for (i, source) in sources.iter().enumerate() {
        if source.config_map_ref.is_some() == source.secret_ref.is_some() {
            return Err(InvalidSpec::new(
                format!("spec.envFrom[{i}]"),
                "must set exactly one of configMapRef and secretRef",
            ));
        }
        if let Some(reference) = &source.config_map_ref {
            pod_checks::check_object_name(&format!("spec.envFrom[{i}].configMapRef.name"), &reference.name)?;
        }
        if let Some(reference) = &source.secret_ref {
            pod_checks::check_object_name(&format!("spec.envFrom[{i}].secretRef.name"), &reference.name)?;
        }
        if let Some(prefix) = source.prefix.as_deref().filter(|p| !p.is_empty()) {
            check_env_name(prefix).map_err(|e| InvalidSpec::new(format!("spec.envFrom[{i}].prefix"), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{build as build_children, fixtures::ss};
    use super::*;
    use serde_json::json;

    fn deployment(spec: serde_json::Value) -> Deployment {
        build_children(&ss(spec)).unwrap().deployment
    }

    fn invalid(spec: serde_json::Value) -> InvalidSpec {
        build_children(&ss(spec)).unwrap_err()
    }

    fn container(d: &Deployment) -> &Container {
        &d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
    }

    #[test]
    fn replicas_follow_the_spec_without_autoscaling_and_are_left_to_the_hpa_with_it() {
        assert_eq!(deployment(json!({"image": "web"})).spec.unwrap().replicas, None);
        assert_eq!(
            deployment(json!({"image": "web", "replicas": 3}))
                .spec
                .unwrap()
                .replicas,
            Some(3)
        );
        let scaled = deployment(json!({
            "image": "web", "replicas": 3,
            "autoscaling": {"enabled": true, "minReplicas": 2, "maxReplicas": 6, "targetRequestsPerSecond": 20}
        }));
        assert_eq!(scaled.spec.unwrap().replicas, None);
    }

    #[test]
    fn rolling_update_keeps_capacity_by_default_and_takes_the_rollout_settings() {
        let default = deployment(json!({"image": "web"})).spec.unwrap();
        let rolling = default.strategy.unwrap().rolling_update.unwrap();
        assert_eq!(rolling.max_surge, Some(IntOrString::String("25%".into())));
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
        assert_eq!(default.progress_deadline_seconds, Some(600));

        let custom = deployment(json!({
            "image": "web",
            "rollout": {"maxSurge": 2, "maxUnavailable": "10%", "progressDeadlineSeconds": 120}
        }))
        .spec
        .unwrap();
        let rolling = custom.strategy.as_ref().unwrap().rolling_update.as_ref().unwrap();
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(2)));
        assert_eq!(rolling.max_unavailable, Some(IntOrString::String("10%".into())));
        assert_eq!(custom.progress_deadline_seconds, Some(120));
    }

    #[test]
    fn probes_hit_the_configured_paths_on_the_container_port() {
        let d = deployment(json!({"image": "web", "port": 9000, "probes": {"readinessPath": "/ready"}}));
        let c = container(&d);
        let port = &c.ports.as_ref().unwrap()[0];
        assert_eq!((port.name.as_deref(), port.container_port), (Some("http"), 9000));
        let readiness = c.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(readiness.path.as_deref(), Some("/ready"));
        assert_eq!(readiness.port, IntOrString::String("http".into()));
        let liveness = c.liveness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(liveness.path.as_deref(), Some("/healthz"));
    }

    #[test]
    fn pods_drain_before_they_stop() {
        let d = deployment(
            json!({"image": "web", "rollout": {"drainDelaySeconds": 7, "terminationGracePeriodSeconds": 40}}),
        );
        let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(pod.termination_grace_period_seconds, Some(40));
        let pre_stop = pod.containers[0]
            .lifecycle
            .as_ref()
            .unwrap()
            .pre_stop
            .as_ref()
            .unwrap();
        assert_eq!(pre_stop.sleep.as_ref().unwrap().seconds, 7);
        assert!(
            pre_stop.exec.is_none(),
            "the sleep action needs no shell in the image"
        );

        let no_drain = deployment(json!({"image": "web", "rollout": {"drainDelaySeconds": 0}}));
        assert!(container(&no_drain).lifecycle.is_none());
    }

    #[test]
    fn container_carries_the_users_process_settings() {
        let d = deployment(json!({
            "image": "ghcr.io/acme/web:1.2",
            "imagePullPolicy": "Never",
            "command": ["/web"],
            "args": ["--verbose"],
            "env": [{"name": "MODE", "value": "prod"},
                    {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "envFrom": [{"configMapRef": {"name": "cfg"}}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            "serviceAccountName": "web-sa",
        }));
        let c = container(&d);
        assert_eq!(c.name, "app");
        assert_eq!(c.image.as_deref(), Some("ghcr.io/acme/web:1.2"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("Never"));
        assert_eq!(c.command, Some(vec!["/web".to_string()]));
        assert_eq!(c.args, Some(vec!["--verbose".to_string()]));
        assert_eq!(c.env.as_ref().unwrap().len(), 2);
        assert_eq!(
            c.env_from.as_ref().unwrap()[0]
                .config_map_ref
                .as_ref()
                .unwrap()
                .name,
            "cfg"
        );
        assert_eq!(
            c.resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"].0,
            "100m"
        );
        let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(pod.service_account_name.as_deref(), Some("web-sa"));
    }

    #[test]
    fn pod_labels_and_annotations_merge_with_herds_labels() {
        let d = deployment(json!({
            "image": "web",
            "podLabels": {"tier": "frontend", "app.kubernetes.io/name": "web"},
            "podAnnotations": {"prometheus.io/scrape": "true"}
        }));
        let meta = d.spec.unwrap().template.metadata.unwrap();
        let pod_labels = meta.labels.unwrap();
        assert_eq!(pod_labels["tier"], "frontend");
        assert_eq!(pod_labels["app.kubernetes.io/name"], "web");
        assert_eq!(pod_labels["app.kubernetes.io/instance"], "web");
        assert_eq!(pod_labels["app.kubernetes.io/managed-by"], "herd-operator");
        assert_eq!(meta.annotations.unwrap()["prometheus.io/scrape"], "true");
    }

    #[test]
    fn a_pod_label_cannot_change_herds_labels() {
        let err = invalid(json!({"image": "web", "podLabels": {"app.kubernetes.io/instance": "other"}}));
        assert_eq!(err.field, "spec.podLabels[app.kubernetes.io/instance]");
        assert!(err.message.contains("cannot be overridden"), "{err}");
    }

    #[test]
    fn each_unbuildable_spec_names_its_field() {
        let cases = [
            (
                json!({"image": "Web:1"}),
                "spec.image",
                "repository path component",
            ),
            (json!({"image": "web:-1"}), "spec.image", "tag"),
            (
                json!({"image": "web", "resources": {"limits": {"cpu": "lots"}}}),
                "spec.resources.limits.cpu",
                "not a quantity",
            ),
            (
                json!({"image": "web", "resources": {"requests": {"memory": "-1Gi"}}}),
                "spec.resources.requests.memory",
                "negative",
            ),
            (
                json!({"image": "web", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}}),
                "spec.resources.requests.cpu",
                "must not exceed the limit (500m)",
            ),
            (
                json!({"image": "web", "env": [{"name": "1PORT", "value": "1"}]}),
                "spec.env[0].name",
                "environment variable",
            ),
            (
                json!({"image": "web", "env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}),
                "spec.env[0]",
                "both value and valueFrom",
            ),
            (
                json!({"image": "web", "env": [{"name": "A", "valueFrom": {}}]}),
                "spec.env[0].valueFrom",
                "exactly one",
            ),
            (
                json!({"image": "web", "envFrom": [{"prefix": "X_"}]}),
                "spec.envFrom[0]",
                "exactly one",
            ),
            (
                json!({"image": "web", "podLabels": {"bad key": "x"}}),
                "spec.podLabels[bad key]",
                "name part",
            ),
            (
                json!({"image": "web", "podLabels": {"tier": "-x"}}),
                "spec.podLabels[tier]",
                "value",
            ),
            (
                json!({"image": "web", "podAnnotations": {"a/b/c": "x"}}),
                "spec.podAnnotations[a/b/c]",
                "key",
            ),
            (
                json!({"image": "web", "resources": {"requests": {"gpu": 2}}}),
                "spec.resources.requests.gpu",
                "not a container resource",
            ),
            (
                json!({"image": "web", "resources": {"limits": {"example.com/gpu": "500m"}}}),
                "spec.resources.limits.example.com/gpu",
                "whole number",
            ),
            (
                json!({"image": "web", "resources": {"requests": {"example.com/gpu": 1}}}),
                "spec.resources.limits.example.com/gpu",
                "Required value",
            ),
            (
                json!({"image": "web", "resources": {"requests": {"hugepages-2Mi": "2Mi"}, "limits": {"hugepages-2Mi": "4Mi"}}}),
                "spec.resources.requests.hugepages-2Mi",
                "must equal the limit",
            ),
            (
                json!({"image": "web", "resources": {"claims": [{"name": "gpu"}]}}),
                "spec.resources.claims",
                "no resourceClaims",
            ),
            (
                json!({"image": "web", "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "bogus"}}}]}),
                "spec.env[0].valueFrom.fieldRef.fieldPath",
                "not a supported field",
            ),
            (
                json!({"image": "web", "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['bad key']"}}}]}),
                "spec.env[0].valueFrom.fieldRef.fieldPath",
                "name part",
            ),
            (
                json!({"image": "web", "env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]}),
                "spec.env[0].valueFrom.resourceFieldRef.resource",
                "not supported",
            ),
            (
                json!({"image": "web", "env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"containerName": "sidecar", "resource": "limits.cpu"}}}]}),
                "spec.env[0].valueFrom.resourceFieldRef.containerName",
                "not a container of the pod",
            ),
            (
                json!({"image": "web", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "Bad Name", "key": "k"}}}]}),
                "spec.env[0].valueFrom.secretKeyRef.name",
                "\"Bad Name\"",
            ),
            (
                json!({"image": "web", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "bad key"}}}]}),
                "spec.env[0].valueFrom.configMapKeyRef.key",
                "not a valid key",
            ),
            (
                json!({"image": "web", "envFrom": [{"secretRef": {"name": "Secret_1"}}]}),
                "spec.envFrom[0].secretRef.name",
                "\"Secret_1\"",
            ),
            (
                json!({"image": "web", "serviceAccountName": "Web_SA"}),
                "spec.serviceAccountName",
                "lower case",
            ),
        ];
        for (spec, field, message) in cases {
            let err = invalid(spec.clone());
            assert_eq!(err.field, field, "{spec}");
            assert!(err.message.contains(message), "{spec}: {err}");
        }
    }
}
