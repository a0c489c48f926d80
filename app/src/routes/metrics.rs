//! The Prometheus scrape endpoint.

use axum::{
    Router,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{error::AppError, state::AppState};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let text = state.metrics.encode().map_err(|e| AppError::Internal(e.into()))?;
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response())
}
