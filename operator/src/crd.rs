//! The StatelessService custom resource.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A stateless, horizontally scalable service that herd runs as a Deployment, Service, HPA and PDB.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "herd.dev",
    version = "v1alpha1",
    kind = "StatelessService",
    namespaced,
    shortname = "ssvc"
)]
#[serde(rename_all = "camelCase")]
pub struct StatelessServiceSpec {
    /// Container image to run, e.g. `ghcr.io/acme/shop:1.2.3`.
    pub image: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn crd_names_the_resource() {
        let crd = StatelessService::crd();
        assert_eq!(crd.spec.group, "herd.dev");
        assert_eq!(crd.spec.names.kind, "StatelessService");
        assert_eq!(crd.spec.names.short_names, Some(vec!["ssvc".to_string()]));
    }
}
