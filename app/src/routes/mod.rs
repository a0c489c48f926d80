//! The HTTP surface: one router per feature, merged here under the shared middleware.

mod auth;
mod cart;
mod health;
mod metrics;
mod orders;
mod products;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{Method, Uri},
    middleware,
};

use crate::{error::AppError, extract::BODY_LIMIT_BYTES, state::AppState};

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(products::router())
        .merge(auth::router())
        .merge(cart::router())
        .merge(orders::router())
        .merge(health::router())
        .merge(metrics::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        // Outermost, so timeouts and every other error are counted and carry `x-served-by` too.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

async fn not_found(uri: Uri) -> AppError {
    AppError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// Parses `limit`/`offset` values shared by the listing routes: not a number is 400, out of range 422.
fn parse_bounded(name: &str, value: &str, min: usize, max: usize) -> Result<usize, AppError> {
    // Signed, so that `-1` is a number out of range (422) like `0`, not "not a number".
    let number: i64 = value
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{name} must be a whole number, got {value:?}")))?;
    match usize::try_from(number) {
        Ok(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(AppError::invalid(
            "invalid_query",
            format!("{name} must be between {min} and {max}"),
        )),
    }
}
