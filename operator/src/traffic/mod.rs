//! herd's own custom-metrics source: per-pod request rates served as `custom.metrics.k8s.io/v1beta2`.
//!
//! Design: the source is a mode of the operator binary (`herd-operator metrics-api`) that runs as its own
//! Deployment. It is a separate process on purpose: it needs rights the reconciler does not (list/watch pods,
//! delegated authentication and authorization, a TLS serving certificate), it talks to every pod on a short
//! interval, and a crash, a stuck scrape or a flood of HPA queries there can never block reconciliation.
//!
//! Data flows one way: discovery (StatelessServices + ready pods) → targets → scraper → [`store::Store`] →
//! API. Each stage is testable alone: discovery is a pure function, the scraper takes targets from a channel,
//! the rate math is pure, and the API reads only the store.

pub mod api;
pub mod auth;
pub mod discovery;
pub mod hpa_status;
pub mod promtext;
pub mod rate;
pub mod run;
pub mod scrape;
pub mod selector;
pub mod selfmetrics;
pub mod store;
pub mod tls;
