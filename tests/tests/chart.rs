//! Checks of the Helm chart that need helm and kubernetes-validate but no cluster.

use anyhow::{Context, bail};
use herd_e2e::cmd::{repo_root, run, run_failing};
use herd_e2e::herd::{CEL_DISRUPTION_MESSAGE, CEL_DRAIN_MESSAGE};
use herd_e2e::prereq::{Gate, in_ci, missing_tools};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::ClusterRole;
use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::fs;
use std::process::ExitCode;

/// Like `anyhow::ensure!`, for checks returning libtest-mimic's `Failed`.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

const CHART: &str = "charts/herd";
const NAMESPACE: &str = "herd-system";
const KUBERNETES_VERSION: &str = "1.33.0";

/// Value overrides rendered and validated as Kubernetes 1.33 would: each is a way users install the chart.
const VARIANTS: &[(&str, &[&str])] = &[
    ("defaults", &[]),
    (
        "service_monitor",
        &[
            "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.labels.release=prom",
        ],
    ),
    (
        "own_service_account",
        &["serviceAccount.create=false", "serviceAccount.name=platform-herd"],
    ),
    ("no_rbac", &["rbac.create=false"]),
    ("no_metrics_api", &["metricsApi.enabled=false"]),
    (
        "metrics_api_own_secret",
        &[
            "metricsApi.tls.secretName=metrics-tls",
            "metricsApi.scrapeInterval=10s",
        ],
    ),
    (
        "pinned_and_scheduled",
        &[
            "image.repository=registry.example.com/herd-operator",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "imagePullSecrets[0]=regcred",
            "imagePullSecrets[1].name=mirror",
            "nodeSelector.kubernetes\\.io/os=linux",
            "tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule",
            "podLabels.team=platform",
            "podAnnotations.example\\.com/owner=platform",
            "priorityClassName=system-cluster-critical",
            "logFormat=text",
            "metrics.service.port=9090",
            "fullnameOverride=herd-operator",
        ],
    ),
];

/// Bad values and the words helm must print about them: the field's path and what is allowed.
const BAD_VALUES: &[(&str, &[&str])] = &[
    (
        "image.pullPolicy=Sometimes",
        &["/image/pullPolicy", "'Always', 'IfNotPresent', 'Never'"],
    ),
    ("logFormat=xml", &["/logFormat", "'json', 'text'"]),
    (
        "metrics.service.port=70000",
        &["/metrics/service/port", "maximum"],
    ),
    (
        "resources.limits.memory=plenty",
        &["/resources/limits/memory", "does not match pattern"],
    ),
    (
        "image.digest=latest",
        &["/image/digest", "does not match pattern"],
    ),
    (
        "metrics.serviceMonitor.enabled=yes",
        &["/metrics/serviceMonitor/enabled", "want boolean"],
    ),
    (
        "replicaCount=3",
        &["additional properties 'replicaCount' not allowed"],
    ),
    ("resources=null", &["missing property 'resources'"]),
    (
        "podLabels.team=-bad",
        &["/podLabels/team", "does not match pattern"],
    ),
    (
        "fullnameOverride=1abc",
        &["/fullnameOverride", "does not match pattern"],
    ),
    (
        "podLabels.app\\.kubernetes\\.io/name=evil",
        &["podLabels.app.kubernetes.io/name: the chart sets this label itself"],
    ),
    (
        "metricsApi.tls.secretName=mine,metricsApi.tls.caBundle=not-base64",
        &["/metricsApi/tls/caBundle", "does not match pattern"],
    ),
    (
        "metricsApi.tls.caBundle=Zm9vYmFy",
        &["metricsApi.tls.caBundle is the CA of metricsApi.tls.secretName's certificate"],
    ),
    ("image.tag=v1 beta", &["/image/tag", "does not match pattern"]),
    (
        "fullnameOverride=Bad_Name",
        &["/fullnameOverride", "does not match pattern"],
    ),
    (
        "serviceAccount.create=false",
        &["serviceAccount.name is required when serviceAccount.create is false"],
    ),
];

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let mut tool_trials = vec![
        Trial::test("lint_is_clean", lint_is_clean),
        Trial::test(
            "bad_values_are_rejected_naming_the_field",
            bad_values_are_rejected,
        ),
        Trial::test("rbac_is_exactly_what_the_operator_uses", rbac_is_least_privilege),
        Trial::test(
            "operator_pod_is_restricted_and_probed",
            operator_pod_is_restricted,
        ),
        Trial::test(
            "service_monitor_only_when_enabled",
            service_monitor_only_when_enabled,
        ),
        Trial::test("own_service_account_is_used_and_not_created", own_service_account),
        Trial::test(
            "no_rbac_objects_without_rbac_create",
            no_rbac_objects_without_rbac_create,
        ),
        Trial::test("notes_tell_the_next_steps", notes_tell_the_next_steps),
        Trial::test("examples_redis_validates", examples_redis_validates),
        Trial::test(
            "metrics_api_is_its_own_least_privilege_deployment",
            metrics_api_is_separate,
        ),
        Trial::test("metrics_api_can_be_turned_off", metrics_api_can_be_turned_off),
    ];
    for (name, sets) in VARIANTS {
        tool_trials.push(Trial::test(
            format!("validates_on_kubernetes_1_33::{name}"),
            move || validates(name, sets),
        ));
    }
    match Gate::decide(&missing_tools(&["helm", "kubernetes-validate"]), in_ci()) {
        Gate::Run => {}
        Gate::Skip(why) => {
            println!("chart checks skipped: {why} (install helm and `pip install kubernetes-validate`)");
            tool_trials = tool_trials
                .into_iter()
                .map(|t| t.with_ignored_flag(true))
                .collect();
        }
        Gate::Fail(why) => {
            eprintln!("chart checks cannot run in CI: {why}");
            return ExitCode::FAILURE;
        }
    }
    let mut trials = vec![
        Trial::test("chart_crd_is_the_generated_crd", chart_crd_is_generated),
        Trial::test(
            "kind_config_spreads_and_maps_the_shop",
            kind_config_spreads_and_maps_the_shop,
        ),
        Trial::test(
            "crd_carries_the_cel_messages_e2e_expects",
            crd_carries_the_cel_messages_e2e_expects,
        ),
    ];
    trials.extend(tool_trials);
    libtest_mimic::run(&args, trials).exit_code()
}

/// Renders the chart with `--set` overrides into its YAML documents.
fn render(sets: &[&str]) -> anyhow::Result<Vec<Value>> {
    let mut args = vec![
        "template",
        "herd",
        CHART,
        "--namespace",
        NAMESPACE,
        "--include-crds",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    parse_documents(&run("helm", &args)?)
}

fn parse_documents(yaml: &str) -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value = Value::deserialize(doc).context("helm printed invalid YAML")?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

fn kind_of(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

/// The operator's own objects are named after the release (`herd`); other components of the chart (the
/// metrics API) bring objects of the same kinds under other names.
const OPERATOR: &str = "herd";

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| kind_of(d) == kind && d["metadata"]["name"] == name)
}

fn named<T: serde::de::DeserializeOwned>(docs: &[Value], kind: &str, name: &str) -> anyhow::Result<T> {
    let Some(found) = find(docs, kind, name) else {
        bail!("the chart rendered no {kind} named {name}");
    };
    Ok(serde_yaml::from_value(found.clone())?)
}

fn chart_crd_is_generated() -> Result<(), Failed> {
    let root = repo_root();
    let generated = fs::read_to_string(root.join("crds/statelessservice.yaml"))
        .map_err(|e| format!("crds/statelessservice.yaml: {e} (run `make crds`)"))?;
    let copy = fs::read_to_string(root.join("charts/herd/crds/statelessservice.yaml"))
        .map_err(|e| format!("charts/herd/crds/statelessservice.yaml: {e} (run `make crds`)"))?;
    if generated != copy {
        return Err(
            "charts/herd/crds/statelessservice.yaml differs from crds/statelessservice.yaml: run `make crds`"
                .into(),
        );
    }
    Ok(())
}

/// The e2e suite cannot run here, so its expectations about the CRD are checked where they can be.
fn crd_carries_the_cel_messages_e2e_expects() -> Result<(), Failed> {
    let crd = fs::read_to_string(repo_root().join("crds/statelessservice.yaml"))?;
    let crd: Value = serde_yaml::from_str(&crd)?;
    let mut messages = Vec::new();
    collect_messages(&crd, &mut messages);
    for expected in [CEL_DRAIN_MESSAGE, CEL_DISRUPTION_MESSAGE] {
        ensure!(
            messages.iter().any(|m| m == expected),
            "no CEL rule says {expected:?}; the CRD has {messages:?}"
        );
    }
    Ok(())
}

fn collect_messages(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Mapping(map) => {
            if let Some(rules) = map.get("x-kubernetes-validations").and_then(Value::as_sequence) {
                out.extend(
                    rules
                        .iter()
                        .filter_map(|r| r["message"].as_str().map(str::to_string)),
                );
            }
            map.values().for_each(|v| collect_messages(v, out));
        }
        Value::Sequence(items) => items.iter().for_each(|v| collect_messages(v, out)),
        _ => {}
    }
}

fn lint_is_clean() -> Result<(), Failed> {
    let out = run("helm", &["lint", "--strict", CHART])?;
    if out.contains("[WARNING]") || out.contains("[ERROR]") {
        return Err(format!("helm lint is not clean:\n{out}").into());
    }
    Ok(())
}

fn validates(variant: &str, sets: &[&str]) -> Result<(), Failed> {
    let docs = render(sets)?;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chart");
    fs::create_dir_all(&dir)?;
    let file = dir.join(format!("render-{}-{variant}.yaml", std::process::id()));
    let stream: Vec<String> = docs.iter().map(serde_yaml::to_string).collect::<Result<_, _>>()?;
    fs::write(&file, stream.join("---\n"))?;
    let result = validate_file(&file.to_string_lossy(), &docs);
    let _ = fs::remove_file(&file);
    result
}

/// kubernetes-validate warns (exit 0) on kinds it has no schema for; only the optional ServiceMonitor may be one,
/// and every other document must be reported as passed.
fn validate_file(path: &str, docs: &[Value]) -> Result<(), Failed> {
    let out = run(
        "kubernetes-validate",
        &["-k", KUBERNETES_VERSION, "--strict", path],
    )?;
    let unchecked: Vec<_> = out
        .lines()
        .filter(|l| !l.starts_with("INFO") && !l.contains("monitoring.coreos.com"))
        .collect();
    if !unchecked.is_empty() {
        return Err(format!(
            "kubernetes-validate did not pass every document:\n{}",
            unchecked.join("\n")
        )
        .into());
    }
    let checkable = docs
        .iter()
        .filter(|d| !d["apiVersion"].as_str().unwrap_or_default().contains("coreos"))
        .count();
    let passed = out
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    ensure!(
        passed == checkable,
        "{passed} of {checkable} documents validated:\n{out}"
    );
    Ok(())
}

fn examples_redis_validates() -> Result<(), Failed> {
    let docs = parse_documents(&fs::read_to_string(repo_root().join("examples/redis.yaml"))?)?;
    let kinds: Vec<_> = docs.iter().map(kind_of).collect();
    ensure!(
        kinds == ["Deployment", "Service"],
        "examples/redis.yaml holds {kinds:?}"
    );
    validate_file("examples/redis.yaml", &docs)
}

/// kind itself is not here, so its config is checked for what the demo and the e2e suite rely on.
fn kind_config_spreads_and_maps_the_shop() -> Result<(), Failed> {
    let config: Value = serde_yaml::from_str(&fs::read_to_string(repo_root().join("kind-config.yaml"))?)?;
    ensure!(
        config["name"] == "herd",
        "kind cluster is not named herd (the Makefile's KIND_CLUSTER)"
    );
    let roles: Vec<_> = config["nodes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|n| n["role"].clone())
        .collect();
    ensure!(
        roles == ["control-plane", "worker", "worker"],
        "nodes are {roles:?}"
    );
    let mapping = &config["nodes"][0]["extraPortMappings"][0];
    ensure!(
        mapping["containerPort"] == 30080
            && mapping["hostPort"] == 8080
            && mapping["listenAddress"] == "127.0.0.1",
        "the control plane does not map NodePort 30080 to 127.0.0.1:8080: {mapping:?}"
    );
    Ok(())
}

fn bad_values_are_rejected() -> Result<(), Failed> {
    let mut problems = Vec::new();
    for (set, expected) in BAD_VALUES {
        let out = run_failing("helm", &["template", "herd", CHART, "--set", set])?;
        for words in *expected {
            if !out.contains(words) {
                problems.push(format!("--set {set}: message lacks {words:?}:\n{out}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

fn rbac_is_least_privilege() -> Result<(), Failed> {
    let role: ClusterRole = named(&render(&[])?, "ClusterRole", OPERATOR)?;
    let mut granted = BTreeSet::new();
    for rule in role.rules.unwrap_or_default() {
        for group in rule.api_groups.unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    granted.insert(format!("{group}/{resource}:{verb}"));
                }
            }
        }
    }
    let children = [
        "apps/deployments",
        "/services",
        "autoscaling/horizontalpodautoscalers",
        "policy/poddisruptionbudgets",
    ];
    let mut wanted: BTreeSet<String> = ["get", "list", "watch"]
        .iter()
        .map(|v| format!("herd.dev/statelessservices:{v}"))
        .chain(
            ["get", "patch"]
                .iter()
                .map(|v| format!("herd.dev/statelessservices/status:{v}")),
        )
        .chain(
            ["create", "patch"]
                .iter()
                .map(|v| format!("events.k8s.io/events:{v}")),
        )
        .collect();
    for child in children {
        for verb in ["get", "list", "watch", "create", "patch", "delete"] {
            wanted.insert(format!("{child}:{verb}"));
        }
    }
    let extra: Vec<_> = granted.difference(&wanted).collect();
    let lacking: Vec<_> = wanted.difference(&granted).collect();
    if !extra.is_empty() || !lacking.is_empty() {
        return Err(format!("ClusterRole grants extra {extra:?}, lacks {lacking:?}").into());
    }
    if granted.iter().any(|g| g.contains('*') || g.contains("secrets")) {
        return Err(format!("ClusterRole grants a wildcard or secrets: {granted:?}").into());
    }
    Ok(())
}

fn operator_pod_is_restricted() -> Result<(), Failed> {
    let deployment: Deployment = named(&render(&[])?, "Deployment", OPERATOR)?;
    let pod = deployment
        .spec
        .and_then(|s| s.template.spec)
        .ok_or("Deployment has no pod spec")?;
    let pod_security = pod.security_context.ok_or("pod has no securityContext")?;
    ensure!(
        pod_security.run_as_non_root == Some(true),
        "pod runAsNonRoot is not true"
    );
    ensure!(
        pod_security.seccomp_profile.map(|p| p.type_) == Some("RuntimeDefault".into()),
        "pod seccompProfile is not RuntimeDefault"
    );
    let [container] = pod.containers.as_slice() else {
        return Err("expected exactly one container".into());
    };
    ensure!(
        container.image.as_deref() == Some("herd-operator:0.1.0"),
        "default image is {:?}",
        container.image
    );
    let sc = container
        .security_context
        .clone()
        .ok_or("container has no securityContext")?;
    ensure!(
        sc.allow_privilege_escalation == Some(false),
        "allowPrivilegeEscalation is not false"
    );
    ensure!(
        sc.read_only_root_filesystem == Some(true),
        "readOnlyRootFilesystem is not true"
    );
    ensure!(
        sc.run_as_non_root == Some(true),
        "container runAsNonRoot is not true"
    );
    ensure!(
        sc.capabilities.and_then(|c| c.drop) == Some(vec!["ALL".to_string()]),
        "capabilities are not drop [ALL]"
    );
    let resources = container.resources.clone().ok_or("container has no resources")?;
    for (what, map) in [("requests", resources.requests), ("limits", resources.limits)] {
        let map = map.ok_or(format!("no resource {what}"))?;
        ensure!(
            map.contains_key("cpu") && map.contains_key("memory"),
            "resource {what} lack cpu or memory"
        );
    }
    let port = container.ports.clone().unwrap_or_default();
    ensure!(
        port.iter()
            .any(|p| p.container_port == 8081 && p.name.as_deref() == Some("http-metrics")),
        "no container port 8081 named http-metrics"
    );
    for (what, probe, path) in [
        ("liveness", &container.liveness_probe, "/healthz"),
        ("readiness", &container.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .clone()
            .and_then(|p| p.http_get)
            .ok_or(format!("no {what} httpGet probe"))?;
        ensure!(
            get.path.as_deref() == Some(path),
            "{what} probe path is {:?}, want {path}",
            get.path
        );
        ensure!(
            serde_json::to_value(&get.port)? == serde_json::json!("http-metrics"),
            "{what} probe does not target port http-metrics (8081)"
        );
    }
    Ok(())
}

fn service_monitor_only_when_enabled() -> Result<(), Failed> {
    ensure!(
        !render(&[])?.iter().any(|d| kind_of(d) == "ServiceMonitor"),
        "ServiceMonitor rendered by default"
    );
    let docs = render(&[
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prom",
    ])?;
    let monitor = docs
        .iter()
        .find(|d| kind_of(d) == "ServiceMonitor")
        .ok_or("no ServiceMonitor when enabled")?;
    ensure!(
        monitor["metadata"]["labels"]["release"] == "prom",
        "ServiceMonitor lacks the extra label"
    );
    ensure!(
        monitor["spec"]["endpoints"][0]["port"] == "http-metrics",
        "ServiceMonitor scrapes the wrong port"
    );
    let service = find(&docs, "Service", "herd-metrics").ok_or("no Service herd-metrics")?;
    ensure!(
        monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"]
            == service["metadata"]["labels"]["app.kubernetes.io/instance"],
        "ServiceMonitor does not select the metrics Service"
    );
    Ok(())
}

/// `rbac.create=false` is for clusters where the installer may not create RBAC at all: the metrics source's
/// bindings must be left out too, not only the operator's.
fn no_rbac_objects_without_rbac_create() -> Result<(), Failed> {
    let docs = render(&["rbac.create=false"])?;
    let rbac: Vec<String> = docs
        .iter()
        .filter(|d| {
            d["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .starts_with("rbac.authorization.k8s.io/")
        })
        .map(|d| {
            format!(
                "{} {}",
                kind_of(d),
                d["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
    ensure!(rbac.is_empty(), "rbac.create=false still renders {rbac:?}");
    ensure!(
        docs.iter().any(is_metrics_api),
        "the metrics source itself is still installed"
    );
    Ok(())
}

fn own_service_account() -> Result<(), Failed> {
    let docs = render(&["serviceAccount.create=false", "serviceAccount.name=platform-herd"])?;
    ensure!(
        find(&docs, "ServiceAccount", OPERATOR).is_none(),
        "ServiceAccount created although create=false"
    );
    let deployment: Deployment = named(&docs, "Deployment", OPERATOR)?;
    let account = deployment
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.service_account_name);
    ensure!(
        account.as_deref() == Some("platform-herd"),
        "pod runs as {account:?}"
    );
    let binding = find(&docs, "ClusterRoleBinding", OPERATOR).ok_or("no ClusterRoleBinding herd")?;
    ensure!(
        binding["subjects"][0]["name"] == "platform-herd",
        "binding is not for the user's ServiceAccount"
    );
    Ok(())
}

fn notes_tell_the_next_steps() -> Result<(), Failed> {
    let out = run(
        "helm",
        &[
            "install",
            "herd",
            CHART,
            "--namespace",
            NAMESPACE,
            "--dry-run=client",
        ],
    )?;
    let notes = out
        .split_once("NOTES:")
        .map(|(_, n)| n)
        .ok_or("helm printed no NOTES")?;
    for words in [
        "kubectl -n herd-system rollout status deployment/herd",
        "kubectl get crd statelessservices.herd.dev",
        "kubectl apply -f examples/redis.yaml",
        "kubectl create secret generic shop-jwt",
        "kubectl apply -f examples/shop.yaml",
    ] {
        ensure!(notes.contains(words), "NOTES lack {words:?}:\n{notes}");
    }
    Ok(())
}

/// Objects of the metrics source (`metricsApi`), labelled with their own component.
fn is_metrics_api(doc: &Value) -> bool {
    doc["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics-api"
}

fn metrics_api_is_separate() -> Result<(), Failed> {
    let docs = render(&[])?;
    let ours: Vec<&Value> = docs.iter().filter(|d| is_metrics_api(d)).collect();
    let of_kind = |kind: &str| ours.iter().filter(|d| kind_of(d) == kind).count();
    for (kind, count) in [
        ("Deployment", 1),
        ("Service", 1),
        ("ServiceAccount", 1),
        ("APIService", 1),
        ("Secret", 1),
    ] {
        ensure!(
            of_kind(kind) == count,
            "metrics source renders {} {kind}, want {count}",
            of_kind(kind)
        );
    }
    let deployment = ours
        .iter()
        .find(|d| kind_of(d) == "Deployment")
        .ok_or("no Deployment")?;
    let pod = &deployment["spec"]["template"]["spec"];
    ensure!(
        pod["serviceAccountName"] == "herd-metrics-api",
        "runs as {:?}",
        pod["serviceAccountName"]
    );
    ensure!(
        pod["containers"][0]["args"][0] == "metrics-api",
        "not the metrics-api subcommand"
    );
    ensure!(
        pod["containers"][0]["readinessProbe"]["httpGet"]["scheme"] == "HTTPS",
        "probes do not use the TLS port"
    );
    // Neither Deployment's selector may match the other's pods.
    let operator: Deployment = named(&docs, "Deployment", OPERATOR)?;
    let operator_selector = serde_json::to_value(operator.spec.map(|s| s.selector.match_labels))?;
    let selector = serde_json::to_value(&deployment["spec"]["selector"]["matchLabels"])?;
    ensure!(
        operator_selector != selector,
        "operator and metrics source share a selector"
    );

    let api = ours
        .iter()
        .find(|d| kind_of(d) == "APIService")
        .ok_or("no APIService")?;
    ensure!(
        api["metadata"]["name"] == "v1beta2.custom.metrics.k8s.io",
        "APIService name"
    );
    ensure!(
        api["spec"]["caBundle"].as_str().is_some_and(|c| !c.is_empty()),
        "APIService has no caBundle"
    );
    ensure!(
        api["spec"]["insecureSkipTLSVerify"].is_null(),
        "APIService skips TLS verification"
    );

    let role: ClusterRole = serde_yaml::from_value(
        (*ours
            .iter()
            .find(|d| kind_of(d) == "ClusterRole")
            .ok_or("no ClusterRole")?)
        .clone(),
    )?;
    let mut granted = BTreeSet::new();
    for rule in role.rules.unwrap_or_default() {
        for group in rule.api_groups.unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    granted.insert(format!("{group}/{resource}:{verb}"));
                }
            }
        }
    }
    let wanted: BTreeSet<String> = ["/pods", "herd.dev/statelessservices"]
        .iter()
        .flat_map(|r| ["get", "list", "watch"].map(|v| format!("{r}:{v}")))
        .collect();
    ensure!(
        granted == wanted,
        "metrics source ClusterRole grants {granted:?}, want {wanted:?}"
    );
    let bindings: Vec<String> = ours
        .iter()
        .filter(|d| matches!(kind_of(d), "ClusterRoleBinding" | "RoleBinding"))
        .map(|d| {
            format!(
                "{}:{}",
                d["metadata"]["namespace"].as_str().unwrap_or(""),
                d["roleRef"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    for needed in [
        ":system:auth-delegator",
        "kube-system:extension-apiserver-authentication-reader",
    ] {
        ensure!(
            bindings.iter().any(|b| b == needed),
            "no binding to {needed}: {bindings:?}"
        );
    }
    Ok(())
}

fn metrics_api_can_be_turned_off() -> Result<(), Failed> {
    let docs = render(&["metricsApi.enabled=false"])?;
    let left: Vec<_> = docs
        .iter()
        .filter(|d| is_metrics_api(d))
        .map(|d| kind_of(d).to_string())
        .collect();
    ensure!(left.is_empty(), "metricsApi.enabled=false still renders {left:?}");
    let own = render(&["metricsApi.tls.secretName=metrics-tls"])?;
    ensure!(
        !own.iter().any(|d| kind_of(d) == "Secret"),
        "a Secret is made although one was given"
    );
    let api = own
        .iter()
        .find(|d| kind_of(d) == "APIService")
        .ok_or("no APIService")?;
    ensure!(
        api["spec"]["insecureSkipTLSVerify"] == true,
        "no CA given, yet TLS is verified"
    );
    Ok(())
}
