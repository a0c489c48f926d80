//! `herd-operator render` as a user runs it: the examples render to objects Kubernetes 1.33 accepts, and bad
//! manifests fail with a non-zero exit and a message naming file, document and field.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_herd-operator");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn render(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("render")
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The StatelessService manifests in `examples/`; files there holding only other kinds (Redis, which keeps
/// state and so is deliberately a plain Deployment) are not `render`'s input.
fn examples() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .filter(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .any(|line| line.trim() == "kind: StatelessService")
        })
        .map(|path| format!("examples/{}", path.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    files
}

fn kinds_and_names(yaml: &str) -> Vec<(String, String)> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| {
            let value = serde_json::Value::deserialize(doc).unwrap();
            (
                value["kind"].as_str().unwrap().to_string(),
                value["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_example_renders_to_its_children() {
    let files = examples();
    assert!(
        files.contains(&"examples/shop.yaml".to_string())
            && files.contains(&"examples/minimal.yaml".to_string())
    );
    for file in &files {
        let output = render(&["-f", file], "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{file}: {stderr}");
        let kinds = kinds_and_names(&String::from_utf8(output.stdout).unwrap());
        assert!(
            kinds.iter().any(|(kind, _)| kind == "Deployment"),
            "{file}: {kinds:?}"
        );
        assert!(
            kinds.iter().any(|(kind, _)| kind == "Service"),
            "{file}: {kinds:?}"
        );
    }
    let shop = render(&["-f", "examples/shop.yaml"], "");
    let kinds = kinds_and_names(&String::from_utf8(shop.stdout).unwrap());
    let expected = [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]
    .map(|kind| (kind.to_string(), "shop".to_string()));
    assert_eq!(kinds, expected);
}

/// The rendered objects must pass Kubernetes 1.33's own OpenAPI schemas, strictly (no unknown fields).
#[test]
fn rendered_examples_pass_kubernetes_validate_for_1_33() {
    let tool = Command::new("kubernetes-validate").arg("--version").output();
    if !tool.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubernetes-validate is missing but CI is set: install it with `pip install kubernetes-validate`"
        );
        eprintln!("SKIPPED: kubernetes-validate is not installed (pip install kubernetes-validate)");
        return;
    }
    let mut args = Vec::new();
    for file in examples() {
        args.push("-f".to_string());
        args.push(file);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = render(&args, "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rendered-examples.yaml");
    std::fs::write(&rendered, &output.stdout).unwrap();
    let check = Command::new("kubernetes-validate")
        .args(["-k", "1.33.0", "--strict"])
        .arg(&rendered)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        check.status.success(),
        "kubernetes-validate rejected the rendered examples:\n{report}"
    );
    let passed = report.matches(" passed ").count();
    assert_eq!(
        passed,
        kinds_and_names(&String::from_utf8(output.stdout).unwrap()).len(),
        "{report}"
    );
}

#[test]
fn empty_input_is_an_error_not_an_empty_success() {
    let output = render(&["-f", "-"], "---\n# only a comment\n---\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8(output.stderr).unwrap().trim(),
        "<stdin>: no StatelessService manifest found"
    );
}

#[test]
fn bad_manifests_exit_non_zero_naming_file_document_and_field() {
    let output = render(&["-f", "operator/tests/data/bad.yaml"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stdout.is_empty(),
        "nothing may be printed for kubectl to apply"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "operator/tests/data/bad.yaml: document 1: spec.prot: unknown field, did you mean \"port\"?",
            "operator/tests/data/bad.yaml: document 2: spec.autoscaling.minReplicas: minReplicas must be <= maxReplicas",
        ]
    );
}

#[test]
fn stdin_is_read_with_dash_and_other_kinds_are_refused() {
    let output = render(
        &["-f", "-"],
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim_end(),
        "<stdin>: document 1: kind: is \"Deployment\" of apps/v1; only StatelessService (herd.dev/v1alpha1) \
         manifests are accepted"
    );

    let good =
        "apiVersion: herd.dev/v1alpha1\nkind: StatelessService\nmetadata: {name: web}\nspec: {image: web}\n";
    let output = render(&["-f", "-"], good);
    assert!(output.status.success());
}

#[test]
fn unreadable_files_and_broken_yaml_fail_cleanly() {
    let output = render(&["-f", "examples/missing.yaml"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("examples/missing.yaml: cannot read:"));

    let output = render(&["-f", "-"], "spec: {image: [\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("<stdin>: document 1: not valid YAML"));
}

#[test]
fn render_without_a_file_is_a_usage_error() {
    let output = render(&[], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--filename"));
}
