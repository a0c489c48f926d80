//! The real Controller wiring against a routed fake cluster: watch failures do not stop reconciling.

use super::*;
use crate::fixtures::{self, Reply, list, server_apply};
use ::http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn ss(name: &str, resource_version: &str) -> Value {
    let mut ss =
        serde_json::to_value(fixtures::stateless_service(name, 1, json!({"image": "shop:1"}))).unwrap();
    ss["metadata"]["resourceVersion"] = json!(resource_version);
    ss
}

/// The cluster's answers: the StatelessService watch first fails with 410 Gone (relist), then the connection
/// drops (re-watch), then a new object arrives. Every one of them must still be reconciled.
fn route(
    applied: mpsc::UnboundedSender<String>,
) -> impl FnMut(&Method, &str, &Value) -> Reply + Send + 'static {
    let (mut lists, mut watches) = (0, 0);
    move |method, uri, body| {
        let path = uri.split('?').next().unwrap_or_default();
        let watch = uri.contains("watch=true");
        match (method.as_str(), path) {
            ("GET", "/apis/herd.dev/v1alpha1/statelessservices") if !watch => {
                lists += 1;
                match lists {
                    1 => list(
                        "StatelessService",
                        "herd.dev/v1alpha1",
                        "10",
                        vec![ss("one", "10")],
                    ),
                    _ => list(
                        "StatelessService",
                        "herd.dev/v1alpha1",
                        "20",
                        vec![ss("one", "10"), ss("two", "20")],
                    ),
                }
            }
            ("GET", "/apis/herd.dev/v1alpha1/statelessservices") => {
                watches += 1;
                match watches {
                    1 => Reply::Stream(vec![
                        json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                        "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}}),
                    ]),
                    2 => Reply::Stream(vec![]),
                    3 => Reply::Stream(vec![json!({"type": "ADDED", "object": ss("three", "30")})]),
                    _ => Reply::Hold,
                }
            }
            ("GET", "/apis/apps/v1/deployments") if !watch => list("Deployment", "apps/v1", "1", vec![]),
            ("GET", "/api/v1/services") if !watch => list("Service", "v1", "1", vec![]),
            ("GET", "/apis/autoscaling/v2/horizontalpodautoscalers") if !watch => {
                list("HorizontalPodAutoscaler", "autoscaling/v2", "1", vec![])
            }
            ("GET", "/apis/policy/v1/poddisruptionbudgets") if !watch => {
                list("PodDisruptionBudget", "policy/v1", "1", vec![])
            }
            ("GET", _) => Reply::Hold,
            ("PATCH", p) if p.ends_with("/status") => {
                let name = p.split('/').nth_back(1).unwrap_or_default();
                let mut object = ss(name, "40");
                object["status"] = body["status"].clone();
                Reply::Json(StatusCode::OK, object)
            }
            ("PATCH", p) if p.starts_with("/apis/events.k8s.io/") => {
                Reply::Json(StatusCode::OK, body.clone())
            }
            ("PATCH", p) => {
                if p.starts_with(fixtures::DEPLOYMENTS) {
                    let _ = applied.send(body["metadata"]["name"].as_str().unwrap_or_default().to_string());
                }
                Reply::Json(StatusCode::OK, server_apply(None, body, FIELD_MANAGER))
            }
            ("POST", _) => Reply::Json(StatusCode::OK, body.clone()),
            _ => Reply::Json(StatusCode::NOT_FOUND, json!({"kind": "Status", "code": 404})),
        }
    }
}

#[tokio::test]
async fn watch_errors_and_dropped_connections_do_not_stop_reconciling() {
    let (client, handle) = fixtures::client();
    let (applied_tx, mut applied) = mpsc::unbounded_channel();
    let server = fixtures::serve_routes(handle, route(applied_tx));
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::new(Duration::from_secs(60)));
    let shutdown = Shutdown::new();
    let controller = tokio::spawn(controller(
        client,
        metrics.clone(),
        health.clone(),
        shutdown.wait(),
    ));

    let mut seen = std::collections::BTreeSet::new();
    // A bound so a regression fails instead of hanging; the scenario itself takes well under a second.
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while seen.len() < 3 {
            seen.insert(applied.recv().await.expect("fake cluster gone"));
        }
    })
    .await;
    assert!(waited.is_ok(), "reconciled only {seen:?}");
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec!["one", "three", "two"]);
    assert!(health.is_ready(), "caches synced");
    assert_eq!(health.check(Instant::now()), Ok(()), "the watch recovered");
    assert!(
        metrics.watch_error_count("StatelessService") >= 1,
        "the 410 was counted"
    );

    shutdown.trigger();
    controller.await.unwrap();
    server.abort();
}
