//! The checked-in CRD in `crds/` and the pinned parts of the generated one.

use herd_operator::crd::StatelessService;
use kube::CustomResourceExt;
use serde_json::Value;

const CRD_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/statelessservice.yaml");

#[test]
fn checked_in_crd_is_current() {
    let generated = serde_yaml::to_string(&StatelessService::crd()).unwrap();
    let on_disk = std::fs::read_to_string(CRD_FILE).unwrap();
    assert!(
        generated == on_disk,
        "crds/statelessservice.yaml is stale: run `make crds` and commit the result"
    );
}

fn crd_json() -> Value {
    serde_json::to_value(StatelessService::crd()).unwrap()
}

#[test]
fn scale_subresource_points_at_replicas_and_selector() {
    let crd = crd_json();
    let version = &crd["spec"]["versions"][0];
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"], serde_json::json!(["ssvc"]));
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let scale = &version["subresources"]["scale"];
    assert_eq!(scale["specReplicasPath"], ".spec.replicas");
    assert_eq!(scale["statusReplicasPath"], ".status.replicas");
    assert_eq!(scale["labelSelectorPath"], ".status.selector");
}

#[test]
fn printer_columns_show_image_replicas_autoscaling_status_and_age() {
    let crd = crd_json();
    let columns: Vec<(String, String)> = crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["jsonPath"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("Image", ".spec.image"),
        ("Desired", ".spec.replicas"),
        ("Ready", ".status.readyReplicas"),
        ("Autoscaling", ".spec.autoscaling.enabled"),
        ("Min", ".spec.autoscaling.minReplicas"),
        ("Max", ".spec.autoscaling.maxReplicas"),
        ("Status", ".status.conditions[?(@.type==\"Available\")].reason"),
        ("Age", ".metadata.creationTimestamp"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, p)| (n.to_string(), p.to_string()))
        .collect();
    assert_eq!(columns, expected);
}

/// `kubectl explain` is only useful when every field herd defines says what it is.
#[test]
fn every_spec_and_status_property_has_a_description() {
    fn walk(path: &str, schema: &Value, missing: &mut Vec<String>) {
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                let here = format!("{path}.{name}");
                if property["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(here.clone());
                }
                walk(&here, property, missing);
            }
        }
        if schema["items"].is_object() {
            walk(&format!("{path}[]"), &schema["items"], missing);
        }
    }
    let crd = crd_json();
    let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut missing = Vec::new();
    walk("spec", &root["properties"]["spec"], &mut missing);
    walk("status", &root["properties"]["status"], &mut missing);
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:?}"
    );
}

#[test]
fn conditions_merge_by_type_under_server_side_apply() {
    let crd = crd_json();
    let conditions = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
        ["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(
        conditions["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
}
