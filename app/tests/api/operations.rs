//! Metrics and probes.

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use serde_json::json;

use crate::{common::send, get, shop};

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let (app, _) = shop();
    get(&app, "/products/1").await;
    get(&app, "/products/2").await;
    get(&app, "/nowhere/at/all").await;
    get(&app, "/healthz").await;
    let reply = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = metrics_text(&app).await;
    assert!(
        text.contains(r#"herd_http_requests_total{method="GET",route="/products/{id}",status="200"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"herd_http_requests_total{method="GET",route="unmatched",status="404"} 1"#));
    assert!(text.contains("herd_http_request_duration_seconds_bucket"));
    assert!(text.contains("herd_http_requests_in_flight 0"));
    assert!(
        !text.contains("/products/1\"") && !text.contains("nowhere"),
        "raw paths leaked: {text}"
    );
    assert!(!text.contains("route=\"/healthz\""), "probes are not traffic");
}

async fn metrics_text(app: &Router) -> String {
    use http_body_util::BodyExt;
    let response =
        tower::ServiceExt::oneshot(app.clone(), Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
    String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn readiness_warns_about_the_memory_store_and_fails_while_draining() {
    let (app, state) = shop();
    assert_eq!(get(&app, "/healthz").await.json, json!({"status": "ok"}));
    let ready = get(&app, "/readyz").await;
    assert_eq!(
        (ready.status, &ready.json["store"]),
        (StatusCode::OK, &json!("memory"))
    );
    assert!(
        ready.json["warning"]
            .as_str()
            .unwrap()
            .contains("unsafe with more than one replica")
    );
    state.draining.start();
    let draining = get(&app, "/readyz").await;
    assert_eq!(
        (draining.status, draining.error_code()),
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    );
    assert!(
        draining.json["message"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    assert_eq!(
        get(&app, "/products/1").await.status,
        StatusCode::OK,
        "still serving while draining"
    );
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}
