//! Semantic "does the live object still carry everything herd applies" check, tolerant of server defaulting.

use crate::resources::quantity::parse_quantity;
use serde_json::Value;

/// True when every field set in `desired` has the same meaning in `live`.
///
/// Fields the API server or other managers add (defaults, `status`, extra list entries they own) are ignored:
/// re-applying cannot remove them, so they are not drift. Empty maps, lists and nulls in `desired` match an
/// absent field because the API server drops them. Numbers compare by value, and resource quantities
/// (`500m` vs `0.5`, `1Gi` vs `1024Mi`) by amount, because the API server rewrites them to canonical form.
pub fn contains(live: &Value, desired: &Value) -> bool {
    contains_at(live, desired, false)
}

fn contains_at(live: &Value, desired: &Value, quantities: bool) -> bool {
    match (desired, live) {
        (Value::Object(want), Value::Object(have)) => want.iter().all(|(key, want)| {
            let quantities = quantities || holds_quantities(key);
            match have.get(key) {
                Some(have) => contains_at(have, want, quantities),
                None => is_empty(want),
            }
        }),
        (Value::Array(want), Value::Array(have)) => {
            if want.iter().all(|v| v.is_object()) {
                // Lists of objects are merged by key under server-side apply: others may own extra entries,
                // and their order is not ours to keep.
                want.iter()
                    .all(|w| have.iter().any(|h| contains_at(h, w, quantities)))
            } else {
                // Lists of scalars (command, args) are atomic: exact match in order.
                want.len() == have.len() && want.iter().zip(have).all(|(w, h)| contains_at(h, w, quantities))
            }
        }
        (Value::Number(want), Value::Number(have)) => want == have || want.as_f64() == have.as_f64(),
        (Value::String(want), Value::String(have)) if quantities && want != have => {
            match (parse_quantity(want), parse_quantity(have)) {
                (Ok(w), Ok(h)) => (w - h).abs() <= f64::EPSILON * w.abs().max(h.abs()) * 4.0,
                _ => false,
            }
        }
        (want, _) if is_empty(want) => true,
        (want, have) => want == have,
    }
}

/// Keys under which the API server canonicalises quantities (container resources, HPA metric targets).
fn holds_quantities(key: &str) -> bool {
    matches!(key, "limits" | "requests" | "target")
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_added_fields_and_dropped_empties_are_not_drift() {
        let desired = json!({"metadata": {"labels": {"a": "1"}, "annotations": {}},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"a": "1"}, "env": []}});
        let live = json!({"metadata": {"labels": {"a": "1"}, "uid": "u", "resourceVersion": "7"},
            "spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 31000}],
                     "selector": {"a": "1"}, "clusterIP": "10.0.0.1"},
            "status": {"loadBalancer": {}}});
        assert!(contains(&live, &desired));
    }

    #[test]
    fn changed_or_removed_managed_fields_are_drift() {
        let desired = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "shop:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
        ]}}}});
        let edited_image = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "shop:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
        ]}}}});
        let removed_env = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "shop:2", "env": [{"name": "A", "value": "1"}]}
        ]}}}});
        assert!(!contains(&edited_image, &desired));
        assert!(!contains(&removed_env, &desired));
    }

    #[test]
    fn entries_owned_by_others_and_reordering_are_not_drift() {
        let desired = json!({"containers": [{"name": "app", "image": "shop:2"}]});
        let live = json!({"containers": [{"name": "sidecar", "image": "mesh:1"}, {"name": "app", "image": "shop:2"}]});
        assert!(contains(&live, &desired));
    }

    #[test]
    fn scalar_lists_are_atomic() {
        assert!(!contains(
            &json!({"args": ["--a", "--b"]}),
            &json!({"args": ["--b", "--a"]})
        ));
        assert!(!contains(
            &json!({"args": ["--a", "--b"]}),
            &json!({"args": ["--a"]})
        ));
        assert!(contains(&json!({"args": ["--a"]}), &json!({"args": ["--a"]})));
    }

    #[test]
    fn quantities_compare_by_amount_only_where_the_server_canonicalises_them() {
        let desired = json!({"resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}}});
        let live = json!({"resources": {"requests": {"cpu": "500m", "memory": "1024Mi"}}});
        assert!(contains(&live, &desired));
        let bigger = json!({"resources": {"requests": {"cpu": "600m", "memory": "1024Mi"}}});
        assert!(!contains(&bigger, &desired));
        // An env var value that happens to look like a quantity is compared as text.
        assert!(!contains(
            &json!({"env": [{"name": "X", "value": "500m"}]}),
            &json!({"env": [{"name": "X", "value": "0.5"}]})
        ));
        let target = json!({"target": {"type": "AverageValue", "averageValue": "2.5"}});
        assert!(contains(
            &json!({"target": {"type": "AverageValue", "averageValue": "2500m"}}),
            &target
        ));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(contains(&json!({"replicas": 3.0}), &json!({"replicas": 3})));
        assert!(!contains(&json!({"replicas": 2}), &json!({"replicas": 3})));
    }
}
