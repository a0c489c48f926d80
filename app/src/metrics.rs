//! Prometheus metrics and the middleware that records every request and names the replica that served it.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{error::AppError, state::AppState};

pub const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
/// The route label of requests no route matched; raw paths would make the label set unbounded.
const UNMATCHED_ROUTE: &str = "unmatched";
/// Probes and scrapes are not traffic: counting them would make an idle shop look busy to the autoscaler.
const UNCOUNTED_ROUTES: &[&str] = &["/healthz", "/readyz", "/metrics"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~4 s: catalog reads are sub-millisecond, logins take tens of milliseconds.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 14,
    ))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let in_flight = Gauge::default();
        // prometheus-client appends `_total` to counters: this is `herd_http_requests_total`.
        registry.register(
            "herd_http_requests",
            "HTTP requests answered, by route template",
            requests.clone(),
        );
        registry.register(
            "herd_http_request_duration_seconds",
            "Time from request to response head, by route template",
            latency.clone(),
        );
        registry.register(
            "herd_http_requests_in_flight",
            "Requests being served now",
            in_flight.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Bounded method label: anything unusual is "other" so a client cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Outermost middleware: bounds, counts, times and tags every response, errors and timeouts included.
/// One layer rather than two because it runs on every request of the hot catalog route.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let counted = route.as_deref().is_none_or(|r| !UNCOUNTED_ROUTES.contains(&r));
    let method = method_label(request.method());
    let metrics = &state.metrics;
    let started = Instant::now();
    // A guard, so a request whose client went away (its future dropped) still leaves the gauge.
    let in_flight = counted.then(|| InFlight::enter(&metrics.in_flight));
    // Dropping the handler's future on timeout cancels whatever store call it was waiting on.
    let mut response = match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::Timeout(state.request_timeout.as_secs()).into_response(),
    };
    drop(in_flight);
    if counted {
        let labels = RouteLabels {
            method,
            route: route.unwrap_or_else(|| UNMATCHED_ROUTE.to_owned()),
        };
        metrics
            .latency
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        let labels = RequestLabels {
            method,
            route: labels.route,
            status: response.status().as_u16(),
        };
        metrics.requests.get_or_create(&labels).inc();
    }
    response.headers_mut().insert(SERVED_BY, state.served_by.clone());
    response
}

struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
