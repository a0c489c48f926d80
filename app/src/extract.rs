//! Extractors whose rejections use the API's JSON error shape instead of axum's plain-text bodies.

use axum::{
    extract::{FromRequest, FromRequestParts, Request, rejection::JsonRejection},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Request bodies are small JSON documents; anything bigger is refused with 413.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// `axum::Json` with JSON errors: malformed JSON 400, wrong types or missing fields 422, too big 413.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::JsonDataError(e) => AppError::invalid("invalid_body", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => AppError::BadRequest(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            AppError::UnsupportedMediaType("expected a body with `content-type: application/json`".into())
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::PayloadTooLarge(BODY_LIMIT_BYTES)
        }
        other => AppError::BadRequest(other.body_text()),
    }
}

/// The raw path segment; handlers parse it themselves so an unknown or malformed id is one clear 404.
pub struct PathSegment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathSegment {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(segment)) => Ok(PathSegment(segment)),
            Err(rejection) => Err(AppError::BadRequest(rejection.body_text())),
        }
    }
}
