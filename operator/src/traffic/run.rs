//! `herd-operator metrics-api`: wires the Kubernetes watches, the scraper and the HTTPS server together.

use super::api::{ApiState, router};
use super::auth::{
    AUTH_CONFIGMAP_NAME, AUTH_CONFIGMAP_NAMESPACE, CachedAuthorizer, RequestHeaderAuth, SubjectAccessReviewer,
};
use super::discovery::discover;
use super::rate::RateConfig;
use super::scrape::{self, ScrapeConfig};
use super::selfmetrics::SourceMetrics;
use super::store::Store;
use super::tls::{self, ServingCert};
use crate::crd::StatelessService;
use crate::resources::labels::{INSTANCE_LABEL, NAME_LABEL};
use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::runtime::reflector::{self, Store as Reader};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Command-line flags of the metrics source; every flag also reads an environment variable.
#[derive(clap::Args, Debug, Clone)]
pub struct MetricsApiArgs {
    /// Address of the HTTPS server the API aggregator calls.
    #[arg(long, env = "HERD_METRICS_API_ADDR", default_value = "0.0.0.0:6443")]
    pub bind_address: SocketAddr,
    /// Serving certificate (PEM). Without it a self-signed certificate is generated at start.
    #[arg(long, env = "HERD_TLS_CERT_FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Private key of the serving certificate (PEM).
    #[arg(long, env = "HERD_TLS_PRIVATE_KEY_FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// DNS names of the generated self-signed certificate (comma-separated).
    #[arg(
        long,
        env = "HERD_TLS_DNS_NAMES",
        value_delimiter = ',',
        default_value = "localhost"
    )]
    pub tls_dns_names: Vec<String>,
    /// How often every pod is scraped, e.g. `5s` or `500ms`.
    #[arg(long, env = "HERD_SCRAPE_INTERVAL", value_parser = parse_duration, default_value = "5s")]
    pub scrape_interval: Duration,
    /// Longest wait for one pod's `/metrics`.
    #[arg(long, env = "HERD_SCRAPE_TIMEOUT", value_parser = parse_duration, default_value = "2s")]
    pub scrape_timeout: Duration,
    /// Pods scraped at the same time.
    #[arg(long, env = "HERD_SCRAPE_CONCURRENCY", default_value_t = 64)]
    pub scrape_concurrency: usize,
    /// Sliding window the request rate is computed over.
    #[arg(long, env = "HERD_RATE_WINDOW", value_parser = parse_duration, default_value = "30s")]
    pub rate_window: Duration,
    /// How long an authorization decision is reused.
    #[arg(long, env = "HERD_AUTHZ_CACHE_TTL", value_parser = parse_duration, default_value = "10s")]
    pub authorization_cache_ttl: Duration,
}

/// `250ms`, `5s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 500ms, 5s or 1m"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("{text:?}: unit must be ms, s or m")),
    };
    if duration.is_zero() {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok(duration)
}

impl MetricsApiArgs {
    /// Settings that parse but cannot work together; checked before the API server is contacted.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=1024).contains(&self.scrape_concurrency),
            "--scrape-concurrency {} must be between 1 and 1024",
            self.scrape_concurrency
        );
        anyhow::ensure!(
            self.scrape_timeout <= self.scrape_interval,
            "--scrape-timeout {:?} is longer than --scrape-interval {:?}: scrapes of one pod would overlap",
            self.scrape_timeout,
            self.scrape_interval
        );
        // A rate needs two samples of the counter inside the window.
        anyhow::ensure!(
            self.rate_window >= self.scrape_interval * 2,
            "--rate-window {:?} must be at least twice --scrape-interval {:?}: the rate needs two scrapes \
             inside the window, or the HPA never gets a value",
            self.rate_window,
            self.scrape_interval
        );
        tls::check(&self.serving_cert())?;
        Ok(())
    }

    fn serving_cert(&self) -> ServingCert {
        match (&self.tls_cert_file, &self.tls_private_key_file) {
            (Some(cert), Some(key)) => ServingCert::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => ServingCert::SelfSigned {
                dns_names: self.tls_dns_names.clone(),
            },
        }
    }

    fn rate_config(&self) -> RateConfig {
        // Three missed scrapes make a pod's rate stale; shorter would drop pods on one slow answer.
        RateConfig {
            window: self.rate_window,
            stale_after: self.scrape_interval * 3 + self.scrape_timeout,
        }
    }
}

/// Runs until a task fails or SIGTERM/ctrl-c arrives.
pub async fn run(args: MetricsApiArgs) -> anyhow::Result<()> {
    args.check()?;
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let configmap = Api::<ConfigMap>::namespaced(client.clone(), AUTH_CONFIGMAP_NAMESPACE)
        .get(AUTH_CONFIGMAP_NAME)
        .await
        .with_context(|| format!("reading ConfigMap {AUTH_CONFIGMAP_NAMESPACE}/{AUTH_CONFIGMAP_NAME}"))?;
    let authn = RequestHeaderAuth::from_configmap(&configmap)?;
    let tls_config = tls::server_config(&args.serving_cert(), &authn.client_ca_pem)?;

    let store = Arc::new(Store::new(args.rate_config()));
    let metrics = Arc::new(SourceMetrics::default());
    let state = ApiState {
        store: store.clone(),
        metrics: metrics.clone(),
        authn: Arc::new(authn),
        authz: Arc::new(CachedAuthorizer::new(
            SubjectAccessReviewer::new(client.clone()),
            args.authorization_cache_ttl,
        )),
    };
    let listener = tokio::net::TcpListener::bind(args.bind_address)
        .await
        .with_context(|| format!("binding --bind-address {}", args.bind_address))?;
    tracing::info!(address = %args.bind_address, "serving custom.metrics.k8s.io/v1beta2");

    let scrape_config = ScrapeConfig {
        interval: args.scrape_interval,
        timeout: args.scrape_timeout,
        concurrency: args.scrape_concurrency,
        ..ScrapeConfig::default()
    };
    tokio::select! {
        () = tls::serve(listener, tls_config, router(state)) => anyhow::bail!("HTTPS server stopped"),
        () = scrape::run(store.clone(), metrics, scrape_config) => anyhow::bail!("scraper stopped"),
        () = watch_targets(client, store) => anyhow::bail!("watches stopped"),
        () = shutdown_signal() => tracing::info!("shutting down"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// Keeps the store's targets in line with the cluster. Watch events mark the targets dirty and a short
/// tick recomputes them, so a burst of pod events (a rollout) costs one recomputation, not one per event.
async fn watch_targets(client: Client, store: Arc<Store>) {
    let (services, services_writer) = reflector::store::<StatelessService>();
    let (pods, pods_writer) = reflector::store::<Pod>();
    let service_events = watcher(
        Api::<StatelessService>::all(client.clone()),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(services_writer)
    .map(|event| event.map(|_| ()).map_err(|e| e.to_string()));
    // Only pods carrying herd's selector labels, and only what discovery reads is kept in memory.
    let pod_config = watcher::Config::default()
        .labels(&format!("{NAME_LABEL},{INSTANCE_LABEL}"))
        .any_semantic();
    let pod_events = watcher(Api::<Pod>::all(client), pod_config)
        .default_backoff()
        .modify(|pod| {
            pod.managed_fields_mut().clear();
            pod.annotations_mut().clear();
            pod.spec = None;
        })
        .reflect(pods_writer)
        .map(|event| event.map(|_| ()).map_err(|e| e.to_string()));
    let mut events = std::pin::pin!(futures::stream::select(service_events, pod_events));
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut dirty = false;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(())) => dirty = true,
                Some(Err(error)) => tracing::warn!(%error, "watch error; retrying with backoff"),
                None => return,
            },
            _ = tick.tick(), if dirty => {
                dirty = false;
                refresh(&services, &pods, &store);
            }
        }
    }
}

fn refresh(services: &Reader<StatelessService>, pods: &Reader<Pod>, store: &Store) {
    let services = services.state();
    let pods = pods.state();
    let discovered = discover(
        services.iter().map(|s| s.as_ref()),
        pods.iter().map(|p| p.as_ref()),
    );
    tracing::debug!(targets = discovered.targets.len(), "targets updated");
    store.update(discovered);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubernetes_flags() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        for bad in ["", "0s", "5h", "fast", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: MetricsApiArgs,
    }

    fn checked(flags: &[&str]) -> Result<(), String> {
        use clap::Parser;
        let cli = Cli::try_parse_from(std::iter::once("metrics-api").chain(flags.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.args.check().map_err(|e| e.to_string())
    }

    #[test]
    fn settings_that_cannot_work_together_are_refused() {
        assert_eq!(checked(&[]), Ok(()));
        assert_eq!(
            checked(&["--rate-window", "10s", "--scrape-interval", "5s"]),
            Ok(())
        );
        let cases: [(&[&str], &str); 4] = [
            (
                &["--rate-window", "1s"],
                "--rate-window 1s must be at least twice --scrape-interval 5s",
            ),
            (
                &["--scrape-timeout", "10s"],
                "--scrape-timeout 10s is longer than --scrape-interval 5s",
            ),
            (
                &["--scrape-concurrency", "0"],
                "--scrape-concurrency 0 must be between 1 and 1024",
            ),
            (
                &[
                    "--tls-cert-file",
                    "/etc/hostname",
                    "--tls-private-key-file",
                    "/etc/hostname",
                ],
                "--tls-cert-file /etc/hostname",
            ),
        ];
        for (flags, message) in cases {
            let error = checked(flags).unwrap_err();
            assert!(error.starts_with(message), "{flags:?}: {error}");
        }
    }
}
