//! `status.autoscaling`: what the HPA decided and why, mirrored from the HPA object (pure).

use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, MetricSpec, MetricStatus, MetricTarget};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The autoscaler's view, so `kubectl get ssvc -o yaml` explains the replica count.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalingStatus {
    /// Replicas the HPA saw last time it looked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i32>,
    /// Replicas the HPA wants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// When the HPA last changed the replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// Each metric the HPA scales on: its current value against its target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<AutoscalingMetric>,
    /// The HPA's own conditions: AbleToScale, ScalingActive, ScalingLimited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<AutoscalingCondition>,
}

/// One metric, in the units `kubectl describe hpa` uses.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalingMetric {
    /// `cpu` or the custom metric's name, e.g. `herd_http_requests_per_second`.
    pub name: String,
    /// Current value (`73%` CPU utilization, or a per-pod average quantity such as `12500m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Target value in the same units.
    pub target: String,
    /// Why there is no current value, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A condition of the HorizontalPodAutoscaler, copied as is.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalingCondition {
    /// AbleToScale, ScalingActive or ScalingLimited.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: String,
    /// The HPA's machine-readable reason, e.g. `FailedGetPodsMetric` or `TooManyReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The HPA's explanation for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the condition last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Reads the HPA herd built. Metrics come from the spec so a metric the HPA cannot read still shows, with
/// the HPA's own reason (ScalingActive=False says why the pipeline fails) instead of an empty value.
pub fn autoscaling_status(hpa: &HorizontalPodAutoscaler) -> AutoscalingStatus {
    let status = hpa.status.clone().unwrap_or_default();
    let conditions: Vec<AutoscalingCondition> = status
        .conditions
        .iter()
        .flatten()
        .map(|c| AutoscalingCondition {
            type_: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition_time: c.last_transition_time.clone(),
        })
        .collect();
    let inactive = conditions
        .iter()
        .find(|c| c.type_ == "ScalingActive" && c.status == "False");
    let no_value_message = || match inactive {
        Some(c) => format!(
            "the autoscaler has no value for this metric: {}: {}",
            c.reason.as_deref().unwrap_or("ScalingActive=False"),
            c.message.as_deref().unwrap_or("")
        ),
        None => "the autoscaler has not read this metric yet".to_string(),
    };
    let observed = status.current_metrics.unwrap_or_default();
    let metrics = hpa
        .spec
        .as_ref()
        .and_then(|spec| spec.metrics.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|spec| {
            let (name, target) = describe_spec(spec)?;
            let current = observed.iter().find_map(|m| current_value(m, spec));
            let message = current.is_none().then(no_value_message);
            Some(AutoscalingMetric {
                name,
                current,
                target,
                message,
            })
        })
        .collect();
    AutoscalingStatus {
        current_replicas: Some(status.current_replicas.unwrap_or(0)),
        desired_replicas: Some(status.desired_replicas),
        last_scale_time: status.last_scale_time,
        metrics,
        conditions,
    }
}

fn describe_target(target: &MetricTarget) -> String {
    match (&target.average_utilization, &target.average_value, &target.value) {
        (Some(percent), _, _) => format!("{percent}%"),
        (None, Some(q), _) => format!("{} (average)", q.0),
        (None, None, Some(q)) => q.0.clone(),
        (None, None, None) => target.type_.clone(),
    }
}

fn describe_spec(spec: &MetricSpec) -> Option<(String, String)> {
    match spec.type_.as_str() {
        "Resource" => spec
            .resource
            .as_ref()
            .map(|r| (r.name.clone(), describe_target(&r.target))),
        "Pods" => spec
            .pods
            .as_ref()
            .map(|p| (p.metric.name.clone(), describe_target(&p.target))),
        "Object" => spec
            .object
            .as_ref()
            .map(|o| (o.metric.name.clone(), describe_target(&o.target))),
        "External" => spec
            .external
            .as_ref()
            .map(|e| (e.metric.name.clone(), describe_target(&e.target))),
        "ContainerResource" => spec
            .container_resource
            .as_ref()
            .map(|c| (c.name.clone(), describe_target(&c.target))),
        _ => None,
    }
}

/// The observed value of `status` when it is the metric `spec` asks for.
fn current_value(status: &MetricStatus, spec: &MetricSpec) -> Option<String> {
    let value = |v: &k8s_openapi::api::autoscaling::v2::MetricValueStatus| match (
        &v.average_utilization,
        &v.average_value,
        &v.value,
    ) {
        (Some(percent), _, _) => Some(format!("{percent}%")),
        (None, Some(q), _) => Some(q.0.clone()),
        (None, None, Some(q)) => Some(q.0.clone()),
        (None, None, None) => None,
    };
    match (spec.type_.as_str(), status.type_.as_str()) {
        ("Resource", "Resource") => {
            let (s, c) = (spec.resource.as_ref()?, status.resource.as_ref()?);
            (s.name == c.name).then(|| value(&c.current)).flatten()
        }
        ("Pods", "Pods") => {
            let (s, c) = (spec.pods.as_ref()?, status.pods.as_ref()?);
            (s.metric.name == c.metric.name)
                .then(|| value(&c.current))
                .flatten()
        }
        ("Object", "Object") => {
            let (s, c) = (spec.object.as_ref()?, status.object.as_ref()?);
            (s.metric.name == c.metric.name)
                .then(|| value(&c.current))
                .flatten()
        }
        ("External", "External") => {
            let (s, c) = (spec.external.as_ref()?, status.external.as_ref()?);
            (s.metric.name == c.metric.name)
                .then(|| value(&c.current))
                .flatten()
        }
        ("ContainerResource", "ContainerResource") => {
            let (s, c) = (
                spec.container_resource.as_ref()?,
                status.container_resource.as_ref()?,
            );
            (s.name == c.name && s.container == c.container)
                .then(|| value(&c.current))
                .flatten()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hpa(status: serde_json::Value) -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "shop", "namespace": "demo"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70}}},
                    {"type": "Pods", "pods": {"metric": {"name": "herd_http_requests_per_second"},
                        "target": {"type": "AverageValue", "averageValue": "20"}}}
                ]
            },
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn a_scaled_up_hpa_explains_its_replicas() {
        let status = autoscaling_status(&hpa(json!({
            "currentReplicas": 3, "desiredReplicas": 5, "lastScaleTime": "2026-12-03T14:00:00Z",
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": 41, "averageValue": "205m"}}},
                {"type": "Pods", "pods": {"metric": {"name": "herd_http_requests_per_second"},
                    "current": {"averageValue": "33333m"}}}
            ],
            "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
                    "message": "the HPA controller was able to update the target scale to 5",
                    "lastTransitionTime": "2026-12-03T14:00:00Z"},
                {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
                    "message": "the HPA was able to successfully calculate a replica count from pods metric herd_http_requests_per_second"},
                {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange",
                    "message": "the desired count is within the acceptable range"}
            ]
        })));
        assert_eq!(status.current_replicas, Some(3));
        assert_eq!(status.desired_replicas, Some(5));
        assert_eq!(
            serde_json::to_value(&status.last_scale_time).unwrap(),
            "2026-12-03T14:00:00Z"
        );
        assert_eq!(
            status.metrics,
            [
                AutoscalingMetric {
                    name: "cpu".into(),
                    current: Some("41%".into()),
                    target: "70%".into(),
                    message: None
                },
                AutoscalingMetric {
                    name: "herd_http_requests_per_second".into(),
                    current: Some("33333m".into()),
                    target: "20 (average)".into(),
                    message: None,
                },
            ]
        );
        let types: Vec<_> = status
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("AbleToScale", "True"),
                ("ScalingActive", "True"),
                ("ScalingLimited", "False")
            ]
        );
        assert_eq!(status.conditions[0].reason.as_deref(), Some("SucceededRescale"));
    }

    #[test]
    fn a_missing_metrics_pipeline_shows_the_hpas_reason_instead_of_unknown() {
        let status = autoscaling_status(&hpa(json!({
            "currentReplicas": 2, "desiredReplicas": 2,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}},
                {"type": ""}
            ],
            "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
                {"type": "ScalingActive", "status": "False", "reason": "FailedGetPodsMetric",
                    "message": "the HPA was unable to compute the replica count: unable to get metric herd_http_requests_per_second: no metrics returned from custom metrics API"}
            ]
        })));
        let rps = &status.metrics[1];
        assert_eq!(rps.current, None);
        let message = rps.message.as_deref().unwrap();
        assert!(message.contains("FailedGetPodsMetric"), "{message}");
        assert!(
            message.contains("no metrics returned from custom metrics API"),
            "{message}"
        );
        assert_eq!(status.metrics[0].current.as_deref(), Some("12%"));
        assert_eq!(status.metrics[0].message, None);
    }

    #[test]
    fn a_new_hpa_without_status_says_it_has_not_looked_yet() {
        let mut fresh = hpa(json!(null));
        fresh.status = None;
        let status = autoscaling_status(&fresh);
        assert_eq!(status.current_replicas, Some(0));
        assert_eq!(status.metrics.len(), 2);
        assert_eq!(
            status.metrics[1].message.as_deref(),
            Some("the autoscaler has not read this metric yet")
        );
        assert!(status.conditions.is_empty());
    }

    #[test]
    fn a_limited_hpa_reports_the_limit() {
        let status = autoscaling_status(&hpa(json!({
            "currentReplicas": 10, "desiredReplicas": 10,
            "conditions": [{"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas",
                "message": "the desired replica count is more than the maximum replica count"}]
        })));
        assert_eq!(status.conditions[0].reason.as_deref(), Some("TooManyReplicas"));
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["conditions"][0]["type"], "ScalingLimited");
        assert_eq!(json["desiredReplicas"], 10);
    }
}
