//! Client-side admission of a StatelessService manifest, in the API server's order: strict field check,
//! null pruning, schema defaults, structural schema validation, then the CEL rules.

use std::fmt;
use std::sync::LazyLock;

use kube::CustomResourceExt;
use serde_json::{Map, Value};

use crate::crd::StatelessService;
use crate::resources::labels;

/// One reason a manifest is rejected, naming the field like the API server does (`spec.autoscaling.minReplicas`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

const API_VERSION: &str = "herd.dev/v1alpha1";
const KIND: &str = "StatelessService";

/// The generated CRD's openAPIV3Schema: the single source of truth for structure, defaults and rules.
static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    let crd = StatelessService::crd();
    crd.spec
        .versions
        .into_iter()
        .next()
        .and_then(|v| v.schema)
        .and_then(|s| s.open_api_v3_schema)
        .and_then(|s| serde_json::to_value(s).ok())
        // The derive always emits one version with a schema, and JSONSchemaProps always serializes; the
        // tests in operator/tests/crd_file.rs read the same path.
        .expect("the derived CRD carries an openAPIV3Schema")
});

/// The fields of ObjectMeta a client may send; kubectl's strict field validation rejects others.
const METADATA_FIELDS: &[&str] = &[
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// Validates a manifest as the API server would on create and returns it typed, with defaults applied.
/// `status` is dropped: with the status subresource the API server ignores it on create.
pub fn validate(manifest: &Value) -> Result<StatelessService, Vec<FieldError>> {
    let Some(object) = manifest.as_object() else {
        return Err(vec![FieldError::new("", "a manifest must be a mapping")]);
    };
    let mut errors = Vec::new();
    check_type_meta(object, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut object = object.clone();
    object.remove("status");
    for key in object.keys() {
        if !["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str()) {
            errors.push(unknown_field(
                key,
                key,
                &["apiVersion", "kind", "metadata", "spec"],
            ));
        }
    }
    check_metadata(object.get("metadata"), &mut errors);

    let schema = &*SCHEMA;
    let spec_schema = &schema["properties"]["spec"];
    match object.get_mut("spec") {
        None | Some(Value::Null) => errors.push(FieldError::new("spec", "Required value")),
        Some(spec) => {
            prune_and_check_unknown(spec_schema, spec, "spec", &mut errors);
            *spec = kube_cel::apply_defaults(spec_schema, spec);
            check_structure(spec_schema, spec, "spec", &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // CEL runs only on structurally valid objects, as in the API server, so rules never see wrong types.
    let object = Value::Object(object);
    if let Err(failures) = kube_cel::Validator::new().validate(schema, &object, None) {
        return Err(failures
            .iter()
            // A root rule's fieldPath comes back as `.spec.x`; the API server reports `spec.x`.
            .map(|f| FieldError::new(f.field_path.trim_start_matches('.'), f.message.clone()))
            .collect());
    }
    serde_json::from_value(object).map_err(|e| vec![FieldError::new("", format!("cannot be read: {e}"))])
}

fn check_type_meta(object: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    match object.get("kind").and_then(Value::as_str) {
        Some(KIND) => {}
        // Another kind gets one error saying what it is; its apiVersion is beside the point.
        Some(other) => {
            let of = api_version.map(|v| format!(" of {v}")).unwrap_or_default();
            errors.push(FieldError::new(
                "kind",
                format!("is {other:?}{of}; only {KIND} ({API_VERSION}) manifests are accepted"),
            ));
            return;
        }
        None => errors.push(FieldError::new(
            "kind",
            format!("Required value: must be {KIND:?}"),
        )),
    }
    match api_version {
        Some(API_VERSION) => {}
        Some(other) => errors.push(FieldError::new(
            "apiVersion",
            format!("is {other:?}, expected {API_VERSION:?}"),
        )),
        None => errors.push(FieldError::new(
            "apiVersion",
            format!("Required value: must be {API_VERSION:?}"),
        )),
    }
}

fn check_metadata(metadata: Option<&Value>, errors: &mut Vec<FieldError>) {
    let Some(metadata) = metadata.and_then(Value::as_object) else {
        errors.push(FieldError::new(
            "metadata",
            "Required value: a mapping with at least a name",
        ));
        return;
    };
    for key in metadata.keys() {
        if !METADATA_FIELDS.contains(&key.as_str()) {
            errors.push(unknown_field(&format!("metadata.{key}"), key, METADATA_FIELDS));
        }
    }
    match metadata.get("name") {
        Some(Value::String(name)) => {
            if let Err(e) = labels::check_dns_subdomain(name) {
                errors.push(FieldError::new("metadata.name", format!("{name:?} {e}")));
            }
        }
        Some(_) => errors.push(FieldError::new("metadata.name", "must be a string")),
        None => errors.push(FieldError::new("metadata.name", "Required value")),
    }
    match metadata.get("namespace") {
        None | Some(Value::Null) => {}
        Some(Value::String(namespace)) => {
            if let Err(e) = labels::check_dns_label(namespace) {
                errors.push(FieldError::new(
                    "metadata.namespace",
                    format!("{namespace:?} {e}"),
                ));
            }
        }
        Some(_) => errors.push(FieldError::new("metadata.namespace", "must be a string")),
    }
    for (field, is_labels) in [("labels", true), ("annotations", false)] {
        match metadata.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let path = format!("metadata.{field}[{key}]");
                    let value = match value {
                        Value::String(value) => value,
                        other => {
                            errors.push(FieldError::new(
                                path,
                                format!("must be a string, got {}", describe(other)),
                            ));
                            continue;
                        }
                    };
                    let checked = labels::check_qualified_name(key).and_then(|()| {
                        if is_labels {
                            labels::check_label_value(value)
                        } else {
                            Ok(())
                        }
                    });
                    if let Err(e) = checked {
                        errors.push(FieldError::new(path, e));
                    }
                }
            }
            Some(other) => errors.push(FieldError::new(
                format!("metadata.{field}"),
                format!("must be a mapping, got {}", describe(other)),
            )),
        }
    }
}

/// Removes `null` fields (so defaults apply) and reports fields the schema does not know. The API server
/// prunes nulls only where the schema is not `nullable`; herd's nullable fields are all `Option`s, for which
/// null means unset, so treating every null as unset reads the manifest the way the operator will.
fn prune_and_check_unknown(schema: &Value, value: &mut Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
                return;
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                map.retain(|_, child| !child.is_null());
                let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                for (key, child) in map.iter_mut() {
                    let child_path = format!("{path}.{key}");
                    match properties.get(key) {
                        Some(child_schema) => {
                            prune_and_check_unknown(child_schema, child, &child_path, errors)
                        }
                        None => errors.push(unknown_field(&child_path, key, &known)),
                    }
                }
            } else if let Some(item_schema) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                for (key, child) in map.iter_mut() {
                    prune_and_check_unknown(item_schema, child, &format!("{path}[{key}]"), errors);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_and_check_unknown(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

fn is_nullable(schema: &Value) -> bool {
    schema.get("nullable") == Some(&Value::Bool(true))
}

fn unknown_field(path: &str, key: &str, known: &[&str]) -> FieldError {
    let mut message = "unknown field".to_string();
    if let Some(suggestion) = closest(key, known) {
        message.push_str(&format!(", did you mean {suggestion:?}?"));
    }
    FieldError::new(path, message)
}

/// A known name within two edits (or differing only in case) of a mistyped one.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| {
            (
                edit_distance(&key.to_lowercase(), &candidate.to_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// Types, required fields, enums and bounds, on the defaulted value.
fn check_structure(schema: &Value, value: &mut Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if !is_nullable(schema) {
            errors.push(FieldError::new(path, "must not be null"));
        }
        return;
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_string() || is_integer(value)) {
            errors.push(FieldError::new(
                path,
                format!("must be an integer or a string, got {}", describe(value)),
            ));
        } else {
            normalize_integer(value);
        }
        return;
    }
    let Some(expected) = schema.get("type").and_then(Value::as_str) else {
        return;
    };
    let type_ok = match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => is_integer(value),
        _ => true,
    };
    if !type_ok {
        let article = if expected == "integer" || expected == "object" || expected == "array" {
            "an"
        } else {
            "a"
        };
        errors.push(FieldError::new(
            path,
            format!("must be {article} {expected}, got {}", describe(value)),
        ));
        return;
    }
    if expected == "integer" {
        normalize_integer(value);
    }
    check_bounds(schema, value, path, errors);
    match value {
        Value::Object(map) => {
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(required) = required.as_str()
                    && !map.contains_key(required)
                {
                    errors.push(FieldError::new(format!("{path}.{required}"), "Required value"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|s| s.is_object());
            for (key, child) in map.iter_mut() {
                if let Some(child_schema) = properties.and_then(|p| p.get(key)) {
                    check_structure(child_schema, child, &format!("{path}.{key}"), errors);
                } else if let Some(item_schema) = additional {
                    check_structure(item_schema, child, &format!("{path}[{key}]"), errors);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    check_structure(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
            check_list_keys(schema, items, path, errors);
        }
        _ => {}
    }
}

fn check_bounds(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let limit = |key: &str| schema.get(key).and_then(Value::as_u64);
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed
            .iter()
            .filter(|v| !v.is_null())
            .map(Value::to_string)
            .collect();
        errors.push(FieldError::new(
            path,
            format!(
                "Unsupported value: {value}: supported values: {}",
                names.join(", ")
            ),
        ));
    }
    let size = match value {
        Value::String(s) => Some((s.chars().count() as u64, "characters", "Length")),
        Value::Array(a) => Some((a.len() as u64, "items", "Items")),
        Value::Object(o) => Some((o.len() as u64, "properties", "Properties")),
        _ => None,
    };
    if let Some((size, unit, keyword)) = size {
        if let Some(max) = limit(&format!("max{keyword}"))
            && size > max
        {
            errors.push(FieldError::new(
                path,
                format!("Too long: may have at most {max} {unit}, has {size}"),
            ));
        }
        if let Some(min) = limit(&format!("min{keyword}"))
            && size < min
        {
            errors.push(FieldError::new(
                path,
                format!("Too short: must have at least {min} {unit}, has {size}"),
            ));
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            errors.push(FieldError::new(
                path,
                format!("must be less than or equal to {max}"),
            ));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            errors.push(FieldError::new(
                path,
                format!("must be greater than or equal to {min}"),
            ));
        }
        let fits = match schema.get("format").and_then(Value::as_str) {
            Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            Some("int64") => value.as_i64().is_some(),
            _ => true,
        };
        if !fits {
            errors.push(FieldError::new(
                path,
                format!("{value} does not fit in the field's integer size"),
            ));
        }
    }
}

/// `x-kubernetes-list-type: map` lists need unique keys (env var names, conditions by type).
fn check_list_keys(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return;
    }
    let keys: Vec<&str> = schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut seen = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key: Vec<&Value> = keys
            .iter()
            .map(|k| item.get(*k).unwrap_or(&Value::Null))
            .collect();
        if seen.contains(&key) {
            errors.push(FieldError::new(
                format!("{path}[{i}]"),
                format!("Duplicate value: {key:?}"),
            ));
        }
        seen.push(key);
    }
}

/// YAML `3.0` is a float to serde but an integer to the API server, which decodes integral floats as int64.
fn is_integer(value: &Value) -> bool {
    value.is_i64()
        || value.is_u64()
        || value
            .as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
}

fn normalize_integer(value: &mut Value) {
    if let Some(f) = value
        .as_f64()
        .filter(|f| value.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15)
    {
        // Exact: the bound above keeps the float within f64's contiguous integer range.
        *value = Value::from(f as i64);
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}
