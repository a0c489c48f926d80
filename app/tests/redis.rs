//! The Redis store against a real redis-server: carts, atomic and idempotent checkout, and recovery
//! after Redis restarts.

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode},
};
use common::{ALICE, BOB, RedisServer, call, eventually, login, send, state_with};
use herd_shop::store::RedisStore;
use serde_json::json;

fn shop(redis: &RedisServer) -> Router {
    let store = RedisStore::new(&redis.url()).unwrap();
    herd_shop::app(state_with(Arc::new(store), Duration::from_secs(10)))
}

fn checkout(token: &str, key: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/orders").header("authorization", format!("Bearer {token}"));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn carts_live_in_redis_and_survive_a_new_shop_instance() {
    let Some(redis) = RedisServer::start() else { return };
    let first = shop(&redis);
    let token = login(&first, ALICE).await;
    let t = Some(token.as_str());
    call(
        &first,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 10, "quantity": 2})),
    )
    .await;
    call(
        &first,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 4})),
    )
    .await;
    call(
        &first,
        Method::PATCH,
        "/cart/items/10",
        t,
        Some(json!({"quantity": 5})),
    )
    .await;
    let expected = call(&first, Method::GET, "/cart", t, None).await.json;
    assert_eq!(expected["itemCount"], 6);
    // A second shop with nothing in common but Redis sees the same cart.
    let second = shop(&redis);
    assert_eq!(call(&second, Method::GET, "/cart", t, None).await.json, expected);
    let over = call(
        &second,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 10, "quantity": 95})),
    )
    .await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    let gone = call(&second, Method::DELETE, "/cart/items/4", t, None).await;
    assert_eq!(gone.json["itemCount"], 5);
    let again = call(&first, Method::DELETE, "/cart/items/4", t, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let ready = call(&first, Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (ready.status, &ready.json["store"]),
        (StatusCode::OK, &json!("redis"))
    );
    assert!(ready.json.get("warning").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkouts_of_one_cart_create_exactly_one_order() {
    let Some(redis) = RedisServer::start() else { return };
    let app = shop(&redis);
    let token = login(&app, ALICE).await;
    call(
        &app,
        Method::POST,
        "/cart/items",
        Some(&token),
        Some(json!({"productId": 8, "quantity": 3})),
    )
    .await;
    let attempts = (0..20).map(|_| {
        let (app, request) = (app.clone(), checkout(&token, None));
        tokio::spawn(async move { send(&app, request).await })
    });
    let replies = futures_join(attempts).await;
    let created: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "statuses: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert!(["cart_empty", "cart_changed"].contains(&reply.error_code()));
    }
    let orders = call(&app, Method::GET, "/orders", Some(&token), None).await.json;
    assert_eq!(orders["total"], 1);
    assert_eq!(orders["items"][0], created[0].json);
    assert_eq!(
        call(&app, Method::GET, "/cart", Some(&token), None).await.json["itemCount"],
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_idempotency_key_return_the_same_order() {
    let Some(redis) = RedisServer::start() else { return };
    let app = shop(&redis);
    let token = login(&app, BOB).await;
    call(
        &app,
        Method::POST,
        "/cart/items",
        Some(&token),
        Some(json!({"productId": 33})),
    )
    .await;
    let attempts = (0..10).map(|_| {
        let (app, request) = (app.clone(), checkout(&token, Some("retry-me")));
        tokio::spawn(async move { send(&app, request).await })
    });
    let replies = futures_join(attempts).await;
    let first = &replies[0].json;
    assert!(first["id"].is_string(), "{first}");
    for reply in &replies {
        assert!(
            reply.status == StatusCode::CREATED || reply.status == StatusCode::OK,
            "{}",
            reply.json
        );
        assert_eq!(&reply.json, first);
    }
    assert_eq!(
        replies.iter().filter(|r| r.status == StatusCode::CREATED).count(),
        1
    );
    // Later, with a new cart, the old key still answers with the old order; a new key makes a new one.
    call(
        &app,
        Method::POST,
        "/cart/items",
        Some(&token),
        Some(json!({"productId": 34})),
    )
    .await;
    assert_eq!(&send(&app, checkout(&token, Some("retry-me"))).await.json, first);
    let second = send(&app, checkout(&token, Some("another-key"))).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_ne!(second.json["id"], first["id"]);
    let orders = call(&app, Method::GET, "/orders", Some(&token), None).await.json;
    assert_eq!(orders["total"], 2);
    assert_eq!(orders["items"][0]["id"], second.json["id"], "newest first");
    let page = call(&app, Method::GET, "/orders?limit=1&offset=1", Some(&token), None)
        .await
        .json;
    assert_eq!(page["items"][0]["id"], first["id"]);
}

#[tokio::test]
async fn redis_restart_gives_503_then_recovers_without_a_shop_restart() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let app = shop(&redis);
    let token = login(&app, ALICE).await;
    let t = Some(token.as_str());
    assert_eq!(
        call(&app, Method::GET, "/cart", t, None).await.status,
        StatusCode::OK
    );
    redis.kill();
    let down = call(&app, Method::GET, "/cart", t, None).await;
    assert_eq!(
        (down.status, down.error_code()),
        (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
    );
    let add = call(
        &app,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 1})),
    )
    .await;
    assert_eq!(add.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        call(&app, Method::GET, "/readyz", None, None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    redis.restart();
    let recovered = eventually(Duration::from_secs(15), async || {
        call(&app, Method::GET, "/readyz", None, None).await.status == StatusCode::OK
    })
    .await;
    assert!(
        recovered,
        "the shop never became ready again after Redis came back"
    );
    // Scripts were flushed with the restart; they must be reloaded transparently.
    let add = call(
        &app,
        Method::POST,
        "/cart/items",
        t,
        Some(json!({"productId": 1})),
    )
    .await;
    assert_eq!(add.status, StatusCode::OK, "{}", add.json);
    let order = send(&app, checkout(&token, Some("after-restart"))).await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.json);
}

async fn futures_join<T: Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn readiness_names_a_permanent_redis_misconfiguration() {
    let Some(redis) = RedisServer::start() else { return };
    // redis-server has 16 databases: index 99 is refused on every connection, not a passing outage.
    let url = format!("{}99", redis.url());
    let store = RedisStore::new(&url).unwrap();
    let app = herd_shop::app(state_with(Arc::new(store), Duration::from_secs(10)));
    let ready = call(&app, Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let message = ready.json["message"].as_str().unwrap();
    assert!(message.contains("DB index is out of range"), "{message}");
}
