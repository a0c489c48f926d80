//! HTTP to a Service through the API server's service proxy: the request is balanced over the Service's
//! ready endpoints, needs no port mapping, and stays inside the test's namespace.

use crate::load::{Budget, LoadReport, Outcome};
use anyhow::Context;
use http::{HeaderMap, Method, Request, StatusCode};
use kube::Client;
use kube::client::Body;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The header herd-shop names its replica (pod) in.
pub const SERVED_BY: &str = "x-served-by";

/// A Service port to send requests to.
#[derive(Clone, Debug)]
pub struct ServiceTarget {
    pub namespace: String,
    pub service: String,
    pub port: i32,
}

/// One answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn served_by(&self) -> Option<String> {
        self.headers
            .get(SERVED_BY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| format!("answer is not JSON: {}", self.body))
    }
}

impl ServiceTarget {
    fn uri(&self, path: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/services/{}:{}/proxy{path}",
            self.namespace, self.service, self.port
        )
    }

    /// Sends one request; `json` becomes the body, `bearer` an Authorization header. Bounded to 10s.
    pub async fn send(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
        bearer: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let mut request = Request::builder().method(method).uri(self.uri(path));
        if let Some(token) = bearer {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match json {
            Some(value) => {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(value)?)
            }
            None => Body::empty(),
        };
        let exchange = async {
            let response = client.send(request.body(body)?).await?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect_bytes().await?;
            anyhow::Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .with_context(|| format!("{path} did not answer within 10s"))?
    }

    pub async fn get(&self, client: &Client, path: &str) -> anyhow::Result<Answer> {
        self.send(client, Method::GET, path, None, None).await
    }
}

/// Load that runs in the background until stopped or its budget is spent; `stop` returns what it saw.
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<LoadReport>>,
}

impl Load {
    /// Starts `workers` loops, each sending `GET path` one after another within `budget`.
    pub fn start(
        client: &Client,
        target: &ServiceTarget,
        path: &str,
        workers: usize,
        budget: Budget,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|_| {
                let (client, target, path, stop) =
                    (client.clone(), target.clone(), path.to_string(), stop.clone());
                tokio::spawn(async move {
                    let mut report = LoadReport::default();
                    let started = Instant::now();
                    while !stop.load(Ordering::Relaxed) && budget.allows(report.total(), started.elapsed()) {
                        report.record(match target.get(&client, &path).await {
                            Ok(answer) if answer.status.is_success() => Outcome::Ok {
                                served_by: answer.served_by(),
                            },
                            Ok(answer) => Outcome::Failed {
                                reason: answer.status.as_u16().to_string(),
                            },
                            Err(e) => Outcome::Failed {
                                reason: format!("{e:#}"),
                            },
                        });
                        tokio::time::sleep(budget.pause).await;
                    }
                    report
                })
            })
            .collect();
        Load { stop, workers }
    }

    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = LoadReport::default();
        for worker in self.workers {
            match worker.await {
                Ok(report) => total.merge(report),
                Err(e) => total.record(Outcome::Failed {
                    reason: format!("load worker died: {e}"),
                }),
            }
        }
        total
    }
}
