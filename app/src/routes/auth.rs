//! `POST /login`: trade a demo user's password for a session token any replica accepts.

use axum::{Json as AxumJson, Router, extract::State, routing::post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    auth::{MAX_PASSWORD_BYTES, MAX_USERNAME_BYTES},
    error::AppError,
    extract::Json,
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/login", post(login))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

async fn login(State(state): State<AppState>, Json(body): Json<Login>) -> Result<AxumJson<Value>, AppError> {
    if body.username.is_empty() || body.username.len() > MAX_USERNAME_BYTES {
        return Err(AppError::invalid(
            "invalid_body",
            format!("username must be 1 to {MAX_USERNAME_BYTES} bytes"),
        ));
    }
    if body.password.is_empty() || body.password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid(
            "invalid_body",
            format!("password must be 1 to {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if !state.auth.check_password(&body.username, &body.password).await? {
        return Err(AppError::InvalidCredentials("unknown username or wrong password"));
    }
    let token = state.auth.issue(&body.username)?;
    tracing::info!(user = %body.username, "logged in");
    Ok(AxumJson(json!({
        "token": token,
        "tokenType": "Bearer",
        "expiresIn": state.auth.ttl().as_secs(),
        "username": body.username,
    })))
}
