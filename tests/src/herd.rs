//! The StatelessService side of the suite: read and change objects, wait for conditions, deploy the shop.

use crate::cluster::{Check, Cluster, wait_for};
use crate::cmd::repo_root;
use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use std::time::Duration;

/// The field manager of everything the suite applies, so its changes are told apart from herd's.
pub const TEST_MANAGER: &str = "herd-e2e";

/// CEL messages the invalid-manifest test expects `kubectl apply` to print; the chart checks verify that
/// crds/statelessservice.yaml carries each, so a reworded rule fails `make test`, not just the e2e run.
pub const CEL_DRAIN_MESSAGE: &str =
    "drainDelaySeconds must be less than terminationGracePeriodSeconds, or the pod is killed while draining";
pub const CEL_DISRUPTION_MESSAGE: &str = "set at most one of minAvailable and maxUnavailable";

pub fn resource() -> ApiResource {
    ApiResource {
        group: "herd.dev".into(),
        version: "v1alpha1".into(),
        api_version: "herd.dev/v1alpha1".into(),
        kind: "StatelessService".into(),
        plural: "statelessservices".into(),
    }
}

pub fn api(cluster: &Cluster, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(cluster.client.clone(), namespace, &resource())
}

/// A manifest from `examples/` as JSON, placed in `namespace`.
pub fn example(file: &str, namespace: &str) -> anyhow::Result<Value> {
    let path = repo_root().join("examples").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut manifest: Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    manifest["metadata"]["namespace"] = json!(namespace);
    Ok(manifest)
}

/// Server-side applies a whole StatelessService manifest as the suite's field manager.
pub async fn apply(cluster: &Cluster, namespace: &str, manifest: &Value) -> anyhow::Result<DynamicObject> {
    let name = manifest["metadata"]["name"]
        .as_str()
        .context("manifest has no metadata.name")?;
    let params = PatchParams::apply(TEST_MANAGER).force();
    api(cluster, namespace)
        .patch(name, &params, &Patch::Apply(manifest))
        .await
        .with_context(|| format!("applying StatelessService {namespace}/{name}"))
}

/// Merges `patch` into the spec (a JSON merge patch: `null` removes a field).
pub async fn merge_spec(cluster: &Cluster, namespace: &str, name: &str, spec: Value) -> anyhow::Result<()> {
    api(cluster, namespace)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .with_context(|| format!("patching StatelessService {namespace}/{name}"))?;
    Ok(())
}

/// `status.conditions[type=kind].status`, e.g. `"True"`.
pub fn condition(ss: &DynamicObject, kind: &str) -> Option<String> {
    ss.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}

pub fn status_int(ss: &DynamicObject, field: &str) -> i64 {
    ss.data["status"][field].as_i64().unwrap_or_default()
}

/// The current per-pod value of `metric` in `status.autoscaling`, as a number: herd mirrors the HPA's
/// averages as quantities (`12`, `12500m`), `None` while the HPA has not read the metric.
pub fn autoscaling_current(ss: &DynamicObject, metric: &str) -> Option<f64> {
    let current = ss.data["status"]["autoscaling"]["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == metric)?["current"]
        .as_str()?;
    let (number, scale) = match current.strip_suffix('m') {
        Some(milli) => (milli, 1e-3),
        None => match current.strip_suffix('k') {
            Some(kilo) => (kilo, 1e3),
            None => (current, 1.0),
        },
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Whether the status describes the current spec: herd has seen the latest generation.
pub fn observed(ss: &DynamicObject) -> bool {
    let generation = ss.metadata.generation.unwrap_or_default();
    ss.data["status"]["observedGeneration"]
        .as_i64()
        .is_some_and(|g| g >= generation)
}

/// Waits until `name` reports Available=True for its latest generation with `ready` ready replicas
/// (at least `ready`, when `at_least`), and its Deployment agrees.
pub async fn wait_available(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    ready: i64,
    at_least: bool,
    timeout: Duration,
) -> anyhow::Result<DynamicObject> {
    let what = format!("StatelessService {namespace}/{name} Available with {ready} ready replicas");
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), namespace);
    wait_for(&what, timeout, || async {
        let ss = api(cluster, namespace).get(name).await?;
        let deployment = deployments.get_opt(name).await?;
        let live_ready = deployment
            .as_ref()
            .and_then(|d| d.status.as_ref()?.ready_replicas)
            .unwrap_or(0) as i64;
        let desired = deployment
            .as_ref()
            .and_then(|d| d.spec.as_ref()?.replicas)
            .unwrap_or(0) as i64;
        let reported = status_int(&ss, "readyReplicas");
        let count_ok = if at_least {
            reported >= ready
        } else {
            reported == ready
        };
        let state = format!(
            "Available={:?}, observed={}, status.readyReplicas={reported}, status.replicas={}, \
             deployment ready={live_ready} of {desired}",
            condition(&ss, "Available"),
            observed(&ss),
            status_int(&ss, "replicas"),
        );
        Ok(
            if condition(&ss, "Available").as_deref() == Some("True")
                && observed(&ss)
                && count_ok
                && reported == live_ready
                && live_ready == desired
                && status_int(&ss, "replicas") == desired
            {
                Check::Done(ss)
            } else {
                Check::NotYet(state)
            },
        )
    })
    .await
}

/// Fails unless `owners` holds exactly one controller reference, and it points at `ss`.
pub fn check_controlled_by(what: &str, owners: &[OwnerReference], ss: &DynamicObject) -> anyhow::Result<()> {
    let controllers: Vec<_> = owners.iter().filter(|o| o.controller == Some(true)).collect();
    match controllers.as_slice() {
        [owner] if owner.kind == "StatelessService" && owner.uid == ss.uid().unwrap_or_default() => Ok(()),
        _ => bail!(
            "{what} is not controlled by StatelessService {}: owners {owners:?}",
            ss.name_any()
        ),
    }
}

/// Redis, the JWT secret and examples/shop.yaml changed by `tweak`, in `namespace`; returns once Redis is up.
/// The shop itself may still be starting: callers wait for the state they need.
pub async fn deploy_shop(
    cluster: &Cluster,
    namespace: &str,
    tweak: impl FnOnce(&mut Value),
) -> anyhow::Result<()> {
    let ns = Some(namespace);
    cluster
        .kubectl(ns, &["apply", "-f", "examples/redis.yaml"])
        .await?;
    let secret = format!("--from-literal=secret={}", random_secret()?);
    cluster
        .kubectl(ns, &["create", "secret", "generic", "shop-jwt", &secret])
        .await?;
    let mut manifest = example("shop.yaml", namespace)?;
    tweak(&mut manifest);
    apply(cluster, namespace, &manifest).await?;
    cluster
        .kubectl(ns, &["rollout", "status", "deployment/redis", "--timeout=180s"])
        .await?;
    Ok(())
}

/// Turns autoscaling off and fixes the replica count: the tests that count replicas need them stable.
pub fn fixed_replicas(replicas: i64) -> impl FnOnce(&mut Value) {
    move |manifest| {
        manifest["spec"]["autoscaling"] = json!({ "enabled": false });
        manifest["spec"]["replicas"] = json!(replicas);
    }
}

/// The Secret `shop-jwt` examples/shop.yaml reads its HS256 key from, made as the README says.
pub async fn create_jwt_secret(cluster: &Cluster, namespace: &str) -> anyhow::Result<()> {
    let secret = format!("--from-literal=secret={}", random_secret()?);
    cluster
        .kubectl(
            Some(namespace),
            &["create", "secret", "generic", "shop-jwt", &secret],
        )
        .await?;
    Ok(())
}

/// 32 random bytes, hex-encoded: the HS256 key of one test's shop.
fn random_secret() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_status(status: Value) -> DynamicObject {
        let mut ss = DynamicObject::new("shop", &resource());
        ss.data = json!({ "status": status });
        ss
    }

    #[test]
    fn reads_the_requests_metric_in_the_units_the_hpa_writes() {
        let metric = "herd_http_requests_per_second";
        let cases = [
            ("33333m", Some(33.333)),
            ("12", Some(12.0)),
            ("1500k", Some(1.5e6)),
            ("12 rps", None),
        ];
        for (current, want) in cases {
            let ss = with_status(json!({ "autoscaling": { "metrics": [
                { "name": "cpu", "current": "41%", "target": "70%" },
                { "name": metric, "current": current, "target": "5 (average)" },
            ] } }));
            let got = autoscaling_current(&ss, metric);
            assert!(
                got.zip(want).map_or(got == want, |(g, w)| (g - w).abs() < 1e-9),
                "{current}: {got:?}"
            );
        }
    }

    #[test]
    fn a_metric_the_hpa_has_not_read_has_no_current_value() {
        let metric = "herd_http_requests_per_second";
        let unread = with_status(json!({ "autoscaling": { "metrics": [
            { "name": metric, "target": "5 (average)", "message": "the autoscaler has not read this metric yet" },
        ] } }));
        assert_eq!(autoscaling_current(&unread, metric), None);
        assert_eq!(autoscaling_current(&with_status(json!({})), metric), None);
        assert_eq!(autoscaling_current(&with_status(json!(null)), metric), None);
    }
}
