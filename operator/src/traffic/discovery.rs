//! Which pods to scrape: ready pods of StatelessServices that scale on requests per second (pure).

use crate::crd::{DEFAULT_REQUESTS_METRIC_NAME, StatelessService};
use crate::resources::labels::selector_labels;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

/// One pod to scrape and the metric name its rate is served under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodTarget {
    pub namespace: String,
    pub pod: String,
    /// Tells a recreated pod of the same name from the old one, whose counter history must not be reused.
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// `podIP:spec.port`; the scraper asks `http://{address}/metrics`.
    pub address: SocketAddr,
    pub metric: String,
}

/// Everything the scraper and the API need to know about the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Discovered {
    pub targets: Vec<PodTarget>,
    /// Metric names to advertise: the default plus every name a StatelessService asks for.
    pub metric_names: BTreeSet<String>,
}

/// Matches pods to the StatelessServices whose HPA reads requests per second. A pod counts when it carries
/// the service's selector labels, is Ready, has an IP and is not terminating: the HPA averages over the
/// pods that take traffic, and a draining pod's falling rate would drag that average down.
pub fn discover<'a>(
    services: impl IntoIterator<Item = &'a StatelessService>,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> Discovered {
    let mut metric_names = BTreeSet::from([DEFAULT_REQUESTS_METRIC_NAME.to_string()]);
    // (namespace, name) → (selector labels, port, metric name)
    let mut wanted = HashMap::new();
    for ss in services {
        let scaling = &ss.spec.autoscaling;
        if !scaling.enabled || scaling.target_requests_per_second.is_none() {
            continue;
        }
        let Ok(port) = u16::try_from(ss.spec.port) else {
            continue;
        };
        metric_names.insert(scaling.requests_metric_name.clone());
        let key = (ss.namespace().unwrap_or_default(), ss.name_any());
        wanted.insert(
            key,
            (
                selector_labels(&ss.name_any()),
                port,
                scaling.requests_metric_name.clone(),
            ),
        );
    }

    let mut targets = Vec::new();
    for pod in pods {
        let labels = pod.labels();
        let Some(instance) = labels.get(crate::resources::labels::INSTANCE_LABEL) else {
            continue;
        };
        let key = (pod.namespace().unwrap_or_default(), instance.clone());
        let Some((selector, port, metric)) = wanted.get(&key) else {
            continue;
        };
        if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            continue;
        }
        let Some(ip) = serving_ip(pod) else { continue };
        targets.push(PodTarget {
            namespace: key.0,
            pod: pod.name_any(),
            uid: pod.uid().unwrap_or_default(),
            labels: labels.clone(),
            address: SocketAddr::new(ip, *port),
            metric: metric.clone(),
        });
    }
    targets.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
    Discovered {
        targets,
        metric_names,
    }
}

/// The pod's IP when it is Ready and not terminating.
fn serving_ip(pod: &Pod) -> Option<IpAddr> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !ready {
        return None;
    }
    status.pod_ip.as_deref()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(ns: &str, name: &str, autoscaling: serde_json::Value) -> StatelessService {
        serde_json::from_value(json!({
            "apiVersion": "herd.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")},
            "spec": {"image": "shop:1", "port": 9000, "autoscaling": autoscaling},
        }))
        .unwrap()
    }

    fn pod(ns: &str, name: &str, instance: &str, ip: Option<&str>, ready: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": {
                "app.kubernetes.io/name": instance, "app.kubernetes.io/instance": instance,
                "pod-template-hash": "abc"}},
            "status": {"podIP": ip, "phase": "Running", "conditions": [
                {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": ready}]},
        }))
        .unwrap()
    }

    fn names(d: &Discovered) -> Vec<String> {
        d.targets
            .iter()
            .map(|t| format!("{}/{}@{}:{}", t.namespace, t.pod, t.address, t.metric))
            .collect()
    }

    #[test]
    fn ready_pods_of_traffic_scaled_services_are_targets() {
        let services = [
            service(
                "shop",
                "web",
                json!({"enabled": true, "targetRequestsPerSecond": 20}),
            ),
            service(
                "shop",
                "api",
                json!({"enabled": true, "targetRequestsPerSecond": 5,
                "requestsMetricName": "api_rps"}),
            ),
        ];
        let pods = [
            pod("shop", "web-1", "web", Some("10.0.0.1"), "True"),
            pod("shop", "web-2", "web", Some("fd00::2"), "True"),
            pod("shop", "api-1", "api", Some("10.0.0.3"), "True"),
        ];
        let found = discover(&services, &pods);
        assert_eq!(
            names(&found),
            [
                "shop/api-1@10.0.0.3:9000:api_rps",
                "shop/web-1@10.0.0.1:9000:herd_http_requests_per_second",
                "shop/web-2@[fd00::2]:9000:herd_http_requests_per_second",
            ]
        );
        assert_eq!(
            found.metric_names.into_iter().collect::<Vec<_>>(),
            ["api_rps", "herd_http_requests_per_second"]
        );
        assert_eq!(found.targets[1].uid, "uid-web-1");
        assert_eq!(found.targets[1].labels["pod-template-hash"], "abc");
    }

    #[test]
    fn unready_ipless_terminating_and_foreign_pods_are_not_scraped() {
        let services = [service(
            "shop",
            "web",
            json!({"enabled": true, "targetRequestsPerSecond": 20}),
        )];
        let mut terminating = pod("shop", "web-4", "web", Some("10.0.0.4"), "True");
        terminating.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        let mut other_name = pod("shop", "web-6", "web", Some("10.0.0.6"), "True");
        other_name
            .labels_mut()
            .insert("app.kubernetes.io/name".into(), "impostor".into());
        let pods = [
            pod("shop", "web-1", "web", Some("10.0.0.1"), "False"),
            pod("shop", "web-2", "web", None, "True"),
            pod("shop", "web-3", "web", Some("not-an-ip"), "True"),
            terminating,
            pod("other", "web-5", "web", Some("10.0.0.5"), "True"),
            other_name,
            pod("shop", "web-7", "web", Some("10.0.0.7"), "True"),
        ];
        assert_eq!(
            names(&discover(&services, &pods)),
            ["shop/web-7@10.0.0.7:9000:herd_http_requests_per_second"]
        );
    }

    #[test]
    fn services_without_a_requests_target_are_not_scraped() {
        let services = [
            service(
                "shop",
                "cpu",
                json!({"enabled": true, "targetCPUUtilizationPercentage": 70}),
            ),
            service(
                "shop",
                "off",
                json!({"enabled": false, "targetRequestsPerSecond": 20,
                "requestsMetricName": "never_served"}),
            ),
        ];
        let pods = [
            pod("shop", "cpu-1", "cpu", Some("10.0.0.1"), "True"),
            pod("shop", "off-1", "off", Some("10.0.0.2"), "True"),
        ];
        let found = discover(&services, &pods);
        assert!(found.targets.is_empty());
        assert_eq!(
            found.metric_names.into_iter().collect::<Vec<_>>(),
            ["herd_http_requests_per_second"]
        );
    }
}
