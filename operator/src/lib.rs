//! herd-operator: reconciles StatelessServices into the Kubernetes objects that run them.

pub mod crd;
pub mod render;
pub mod resources;
pub mod traffic;
pub mod validation;
