//! The `custom.metrics.k8s.io/v1beta2` API: discovery documents, per-pod metric values and Status errors.

use super::auth::{self, Attributes, Authorizer, PeerIdentity, RequestHeaderAuth};
use super::selector::Selector;
use super::selfmetrics::SourceMetrics;
use super::store::{PodValue, Store};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, GroupVersionForDiscovery, LabelSelector, ListMeta,
    Status, StatusDetails, Time,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

pub const GROUP: &str = "custom.metrics.k8s.io";
pub const VERSION: &str = "v1beta2";
pub const GROUP_VERSION: &str = "custom.metrics.k8s.io/v1beta2";

/// What every handler reads.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub metrics: Arc<SourceMetrics>,
    pub authn: Arc<RequestHeaderAuth>,
    pub authz: Arc<dyn Authorizer>,
}

/// The router. Health and the source's own metrics need no client certificate (kube-apiserver and kubelet
/// probes present none); everything under `/apis` needs the aggregator's certificate and an allowed user.
pub fn router(state: ApiState) -> Router {
    let apis = Router::new()
        .route("/apis", get(group_list))
        .route("/apis/custom.metrics.k8s.io", get(group))
        .route("/apis/custom.metrics.k8s.io/v1beta2", get(resource_list))
        .route(
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/pods/{pod}/{metric}",
            get(pod_metric),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            authenticate_and_authorize,
        ));
    Router::new()
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/metrics", get(own_metrics))
        .merge(apis)
        .with_state(state)
}

async fn ok() -> &'static str {
    "ok"
}

async fn own_metrics(State(state): State<ApiState>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// A Kubernetes `Status` failure, the error shape every API client understands.
#[derive(Debug)]
pub struct ApiError {
    code: StatusCode,
    reason: &'static str,
    message: String,
    details: Option<StatusDetails>,
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn metric_not_found(metric: &str, pod: Option<&str>) -> Self {
        let message = match pod {
            Some(pod) => format!("the server could not find the metric {metric} for pods {pod}"),
            None => format!("the server could not find the metric {metric} for pods"),
        };
        ApiError {
            details: Some(StatusDetails {
                group: Some(GROUP.to_string()),
                kind: Some("pods".to_string()),
                name: Some(pod.unwrap_or(metric).to_string()),
                ..StatusDetails::default()
            }),
            ..ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = Status {
            code: Some(i32::from(self.code.as_u16())),
            details: self.details,
            message: Some(self.message),
            metadata: ListMeta::default(),
            reason: Some(self.reason.to_string()),
            status: Some("Failure".to_string()),
        };
        (self.code, Json(status)).into_response()
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("the server could not find {}", request.uri().path()),
    )
}

async fn authenticate_and_authorize(
    State(state): State<ApiState>,
    peer: Option<Extension<PeerIdentity>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let user = state
        .authn
        .authenticate(peer.as_ref().map(|Extension(p)| p), request.headers())
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", e.to_string()))?;
    let attributes = Attributes::for_request(request.method(), request.uri().path());
    let decision = state.authz.authorize(&user, &attributes).await.map_err(|e| {
        tracing::warn!(error = %e, "authorization check failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "authorization check failed",
        )
    })?;
    if !decision.allowed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            auth::forbidden_message(&user, &attributes),
        ));
    }
    Ok(next.run(request).await)
}

fn group_version() -> GroupVersionForDiscovery {
    GroupVersionForDiscovery {
        group_version: GROUP_VERSION.to_string(),
        version: VERSION.to_string(),
    }
}

fn api_group() -> APIGroup {
    APIGroup {
        name: GROUP.to_string(),
        versions: vec![group_version()],
        preferred_version: Some(group_version()),
        server_address_by_client_cidrs: None,
    }
}

async fn group_list() -> Json<APIGroupList> {
    Json(APIGroupList {
        groups: vec![api_group()],
    })
}

async fn group() -> Json<APIGroup> {
    Json(api_group())
}

async fn resource_list(State(state): State<ApiState>) -> Json<APIResourceList> {
    let resources = state
        .store
        .metric_names()
        .into_iter()
        .map(|metric| APIResource {
            name: format!("pods/{metric}"),
            singular_name: String::new(),
            namespaced: true,
            kind: "MetricValueList".to_string(),
            verbs: vec!["get".to_string()],
            ..APIResource::default()
        })
        .collect();
    Json(APIResourceList {
        group_version: GROUP_VERSION.to_string(),
        resources,
    })
}

/// `custom.metrics.k8s.io/v1beta2` MetricValueList, as the HPA's metrics client decodes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricValueList {
    api_version: &'static str,
    kind: &'static str,
    metadata: ListMeta,
    items: Vec<MetricValue>,
}

/// One pod's value. `api_version`/`kind` are set only when it is the whole answer (single-pod GET).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    described_object: ObjectReference,
    metric: MetricIdentifier,
    timestamp: Time,
    window_seconds: i64,
    value: String,
}

#[derive(Serialize)]
pub struct MetricIdentifier {
    name: String,
    /// Upstream serializes a nil selector as `null` (no omitempty); herd's metrics carry no labels.
    selector: Option<LabelSelector>,
}

/// A rate as a Kubernetes quantity in the canonical form: whole numbers plain, otherwise milli-units
/// (`12500m`). The HPA reads `MilliValue()`, so milli precision is all that reaches it.
pub fn quantity(per_second: f64) -> String {
    let milli = (per_second * 1000.0).round().max(0.0) as i64;
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

fn metric_value(value: PodValue, metric: &str, whole_answer: bool) -> MetricValue {
    MetricValue {
        api_version: whole_answer.then_some(GROUP_VERSION),
        kind: whole_answer.then_some("MetricValue"),
        described_object: ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Pod".to_string()),
            name: Some(value.pod),
            namespace: Some(value.namespace),
            ..ObjectReference::default()
        },
        metric: MetricIdentifier {
            name: metric.to_string(),
            selector: None,
        },
        timestamp: Time(value.timestamp),
        window_seconds: i64::try_from(value.window.as_secs()).unwrap_or(i64::MAX),
        value: quantity(value.per_second),
    }
}

/// `…/namespaces/{ns}/pods/*/{metric}?labelSelector=…` (every matching pod, what the HPA asks) and
/// `…/namespaces/{ns}/pods/{pod}/{metric}` (one pod).
async fn pod_metric(
    State(state): State<ApiState>,
    Path((namespace, pod, metric)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if !state.store.knows_metric(&metric) {
        return Err(ApiError::metric_not_found(&metric, None));
    }
    let now = state.store.now();
    if pod != "*" {
        let value = state
            .store
            .value(&namespace, &pod, &metric, now)
            .ok_or_else(|| ApiError::metric_not_found(&metric, Some(&pod)))?;
        return Ok(Json(metric_value(value, &metric, true)).into_response());
    }
    let selector = Selector::parse(query.get("labelSelector").map_or("", String::as_str)).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("labelSelector: {e}"),
        )
    })?;
    let items = state
        .store
        .values(&namespace, &metric, &selector, now)
        .into_iter()
        .map(|value| metric_value(value, &metric, false))
        .collect();
    let list = MetricValueList {
        api_version: GROUP_VERSION,
        kind: "MetricValueList",
        metadata: ListMeta::default(),
        items,
    };
    Ok(Json(list).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_canonical_milli_values() {
        for (rate, text) in [
            (12.5, "12500m"),
            (40.0, "40"),
            (0.0, "0"),
            (0.0004, "0"),
            (0.0016, "2m"),
            (1.23456, "1235m"),
        ] {
            assert_eq!(quantity(rate), text, "{rate}");
        }
    }
}
