//! `herd-operator render`: StatelessService manifests in, the children herd would apply out, as YAML.

use std::io::{Read, Write};

use serde::Deserialize;
use serde_json::Value;

use crate::resources::{self, Children};
use crate::validation;

/// A StatelessService's namespace (unset: kubectl's current one) and name.
type ObjectKey = (Option<String>, Option<String>);

/// One StatelessService manifest that passed admission and built, with where it came from.
struct Rendered {
    document: usize,
    key: ObjectKey,
    children: Children,
}

/// Renders every StatelessService in the YAML stream `input`. Errors are complete lines like
/// `examples/bad.yaml: document 2: spec.autoscaling.minReplicas: minReplicas must be <= maxReplicas`; any error
/// in any document fails the whole stream, so nothing half-rendered reaches `kubectl apply`.
pub fn render(source: &str, input: &str) -> Result<Vec<Children>, Vec<String>> {
    if let Some(line) = line_exceeding_flow_depth(input, MAX_FLOW_DEPTH) {
        return Err(vec![format!(
            "{source}: line {line}: not valid YAML: brackets nested deeper than {MAX_FLOW_DEPTH} levels"
        )]);
    }
    let mut rendered: Vec<Rendered> = Vec::new();
    let mut errors = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(input).enumerate() {
        let number = index + 1;
        let at = |what: &dyn std::fmt::Display| format!("{source}: document {number}: {what}");
        // Read as YAML first: its mapping refuses duplicate keys, and `.nan`/`.inf` would silently turn into
        // null on the way to JSON.
        let manifest = match serde_yaml::Value::deserialize(document) {
            Ok(serde_yaml::Value::Null) => continue,
            Ok(yaml) => match yaml_to_json(&yaml, "") {
                Ok(manifest) => manifest,
                Err(e) => {
                    errors.push(at(&e));
                    continue;
                }
            },
            Err(e) => {
                // The parser cannot resynchronize after a syntax error, so later documents are unreadable too.
                errors.push(at(&format!("not valid YAML: {e}")));
                break;
            }
        };
        let ss = match validation::validate(&manifest) {
            Ok(ss) => ss,
            Err(field_errors) => {
                errors.extend(field_errors.iter().map(|e| at(e)));
                continue;
            }
        };
        let key = (ss.metadata.namespace.clone(), ss.metadata.name.clone());
        if let Some(first) = rendered.iter().find(|r| r.key == key) {
            errors.push(at(&format!(
                "metadata.name: {:?} repeats document {}; their children would overwrite each other",
                key.1.unwrap_or_default(),
                first.document
            )));
            continue;
        }
        match resources::build(&ss) {
            Ok(children) => rendered.push(Rendered {
                document: number,
                key,
                children,
            }),
            Err(invalid) => errors.push(at(&invalid)),
        }
    }
    if errors.is_empty() {
        Ok(rendered.into_iter().map(|r| r.children).collect())
    } else {
        Err(errors)
    }
}

/// The JSON the API server would receive (kubectl converts the same way), or the field that JSON cannot
/// carry.
fn yaml_to_json(yaml: &serde_yaml::Value, path: &str) -> Result<Value, String> {
    use serde_yaml::Value as Yaml;
    let field = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{path}: {n} is not a number JSON can carry"))?
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut object = serde_json::Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!("{path}: a mapping key must be a string, got {other:?}"));
                    }
                };
                let value = yaml_to_json(value, &field(&key))?;
                object.insert(key, value);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => yaml_to_json(&tagged.value, path)?,
    })
}

/// Far deeper than any manifest, and than the YAML parser's own limit of 128, which it only reports after
/// work quadratic in the depth: 200 KB of `[` inside a mapping took minutes.
const MAX_FLOW_DEPTH: usize = 512;

/// The line where unclosed `[`/`{` first go deeper than `limit`. Brackets in quoted or plain scalars are
/// counted too, which can only overestimate the depth of a real manifest by its unbalanced brackets.
fn line_exceeding_flow_depth(input: &str, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    for byte in input.bytes() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => line += 1,
            _ => {}
        }
    }
    None
}

/// The children as one YAML stream: per StatelessService its Deployment, Service, HPA and PDB.
pub fn to_yaml_stream(all: &[Children]) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for children in all {
        // Destructured without `..` so a new kind of child cannot be left out of the output.
        let Children {
            deployment,
            service,
            hpa,
            pdb,
        } = children;
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(deployment)?);
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(service)?);
        if let Some(hpa) = hpa {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(hpa)?);
        }
        if let Some(pdb) = pdb {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(pdb)?);
        }
    }
    Ok(out)
}

/// The CLI: reads each of `files` (`-` is stdin), writes the rendered stream to `out` or every error to
/// `err`. Returns whether everything rendered.
pub fn run(files: &[String], stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> bool {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    // Which file each (namespace, name) came from: two files naming one service would overwrite each other.
    let mut seen: std::collections::BTreeMap<ObjectKey, String> = Default::default();
    for file in files {
        let (source, text) = if file == "-" {
            let mut text = String::new();
            ("<stdin>", stdin.read_to_string(&mut text).map(|_| text))
        } else {
            (file.as_str(), std::fs::read_to_string(file))
        };
        match text {
            Ok(text) => match render(source, &text) {
                // As `kubectl apply` says "no objects passed": an empty input is a mistake, not a success.
                Ok(children) if children.is_empty() => {
                    errors.push(format!("{source}: no StatelessService manifest found"));
                }
                Ok(children) => {
                    for child in children {
                        let meta = &child.deployment.metadata;
                        let key = (meta.namespace.clone(), meta.name.clone());
                        if let Some(first) = seen.get(&key) {
                            errors.push(format!(
                                "{source}: metadata.name: {:?} is also in {first}; their children would \
                                 overwrite each other",
                                key.1.clone().unwrap_or_default()
                            ));
                            continue;
                        }
                        seen.insert(key, source.to_string());
                        all.push(child);
                    }
                }
                Err(file_errors) => errors.extend(file_errors),
            },
            Err(e) => errors.push(format!("{source}: cannot read: {e}")),
        }
    }
    if errors.is_empty() {
        match to_yaml_stream(&all) {
            Ok(yaml) => return out.write_all(yaml.as_bytes()).and_then(|()| out.flush()).is_ok(),
            Err(e) => errors.push(format!("cannot write the children as YAML: {e}")),
        }
    }
    for line in errors {
        // Nothing more can be done when stderr itself fails; the exit status still reports the failure.
        let _ = writeln!(err, "{line}");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "apiVersion: herd.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: web}\nspec: {image: web}\n";

    #[test]
    fn empty_documents_are_skipped_and_indices_count_every_document() {
        let input = format!("---\n---\n{GOOD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n");
        let errors = render("in.yaml", &input).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "in.yaml: document 3: kind: is \"ConfigMap\" of v1; only StatelessService (herd.dev/v1alpha1) \
                 manifests are accepted"
                    .to_string()
            ]
        );
        assert_eq!(
            render("in.yaml", &format!("---\n{GOOD}\n---\n")).unwrap().len(),
            1
        );
    }

    #[test]
    fn build_errors_carry_the_document_and_field() {
        let bad = GOOD.replace("image: web", "image: web, resources: {limits: {cpu: lots}}");
        let errors = render(
            "in.yaml",
            &format!("{GOOD}---\n{}", bad.replace("name: web", "name: api")),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .starts_with("in.yaml: document 2: spec.resources.limits.cpu: \"lots\" is not a quantity"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_repeated_name_is_an_error() {
        let errors = render("in.yaml", &format!("{GOOD}---\n{GOOD}")).unwrap_err();
        assert!(
            errors[0].starts_with("in.yaml: document 2: metadata.name: \"web\" repeats document 1"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_name_repeated_in_another_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("herd-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
        std::fs::write(&a, GOOD).unwrap();
        std::fs::write(&b, GOOD.replace("{name: web}", "{name: api}") + "---\n" + GOOD).unwrap();
        let files = [a.display().to_string(), b.display().to_string()];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let ok = run(&files, &mut std::io::empty(), &mut out, &mut err);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!ok);
        assert!(out.is_empty(), "nothing is written when any file fails");
        assert_eq!(
            String::from_utf8(err).unwrap(),
            format!(
                "{}: metadata.name: \"web\" is also in {}; their children would overwrite each other\n",
                files[1], files[0]
            )
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_the_parser_sees_it() {
        let input = format!("spec: {}", "[".repeat(200_000));
        let errors = render("in.yaml", &input).unwrap_err();
        assert_eq!(
            errors,
            ["in.yaml: line 1: not valid YAML: brackets nested deeper than 512 levels"]
        );
        let balanced = format!("{GOOD}# {}{}\n", "[".repeat(400), "]".repeat(400));
        assert_eq!(render("in.yaml", &balanced).unwrap().len(), 1);
    }

    #[test]
    fn duplicate_keys_and_numbers_json_cannot_carry_are_errors() {
        let duplicate = GOOD.replace("spec: {image: web}", "spec: {image: web, image: api}");
        let errors = render("in.yaml", &duplicate).unwrap_err();
        assert!(
            errors[0].starts_with("in.yaml: document 1: not valid YAML") && errors[0].contains("duplicate"),
            "{errors:?}"
        );
        let nan = GOOD.replace(
            "spec: {image: web}",
            "spec: {image: web, autoscaling: {enabled: true, targetRequestsPerSecond: .nan}}",
        );
        assert_eq!(
            render("in.yaml", &nan).unwrap_err(),
            [
                "in.yaml: document 1: spec.autoscaling.targetRequestsPerSecond: .nan is not a number JSON can carry"
            ]
        );
    }

    #[test]
    fn broken_yaml_is_reported_not_panicked_on() {
        let errors = render("in.yaml", "spec: [unclosed\n").unwrap_err();
        assert!(
            errors[0].starts_with("in.yaml: document 1: not valid YAML"),
            "{errors:?}"
        );
    }

    #[test]
    fn output_stream_lists_every_child_in_order() {
        let scaled = GOOD.replace(
            "image: web",
            "image: web, autoscaling: {enabled: true, targetRequestsPerSecond: 5}",
        );
        let yaml = to_yaml_stream(&render("in.yaml", &scaled).unwrap()).unwrap();
        let kinds: Vec<String> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|d| {
                Value::deserialize(d).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Deployment",
                "Service",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget"
            ]
        );
    }
}
