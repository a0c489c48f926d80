//! What a client sees when the store is slow or gone: a JSON 504 or 503, never a hang or a panic.

mod common;

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use common::{ALICE, call, free_port, login, state_with};
use herd_shop::store::{
    Cart, CartChange, CheckoutSnapshot, Commit, MemoryStore, Order, RedisStore, Store, StoreFuture,
};

/// The memory store, except that reading a cart never finishes in time.
struct StuckCarts(MemoryStore);

impl Store for StuckCarts {
    fn kind(&self) -> &'static str {
        "stuck"
    }
    fn is_shared(&self) -> bool {
        false
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        self.0.ping()
    }
    fn cart<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Cart> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Cart::new())
        })
    }
    fn add_item<'a>(&'a self, u: &'a str, p: u32, q: u32) -> StoreFuture<'a, CartChange> {
        self.0.add_item(u, p, q)
    }
    fn set_item<'a>(&'a self, u: &'a str, p: u32, q: u32) -> StoreFuture<'a, CartChange> {
        self.0.set_item(u, p, q)
    }
    fn remove_item<'a>(&'a self, u: &'a str, p: u32) -> StoreFuture<'a, CartChange> {
        self.0.remove_item(u, p)
    }
    fn checkout_snapshot<'a>(&'a self, u: &'a str, k: Option<&'a str>) -> StoreFuture<'a, CheckoutSnapshot> {
        self.0.checkout_snapshot(u, k)
    }
    fn commit_order<'a>(
        &'a self,
        u: &'a str,
        v: u64,
        k: Option<&'a str>,
        o: &'a Order,
    ) -> StoreFuture<'a, Commit> {
        self.0.commit_order(u, v, k, o)
    }
    fn orders<'a>(&'a self, u: &'a str, off: usize, lim: usize) -> StoreFuture<'a, (Vec<Order>, usize)> {
        self.0.orders(u, off, lim)
    }
    fn order<'a>(&'a self, u: &'a str, id: &'a str) -> StoreFuture<'a, Option<Order>> {
        self.0.order(u, id)
    }
}

#[tokio::test]
async fn a_request_that_takes_too_long_gets_a_json_504() {
    let state = state_with(
        Arc::new(StuckCarts(MemoryStore::new())),
        Duration::from_millis(300),
    );
    let app = herd_shop::app(state);
    let token = login(&app, ALICE).await;
    let reply = call(&app, Method::GET, "/cart", Some(&token), None).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::GATEWAY_TIMEOUT, "timeout")
    );
    assert_eq!(reply.served_by(), "test-replica");
    // Other routes are unaffected.
    assert_eq!(
        call(&app, Method::GET, "/products", None, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_503_and_not_ready() {
    // Nothing listens on this port: connections are refused, as when Redis is down.
    let store = RedisStore::new(&format!("redis://127.0.0.1:{}/", free_port())).unwrap();
    let app = herd_shop::app(state_with(Arc::new(store), Duration::from_secs(10)));
    let token = login(&app, ALICE).await;
    for (method, path) in [
        (Method::GET, "/cart"),
        (Method::POST, "/orders"),
        (Method::GET, "/orders"),
    ] {
        let reply = call(&app, method, path, Some(&token), None).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            "{path}"
        );
        let message = reply.json["message"].as_str().unwrap();
        assert!(
            message.contains("Redis") && !message.contains("refused"),
            "cause leaked: {message}"
        );
        assert_eq!(reply.headers["retry-after"], "1");
    }
    let ready = call(&app, Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (ready.status, ready.error_code()),
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    );
    assert!(ready.json["message"].as_str().unwrap().contains("redis"));
    // The catalog needs no store and keeps answering.
    assert_eq!(
        call(&app, Method::GET, "/products/1", None, None).await.status,
        StatusCode::OK
    );
}
