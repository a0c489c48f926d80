//! Liveness and readiness for the kubelet: ready means the store answers and no shutdown has begun.

use std::time::Duration;

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

use crate::{error::AppError, state::AppState};

/// A readiness probe must answer before the kubelet's own timeout (1 s by default).
const STORE_PING_TIMEOUT: Duration = Duration::from_millis(800);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Liveness only says the process serves HTTP; a Redis outage must not make the kubelet restart replicas.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    if state.draining.is_draining() {
        return Err(AppError::NotReady("shutting down".into()));
    }
    match tokio::time::timeout(STORE_PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: store ping failed");
            // The cause tells a wrong password or database index apart from an outage.
            return Err(AppError::NotReady(format!(
                "{} store unreachable: {e}",
                state.store.kind()
            )));
        }
        Err(_) => {
            return Err(AppError::NotReady(format!(
                "{} store did not answer in time",
                state.store.kind()
            )));
        }
    }
    let mut body = json!({"status": "ready", "store": state.store.kind()});
    if !state.store.is_shared() {
        body["warning"] = json!(
            "in-process store: carts and orders are not shared and are lost on restart; \
             unsafe with more than one replica (set REDIS_URL)"
        );
    }
    Ok(Json(body))
}
