//! The StatelessService custom resource: spec, status, schema defaults and the CEL admission rules.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// CEL: an int-or-string is a non-negative integer or a percentage `N%` with N in 0..=100. The rule reads
/// the value through `string(self)` so it evaluates the same for ints and strings on every CEL engine; it
/// cannot tell `5` from `"5"`, so the builders reject a digits-only string (`InvalidSpec`).
macro_rules! int_or_percent_rule {
    ($field:literal) => {
        Rule::new(
            "string(self).matches('^[0-9]+%?$') && (!string(self).endsWith('%') || \
             int(string(self).substring(0, string(self).size() - 1)) <= 100)",
        )
        .message(concat!(
            $field,
            " must be a non-negative integer or a percentage between 0% and 100%"
        ))
    };
}

/// What to run and how: the container, its scaling, rollout, Service and disruption budget. herd runs it as a
/// Deployment, a Service, a HorizontalPodAutoscaler and a PodDisruptionBudget.
// clippy reads the repeated `type_ = ...` inside distinct `printcolumn(...)` entries as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "herd.dev",
    version = "v1alpha1",
    kind = "StatelessService",
    namespaced,
    shortname = "ssvc",
    doc = "A stateless, horizontally scalable service run by herd as a Deployment, Service, HPA and PDB.",
    status = "StatelessServiceStatus",
    derive = "PartialEq",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Image",
        type_ = "string",
        json_path = ".spec.image",
        description = "Container image"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".spec.replicas",
        description = "Replicas asked for when autoscaling is off"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Replicas that pass their readiness probe"
    ),
    printcolumn(
        name = "Autoscaling",
        type_ = "boolean",
        json_path = ".spec.autoscaling.enabled",
        description = "Whether a HorizontalPodAutoscaler sets the replica count"
    ),
    printcolumn(
        name = "Min",
        type_ = "integer",
        json_path = ".spec.autoscaling.minReplicas",
        description = "Fewest replicas the autoscaler keeps"
    ),
    printcolumn(
        name = "Max",
        type_ = "integer",
        json_path = ".spec.autoscaling.maxReplicas",
        description = "Most replicas the autoscaler runs"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Available\")].reason",
        description = "Reason of the Available condition"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    // The children carry this name and a Service name must be an RFC 1035 label: catch it at admission
    // instead of in a Degraded condition.
    validation = Rule::new(
        "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"
    ).message(
        "metadata.name must be at most 63 lower case letters, digits or '-', start with a letter and end \
         alphanumeric: it names the Service"
    ),
    // The pod selector is made of these labels: a pod label with another value would orphan the pods.
    validation = Rule::new(
        "!has(self.spec.podLabels) || ( \
         (!('app.kubernetes.io/name' in self.spec.podLabels) || self.spec.podLabels['app.kubernetes.io/name'] == self.metadata.name) && \
         (!('app.kubernetes.io/instance' in self.spec.podLabels) || self.spec.podLabels['app.kubernetes.io/instance'] == self.metadata.name) && \
         (!('app.kubernetes.io/managed-by' in self.spec.podLabels) || self.spec.podLabels['app.kubernetes.io/managed-by'] == 'herd-operator'))"
    ).message(
        "podLabels cannot give app.kubernetes.io/name, app.kubernetes.io/instance or \
         app.kubernetes.io/managed-by a value other than herd's (the StatelessService's name, its name, \
         herd-operator): they select the pods"
    ).field_path(".spec.podLabels")
)]
#[x_kube(validation = Rule::new(
    "!has(self.replicas) || !self.autoscaling.enabled || \
     (self.replicas >= self.autoscaling.minReplicas && self.replicas <= self.autoscaling.maxReplicas)"
).message("replicas must lie between autoscaling.minReplicas and autoscaling.maxReplicas when autoscaling is enabled").field_path(".replicas"))]
#[serde(rename_all = "camelCase")]
pub struct StatelessServiceSpec {
    /// Container image to run, e.g. `ghcr.io/acme/shop:1.2.3` or `registry/app@sha256:...`.
    #[schemars(length(max = 512))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("image must not be empty"))]
    #[x_kube(validation = Rule::new("!self.matches('\\\\s')").message("image must not contain whitespace"))]
    pub image: String,

    /// When the kubelet pulls the image: Always, IfNotPresent or Never. Unset = the Kubernetes default
    /// (Always for `:latest` or untagged images, IfNotPresent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// Entrypoint override (the container's `command`); unset = the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub command: Option<Vec<String>>,

    /// Arguments to the entrypoint (the container's `args`); unset = the image's CMD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub args: Option<Vec<String>>,

    /// Port the container listens on for HTTP traffic and probes.
    #[serde(default = "default_port")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("port must be between 1 and 65535"))]
    pub port: i32,

    /// Environment variables of the container (core/v1 EnvVar). Names are unique; server-side apply merges
    /// entries by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub env: Option<Vec<EnvVar>>,

    /// Sources (ConfigMaps, Secrets) whose keys become environment variables (core/v1 EnvFromSource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub env_from: Option<Vec<EnvFromSource>>,

    /// CPU and memory requests and limits of the container (core/v1 ResourceRequirements). Set a CPU request
    /// when autoscaling on CPU: utilization is measured against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Extra labels for the pods. herd's own `app.kubernetes.io/name`, `instance` and `managed-by` labels
    /// select the pods: they may be repeated here only with herd's values (the StatelessService's name for
    /// `name` and `instance`, `herd-operator` for `managed-by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    pub pod_labels: Option<BTreeMap<String, String>>,

    /// Extra annotations for the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 128))]
    pub pod_annotations: Option<BTreeMap<String, String>>,

    /// ServiceAccount the pods run as; unset = the namespace's `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,

    /// Replica count when autoscaling is off. Unset = keep what runs (1 at creation). Also the target of
    /// `kubectl scale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("replicas must be >= 0"))]
    pub replicas: Option<i32>,

    /// Scaling on CPU and/or requests per second with a HorizontalPodAutoscaler.
    #[serde(default)]
    pub autoscaling: Autoscaling,

    /// How new versions roll out and how pods stop.
    #[serde(default)]
    pub rollout: Rollout,

    /// HTTP paths of the readiness and liveness probes, served on `port`.
    #[serde(default)]
    pub probes: Probes,

    /// The Service that load-balances across the pods.
    #[serde(default)]
    pub service: ServiceSettings,

    /// PodDisruptionBudget. Unset = `maxUnavailable: 1` when more than one replica can run, no budget for a
    /// single fixed replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disruption: Option<Disruption>,
}

fn default_port() -> i32 {
    8080
}

/// When the kubelet pulls the image.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    /// The core/v1 Container `imagePullPolicy` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// Horizontal autoscaling settings, turned into an autoscaling/v2 HorizontalPodAutoscaler.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("minReplicas must be <= maxReplicas").field_path(".minReplicas"))]
#[x_kube(validation = Rule::new(
    "!self.enabled || has(self.targetCPUUtilizationPercentage) || has(self.targetRequestsPerSecond)"
).message("enabled autoscaling needs targetCPUUtilizationPercentage or targetRequestsPerSecond").field_path(".enabled"))]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    /// Whether a HorizontalPodAutoscaler sets the replica count (then `spec.replicas` is ignored).
    #[serde(default)]
    pub enabled: bool,

    /// Fewest replicas the autoscaler keeps.
    #[serde(default = "default_min_replicas")]
    #[x_kube(validation = Rule::new("self >= 1").message("minReplicas must be >= 1"))]
    pub min_replicas: i32,

    /// Most replicas the autoscaler runs.
    #[serde(default = "default_max_replicas")]
    #[x_kube(validation = Rule::new("self >= 1").message("maxReplicas must be >= 1"))]
    pub max_replicas: i32,

    /// Target average CPU utilization in percent of the CPU request.
    #[serde(
        rename = "targetCPUUtilizationPercentage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[x_kube(validation = Rule::new("self >= 1").message("targetCPUUtilizationPercentage must be >= 1"))]
    pub target_cpu_utilization_percentage: Option<i32>,

    /// Target requests per second per replica, read from the custom metric `requestsMetricName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0").message("targetRequestsPerSecond must be > 0"))]
    pub target_requests_per_second: Option<f64>,

    /// Name of the per-pod custom metric that carries requests per second.
    #[serde(default = "default_requests_metric_name")]
    #[schemars(length(max = 200))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z_:][a-zA-Z0-9_:]*$')").message("requestsMetricName must be a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"))]
    pub requests_metric_name: String,

    /// How fast the autoscaler reacts.
    #[serde(default)]
    pub behavior: ScalingBehavior,
}

fn default_min_replicas() -> i32 {
    1
}

fn default_max_replicas() -> i32 {
    10
}

/// The metric the traffic-scaling work serves per pod.
pub const DEFAULT_REQUESTS_METRIC_NAME: &str = "herd_http_requests_per_second";

fn default_requests_metric_name() -> String {
    DEFAULT_REQUESTS_METRIC_NAME.to_string()
}

impl Default for Autoscaling {
    fn default() -> Self {
        Self {
            enabled: false,
            min_replicas: default_min_replicas(),
            max_replicas: default_max_replicas(),
            target_cpu_utilization_percentage: None,
            target_requests_per_second: None,
            requests_metric_name: default_requests_metric_name(),
            behavior: ScalingBehavior::default(),
        }
    }
}

/// Stabilization windows of the autoscaler.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScalingBehavior {
    /// Seconds of recommendations the autoscaler looks back on before scaling up (0 = scale up at once).
    #[serde(default)]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 3600").message("scaleUpStabilizationWindowSeconds must be between 0 and 3600"))]
    pub scale_up_stabilization_window_seconds: i32,

    /// Seconds of recommendations the autoscaler looks back on before scaling down.
    #[serde(default = "default_scale_down_window")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 3600").message("scaleDownStabilizationWindowSeconds must be between 0 and 3600"))]
    pub scale_down_stabilization_window_seconds: i32,
}

fn default_scale_down_window() -> i32 {
    300
}

impl Default for ScalingBehavior {
    fn default() -> Self {
        Self {
            scale_up_stabilization_window_seconds: 0,
            scale_down_stabilization_window_seconds: default_scale_down_window(),
        }
    }
}

/// Rolling update and pod shutdown settings.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new(
    "!(string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])"
).message("maxSurge and maxUnavailable must not both be zero: the rollout could never progress").field_path(".maxSurge"))]
#[x_kube(validation = Rule::new("self.drainDelaySeconds < self.terminationGracePeriodSeconds").message("drainDelaySeconds must be less than terminationGracePeriodSeconds, or the pod is killed while draining").field_path(".drainDelaySeconds"))]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// Pods created above the desired count during a rollout: a number or a percentage like `25%`.
    #[serde(default = "default_max_surge")]
    #[schemars(schema_with = "required_int_or_string")]
    #[x_kube(validation = int_or_percent_rule!("maxSurge"))]
    pub max_surge: IntOrString,

    /// Pods that may be unavailable during a rollout: a number or a percentage. 0 keeps full capacity.
    #[serde(default = "default_max_unavailable")]
    #[schemars(schema_with = "required_int_or_string")]
    #[x_kube(validation = int_or_percent_rule!("maxUnavailable"))]
    pub max_unavailable: IntOrString,

    /// Seconds a rollout may make no progress before it is reported as failed.
    #[serde(default = "default_progress_deadline")]
    #[x_kube(validation = Rule::new("self >= 1").message("progressDeadlineSeconds must be >= 1"))]
    pub progress_deadline_seconds: i32,

    /// Seconds a stopping pod keeps serving (preStop sleep) so endpoints drop it before it exits.
    #[serde(default = "default_drain_delay")]
    #[x_kube(validation = Rule::new("self >= 0").message("drainDelaySeconds must be >= 0"))]
    pub drain_delay_seconds: i32,

    /// Seconds from the stop signal until the pod is killed; must exceed drainDelaySeconds.
    #[serde(default = "default_termination_grace")]
    #[x_kube(validation = Rule::new("self >= 1").message("terminationGracePeriodSeconds must be >= 1"))]
    pub termination_grace_period_seconds: i32,
}

/// IntOrString's own schema is nullable; a defaulted, required field must not accept `null`, which the API
/// server would keep and the operator could not read.
fn required_int_or_string(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    // `nullable: false` stops kube's OptionalIntOrString transform from adding `nullable: true`.
    schemars::json_schema!({ "x-kubernetes-int-or-string": true, "nullable": false })
}

fn default_max_surge() -> IntOrString {
    IntOrString::String("25%".to_string())
}

fn default_max_unavailable() -> IntOrString {
    IntOrString::Int(0)
}

fn default_progress_deadline() -> i32 {
    600
}

fn default_drain_delay() -> i32 {
    5
}

fn default_termination_grace() -> i32 {
    30
}

impl Default for Rollout {
    fn default() -> Self {
        Self {
            max_surge: default_max_surge(),
            max_unavailable: default_max_unavailable(),
            progress_deadline_seconds: default_progress_deadline(),
            drain_delay_seconds: default_drain_delay(),
            termination_grace_period_seconds: default_termination_grace(),
        }
    }
}

/// HTTP probe paths.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Probes {
    /// Path answering 2xx when the pod should get traffic.
    #[serde(default = "default_readiness_path")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self.startsWith('/') && !self.matches('\\\\s')").message("readinessPath must start with / and contain no whitespace"))]
    pub readiness_path: String,

    /// Path answering 2xx while the process is healthy; failing it restarts the container.
    #[serde(default = "default_liveness_path")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self.startsWith('/') && !self.matches('\\\\s')").message("livenessPath must start with / and contain no whitespace"))]
    pub liveness_path: String,
}

fn default_readiness_path() -> String {
    "/readyz".to_string()
}

fn default_liveness_path() -> String {
    "/healthz".to_string()
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            readiness_path: default_readiness_path(),
            liveness_path: default_liveness_path(),
        }
    }
}

/// How the Service exposes the pods.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.nodePort) || self.type != 'ClusterIP'").message("nodePort is only allowed when type is NodePort or LoadBalancer").field_path(".nodePort"))]
#[serde(rename_all = "camelCase")]
pub struct ServiceSettings {
    /// Service type: ClusterIP, NodePort or LoadBalancer.
    #[serde(rename = "type", default)]
    pub type_: ServiceType,

    /// Port the Service listens on; it forwards to the container port.
    #[serde(default = "default_service_port")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("service.port must be between 1 and 65535"))]
    pub port: i32,

    /// Fixed node port for NodePort/LoadBalancer Services; unset = the cluster picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 30000 && self <= 32767").message("nodePort must be between 30000 and 32767"))]
    pub node_port: Option<i32>,
}

fn default_service_port() -> i32 {
    80
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            type_: ServiceType::default(),
            port: default_service_port(),
            node_port: None,
        }
    }
}

/// Service type.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    /// The core/v1 Service `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// PodDisruptionBudget settings: at most one of minAvailable and maxUnavailable.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!(has(self.minAvailable) && has(self.maxUnavailable))").message("set at most one of minAvailable and maxUnavailable"))]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    /// Pods that must stay available during voluntary disruptions: a number or a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = int_or_percent_rule!("minAvailable"))]
    pub min_available: Option<IntOrString>,

    /// Pods that may be down during voluntary disruptions: a number or a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = int_or_percent_rule!("maxUnavailable"))]
    pub max_unavailable: Option<IntOrString>,
}

/// What herd observed of the running service.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatelessServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Pods of the Deployment (the scale subresource's status replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,

    /// Pods that pass their readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,

    /// Pods running the current pod template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,

    /// Pods ready for at least minReadySeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,

    /// Label selector of the pods as a string, for the scale subresource (`kubectl scale`, HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// The image every replica runs once a rollout completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_image: Option<String>,

    /// Latest observations: Available, Progressing and Degraded (meta/v1 Condition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// What the HorizontalPodAutoscaler decided and why (set while autoscaling is enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<crate::traffic::hpa_status::AutoscalingStatus>,
}

/// Condition types herd sets in `status.conditions`.
pub mod condition {
    /// Enough ready replicas serve traffic.
    pub const AVAILABLE: &str = "Available";
    /// A rollout or scale change is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// The spec is invalid, a rollout exceeded its deadline or a child cannot be applied.
    pub const DEGRADED: &str = "Degraded";
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn crd_names_the_resource() {
        let crd = StatelessService::crd();
        assert_eq!(crd.spec.group, "herd.dev");
        assert_eq!(crd.spec.names.kind, "StatelessService");
        assert_eq!(crd.spec.names.short_names, Some(vec!["ssvc".to_string()]));
    }

    #[test]
    fn minimal_manifest_deserializes_with_contract_defaults() {
        let ss: StatelessService = serde_json::from_value(serde_json::json!({
            "apiVersion": "herd.dev/v1alpha1",
            "kind": "StatelessService",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"image": "nginx:1.27"}
        }))
        .unwrap();
        let spec = ss.spec;
        assert_eq!(spec.port, 8080);
        assert_eq!(spec.replicas, None);
        assert!(!spec.autoscaling.enabled);
        assert_eq!(
            (spec.autoscaling.min_replicas, spec.autoscaling.max_replicas),
            (1, 10)
        );
        assert_eq!(
            spec.autoscaling.requests_metric_name,
            "herd_http_requests_per_second"
        );
        assert_eq!(
            spec.autoscaling.behavior.scale_down_stabilization_window_seconds,
            300
        );
        assert_eq!(spec.rollout.max_surge, IntOrString::String("25%".into()));
        assert_eq!(spec.rollout.max_unavailable, IntOrString::Int(0));
        assert_eq!(spec.rollout.drain_delay_seconds, 5);
        assert_eq!(spec.rollout.termination_grace_period_seconds, 30);
        assert_eq!(spec.probes.readiness_path, "/readyz");
        assert_eq!(spec.service.type_, ServiceType::ClusterIP);
        assert_eq!(spec.service.port, 80);
    }

    #[test]
    fn cpu_target_keeps_its_contract_spelling() {
        let json = serde_json::to_value(Autoscaling {
            target_cpu_utilization_percentage: Some(70),
            ..Autoscaling::default()
        })
        .unwrap();
        assert_eq!(json["targetCPUUtilizationPercentage"], 70);
    }

    /// Every rule must compile and pass on a spec that sets every field, or the API server would reject
    /// valid objects (or the CRD itself).
    #[test]
    fn every_cel_rule_accepts_a_full_valid_spec() {
        let crd = serde_json::to_value(StatelessService::crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let object = serde_json::json!({
            "apiVersion": "herd.dev/v1alpha1",
            "kind": "StatelessService",
            "metadata": {"name": "web"},
            "spec": {
                "image": "ghcr.io/acme/web:1.2.3",
                "imagePullPolicy": "IfNotPresent",
                "port": 8080,
                "replicas": 3,
                "autoscaling": {
                    "enabled": true, "minReplicas": 2, "maxReplicas": 5,
                    "targetCPUUtilizationPercentage": 70, "targetRequestsPerSecond": 50.5,
                    "behavior": {"scaleUpStabilizationWindowSeconds": 0, "scaleDownStabilizationWindowSeconds": 60}
                },
                "rollout": {"maxSurge": 1, "maxUnavailable": "10%", "drainDelaySeconds": 5},
                "probes": {"readinessPath": "/ready", "livenessPath": "/live"},
                "service": {"type": "NodePort", "port": 80, "nodePort": 30080},
                "disruption": {"minAvailable": "50%"}
            }
        });
        let result = kube_cel::Validator::new().validate_with_defaults(schema, &object, None);
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn int_or_percent_rule_accepts_counts_and_percentages_only() {
        let crd = serde_json::to_value(StatelessService::crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let check = |surge: serde_json::Value| {
            let object = serde_json::json!({
                "metadata": {"name": "web"},
                "spec": {"image": "web", "rollout": {"maxSurge": surge}}
            });
            kube_cel::Validator::new()
                .validate_with_defaults(schema, &object, None)
                .map_err(|errors| errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>())
        };
        for good in [
            serde_json::json!(2),
            serde_json::json!("1%"),
            serde_json::json!("100%"),
        ] {
            assert!(check(good.clone()).is_ok(), "{good} must pass");
        }
        for bad in [
            serde_json::json!(-1),
            serde_json::json!("5 %"),
            serde_json::json!("101%"),
            serde_json::json!("x%"),
        ] {
            let messages = check(bad.clone()).unwrap_err();
            assert!(
                messages.iter().any(|m| m.starts_with("maxSurge must be")),
                "{bad}: {messages:?}"
            );
        }
    }
}
