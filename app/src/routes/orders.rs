//! Checkout and order history: a cart becomes an order in one atomic store step, at most once per
//! `Idempotency-Key`.

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::parse_bounded;
use crate::{auth::AuthUser, error::AppError, extract::PathSegment, pricing, state::AppState, store::Commit};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Tells a client its retried checkout was answered from the first attempt's order.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;
/// A checkout retries when the cart changed between reading and committing; past this it gives up with 409.
const CHECKOUT_ATTEMPTS: usize = 8;
const MAX_ORDERS_PAGE: usize = 100;
const DEFAULT_ORDERS_PAGE: usize = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", get(list).post(checkout))
        .route("/orders/{id}", get(one))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().ok().filter(|k| {
        (1..=MAX_IDEMPOTENCY_KEY_BYTES).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
    });
    key.map(Some).ok_or_else(|| {
        AppError::BadRequest(format!(
            "the Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} visible ASCII characters"
        ))
    })
}

async fn checkout(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let key = idempotency_key(&headers)?;
    let replayed = |order| {
        let headers = [(REPLAYED, HeaderValue::from_static("true"))];
        (StatusCode::OK, headers, Json(order)).into_response()
    };
    for _ in 0..CHECKOUT_ATTEMPTS {
        let snapshot = state.store.checkout_snapshot(&user, key).await?;
        if let Some(order) = snapshot.replay {
            return Ok(replayed(order));
        }
        if snapshot.cart.is_empty() {
            return Err(AppError::Conflict {
                code: "cart_empty",
                message: "the cart is empty".into(),
            });
        }
        let order = pricing::order(&state.catalog, &snapshot.cart);
        match state
            .store
            .commit_order(&user, snapshot.version, key, &order)
            .await?
        {
            Commit::Created => {
                tracing::info!(user = %user, order = %order.id, total_cents = order.total_cents, "order placed");
                return Ok((StatusCode::CREATED, Json(order)).into_response());
            }
            Commit::Replayed(order) => return Ok(replayed(order)),
            Commit::Conflict => continue,
        }
    }
    Err(AppError::Conflict {
        code: "cart_changed",
        message: "the cart kept changing during checkout; review it and retry".into(),
    })
}

async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(params) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (mut limit, mut offset) = (DEFAULT_ORDERS_PAGE, 0);
    for (name, value) in params {
        match name.as_str() {
            "limit" => limit = parse_bounded("limit", &value, 1, MAX_ORDERS_PAGE)?,
            "offset" => offset = parse_bounded("offset", &value, 0, 100_000)?,
            other => {
                return Err(AppError::BadRequest(format!(
                    "unknown query parameter {other:?}; expected limit or offset"
                )));
            }
        }
    }
    let (orders, total) = state.store.orders(&user, offset, limit).await?;
    Ok(Json(json!({"items": orders, "total": total, "limit": limit, "offset": offset})).into_response())
}

/// Another user's order is indistinguishable from a missing one: both are 404.
async fn one(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    PathSegment(id): PathSegment,
) -> Result<Response, AppError> {
    let not_found = || AppError::NotFound(format!("no order with id {id:?}"));
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(not_found());
    }
    let order = state.store.order(&user, &id).await?.ok_or_else(not_found)?;
    Ok(Json(order).into_response())
}
