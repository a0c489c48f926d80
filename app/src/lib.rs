//! herd-shop: a stateless e-commerce API; any replica answers any request, because sessions are signed
//! tokens and carts and orders live in Redis.

pub mod auth;
pub mod catalog;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod pricing;
mod routes;
pub mod serve;
pub mod shutdown;
pub mod state;
pub mod store;

pub use state::AppState;

/// The whole API as a router, ready for [`serve::serve`] or `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}
