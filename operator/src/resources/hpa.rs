//! The HorizontalPodAutoscaler (autoscaling/v2): CPU and/or requests-per-second targets, fast scale-up and
//! a stabilized scale-down.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricIdentifier, MetricSpec, MetricTarget,
    PodsMetricSource, ResourceMetricSource,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{InvalidSpec, child_metadata, quantity};
use crate::crd::StatelessService;

/// Period of the scaling policies: the HPA may act this often.
const POLICY_PERIOD_SECONDS: i32 = 15;

pub(super) fn build(
    ss: &StatelessService,
    name: &str,
) -> Result<Option<HorizontalPodAutoscaler>, InvalidSpec> {
    let autoscaling = &ss.spec.autoscaling;
    if !autoscaling.enabled {
        return Ok(None);
    }
    let mut metrics = Vec::new();
    if let Some(utilization) = autoscaling.target_cpu_utilization_percentage {
        // Utilization is measured against the CPU request (a limit alone defaults the request to it);
        // without either the HPA reports "missing request for cpu" and never scales.
        let resources = ss.spec.resources.as_ref();
        let has_cpu = |map: Option<&std::collections::BTreeMap<String, Quantity>>| {
            map.is_some_and(|m| m.contains_key("cpu"))
        };
        if !resources.is_some_and(|r| has_cpu(r.requests.as_ref()) || has_cpu(r.limits.as_ref())) {
            return Err(InvalidSpec::new(
                "spec.resources.requests.cpu",
                "is required when autoscaling.targetCPUUtilizationPercentage is set: utilization is a share of it",
            ));
        }
        metrics.push(MetricSpec {
            type_: "Resource".to_string(),
            resource: Some(ResourceMetricSource {
                name: "cpu".to_string(),
                target: MetricTarget {
                    type_: "Utilization".to_string(),
                    average_utilization: Some(utilization),
                    ..MetricTarget::default()
                },
            }),
            ..MetricSpec::default()
        });
    }
    if let Some(rate) = autoscaling.target_requests_per_second {
        let average = quantity::rate_quantity(rate).ok_or_else(|| {
            InvalidSpec::new(
                "spec.autoscaling.targetRequestsPerSecond",
                format!(
                    "{rate} cannot be an HPA target: use a value between 0.001 and {}",
                    quantity::MAX_RATE
                ),
            )
        })?;
        metrics.push(MetricSpec {
            type_: "Pods".to_string(),
            pods: Some(PodsMetricSource {
                metric: MetricIdentifier {
                    name: autoscaling.requests_metric_name.clone(),
                    selector: None,
                },
                target: MetricTarget {
                    type_: "AverageValue".to_string(),
                    average_value: Some(Quantity(average)),
                    ..MetricTarget::default()
                },
            }),
            ..MetricSpec::default()
        });
    }

    let policy = |type_: &str, value: i32| HPAScalingPolicy {
        type_: type_.to_string(),
        value,
        period_seconds: POLICY_PERIOD_SECONDS,
    };
    Ok(Some(HorizontalPodAutoscaler {
        metadata: child_metadata(ss, name),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_string()),
                kind: "Deployment".to_string(),
                name: name.to_string(),
            },
            min_replicas: Some(autoscaling.min_replicas),
            max_replicas: autoscaling.max_replicas,
            metrics: Some(metrics),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                // Traffic spikes need capacity now: double or add 4 pods every 15 s, whichever is more.
                scale_up: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(
                        autoscaling.behavior.scale_up_stabilization_window_seconds,
                    ),
                    select_policy: Some("Max".to_string()),
                    policies: Some(vec![policy("Percent", 100), policy("Pods", 4)]),
                    ..HPAScalingRules::default()
                }),
                // Scale down only after the window saw no higher recommendation, so a dip does not flap.
                scale_down: Some(HPAScalingRules {
                    stabilization_window_seconds: Some(
                        autoscaling.behavior.scale_down_stabilization_window_seconds,
                    ),
                    select_policy: Some("Max".to_string()),
                    policies: Some(vec![policy("Percent", 100)]),
                    ..HPAScalingRules::default()
                }),
            }),
        }),
        status: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{build as build_children, fixtures::ss};
    use super::*;
    use serde_json::json;

    fn hpa(spec: serde_json::Value) -> Option<HorizontalPodAutoscaler> {
        build_children(&ss(spec)).unwrap().hpa
    }

    #[test]
    fn no_hpa_without_autoscaling() {
        assert!(hpa(json!({"image": "web", "replicas": 3})).is_none());
    }

    #[test]
    fn hpa_scales_the_deployment_on_both_targets() {
        let spec = hpa(json!({
            "image": "web",
            "resources": {"requests": {"cpu": "200m"}},
            "autoscaling": {
                "enabled": true, "minReplicas": 2, "maxReplicas": 8,
                "targetCPUUtilizationPercentage": 70, "targetRequestsPerSecond": 12.5
            }
        }))
        .unwrap()
        .spec
        .unwrap();
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!(spec.scale_target_ref.name, "web");
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 8));
        let metrics = spec.metrics.unwrap();
        assert_eq!(metrics.len(), 2);
        let cpu = metrics[0].resource.as_ref().unwrap();
        assert_eq!(
            (cpu.name.as_str(), cpu.target.average_utilization),
            ("cpu", Some(70))
        );
        let pods = metrics[1].pods.as_ref().unwrap();
        assert_eq!(pods.metric.name, "herd_http_requests_per_second");
        assert_eq!(pods.target.type_, "AverageValue");
        assert_eq!(pods.target.average_value, Some(Quantity("12500m".into())));
    }

    #[test]
    fn behavior_scales_up_fast_and_down_after_the_window() {
        let behavior = hpa(json!({
            "image": "web",
            "autoscaling": {
                "enabled": true, "targetRequestsPerSecond": 100, "requestsMetricName": "rps",
                "behavior": {"scaleDownStabilizationWindowSeconds": 120}
            }
        }))
        .unwrap()
        .spec
        .unwrap()
        .behavior
        .unwrap();
        let up = behavior.scale_up.unwrap();
        assert_eq!(up.stabilization_window_seconds, Some(0));
        assert_eq!(up.select_policy.as_deref(), Some("Max"));
        let policies: Vec<_> = up
            .policies
            .unwrap()
            .into_iter()
            .map(|p| (p.type_, p.value, p.period_seconds))
            .collect();
        assert_eq!(
            policies,
            vec![("Percent".to_string(), 100, 15), ("Pods".to_string(), 4, 15)]
        );
        assert_eq!(
            behavior.scale_down.unwrap().stabilization_window_seconds,
            Some(120)
        );
    }

    #[test]
    fn cpu_target_without_a_cpu_request_is_invalid() {
        let err = build_children(&ss(json!({
            "image": "web",
            "autoscaling": {"enabled": true, "targetCPUUtilizationPercentage": 70}
        })))
        .unwrap_err();
        assert_eq!(err.field, "spec.resources.requests.cpu");
    }

    #[test]
    fn a_rate_below_milli_precision_is_invalid() {
        let err = build_children(&ss(json!({
            "image": "web",
            "autoscaling": {"enabled": true, "targetRequestsPerSecond": 0.0001}
        })))
        .unwrap_err();
        assert_eq!(err.field, "spec.autoscaling.targetRequestsPerSecond");
    }
}
