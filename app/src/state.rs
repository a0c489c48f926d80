//! What every handler shares: the catalog, the store, the signing key, metrics and the replica's name.

use std::{sync::Arc, time::Duration};

use axum::http::HeaderValue;

use crate::{auth::Auth, catalog::Catalog, metrics::Metrics, shutdown::Draining, store::Store};

/// Cheap to clone; nothing in it is per-user, so any replica can serve any request.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub store: Arc<dyn Store>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    /// The `x-served-by` value: this replica's pod name.
    pub served_by: HeaderValue,
    pub draining: Draining,
    pub request_timeout: Duration,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, auth: Auth, served_by: HeaderValue, request_timeout: Duration) -> Self {
        AppState {
            catalog: Arc::new(Catalog::seeded()),
            store,
            auth: Arc::new(auth),
            metrics: Arc::new(Metrics::default()),
            served_by,
            draining: Draining::default(),
            request_timeout,
        }
    }
}
