//! Where carts and orders live: Redis in production, an in-process map for trying the shop out alone.

mod memory;
mod redis;

use std::{collections::BTreeMap, future::Future, pin::Pin};

use serde::{Deserialize, Serialize};

pub use self::{memory::MemoryStore, redis::RedisStore};

/// Most of one product a cart may hold.
pub const MAX_QUANTITY: u32 = 99;
/// Most distinct products one cart may hold, so a cart stays a small document.
pub const MAX_CART_LINES: usize = 50;
/// How long a checkout's `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECONDS: u64 = 24 * 60 * 60;

/// Product id → quantity, ordered by product id so carts always list the same way.
pub type Cart = BTreeMap<u32, u32>;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis request failed: {0}")]
    Unavailable(#[from] ::redis::RedisError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// The result of a cart mutation; the non-`Updated` cases leave the cart unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartChange {
    Updated(Cart),
    NotInCart,
    /// Adding would exceed `MAX_QUANTITY`; `current` is what the cart holds now.
    QuantityLimit {
        current: u32,
    },
    /// The product is new to a cart that already has `MAX_CART_LINES` lines.
    CartFull,
}

/// What a checkout starts from, read in one atomic step.
#[derive(Debug, Clone)]
pub struct CheckoutSnapshot {
    pub cart: Cart,
    /// Bumped by every cart change; the commit succeeds only if it is still this value.
    pub version: u64,
    /// The order an earlier checkout with the same idempotency key created.
    pub replay: Option<Order>,
}

#[derive(Debug, Clone)]
pub enum Commit {
    Created,
    /// Another request with the same idempotency key won; this is its order.
    Replayed(Order),
    /// The cart changed since the snapshot; nothing was written.
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: u32,
    pub sku: String,
    pub name: String,
    pub unit_price_cents: u64,
    pub quantity: u32,
    pub line_total_cents: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub created_at: String,
    pub items: Vec<OrderLine>,
    pub item_count: u32,
    pub subtotal_cents: u64,
    pub shipping_cents: u64,
    pub total_cents: u64,
    pub currency: String,
}

/// Storage for everything that must survive a replica: every method is one atomic step in the store.
pub trait Store: Send + Sync + 'static {
    /// "redis" or "memory", shown by `/readyz`.
    fn kind(&self) -> &'static str;
    /// Whether this store is shared by all replicas.
    fn is_shared(&self) -> bool;
    fn ping(&self) -> StoreFuture<'_, ()>;
    fn cart<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Cart>;
    /// Adds `quantity` to the product's line, creating it if needed.
    fn add_item<'a>(&'a self, user: &'a str, product: u32, quantity: u32) -> StoreFuture<'a, CartChange>;
    /// Sets the quantity of a line already in the cart.
    fn set_item<'a>(&'a self, user: &'a str, product: u32, quantity: u32) -> StoreFuture<'a, CartChange>;
    fn remove_item<'a>(&'a self, user: &'a str, product: u32) -> StoreFuture<'a, CartChange>;
    fn checkout_snapshot<'a>(
        &'a self,
        user: &'a str,
        idempotency_key: Option<&'a str>,
    ) -> StoreFuture<'a, CheckoutSnapshot>;
    /// Stores `order`, empties the cart and remembers the idempotency key, if the cart is still at
    /// `expected_version` and the key is unused.
    fn commit_order<'a>(
        &'a self,
        user: &'a str,
        expected_version: u64,
        idempotency_key: Option<&'a str>,
        order: &'a Order,
    ) -> StoreFuture<'a, Commit>;
    /// The user's orders newest first, and how many there are in all.
    fn orders<'a>(
        &'a self,
        user: &'a str,
        offset: usize,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<Order>, usize)>;
    fn order<'a>(&'a self, user: &'a str, id: &'a str) -> StoreFuture<'a, Option<Order>>;
}
