//! An in-process store for running one shop alone: nothing is shared, everything is lost on restart.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use super::{
    Cart, CartChange, CheckoutSnapshot, Commit, MAX_CART_LINES, MAX_QUANTITY, Order, Store, StoreFuture,
};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    carts: HashMap<String, (Cart, u64)>,
    /// Oldest first.
    orders: HashMap<String, Vec<Order>>,
    idempotency: HashMap<(String, String), String>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code path panics while holding the lock, and every critical section leaves the maps
        // consistent, so a poisoned lock still guards valid data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn change(&self, user: &str, edit: impl FnOnce(&mut Cart) -> Option<CartChange>) -> CartChange {
        let mut inner = self.lock();
        let (cart, version) = inner.carts.entry(user.to_owned()).or_default();
        if let Some(refused) = edit(cart) {
            return refused;
        }
        *version += 1;
        CartChange::Updated(cart.clone())
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn is_shared(&self) -> bool {
        false
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        ready(())
    }

    fn cart<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Cart> {
        ready(
            self.lock()
                .carts
                .get(user)
                .map(|(cart, _)| cart.clone())
                .unwrap_or_default(),
        )
    }

    fn add_item<'a>(&'a self, user: &'a str, product: u32, quantity: u32) -> StoreFuture<'a, CartChange> {
        ready(self.change(user, |cart| {
            let current = cart.get(&product).copied().unwrap_or(0);
            if current.saturating_add(quantity) > MAX_QUANTITY {
                return Some(CartChange::QuantityLimit { current });
            }
            if current == 0 && cart.len() >= MAX_CART_LINES {
                return Some(CartChange::CartFull);
            }
            cart.insert(product, current + quantity);
            None
        }))
    }

    fn set_item<'a>(&'a self, user: &'a str, product: u32, quantity: u32) -> StoreFuture<'a, CartChange> {
        ready(self.change(user, |cart| match cart.get_mut(&product) {
            Some(line) => {
                *line = quantity;
                None
            }
            None => Some(CartChange::NotInCart),
        }))
    }

    fn remove_item<'a>(&'a self, user: &'a str, product: u32) -> StoreFuture<'a, CartChange> {
        ready(self.change(user, |cart| {
            cart.remove(&product)
                .map_or(Some(CartChange::NotInCart), |_| None)
        }))
    }

    fn checkout_snapshot<'a>(
        &'a self,
        user: &'a str,
        idempotency_key: Option<&'a str>,
    ) -> StoreFuture<'a, CheckoutSnapshot> {
        let inner = self.lock();
        let (cart, version) = inner.carts.get(user).cloned().unwrap_or_default();
        let replay = idempotency_key
            .and_then(|key| inner.idempotency.get(&(user.to_owned(), key.to_owned())))
            .and_then(|id| find_order(&inner, user, id));
        ready(CheckoutSnapshot {
            cart,
            version,
            replay,
        })
    }

    fn commit_order<'a>(
        &'a self,
        user: &'a str,
        expected_version: u64,
        idempotency_key: Option<&'a str>,
        order: &'a Order,
    ) -> StoreFuture<'a, Commit> {
        let mut inner = self.lock();
        let idempotency = idempotency_key.map(|key| (user.to_owned(), key.to_owned()));
        if let Some(existing) = idempotency.as_ref().and_then(|k| inner.idempotency.get(k)) {
            let existing = existing.clone();
            return match find_order(&inner, user, &existing) {
                Some(order) => ready(Commit::Replayed(order)),
                None => Box::pin(std::future::ready(Err(super::StoreError::Corrupt(format!(
                    "idempotency key points at missing order {existing}"
                ))))),
            };
        }
        let (cart, version) = inner.carts.entry(user.to_owned()).or_default();
        if *version != expected_version {
            return ready(Commit::Conflict);
        }
        cart.clear();
        *version += 1;
        inner
            .orders
            .entry(user.to_owned())
            .or_default()
            .push(order.clone());
        if let Some(key) = idempotency {
            inner.idempotency.insert(key, order.id.clone());
        }
        ready(Commit::Created)
    }

    fn orders<'a>(
        &'a self,
        user: &'a str,
        offset: usize,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<Order>, usize)> {
        let inner = self.lock();
        let all = inner.orders.get(user).map(Vec::as_slice).unwrap_or_default();
        let page = all.iter().rev().skip(offset).take(limit).cloned().collect();
        ready((page, all.len()))
    }

    fn order<'a>(&'a self, user: &'a str, id: &'a str) -> StoreFuture<'a, Option<Order>> {
        ready(find_order(&self.lock(), user, id))
    }
}

fn find_order(inner: &Inner, user: &str, id: &str) -> Option<Order> {
    inner.orders.get(user)?.iter().find(|o| o.id == id).cloned()
}
