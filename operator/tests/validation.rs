//! Admission of StatelessService manifests as the API server does it: every CEL rule and the structural
//! checks, each with a manifest that passes and one that fails with the expected message.

use herd_operator::validation::{FieldError, validate};
use serde_json::{Value, json};

/// Merges `patch` into `base` (RFC 7386 style, without null deletion).
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

fn manifest(spec: Value) -> Value {
    let mut full = json!({"image": "ghcr.io/acme/web:1"});
    merge(&mut full, &spec);
    json!({
        "apiVersion": "herd.dev/v1alpha1",
        "kind": "StatelessService",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": full,
    })
}

fn errors_of(value: &Value) -> Vec<FieldError> {
    validate(value).err().unwrap_or_default()
}

/// (rule, spec that passes, spec that fails, field of the failure, words of its message)
fn cel_cases() -> Vec<(&'static str, Value, Value, &'static str, &'static str)> {
    let enabled = |extra: Value| {
        let mut autoscaling = json!({"enabled": true, "targetRequestsPerSecond": 10});
        merge(&mut autoscaling, &extra);
        json!({"autoscaling": autoscaling})
    };
    vec![
        (
            "image non-empty",
            json!({"image": "web"}),
            json!({"image": ""}),
            "spec.image",
            "image must not be empty",
        ),
        (
            "image without whitespace",
            json!({"image": "web:1"}),
            json!({"image": "web: 1"}),
            "spec.image",
            "image must not contain whitespace",
        ),
        (
            "container port",
            json!({"port": 65535}),
            json!({"port": 0}),
            "spec.port",
            "port must be between 1 and 65535",
        ),
        (
            "replicas",
            json!({"replicas": 0}),
            json!({"replicas": -1}),
            "spec.replicas",
            "replicas must be >= 0",
        ),
        (
            "replicas within autoscaling bounds",
            json!({"replicas": 3, "autoscaling": {"enabled": true, "minReplicas": 2, "maxReplicas": 4, "targetRequestsPerSecond": 5}}),
            json!({"replicas": 5, "autoscaling": {"enabled": true, "minReplicas": 2, "maxReplicas": 4, "targetRequestsPerSecond": 5}}),
            "spec.replicas",
            "replicas must lie between autoscaling.minReplicas and autoscaling.maxReplicas",
        ),
        (
            "replicas below minReplicas",
            json!({"replicas": 1, "autoscaling": {"minReplicas": 2}}),
            json!({"replicas": 1, "autoscaling": {"enabled": true, "minReplicas": 2, "targetRequestsPerSecond": 5}}),
            "spec.replicas",
            "replicas must lie between",
        ),
        (
            "min <= max",
            enabled(json!({"minReplicas": 3, "maxReplicas": 3})),
            enabled(json!({"minReplicas": 4, "maxReplicas": 3})),
            "spec.autoscaling.minReplicas",
            "minReplicas must be <= maxReplicas",
        ),
        (
            "enabled needs a target",
            json!({"autoscaling": {"enabled": true, "targetCPUUtilizationPercentage": 80}}),
            json!({"autoscaling": {"enabled": true}}),
            "spec.autoscaling.enabled",
            "enabled autoscaling needs targetCPUUtilizationPercentage or targetRequestsPerSecond",
        ),
        (
            "minReplicas >= 1",
            enabled(json!({"minReplicas": 1})),
            enabled(json!({"minReplicas": 0})),
            "spec.autoscaling.minReplicas",
            "minReplicas must be >= 1",
        ),
        (
            "maxReplicas >= 1",
            json!({"autoscaling": {"minReplicas": 1, "maxReplicas": 1}}),
            json!({"autoscaling": {"minReplicas": 1, "maxReplicas": 0}}),
            "spec.autoscaling.maxReplicas",
            "maxReplicas must be >= 1",
        ),
        (
            "cpu target",
            enabled(json!({"targetCPUUtilizationPercentage": 1})),
            enabled(json!({"targetCPUUtilizationPercentage": 0})),
            "spec.autoscaling.targetCPUUtilizationPercentage",
            "targetCPUUtilizationPercentage must be >= 1",
        ),
        (
            "rps target (integer and fraction)",
            enabled(json!({"targetRequestsPerSecond": 0.5})),
            enabled(json!({"targetRequestsPerSecond": 0})),
            "spec.autoscaling.targetRequestsPerSecond",
            "targetRequestsPerSecond must be > 0",
        ),
        (
            "metric name",
            enabled(json!({"requestsMetricName": "shop:requests_per_second"})),
            enabled(json!({"requestsMetricName": "requests-per-second"})),
            "spec.autoscaling.requestsMetricName",
            "requestsMetricName must be a Prometheus metric name",
        ),
        (
            "scale-up window",
            enabled(json!({"behavior": {"scaleUpStabilizationWindowSeconds": 3600}})),
            enabled(json!({"behavior": {"scaleUpStabilizationWindowSeconds": 3601}})),
            "spec.autoscaling.behavior.scaleUpStabilizationWindowSeconds",
            "between 0 and 3600",
        ),
        (
            "scale-down window",
            enabled(json!({"behavior": {"scaleDownStabilizationWindowSeconds": 0}})),
            enabled(json!({"behavior": {"scaleDownStabilizationWindowSeconds": -1}})),
            "spec.autoscaling.behavior.scaleDownStabilizationWindowSeconds",
            "between 0 and 3600",
        ),
        (
            "surge and unavailable not both zero",
            json!({"rollout": {"maxSurge": 0, "maxUnavailable": 1}}),
            json!({"rollout": {"maxSurge": "0%", "maxUnavailable": 0}}),
            "spec.rollout.maxSurge",
            "maxSurge and maxUnavailable must not both be zero",
        ),
        (
            "maxSurge well-formed",
            json!({"rollout": {"maxSurge": "100%"}}),
            json!({"rollout": {"maxSurge": "2.5%"}}),
            "spec.rollout.maxSurge",
            "maxSurge must be a non-negative integer or a percentage",
        ),
        (
            "maxUnavailable well-formed",
            json!({"rollout": {"maxUnavailable": "50%"}}),
            json!({"rollout": {"maxUnavailable": "150%"}}),
            "spec.rollout.maxUnavailable",
            "maxUnavailable must be a non-negative integer or a percentage",
        ),
        (
            "progress deadline",
            json!({"rollout": {"progressDeadlineSeconds": 1}}),
            json!({"rollout": {"progressDeadlineSeconds": 0}}),
            "spec.rollout.progressDeadlineSeconds",
            "progressDeadlineSeconds must be >= 1",
        ),
        (
            "drain delay",
            json!({"rollout": {"drainDelaySeconds": 0}}),
            json!({"rollout": {"drainDelaySeconds": -1}}),
            "spec.rollout.drainDelaySeconds",
            "drainDelaySeconds must be >= 0",
        ),
        (
            "grace period",
            json!({"rollout": {"terminationGracePeriodSeconds": 6}}),
            json!({"rollout": {"terminationGracePeriodSeconds": 0, "drainDelaySeconds": 0}}),
            "spec.rollout.terminationGracePeriodSeconds",
            "terminationGracePeriodSeconds must be >= 1",
        ),
        (
            "drain shorter than grace",
            json!({"rollout": {"drainDelaySeconds": 29}}),
            json!({"rollout": {"drainDelaySeconds": 30}}),
            "spec.rollout.drainDelaySeconds",
            "drainDelaySeconds must be less than terminationGracePeriodSeconds",
        ),
        (
            "readiness path",
            json!({"probes": {"readinessPath": "/ready"}}),
            json!({"probes": {"readinessPath": "ready"}}),
            "spec.probes.readinessPath",
            "readinessPath must start with /",
        ),
        (
            "liveness path",
            json!({"probes": {"livenessPath": "/live"}}),
            json!({"probes": {"livenessPath": "/li ve"}}),
            "spec.probes.livenessPath",
            "livenessPath must start with / and contain no whitespace",
        ),
        (
            "service port",
            json!({"service": {"port": 1}}),
            json!({"service": {"port": 65536}}),
            "spec.service.port",
            "service.port must be between 1 and 65535",
        ),
        (
            "node port range",
            json!({"service": {"type": "NodePort", "nodePort": 32767}}),
            json!({"service": {"type": "NodePort", "nodePort": 8080}}),
            "spec.service.nodePort",
            "nodePort must be between 30000 and 32767",
        ),
        (
            "node port only for NodePort/LoadBalancer",
            json!({"service": {"type": "LoadBalancer", "nodePort": 30000}}),
            json!({"service": {"nodePort": 30000}}),
            "spec.service.nodePort",
            "nodePort is only allowed when type is NodePort or LoadBalancer",
        ),
        (
            "one disruption setting",
            json!({"disruption": {"maxUnavailable": 1}}),
            json!({"disruption": {"maxUnavailable": 1, "minAvailable": 1}}),
            "spec.disruption",
            "set at most one of minAvailable and maxUnavailable",
        ),
        (
            "minAvailable well-formed",
            json!({"disruption": {"minAvailable": "60%"}}),
            json!({"disruption": {"minAvailable": "60 %"}}),
            "spec.disruption.minAvailable",
            "minAvailable must be a non-negative integer or a percentage",
        ),
        (
            "disruption maxUnavailable well-formed",
            json!({"disruption": {"maxUnavailable": 2}}),
            json!({"disruption": {"maxUnavailable": -2}}),
            "spec.disruption.maxUnavailable",
            "maxUnavailable must be a non-negative integer or a percentage",
        ),
    ]
}

#[test]
fn every_cel_rule_passes_a_good_manifest_and_rejects_a_bad_one_by_name() {
    for (rule, good, bad, field, message) in cel_cases() {
        let good_errors = errors_of(&manifest(good));
        assert!(
            good_errors.is_empty(),
            "{rule}: good manifest rejected: {good_errors:?}"
        );
        let bad_errors = errors_of(&manifest(bad));
        assert!(
            bad_errors
                .iter()
                .any(|e| e.field == field && e.message.contains(message)),
            "{rule}: expected `{field}: ...{message}...`, got {bad_errors:?}"
        );
    }
}

#[test]
fn minimal_manifest_gets_the_schema_defaults() {
    let ss = validate(&manifest(json!({}))).unwrap();
    assert_eq!(ss.spec.port, 8080);
    assert_eq!(ss.spec.service.port, 80);
    assert_eq!(ss.spec.rollout.drain_delay_seconds, 5);
    assert_eq!(ss.spec.autoscaling.max_replicas, 10);
}

#[test]
fn null_on_a_defaulted_field_takes_the_default_like_the_api_server() {
    let ss = validate(&manifest(json!({"port": null, "replicas": null}))).unwrap();
    assert_eq!(ss.spec.port, 8080);
    assert_eq!(ss.spec.replicas, None);
}

#[test]
fn integral_floats_count_as_integers() {
    let ss = validate(&manifest(json!({"port": 9000.0}))).unwrap();
    assert_eq!(ss.spec.port, 9000);
}

#[test]
fn structural_errors_name_the_field() {
    let cases = [
        (
            json!({"prot": 80}),
            "spec.prot",
            "unknown field, did you mean \"port\"?",
        ),
        (
            json!({"rollout": {"maxsurge": 1}}),
            "spec.rollout.maxsurge",
            "did you mean \"maxSurge\"?",
        ),
        (
            json!({"port": "http"}),
            "spec.port",
            "must be an integer, got string \"http\"",
        ),
        (
            json!({"port": 1.5}),
            "spec.port",
            "must be an integer, got number 1.5",
        ),
        (json!({"port": 4294967296u64}), "spec.port", "does not fit"),
        (
            json!({"imagePullPolicy": "Sometimes"}),
            "spec.imagePullPolicy",
            "supported values: \"Always\"",
        ),
        (
            json!({"service": {"type": "External"}}),
            "spec.service.type",
            "Unsupported value",
        ),
        (
            json!({"autoscaling": {"enabled": "yes"}}),
            "spec.autoscaling.enabled",
            "must be a boolean",
        ),
        (
            json!({"rollout": {"maxSurge": true}}),
            "spec.rollout.maxSurge",
            "must be an integer or a string",
        ),
        (
            json!({"env": [{"value": "x"}]}),
            "spec.env[0].name",
            "Required value",
        ),
        (json!({"env": {"A": "x"}}), "spec.env", "must be an array"),
        (
            json!({"podLabels": {"tier": 1}}),
            "spec.podLabels[tier]",
            "must be a string",
        ),
        (
            json!({"image": "a".repeat(513)}),
            "spec.image",
            "at most 512 characters",
        ),
        (
            json!({"command": vec!["x"; 65]}),
            "spec.command",
            "at most 64 items",
        ),
        (json!({"image": null}), "spec.image", "Required value"),
        (
            json!({"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}),
            "spec.env[1]",
            "Duplicate value",
        ),
    ];
    for (spec, field, message) in cases {
        let errors = errors_of(&manifest(spec.clone()));
        assert!(
            errors
                .iter()
                .any(|e| e.field == field && e.message.contains(message)),
            "{spec}: expected `{field}: ...{message}...`, got {errors:?}"
        );
    }
}

#[test]
fn all_structural_errors_are_reported_at_once() {
    let errors = errors_of(&manifest(json!({"prot": 1, "port": "x", "replicas": "y"})));
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields.len(), 3, "{errors:?}");
    for field in ["spec.prot", "spec.port", "spec.replicas"] {
        assert!(fields.contains(&field), "{field} missing in {errors:?}");
    }
}

#[test]
fn type_and_object_metadata_are_checked() {
    let mut wrong_kind = manifest(json!({}));
    wrong_kind["kind"] = json!("Deployment");
    assert_eq!(
        errors_of(&wrong_kind)[0].to_string(),
        "kind: is \"Deployment\" of herd.dev/v1alpha1; only StatelessService (herd.dev/v1alpha1) manifests are accepted"
    );

    let mut wrong_version = manifest(json!({}));
    wrong_version["apiVersion"] = json!("herd.dev/v1");
    assert_eq!(errors_of(&wrong_version)[0].field, "apiVersion");

    let cases = [
        (json!({"namespace": "shop"}), "metadata.name", "Required value"),
        (json!({"name": "Web"}), "metadata.name", "lower case"),
        (
            json!({"name": "web", "namespace": "my.ns"}),
            "metadata.namespace",
            "lower case",
        ),
        (
            json!({"name": "web", "labels": {"team": "a b"}}),
            "metadata.labels[team]",
            "value",
        ),
        (
            json!({"name": "web", "lables": {}}),
            "metadata.lables",
            "did you mean \"labels\"?",
        ),
    ];
    for (metadata, field, message) in cases {
        let mut bad = manifest(json!({}));
        bad["metadata"] = metadata.clone();
        let errors = errors_of(&bad);
        assert!(
            errors
                .iter()
                .any(|e| e.field == field && e.message.contains(message)),
            "{metadata}: expected `{field}: ...{message}...`, got {errors:?}"
        );
    }

    let mut no_spec = manifest(json!({}));
    no_spec.as_object_mut().unwrap().remove("spec");
    assert_eq!(
        errors_of(&no_spec),
        vec![FieldError {
            field: "spec".into(),
            message: "Required value".into()
        }]
    );

    let mut extra = manifest(json!({}));
    extra["sepc"] = json!({});
    assert!(
        errors_of(&extra)
            .iter()
            .any(|e| e.field == "sepc" && e.message.contains("did you mean \"spec\""))
    );
}

#[test]
fn status_is_ignored_as_on_create() {
    let mut with_status = manifest(json!({}));
    with_status["status"] = json!({"replicas": "many"});
    let ss = validate(&with_status).unwrap();
    assert_eq!(ss.status, None);
}

#[test]
fn non_mapping_documents_are_rejected() {
    assert_eq!(
        errors_of(&json!(["a"]))[0].message,
        "a manifest must be a mapping"
    );
}

#[test]
fn pod_labels_cannot_change_the_labels_that_select_the_pods() {
    let good = manifest(json!({"podLabels": {
        "tier": "frontend",
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/name": "web",
        "app.kubernetes.io/instance": "web",
        "app.kubernetes.io/managed-by": "herd-operator",
    }}));
    assert!(errors_of(&good).is_empty(), "{:?}", errors_of(&good));
    for (key, value) in [
        ("app.kubernetes.io/name", "other"),
        ("app.kubernetes.io/instance", "other"),
        ("app.kubernetes.io/managed-by", "helm"),
    ] {
        let bad = manifest(json!({"podLabels": {key: value}}));
        let errors = errors_of(&bad);
        assert!(
            errors.iter().any(|e| e.field == "spec.podLabels"
                && e.message
                    .starts_with("podLabels cannot give app.kubernetes.io/name")),
            "{key}={value}: {errors:?}"
        );
    }
}

#[test]
fn the_name_must_be_able_to_name_a_service() {
    for name in ["web", "web-2", &format!("w{}", "a".repeat(62))] {
        let mut good = manifest(json!({}));
        good["metadata"]["name"] = json!(name);
        assert!(errors_of(&good).is_empty(), "{name}: {:?}", errors_of(&good));
    }
    // Names that are valid DNS subdomains (what the API server itself demands) but cannot name a Service.
    for name in ["1web", "web.v1", "shop.example.com"] {
        let mut bad = manifest(json!({}));
        bad["metadata"]["name"] = json!(name);
        let errors = errors_of(&bad);
        assert!(
            errors.iter().any(|e| e
                .message
                .starts_with("metadata.name must be at most 63 lower case letters")),
            "{name}: {errors:?}"
        );
    }
}
