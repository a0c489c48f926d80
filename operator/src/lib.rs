//! herd-operator: reconciles StatelessServices into the Kubernetes objects that run them.

pub mod apply;
pub mod controller;
pub mod crd;
pub mod error;
pub mod events;
#[cfg(test)]
mod fixtures;
pub mod http;
pub mod metrics;
pub mod render;
pub mod resources;
pub mod run;
pub mod status;
pub mod telemetry;
pub mod traffic;
pub mod validation;
