//! The Service: a stable name and port in front of the ready pods.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::deployment::PORT_NAME;
use super::{child_metadata, labels};
use crate::crd::StatelessService;

pub(super) fn build(ss: &StatelessService, name: &str) -> Service {
    let settings = &ss.spec.service;
    Service {
        metadata: child_metadata(ss, name),
        spec: Some(ServiceSpec {
            type_: Some(settings.type_.as_str().to_string()),
            selector: Some(labels::selector_labels(name)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_string()),
                port: settings.port,
                // By name, so changing `spec.port` moves the Service with the pods during a rollout.
                target_port: Some(IntOrString::String(PORT_NAME.to_string())),
                protocol: Some("TCP".to_string()),
                node_port: settings.node_port,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{build as build_children, fixtures::ss};
    use super::*;
    use serde_json::json;

    #[test]
    fn service_forwards_its_port_to_the_named_container_port() {
        let service = build_children(&ss(json!({"image": "web", "port": 9000})))
            .unwrap()
            .service;
        let spec = service.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.selector.unwrap(), labels::selector_labels("web"));
        let port = &spec.ports.unwrap()[0];
        assert_eq!(port.name.as_deref(), Some("http"));
        assert_eq!(port.port, 80);
        assert_eq!(port.target_port, Some(IntOrString::String("http".into())));
        assert_eq!(port.node_port, None);
    }

    #[test]
    fn node_port_services_keep_the_chosen_node_port() {
        let service = build_children(&ss(json!({
            "image": "web", "service": {"type": "NodePort", "port": 8080, "nodePort": 30080}
        })))
        .unwrap()
        .service;
        let spec = service.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("NodePort"));
        let port = &spec.ports.unwrap()[0];
        assert_eq!((port.port, port.node_port), (8080, Some(30080)));
    }
}
