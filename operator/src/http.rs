//! The probe and metrics server: `/healthz`, `/readyz` and `/metrics` on the probe address.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Router, routing::get};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Liveness and readiness as seen by the watches: the controller is unhealthy when a watch has failed without
/// a single success for longer than `dead_after`, or when the controller stopped.
pub struct Health {
    dead_after: Duration,
    /// Per watched kind: since when it has been failing without a success in between.
    failing_since: Mutex<BTreeMap<&'static str, Option<Instant>>>,
    ready: AtomicBool,
    stopped: AtomicBool,
}

impl Health {
    pub fn new(dead_after: Duration) -> Self {
        Self {
            dead_after,
            failing_since: Mutex::default(),
            ready: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    /// Records one item of a watch stream: any event (including list pages) proves the watch alive.
    /// An idle watch yields nothing, which is fine: only failures start the clock.
    pub fn observe_watch(&self, kind: &'static str, ok: bool, now: Instant) {
        let mut failing = self
            .failing_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let since = failing.entry(kind).or_insert(None);
        match (ok, *since) {
            (true, _) => *since = None,
            (false, None) => *since = Some(now),
            (false, Some(_)) => {}
        }
    }

    /// Every cache listed once.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The controller loop ended; the process should be restarted if it is still running.
    pub fn set_stopped(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.stopped.load(Ordering::Relaxed)
    }

    /// Ok, or the reason the process is unhealthy.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        if self.stopped.load(Ordering::Relaxed) {
            return Err("the controller stopped".into());
        }
        let failing = self
            .failing_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dead: Vec<String> = failing
            .iter()
            .filter_map(|(kind, since)| {
                let for_how_long = now.saturating_duration_since((*since)?);
                (for_how_long > self.dead_after)
                    .then(|| format!("{kind} watch failing for {}s", for_how_long.as_secs()))
            })
            .collect();
        if dead.is_empty() {
            Ok(())
        } else {
            Err(dead.join(", "))
        }
    }
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    registry: Arc<Registry>,
}

/// The probe/metrics routes, separate from binding so tests drive them in-process.
pub fn router(health: Arc<Health>, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AppState { health, registry })
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.health.check(Instant::now()) {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced\n")
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!("encoding metrics failed: {error}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves `router` on `addr` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // With port 0 the kernel picks: log the address actually bound.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(router: &Router, path: &str) -> (StatusCode, String) {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readyz_turns_ready_once_caches_synced() {
        let health = Arc::new(Health::new(Duration::from_secs(60)));
        let router = router(health.clone(), Arc::new(Registry::default()));
        assert_eq!(get(&router, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        health.set_ready();
        assert_eq!(get(&router, "/readyz").await.0, StatusCode::OK);
        health.set_stopped();
        assert_eq!(get(&router, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_watch_failing_past_the_bound_is_unhealthy_until_it_recovers() {
        let health = Health::new(Duration::from_secs(60));
        let start = Instant::now();
        health.observe_watch("Deployment", true, start);
        health.observe_watch("Deployment", false, start);
        health.observe_watch("Deployment", false, start + Duration::from_secs(30));
        assert_eq!(health.check(start + Duration::from_secs(59)), Ok(()));
        let reason = health.check(start + Duration::from_secs(61)).unwrap_err();
        assert!(reason.contains("Deployment watch failing for 61s"), "{reason}");
        health.observe_watch("Deployment", true, start + Duration::from_secs(62));
        assert_eq!(health.check(start + Duration::from_secs(120)), Ok(()));
    }

    #[tokio::test]
    async fn healthz_reports_the_dead_watch_and_metrics_serve_openmetrics() {
        let health = Arc::new(Health::new(Duration::ZERO));
        let mut registry = Registry::default();
        let metrics = crate::metrics::Metrics::default().register(&mut registry);
        metrics.record_watch_error("Service");
        let router = router(health.clone(), Arc::new(registry));
        assert_eq!(get(&router, "/healthz").await, (StatusCode::OK, "ok\n".into()));
        health.observe_watch("Service", false, Instant::now() - Duration::from_secs(5));
        let (status, body) = get(&router, "/healthz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("Service watch failing"), "{body}");
        let (status, body) = get(&router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("herd_watch_errors_total{kind=\"Service\"} 1"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
