//! The `run` subcommand: watches and caches, the kube Controller, the probe server and clean shutdown.

use crate::apply::{ChildStores, FIELD_MANAGER};
use crate::controller::{self, Context};
use crate::crd::StatelessService;
use crate::http::{self, Health};
use crate::metrics::Metrics;
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Only children carrying this label are watched and cached: the cache holds herd's objects, not the cluster's.
pub const CHILD_SELECTOR: &str = "app.kubernetes.io/managed-by=herd-operator";

/// Settings of `herd-operator run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, env = "HERD_PROBE_ADDR", default_value = "0.0.0.0:8081")]
    pub probe_addr: SocketAddr,
    /// /healthz fails once a watch has been failing for longer than this many seconds without a success.
    #[arg(
        long,
        env = "HERD_WATCH_DEAD_AFTER_SECONDS",
        default_value_t = 120,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub watch_dead_after_seconds: u64,
}

/// How long in-flight reconciles get after SIGTERM; well inside the chart's termination grace period.
const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// Runs the controller until SIGTERM or SIGINT, then drains the probe server and returns.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::default().register(&mut registry));
    let health = Arc::new(Health::new(Duration::from_secs(args.watch_dead_after_seconds)));
    let shutdown = Shutdown::on_signals();

    let router = http::router(health.clone(), Arc::new(registry));
    let server = tokio::spawn(http::serve(args.probe_addr, router, shutdown.wait()));
    let stopped = controller(client, metrics, health.clone(), shutdown.wait());
    // kube's Controller does not stop while it still waits for its first list, so a controller that never
    // reached the API server would outlive SIGTERM until the kubelet kills it. Bound the drain instead: at
    // once when the caches never synced, else time for in-flight reconciles to finish.
    let drain_deadline = {
        let (shutdown, health) = (shutdown.clone(), health.clone());
        async move {
            shutdown.wait().await;
            if health.is_ready() {
                tokio::time::sleep(DRAIN_DEADLINE).await;
            }
        }
    };
    tokio::select! {
        () = stopped => {}
        () = drain_deadline => tracing::warn!("controller still busy at the drain deadline after the shutdown signal; exiting"),
    }
    health.set_stopped();
    // The controller can also end on its own (its caches' writers gone); stop serving then too.
    shutdown.trigger();
    server.await??;
    Ok(())
}

/// Watches StatelessServices and their children and reconciles until `shutdown` resolves.
pub async fn controller(
    client: Client,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let children_config = watcher::Config::default().labels(CHILD_SELECTOR).any_semantic();
    let (deployments, deployment_events) =
        child_watch::<Deployment>(&client, &children_config, &metrics, &health);
    let (services, service_events) = child_watch::<Service>(&client, &children_config, &metrics, &health);
    let (hpas, hpa_events) =
        child_watch::<HorizontalPodAutoscaler>(&client, &children_config, &metrics, &health);
    let (pdbs, pdb_events) = child_watch::<PodDisruptionBudget>(&client, &children_config, &metrics, &health);
    let children = ChildStores {
        deployments,
        services,
        hpas,
        pdbs,
    };

    let (services_reader, services_writer) = reflector::store();
    let services_api = Api::<StatelessService>::all(client.clone());
    let watch_health = (health.clone(), metrics.clone());
    // Status writes do not bump the generation, so filtering on it keeps herd's own status patches from
    // triggering another reconcile; children's events still trigger through `owns_stream`.
    let main_events = watcher(services_api, watcher::Config::default().any_semantic())
        .default_backoff()
        .map(move |event| {
            observe(&watch_health.0, &watch_health.1, "StatelessService", &event);
            event
        })
        .modify(|ss: &mut StatelessService| ss.managed_fields_mut().clear())
        .reflect(services_writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());

    let ctx = Arc::new(Context::new(client, metrics, children.clone()));
    let ready = {
        let health = health.clone();
        let main = services_reader.clone();
        async move {
            let main_ready = main.wait_until_ready().await.is_ok();
            if main_ready && children.wait_until_ready().await {
                health.set_ready();
                tracing::info!("caches synced");
            }
        }
    };
    let run = Controller::for_stream(main_events, services_reader)
        .owns_stream(deployment_events)
        .owns_stream(service_events)
        .owns_stream(hpa_events)
        .owns_stream(pdb_events)
        .graceful_shutdown_on(shutdown)
        .run(controller::reconcile, controller::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!("controller: {error}");
            }
        });
    // Readiness waits for caches that never fill while the API server is unreachable; it must not hold up
    // shutdown, so it is polled beside the controller (in this task, so readiness flips as soon as the caches
    // sync) and dropped once the controller has stopped.
    let ready_then_wait = async move {
        ready.await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        () = run => {}
        () = ready_then_wait => {}
    }
}

/// A cached, label-filtered watch of one child kind and the stream of its changes (deletes included, so a
/// child deleted out of band is recreated).
fn child_watch<K>(
    client: &Client,
    config: &watcher::Config,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + k8s_openapi::Resource + Clone + DeserializeOwned + Debug + Send + Sync,
    K: 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let (metrics, health) = (metrics.clone(), health.clone());
    let events = watcher(Api::<K>::all(client.clone()), config.clone())
        .default_backoff()
        .map(move |event| {
            observe(&health, &metrics, <K as k8s_openapi::Resource>::KIND, &event);
            event
        })
        .modify(trim_for_cache)
        .reflect(writer)
        .touched_objects();
    (reader, events)
}

/// The cache keeps of `managedFields` only what is ever read: whether herd's own entry owns `spec.replicas`.
/// The entries mirror the whole object field by field and would otherwise be most of the cache's memory.
pub fn trim_for_cache<K: Resource>(child: &mut K) {
    let fields = child.managed_fields_mut();
    fields.retain(|e| e.manager.as_deref() == Some(FIELD_MANAGER));
    for entry in fields.iter_mut() {
        if let Some(FieldsV1(owned)) = entry.fields_v1.as_mut() {
            let replicas = owned
                .get("f:spec")
                .and_then(|spec| spec.get("f:replicas"))
                .is_some();
            *owned = if replicas {
                serde_json::json!({"f:spec": {"f:replicas": {}}})
            } else {
                serde_json::json!({})
            };
        }
    }
}

fn observe<T, E: std::fmt::Display>(
    health: &Health,
    metrics: &Metrics,
    kind: &'static str,
    event: &Result<T, E>,
) {
    health.observe_watch(kind, event.is_ok(), Instant::now());
    if let Err(error) = event {
        metrics.record_watch_error(kind);
        tracing::warn!(kind, "watch failed, retrying with backoff: {error}");
    }
}

/// A shutdown signal shared by the controller and the probe server.
#[derive(Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(false).0),
        }
    }

    /// Triggers on the first SIGTERM or SIGINT; a second one exits at once.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            signal().await;
            tracing::info!("shutting down");
            trigger.trigger();
            signal().await;
            tracing::warn!("second signal, exiting immediately");
            std::process::exit(130);
        });
        shutdown
    }

    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Resolves once triggered (at once if it already was).
    pub fn wait(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            // An error means the sender is gone, which only happens at process exit: stop as well.
            let _ = receiver.wait_for(|triggered| *triggered).await;
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

async fn signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => drop(sigterm.recv().await),
            Err(error) => {
                tracing::error!("cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests;
