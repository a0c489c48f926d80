//! Every endpoint and error path in-process, through the real router, with the in-process store.

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode},
};
use common::{ALICE, BOB, Reply, SECRET, call, login, send, state_with};
use herd_shop::{
    AppState,
    auth::{AUDIENCE, Auth, Claims, ISSUER, unix_now},
    store::MemoryStore,
};
use serde_json::{Value, json};

fn shop() -> (Router, AppState) {
    let state = state_with(Arc::new(MemoryStore::new()), Duration::from_secs(10));
    (herd_shop::app(state.clone()), state)
}

async fn get(app: &Router, path: &str) -> Reply {
    call(app, Method::GET, path, None, None).await
}

fn ids(reply: &Reply) -> Vec<u64> {
    reply.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn lists_products_in_a_stable_order_with_pagination() {
    let (app, _) = shop();
    let first = get(&app, "/products").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["content-type"], "application/json");
    assert!(first.json["total"].as_u64().unwrap() >= 200);
    assert_eq!(ids(&first), (1..=20).collect::<Vec<_>>());
    let page = get(&app, "/products?limit=5&offset=20").await;
    assert_eq!(ids(&page), (21..=25).collect::<Vec<_>>());
    assert_eq!(
        (page.json["limit"].as_u64(), page.json["offset"].as_u64()),
        (Some(5), Some(20))
    );
    let past_the_end = get(&app, "/products?offset=5000").await;
    assert_eq!(past_the_end.status, StatusCode::OK);
    assert!(ids(&past_the_end).is_empty());
    let product = &first.json["items"][0];
    for field in [
        "id",
        "sku",
        "name",
        "description",
        "category",
        "priceCents",
        "currency",
    ] {
        assert!(!product[field].is_null(), "{field} missing in {product}");
    }
}

#[tokio::test]
async fn filters_by_category_and_case_insensitive_search() {
    let (app, _) = shop();
    let books = get(&app, "/products?category=books&limit=100").await;
    assert_eq!(books.status, StatusCode::OK);
    let items = books.json["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, books.json["total"].as_u64().unwrap());
    assert!(!items.is_empty() && items.iter().all(|p| p["category"] == "books"));
    let search = get(&app, "/products?q=TENT").await;
    assert!(search.json["total"].as_u64().unwrap() > 0);
    for p in search.json["items"].as_array().unwrap() {
        let text = format!("{} {}", p["name"], p["description"]).to_lowercase();
        assert!(text.contains("tent"), "{text}");
    }
    let both = get(&app, "/products?category=books&q=tent").await;
    assert_eq!(both.json["total"], 0);
    let encoded = get(&app, "/products?q=cast%20iron").await;
    assert!(encoded.json["total"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn bad_listing_parameters_get_clear_errors() {
    let (app, _) = shop();
    for (path, status, fragment) in [
        (
            "/products?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit must be between 1 and 100",
        ),
        ("/products?limit=101", StatusCode::UNPROCESSABLE_ENTITY, "limit"),
        (
            "/products?limit=abc",
            StatusCode::BAD_REQUEST,
            "limit must be a whole number",
        ),
        ("/products?offset=-3", StatusCode::BAD_REQUEST, "offset"),
        (
            "/products?category=shoes",
            StatusCode::UNPROCESSABLE_ENTITY,
            "category",
        ),
        (
            "/products?sort=price",
            StatusCode::BAD_REQUEST,
            "unknown query parameter",
        ),
    ] {
        let reply = get(&app, path).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.json);
        reply.error_code();
        assert!(
            reply.json["message"].as_str().unwrap().contains(fragment),
            "{path}: {}",
            reply.json
        );
    }
}

#[tokio::test]
async fn single_products_and_categories() {
    let (app, state) = shop();
    let product = get(&app, "/products/7").await;
    assert_eq!(product.status, StatusCode::OK);
    assert_eq!(product.json["id"], 7);
    assert_eq!(
        product.json["priceCents"],
        state.catalog.product(7).unwrap().price_cents
    );
    for missing in ["/products/0", "/products/99999", "/products/abc"] {
        let reply = get(&app, missing).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{missing}"
        );
    }
    let categories = get(&app, "/categories").await;
    let items = categories.json["items"].as_array().unwrap();
    assert!(items.len() >= 5);
    let listed: u64 = items.iter().map(|c| c["productCount"].as_u64().unwrap()).sum();
    assert_eq!(
        listed,
        get(&app, "/products").await.json["total"].as_u64().unwrap()
    );
}

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

#[tokio::test]
async fn cart_add_change_remove_with_totals() {
    let (app, state) = shop();
    let token = login(&app, ALICE).await;
    let t = Some(token.as_str());
    let empty = call(&app, Method::GET, "/cart", t, None).await;
    assert_eq!(
        empty.json,
        json!({"items": [], "itemCount": 0, "subtotalCents": 0, "currency": "USD"})
    );
    call(
        &app,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 3, "quantity": 2})),
    )
    .await;
    let added = call(
        &app,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 1})),
    )
    .await;
    assert_eq!(added.status, StatusCode::OK);
    let price = |id| state.catalog.product(id).unwrap().price_cents;
    let lines: Vec<_> = added.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["productId"].clone(), l["quantity"].clone()))
        .collect();
    assert_eq!(lines, [(json!(1), json!(1)), (json!(3), json!(2))]);
    assert_eq!(added.json["subtotalCents"], price(1) + 2 * price(3));
    let again = call(
        &app,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 3, "quantity": 4})),
    )
    .await;
    assert_eq!(again.json["items"][1]["quantity"], 6);
    let patched = call(
        &app,
        Method::PATCH,
        "/cart/items/3",
        t,
        Some(json!({"quantity": 1})),
    )
    .await;
    assert_eq!(
        (
            patched.json["itemCount"].as_u64(),
            patched.json["subtotalCents"].as_u64()
        ),
        (Some(2), Some(price(1) + price(3)))
    );
    let removed = call(&app, Method::DELETE, "/cart/items/1", t, None).await;
    assert_eq!(removed.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(call(&app, Method::GET, "/cart", t, None).await.json, removed.json);
    let bobs = login(&app, BOB).await;
    assert_eq!(
        call(&app, Method::GET, "/cart", Some(&bobs), None).await.json["itemCount"],
        0
    );
}

#[tokio::test]
async fn cart_errors_leave_the_cart_unchanged() {
    let (app, _) = shop();
    let token = login(&app, ALICE).await;
    let t = Some(token.as_str());
    call(
        &app,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 5, "quantity": 98})),
    )
    .await;
    let before = call(&app, Method::GET, "/cart", t, None).await.json;
    let cases: [(Method, &str, Option<Value>, StatusCode, &str); 9] = [
        (
            Method::POST,
            "/cart/items",
            Some(json!({"productId": 5, "quantity": 2})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_quantity",
        ),
        (
            Method::POST,
            "/cart/items",
            Some(json!({"productId": 6, "quantity": 0})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_quantity",
        ),
        (
            Method::POST,
            "/cart/items",
            Some(json!({"productId": 6, "quantity": -1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_quantity",
        ),
        (
            Method::POST,
            "/cart/items",
            Some(json!({"productId": 6, "quantity": 100})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_quantity",
        ),
        (
            Method::POST,
            "/cart/items",
            Some(json!({"productId": 99999})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::POST,
            "/cart/items",
            Some(json!({"productId": "five"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            Method::PATCH,
            "/cart/items/6",
            Some(json!({"quantity": 1})),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::PATCH,
            "/cart/items/5",
            Some(json!({"quantity": 1000})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_quantity",
        ),
        (
            Method::DELETE,
            "/cart/items/banana",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let reply = call(&app, method.clone(), path, t, body.clone()).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (status, code),
            "{method} {path} {body:?}: {}",
            reply.json
        );
    }
    assert_eq!(call(&app, Method::GET, "/cart", t, None).await.json, before);
}

#[tokio::test]
async fn checkout_turns_the_cart_into_an_order_once_per_idempotency_key() {
    let (app, _) = shop();
    let token = login(&app, ALICE).await;
    let t = Some(token.as_str());
    let empty = call(&app, Method::POST, "/orders", t, None).await;
    assert_eq!(
        (empty.status, empty.error_code()),
        (StatusCode::CONFLICT, "cart_empty")
    );
    let cart = call(
        &app,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 2, "quantity": 3})),
    )
    .await
    .json;
    let checkout = || {
        let request = Request::post("/orders")
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", "order-attempt-1");
        send(&app, request.body(Body::empty()).unwrap())
    };
    let created = checkout().await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let order = created.json.clone();
    assert_eq!(order["items"], cart["items"]);
    assert_eq!(order["subtotalCents"], cart["subtotalCents"]);
    let total = order["subtotalCents"].as_u64().unwrap() + order["shippingCents"].as_u64().unwrap();
    assert_eq!(order["totalCents"], total);
    assert_eq!(
        call(&app, Method::GET, "/cart", t, None).await.json["itemCount"],
        0
    );
    let retried = checkout().await;
    assert_eq!(retried.status, StatusCode::OK);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert_eq!(retried.json, order);
    let listed = call(&app, Method::GET, "/orders", t, None).await;
    assert_eq!(
        (listed.json["total"].as_u64(), &listed.json["items"][0]),
        (Some(1), &order)
    );
    let path = format!("/orders/{}", order["id"].as_str().unwrap());
    assert_eq!(call(&app, Method::GET, &path, t, None).await.json, order);
    let bob = login(&app, BOB).await;
    let foreign = call(&app, Method::GET, &path, Some(&bob), None).await;
    assert_eq!(
        (foreign.status, foreign.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        call(&app, Method::GET, "/orders", Some(&bob), None).await.json["total"],
        0
    );
    for bad in [
        "/orders/not-a-uuid",
        "/orders/00000000-0000-0000-0000-000000000000",
    ] {
        assert_eq!(
            call(&app, Method::GET, bad, t, None).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let bad_key = Request::post("/orders")
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", "");
    assert_eq!(
        send(&app, bad_key.body(Body::empty()).unwrap()).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let (app, _) = shop();
    get(&app, "/products/1").await;
    get(&app, "/products/2").await;
    get(&app, "/nowhere/at/all").await;
    get(&app, "/healthz").await;
    let reply = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = metrics_text(&app).await;
    assert!(
        text.contains(r#"herd_http_requests_total{method="GET",route="/products/{id}",status="200"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"herd_http_requests_total{method="GET",route="unmatched",status="404"} 1"#));
    assert!(text.contains("herd_http_request_duration_seconds_bucket"));
    assert!(text.contains("herd_http_requests_in_flight 0"));
    assert!(
        !text.contains("/products/1\"") && !text.contains("nowhere"),
        "raw paths leaked: {text}"
    );
    assert!(!text.contains("route=\"/healthz\""), "probes are not traffic");
}

async fn metrics_text(app: &Router) -> String {
    use http_body_util::BodyExt;
    let response =
        tower::ServiceExt::oneshot(app.clone(), Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
    String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn readiness_warns_about_the_memory_store_and_fails_while_draining() {
    let (app, state) = shop();
    assert_eq!(get(&app, "/healthz").await.json, json!({"status": "ok"}));
    let ready = get(&app, "/readyz").await;
    assert_eq!(
        (ready.status, &ready.json["store"]),
        (StatusCode::OK, &json!("memory"))
    );
    assert!(
        ready.json["warning"]
            .as_str()
            .unwrap()
            .contains("unsafe with more than one replica")
    );
    state.draining.start();
    let draining = get(&app, "/readyz").await;
    assert_eq!(
        (draining.status, draining.error_code()),
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    );
    assert!(
        draining.json["message"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    assert_eq!(
        get(&app, "/products/1").await.status,
        StatusCode::OK,
        "still serving while draining"
    );
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}
