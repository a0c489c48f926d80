//! Scrapes every tracked pod's `/metrics` on an interval, with a timeout, a body limit and bounded
//! concurrency, and records the request counter into the store.

use super::discovery::PodTarget;
use super::promtext;
use super::selfmetrics::{ScrapeResult, SourceMetrics};
use super::store::Store;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The counter every pod exports; all its series are summed per pod.
pub const REQUESTS_COUNTER: &str = "herd_http_requests_total";

#[derive(Clone, Debug)]
pub struct ScrapeConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    /// Larger bodies are refused: a pod cannot make the source buffer unbounded data.
    pub max_body_bytes: usize,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            concurrency: 64,
            max_body_bytes: 4 << 20,
        }
    }
}

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// Scrapes forever; each round starts on the interval tick (a slow round delays the next rather than
/// piling rounds up).
pub async fn run(store: Arc<Store>, metrics: Arc<SourceMetrics>, config: ScrapeConfig) {
    let client = http_client();
    let mut ticks = tokio::time::interval(config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        scrape_round(&client, &store, &metrics, &config).await;
    }
}

/// Scrapes every tracked pod once.
pub async fn scrape_round(
    client: &HttpClient,
    store: &Store,
    metrics: &SourceMetrics,
    config: &ScrapeConfig,
) {
    let targets = store.targets();
    metrics.set_pods_tracked(targets.len());
    futures::stream::iter(targets)
        .map(|target| async move {
            let started = Instant::now();
            let sent = store.now();
            let outcome = scrape_pod(client, &target, config).await;
            // The pod rendered its counter somewhere between sending and receiving; the midpoint halves the
            // error a slow answer would otherwise put into the rate.
            let at = sent + store.now().saturating_sub(sent) / 2;
            let result = match outcome {
                Ok(total) => {
                    store.record(&target, at, total);
                    ScrapeResult::Success
                }
                Err(result) => {
                    tracing::debug!(pod = %target.pod, namespace = %target.namespace, result = result.as_str(),
                        "scrape failed");
                    result
                }
            };
            metrics.scraped(result, started.elapsed().as_secs_f64());
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect::<()>()
        .await;
}

/// The summed request counter of one pod.
pub async fn scrape_pod(
    client: &HttpClient,
    target: &PodTarget,
    config: &ScrapeConfig,
) -> Result<f64, ScrapeResult> {
    let uri: http::Uri = format!("http://{}/metrics", target.address)
        .parse()
        .map_err(|_| ScrapeResult::ConnectError)?;
    let exchange = async {
        let response = client.get(uri).await.map_err(|_| ScrapeResult::ConnectError)?;
        if !response.status().is_success() {
            return Err(ScrapeResult::HttpStatus);
        }
        let body = Limited::new(response.into_body(), config.max_body_bytes)
            .collect()
            .await
            .map_err(|_| ScrapeResult::BodyError)?
            .to_bytes();
        let text = std::str::from_utf8(&body).map_err(|_| ScrapeResult::ParseError)?;
        promtext::sum_counter(text, REQUESTS_COUNTER).map_err(|_| ScrapeResult::ParseError)
    };
    tokio::time::timeout(config.timeout, exchange)
        .await
        .map_err(|_| ScrapeResult::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::rate::RateConfig;
    use crate::traffic::selector::Selector;
    use crate::traffic::store::tests::{discovered, target};
    use axum::{Router, routing::get};

    async fn serve(router: Router) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        port
    }

    fn config() -> ScrapeConfig {
        ScrapeConfig {
            timeout: Duration::from_millis(500),
            max_body_bytes: 1024,
            ..ScrapeConfig::default()
        }
    }

    #[tokio::test]
    async fn each_failure_is_counted_by_its_kind_and_good_pods_are_recorded() {
        let good = serve(Router::new().route(
            "/metrics",
            get(|| async {
                "herd_http_requests_total{route=\"/a\"} 3\nherd_http_requests_total{route=\"/b\"} 4\n"
            }),
        ))
        .await;
        let error = serve(Router::new().route(
            "/metrics",
            get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        ))
        .await;
        let garbage =
            serve(Router::new().route("/metrics", get(|| async { "herd_http_requests_total{ 1" }))).await;
        let huge = serve(Router::new().route("/metrics", get(|| async { "#".repeat(10_000) }))).await;
        let slow = serve(Router::new().route(
            "/metrics",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "herd_http_requests_total 1"
            }),
        ))
        .await;
        // A port nobody listens on: bind, note it, close.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };

        let store = Store::new(RateConfig {
            window: Duration::from_secs(30),
            stale_after: Duration::from_secs(30),
        });
        let ports = [good, error, garbage, huge, slow, closed];
        let targets: Vec<_> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| target("shop", &format!("p{i}"), "u", *p))
            .collect();
        store.update(discovered(targets.clone()));
        let metrics = SourceMetrics::default();
        let client = http_client();
        scrape_round(&client, &store, &metrics, &config()).await;
        assert_eq!(scrape_pod(&client, &targets[0], &config()).await, Ok(7.0));

        for (result, count) in [
            (ScrapeResult::Success, 1),
            (ScrapeResult::HttpStatus, 1),
            (ScrapeResult::ParseError, 1),
            (ScrapeResult::BodyError, 1),
            (ScrapeResult::Timeout, 1),
            (ScrapeResult::ConnectError, 1),
        ] {
            assert_eq!(metrics.scrapes(result), count, "{result:?}");
        }
        assert!(metrics.encode().contains("herd_metrics_api_pods_tracked 6"));

        // A second round gives the good pod a rate; the broken ones stay absent.
        tokio::time::sleep(Duration::from_millis(20)).await;
        scrape_round(&client, &store, &metrics, &config()).await;
        let served: Vec<_> = store
            .values(
                "shop",
                "herd_http_requests_per_second",
                &Selector::default(),
                store.now(),
            )
            .into_iter()
            .map(|v| (v.pod, v.per_second))
            .collect();
        assert_eq!(served, [("p0".to_string(), 0.0)]);
    }
}
