//! Logging in, tokens, and the JSON error shape for bad bodies, routes and methods.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use herd_shop::auth::{AUDIENCE, Auth, Claims, ISSUER, unix_now};
use serde_json::json;

use crate::{
    common::{ALICE, SECRET, call, login, send},
    get, shop,
};

#[tokio::test]
async fn login_issues_a_token_and_refuses_bad_credentials() {
    let (app, state) = shop();
    let token = login(&app, ALICE).await;
    assert_eq!(state.auth.verify(&token).unwrap().sub, "alice");
    for (user, password) in [("alice", "wrong-password"), ("mallory", "wonderland-42")] {
        let body = json!({"username": user, "password": password});
        let reply = call(&app, Method::POST, "/login", None, Some(body)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(reply.error_code(), "invalid_credentials");
        assert!(
            reply.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    let missing_field = call(
        &app,
        Method::POST,
        "/login",
        None,
        Some(json!({"username": "alice"})),
    )
    .await;
    assert_eq!(missing_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing_field.json["message"]
            .as_str()
            .unwrap()
            .contains("password")
    );
    let empty = call(
        &app,
        Method::POST,
        "/login",
        None,
        Some(json!({"username": "", "password": "x"})),
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
}

fn raw(method: Method, path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body.into()).unwrap()
}

#[tokio::test]
async fn malformed_bodies_get_the_json_error_shape() {
    let (app, _) = shop();
    let json = Some("application/json");
    let cases = [
        (
            raw(Method::POST, "/login", json, "{not json"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            raw(
                Method::POST,
                "/login",
                json,
                r#"{"username": 5, "password": "x"}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            raw(Method::POST, "/login", Some("text/plain"), "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw(Method::POST, "/login", json, vec![b' '; 65 * 1024]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (request, status, code) in cases {
        let reply = send(&app, request).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (status, code),
            "{}",
            reply.json
        );
        assert_eq!(reply.served_by(), "test-replica");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors_naming_the_replica() {
    let (app, _) = shop();
    let missing = get(&app, "/nope").await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(missing.served_by(), "test-replica");
    let wrong_method = call(&app, Method::DELETE, "/products", None, None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.error_code(), "method_not_allowed");
    assert_eq!(get(&app, "/healthz").await.served_by(), "test-replica");
}

fn forged(claims: &Claims, secret: &str) -> String {
    Auth::new(secret.as_bytes(), Duration::from_secs(60))
        .unwrap()
        .sign(claims)
        .unwrap()
}

#[tokio::test]
async fn protected_routes_reject_missing_malformed_expired_and_foreign_tokens() {
    let (app, _) = shop();
    let now = unix_now();
    let claims = |iss: &str, aud: &str, exp: u64| Claims {
        sub: "alice".into(),
        iss: iss.into(),
        aud: aud.into(),
        iat: now - 7200,
        exp,
    };
    let other_key = "another-secret-that-is-32-bytes-or-more";
    let tokens = [
        ("not-a-jwt".to_owned(), "malformed"),
        (forged(&claims(ISSUER, AUDIENCE, now - 3600), SECRET), "expired"),
        (
            forged(&claims(ISSUER, AUDIENCE, now + 3600), other_key),
            "signature",
        ),
        (
            forged(&claims("someone-else", AUDIENCE, now + 3600), SECRET),
            "not issued for this shop",
        ),
        (
            forged(&claims(ISSUER, "another-api", now + 3600), SECRET),
            "not issued for this shop",
        ),
    ];
    let no_token = call(&app, Method::GET, "/cart", None, None).await;
    assert_eq!(
        (no_token.status, no_token.error_code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(
        no_token.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    for (token, fragment) in tokens {
        let reply = call(&app, Method::GET, "/cart", Some(&token), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{fragment}");
        assert!(reply.headers.contains_key("www-authenticate"));
        assert!(
            reply.json["message"].as_str().unwrap().contains(fragment),
            "{}",
            reply.json
        );
    }
    let basic = send(
        &app,
        Request::get("/orders")
            .header("authorization", "Basic YTpi")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    let valid = forged(&claims(ISSUER, AUDIENCE, now + 3600), SECRET);
    assert_eq!(
        call(&app, Method::GET, "/cart", Some(&valid), None).await.status,
        StatusCode::OK
    );
}
