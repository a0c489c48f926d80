//! Benchmark: reconcile CPU cost per StatelessService and resident memory with 1,000 objects in the caches,
//! against a mocked API server (no cluster needed).
//!
//! `cargo run --release -p herd-operator --example reconcile_bench [-- OBJECTS ROUNDS]`

use herd_operator::apply::{ChildStores, FIELD_MANAGER};
use herd_operator::controller::{Context, reconcile};
use herd_operator::crd::StatelessService;
use herd_operator::metrics::{Metrics, Outcome};
use herd_operator::run::trim_for_cache;
use http::{Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const NAMESPACE: &str = "bench";

/// What the fake API server saw: request count, and the last object or status it answered per path.
#[derive(Default)]
struct Seen {
    requests: u64,
    objects: Vec<(String, Value)>,
    statuses: HashMap<String, Value>,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let objects: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    // Production logs at info through a subscriber; spans and level checks are part of the cost.
    tracing_subscriber::fmt().with_writer(std::io::sink).init();
    // One thread: the reconciler, the client's buffer and the fake server all run here, so this thread's CPU
    // time is the whole cost.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(objects, rounds))
}

async fn bench(objects: usize, rounds: usize) -> anyhow::Result<()> {
    let rss_start = rss_kib();
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NAMESPACE);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server_seen = seen.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let answer = answer(&mut server_seen.lock().unwrap(), parts.uri.path(), &body);
            let mut response = Response::new(Body::from(answer.to_string().into_bytes()));
            *response.status_mut() = StatusCode::OK;
            send.send_response(response);
        }
    });

    let (deployments, mut deployment_writer) = synced();
    let (services, mut service_writer) = synced();
    let (hpas, mut hpa_writer) = synced();
    let (pdbs, mut pdb_writer) = synced();
    let (main_store, mut main_writer) = synced::<StatelessService>();
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(Context::new(
        client,
        metrics.clone(),
        ChildStores {
            deployments,
            services,
            hpas,
            pdbs,
        },
    ));

    // Bring every object to its steady state: create, then the rollout completes.
    let mut all: Vec<StatelessService> = (0..objects).map(stateless_service).collect();
    for _ in 0..2 {
        for ss in &mut all {
            reconcile(Arc::new(ss.clone()), ctx.clone()).await?;
            // Cache each answer at once, as the watches would, instead of holding a thousand JSON documents.
            let mut seen = seen.lock().unwrap();
            for (path, object) in seen.objects.drain(..) {
                if path.contains("/deployments/") {
                    put(&mut deployment_writer, rolled_out(object));
                } else if path.contains("/services/") {
                    put(&mut service_writer, object);
                } else if path.contains("/horizontalpodautoscalers/") {
                    put(&mut hpa_writer, object);
                } else if path.contains("/poddisruptionbudgets/") {
                    put(&mut pdb_writer, object);
                }
            }
            if let Some(status) = seen
                .statuses
                .remove(&ss.metadata.name.clone().unwrap_or_default())
            {
                ss.status = Some(serde_json::from_value(status)?);
            }
        }
    }
    assert_eq!(
        metrics.outcome_count(Outcome::Changed),
        2 * objects as u64,
        "create, then rollout done"
    );
    for ss in &all {
        main_writer.apply_watcher_event(&watcher::Event::Apply(ss.clone()));
    }
    drop(all);
    let rss_cached = rss_kib();

    let requests_before = seen.lock().unwrap().requests;
    let (idle_cpu, idle_wall) = measure(async {
        for _ in 0..rounds {
            for ss in main_store.state() {
                reconcile(ss, ctx.clone()).await.expect("idle reconcile");
            }
        }
    })
    .await;
    let idle_requests = seen.lock().unwrap().requests - requests_before;
    assert_eq!(
        metrics.outcome_count(Outcome::Unchanged),
        (objects * rounds) as u64
    );

    // Same objects, new image: one apply, one event and one status patch each.
    let changed: Vec<Arc<StatelessService>> = main_store
        .state()
        .iter()
        .map(|ss| {
            let mut ss = (**ss).clone();
            ss.spec.image = "registry.example/shop:1.1.0".into();
            ss.metadata.generation = Some(2);
            Arc::new(ss)
        })
        .collect();
    let requests_before = seen.lock().unwrap().requests;
    let (changed_cpu, changed_wall) = measure(async {
        for ss in &changed {
            reconcile(ss.clone(), ctx.clone())
                .await
                .expect("changed reconcile");
        }
    })
    .await;
    let changed_requests = seen.lock().unwrap().requests - requests_before;

    let idle_reconciles = (objects * rounds) as f64;
    let idle_us = idle_cpu / idle_reconciles * 1e6;
    let changed_us = changed_cpu / objects as f64 * 1e6;
    println!("objects: {objects}, idle rounds: {rounds}");
    println!(
        "idle reconcile:    {idle_us:8.1} µs CPU/object ({:.1} µs wall), {idle_requests} requests",
        idle_wall / idle_reconciles * 1e6
    );
    println!(
        "changed reconcile: {changed_us:8.1} µs CPU/object ({:.1} µs wall, incl. the fake server), {:.1} requests/object",
        changed_wall / objects as f64 * 1e6,
        changed_requests as f64 / objects as f64
    );
    println!("idle / changed CPU ratio: {:.3}", idle_us / changed_us);
    println!(
        "resident memory: {:.1} MiB at start, {:.1} MiB with {objects} StatelessServices and their children cached",
        rss_start as f64 / 1024.0,
        rss_cached as f64 / 1024.0
    );
    Ok(())
}

/// CPU seconds of this thread and wall seconds spent in `work`.
async fn measure(work: impl Future<Output = ()>) -> (f64, f64) {
    let (cpu, wall) = (thread_cpu_seconds(), Instant::now());
    work.await;
    (thread_cpu_seconds() - cpu, wall.elapsed().as_secs_f64())
}

/// The fake API server's answer: applies echo the applied object with server metadata, status patches
/// return the object with that status, events are accepted.
fn answer(seen: &mut Seen, path: &str, body: &Value) -> Value {
    seen.requests += 1;
    if path.starts_with("/apis/events.k8s.io/") {
        return body.clone();
    }
    let name = path
        .rsplit('/')
        .find(|s| *s != "status")
        .unwrap_or_default()
        .to_string();
    if path.ends_with("/status") {
        seen.statuses.insert(name.clone(), body["status"].clone());
        return json!({"apiVersion": "herd.dev/v1alpha1", "kind": "StatelessService",
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": format!("uid-{name}")},
            "spec": {"image": "x"}, "status": body["status"]});
    }
    let mut object = body.clone();
    let kind = object["kind"].as_str().unwrap_or_default().to_lowercase();
    object["metadata"]["uid"] = json!(format!("uid-{kind}-{name}"));
    object["metadata"]["resourceVersion"] = json!(seen.requests.to_string());
    object["metadata"]["generation"] = json!(1);
    object["metadata"]["creationTimestamp"] = json!("2026-12-03T10:00:00Z");
    // Realistic size: the API server's managedFields entries for herd and the controllers that touch it.
    let fields = fields_of(body);
    object["metadata"]["managedFields"] = json!([
        {"manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": body["apiVersion"], "fieldsType": "FieldsV1",
         "fieldsV1": fields, "time": "2026-12-03T10:00:00Z"},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": body["apiVersion"],
         "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": {"f:conditions": {}}},
         "time": "2026-12-03T10:00:00Z"}
    ]);
    seen.objects.push((path.to_string(), object.clone()));
    object
}

fn fields_of(applied: &Value) -> Value {
    match applied {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (format!("f:{k}"), fields_of(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

fn rolled_out(mut deployment: Value) -> Value {
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    deployment["status"] = json!({
        "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability.", "lastTransitionTime": "2026-12-03T10:00:00Z"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": "ReplicaSet has successfully progressed.", "lastTransitionTime": "2026-12-03T10:00:00Z"}
        ]
    });
    deployment
}

/// Half the objects autoscale (Deployment, Service, HPA, PDB), half run a fixed count (no HPA).
fn stateless_service(i: usize) -> StatelessService {
    let name = format!("svc-{i:04}");
    let scaling = if i.is_multiple_of(2) {
        json!({"autoscaling": {"enabled": true, "minReplicas": 2, "maxReplicas": 20, "targetCPUUtilizationPercentage": 70,
               "targetRequestsPerSecond": 50}})
    } else {
        json!({"replicas": 3})
    };
    let mut spec = json!({
        "image": "registry.example/shop:1.0.0",
        "env": [{"name": "REDIS_URL", "value": "redis://redis:6379"}, {"name": "JWT_SECRET_FILE", "value": "/run/jwt"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
        "podLabels": {"team": "shop"},
    });
    if let (Some(spec), Some(scaling)) = (spec.as_object_mut(), scaling.as_object()) {
        spec.extend(scaling.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "herd.dev/v1alpha1", "kind": "StatelessService",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": format!("uid-{name}"), "generation": 1,
                     "resourceVersion": "1"},
        "spec": spec,
    }))
    .expect("a valid StatelessService")
}

fn synced<K: Resource<DynamicType = ()> + Clone + 'static>() -> (reflector::Store<K>, Writer<K>) {
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitDone);
    (reader, writer)
}

/// Caches `object` the way the production watch does (managedFields trimmed).
fn put<K: Resource<DynamicType = ()> + Clone + DeserializeOwned + 'static>(
    writer: &mut Writer<K>,
    object: Value,
) {
    let mut object: K = serde_json::from_value(object).expect("the fake server answers valid objects");
    trim_for_cache(&mut object);
    writer.apply_watcher_event(&watcher::Event::Apply(object));
}

/// VmRSS of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, nanoseconds on CPU).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9
}
