//! Every endpoint and error path in-process, through the real router, with the in-process store.

#[path = "../common/mod.rs"]
mod common;

mod cart;
mod catalog;
mod operations;
mod session;

use std::{sync::Arc, time::Duration};

use axum::{Router, http::Method};
use common::{Reply, call, state_with};
use herd_shop::{AppState, store::MemoryStore};

fn shop() -> (Router, AppState) {
    let state = state_with(Arc::new(MemoryStore::new()), Duration::from_secs(10));
    (herd_shop::app(state.clone()), state)
}

async fn get(app: &Router, path: &str) -> Reply {
    call(app, Method::GET, path, None, None).await
}
