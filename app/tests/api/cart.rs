//! The cart and checkout of the token's user.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use serde_json::{Value, json};

use crate::{
    common::{ALICE, BOB, call, login, send},
    shop,
};

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
