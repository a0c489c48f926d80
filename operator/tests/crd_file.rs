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

/// Every CEL rule, where it sits in the schema: (path, rule).
fn cel_rules(path: &str, schema: &Value, found: &mut Vec<(String, String, Value)>) {
    for rule in schema["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        found.push((
            path.to_string(),
            rule["rule"].as_str().unwrap().to_string(),
            schema.clone(),
        ));
    }
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        cel_rules(&format!("{path}.{name}"), property, found);
    }
    if schema["items"].is_object() {
        cel_rules(&format!("{path}[]"), &schema["items"], found);
    }
}

/// The API server refuses a CRD whose rules use variables outside `self` or may blow the cost budget.
#[test]
fn cel_rules_stay_in_scope_and_within_the_cost_budget() {
    let crd = crd_json();
    let mut rules = Vec::new();
    cel_rules(
        "",
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        &mut rules,
    );
    assert!(
        rules.len() >= 25,
        "expected every rule of the contract, found {}",
        rules.len()
    );
    for (path, rule, schema) in &rules {
        let compiled = kube_cel::compile_schema(schema);
        let warnings = kube_cel::analyze_rule(rule, &compiled, kube_cel::ScopeContext::CrdValidation);
        assert!(warnings.is_empty(), "{path}: {rule}: {warnings:?}");
        assert!(
            kube_cel::cel::Program::compile(rule).is_ok(),
            "{path}: {rule} does not compile"
        );
    }
}

/// The checked-in CRD must itself be a valid apiextensions.k8s.io/v1 object for Kubernetes 1.33.
#[test]
fn checked_in_crd_passes_kubernetes_validate() {
    let tool = std::process::Command::new("kubernetes-validate")
        .arg("--version")
        .output();
    if !tool.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubernetes-validate is missing but CI is set: install it with `pip install kubernetes-validate`"
        );
        eprintln!("SKIPPED: kubernetes-validate is not installed (pip install kubernetes-validate)");
        return;
    }
    let check = std::process::Command::new("kubernetes-validate")
        .args(["-k", "1.33.0", "--strict", CRD_FILE])
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success() && report.contains("passed"), "{report}");
}

/// The API server only accepts structural schemas: every node is typed (or int-or-string), with no `$ref`
/// and no typed alternatives under anyOf/oneOf/allOf. A new field with an untagged enum or a recursive type
/// would break this long before a cluster sees it.
#[test]
fn schema_is_structural() {
    fn walk(path: &str, schema: &Value, problems: &mut Vec<String>) {
        let int_or_string = schema["x-kubernetes-int-or-string"] == true;
        let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
        if schema["type"].as_str().is_none() && !int_or_string && !preserve {
            problems.push(format!("{path}: no type"));
        }
        if schema.get("$ref").is_some() {
            problems.push(format!("{path}: $ref"));
        }
        for combinator in ["anyOf", "oneOf", "allOf", "not"] {
            if schema.get(combinator).is_some() && !int_or_string {
                problems.push(format!("{path}: {combinator}"));
            }
        }
        if schema.get("properties").is_some() && schema["additionalProperties"].is_object() {
            problems.push(format!("{path}: both properties and additionalProperties"));
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            walk(&format!("{path}.{name}"), property, problems);
        }
        for child in ["items", "additionalProperties"] {
            if schema[child].is_object() {
                walk(&format!("{path}.{child}"), &schema[child], problems);
            }
        }
    }
    let crd = crd_json();
    let mut problems = Vec::new();
    walk(
        "",
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
}
