//! Test-only mocked API server: scripted exchanges checked request by request, and realistic live objects.

use crate::apply::ChildStores;
use crate::controller::Context;
use crate::crd::StatelessService;
use crate::metrics::Metrics;
use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::client::Body;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

pub const NAMESPACE: &str = "testns";

type ApiHandle = Handle<Request<Body>, Response<Body>>;
type Check = Box<dyn FnOnce(&Value) + Send>;
type Respond = Box<dyn FnOnce(&Value) -> (StatusCode, Value) + Send>;

/// One expected request (method and exact path with query) and the answer the fake API server gives.
pub struct Exchange {
    method: Method,
    uri: String,
    /// An event may also arrive as a PATCH of an earlier one: the recorder folds repeats into a series.
    event: bool,
    check: Check,
    respond: Respond,
}

impl Exchange {
    /// Expects `method uri`; by default answers 200 with the request body echoed.
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Self {
            method,
            uri: uri.into(),
            event: false,
            check: Box::new(|_| {}),
            respond: Box::new(|body| (StatusCode::OK, body.clone())),
        }
    }

    /// A server-side apply of a child under herd's field manager, with force.
    pub fn apply(resource_path: &str, name: &str) -> Self {
        Self::new(
            Method::PATCH,
            format!("{resource_path}/{name}?&force=true&fieldManager=herd-operator"),
        )
    }

    /// A merge patch of the StatelessService's status.
    pub fn status(name: &str) -> Self {
        Self::new(
            Method::PATCH,
            format!(
                "/apis/herd.dev/v1alpha1/namespaces/{NAMESPACE}/statelessservices/{name}/status?&fieldManager=herd-operator"
            ),
        )
    }

    /// An events.k8s.io/v1 event of `type_` with `reason`.
    pub fn event(type_: &'static str, reason: &'static str) -> Self {
        let mut exchange = Self::new(
            Method::POST,
            format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events?"),
        )
        .check(move |body| {
            assert_eq!(
                (body["type"].as_str(), body["reason"].as_str()),
                (Some(type_), Some(reason)),
                "{body}"
            );
        });
        exchange.event = true;
        exchange
    }

    fn matches(&self, method: &Method, uri: &str) -> bool {
        let series = self.event
            && method == Method::PATCH
            && uri.starts_with(&format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events/"));
        series || (method == self.method && uri == self.uri)
    }

    /// A delete with a uid precondition.
    pub fn delete(resource_path: &str, name: &str, uid: &'static str) -> Self {
        Self::new(Method::DELETE, format!("{resource_path}/{name}?")).check(move |body| {
            assert_eq!(body["preconditions"]["uid"], uid, "{body}");
        })
    }

    pub fn check(mut self, check: impl FnOnce(&Value) + Send + 'static) -> Self {
        self.check = Box::new(check);
        self
    }

    pub fn respond(mut self, respond: impl FnOnce(&Value) -> (StatusCode, Value) + Send + 'static) -> Self {
        self.respond = Box::new(respond);
        self
    }

    /// Answers with a `Status` failure of `code`, as the API server does.
    pub fn fail(self, code: u16, reason: &'static str) -> Self {
        self.respond(move |_| {
            let status = StatusCode::from_u16(code).unwrap();
            (status, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("mock {reason}"), "reason": reason, "code": code}))
        })
    }
}

/// The fake API server behind a mocked `kube::Client`.
#[derive(Clone)]
pub struct ApiServer {
    handle: Arc<Mutex<Option<ApiHandle>>>,
}

/// A script being served; [`Phase::done`] fails the test on a missing, extra or wrong request.
pub struct Phase {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(ApiHandle, Vec<String>)>,
    server: ApiServer,
}

impl Phase {
    pub async fn done(self) {
        let _ = self.stop.send(());
        let (handle, unexpected) = self.task.await.unwrap();
        *self.server.handle.lock().unwrap() = Some(handle);
        assert!(unexpected.is_empty(), "unexpected requests: {unexpected:#?}");
    }
}

impl ApiServer {
    /// Serves `script` in order; any request beyond it is answered 500 and reported by `done`.
    pub fn serve(&self, script: Vec<Exchange>) -> Phase {
        // The task owns the handle: if a check panics, the handle is dropped with it and every further request
        // fails at once instead of waiting forever for an answer.
        let mut handle = self
            .handle
            .lock()
            .unwrap()
            .take()
            .expect("the previous phase is done");
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut script = script.into_iter();
            let mut expected = script.next();
            let mut unexpected = Vec::new();
            loop {
                let next = tokio::select! {
                    _ = &mut stopped => None,
                    next = handle.next_request() => next,
                };
                let Some((request, send)) = next else {
                    if let Some(missing) = expected {
                        panic!("expected request never came: {} {}", missing.method, missing.uri);
                    }
                    break;
                };
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap();
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                };
                let uri = parts.uri.to_string();
                let (status, answer) = match expected.take() {
                    Some(exchange) => {
                        let wanted = (&exchange.method, exchange.uri.as_str());
                        assert!(
                            exchange.matches(&parts.method, &uri),
                            "got {} {uri}, wanted {wanted:?}: {body}",
                            parts.method
                        );
                        (exchange.check)(&body);
                        expected = script.next();
                        (exchange.respond)(&body)
                    }
                    None => {
                        unexpected.push(format!("{} {uri} {body}", parts.method));
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            json!({"kind": "Status", "code": 500}),
                        )
                    }
                };
                let response = Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()));
                send.send_response(response.unwrap());
            }
            (handle, unexpected)
        });
        Phase {
            stop,
            task,
            server: self.clone(),
        }
    }
}

/// Writers feeding the child caches the reconciler reads.
pub struct Caches {
    pub deployments: Writer<Deployment>,
    pub services: Writer<Service>,
    pub hpas: Writer<HorizontalPodAutoscaler>,
    pub pdbs: Writer<PodDisruptionBudget>,
}

impl Caches {
    pub fn put<K: DeserializeOwned + Resource<DynamicType = ()> + Clone>(
        writer: &mut Writer<K>,
        object: &Value,
    ) {
        let object: K = serde_json::from_value(object.clone()).unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }

    pub fn remove<K: DeserializeOwned + Resource<DynamicType = ()> + Clone>(
        writer: &mut Writer<K>,
        object: &Value,
    ) {
        let object: K = serde_json::from_value(object.clone()).unwrap();
        writer.apply_watcher_event(&watcher::Event::Delete(object));
    }
}

fn synced<K: Resource<DynamicType = ()> + Clone + 'static>() -> (reflector::Store<K>, Writer<K>) {
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitDone);
    (reader, writer)
}

/// A reconcile context on a mocked client, with empty synced caches.
pub fn context() -> (Arc<Context>, ApiServer, Caches) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NAMESPACE);
    let (deployments, deployment_writer) = synced();
    let (services, service_writer) = synced();
    let (hpas, hpa_writer) = synced();
    let (pdbs, pdb_writer) = synced();
    let stores = ChildStores {
        deployments,
        services,
        hpas,
        pdbs,
    };
    let ctx = Arc::new(Context::new(client, Arc::new(Metrics::default()), stores));
    let caches = Caches {
        deployments: deployment_writer,
        services: service_writer,
        hpas: hpa_writer,
        pdbs: pdb_writer,
    };
    (
        ctx,
        ApiServer {
            handle: Arc::new(Mutex::new(Some(handle))),
        },
        caches,
    )
}

pub const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/testns/deployments";
pub const SERVICES: &str = "/api/v1/namespaces/testns/services";
pub const HPAS: &str = "/apis/autoscaling/v2/namespaces/testns/horizontalpodautoscalers";
pub const PDBS: &str = "/apis/policy/v1/namespaces/testns/poddisruptionbudgets";

/// A StatelessService as the API server stores it: namespaced, with a uid and a generation.
pub fn stateless_service(name: &str, generation: i64, spec: Value) -> StatelessService {
    serde_json::from_value(json!({
        "apiVersion": "herd.dev/v1alpha1",
        "kind": "StatelessService",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": format!("uid-{name}"), "generation": generation,
                     "resourceVersion": "100"},
        "spec": spec,
    }))
    .unwrap()
}

/// `ss` with the status the reconciler sent merged in, as the API server would store it.
pub fn with_status_patch(ss: &StatelessService, patch: &Value) -> StatelessService {
    let mut value = serde_json::to_value(ss).unwrap();
    merge(&mut value, patch);
    let version: u64 = value["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    value["metadata"]["resourceVersion"] = json!((version + 1).to_string());
    serde_json::from_value(value).unwrap()
}

/// What the API server answers to a server-side apply by `manager`: the applied fields merged into the existing
/// object, server metadata, and a managedFields entry listing the fields `manager` applied.
pub fn server_apply(existing: Option<&Value>, applied: &Value, manager: &str) -> Value {
    let mut object = existing.cloned().unwrap_or_else(|| {
        json!({"metadata": {"uid": format!("uid-{}-{}", applied["kind"].as_str().unwrap_or("x").to_lowercase(),
            applied["metadata"]["name"].as_str().unwrap_or("x")), "creationTimestamp": "2026-12-03T10:00:00Z",
            "resourceVersion": "1", "generation": 1}})
    });
    let before = object.get("spec").cloned();
    merge(&mut object, applied);
    let meta = &mut object["metadata"];
    let version: u64 = meta["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    meta["resourceVersion"] = json!((version + 1).to_string());
    if existing.is_some() && before != object.get("spec").cloned() {
        let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
        object["metadata"]["generation"] = json!(generation + 1);
    }
    let mut fields = fields_of(applied);
    if let Some(f) = fields.as_object_mut() {
        f.remove("f:apiVersion");
        f.remove("f:kind");
    }
    let entry = json!({"manager": manager, "operation": "Apply", "apiVersion": applied["apiVersion"],
        "fieldsType": "FieldsV1", "fieldsV1": fields});
    let managed = object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut managed: Vec<Value> = managed.into_iter().filter(|e| e["manager"] != manager).collect();
    managed.push(entry);
    object["metadata"]["managedFields"] = Value::Array(managed);
    object
}

/// `deployment` as the Deployment controller reports it once every replica runs the current template.
pub fn rolled_out(deployment: &Value) -> Value {
    let mut deployment = deployment.clone();
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    deployment["status"] = json!({
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability.", "lastTransitionTime": "2026-12-03T10:00:00Z"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": "ReplicaSet has successfully progressed.", "lastTransitionTime": "2026-12-03T10:00:00Z"}
        ]
    });
    deployment
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
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

/// An answer of the routed fake cluster: a JSON reply, or no answer at all (an idle watch stays open).
pub enum Reply {
    Json(StatusCode, Value),
    /// A streamed body of newline-separated watch events that ends after the last one (the server closing the
    /// connection).
    Stream(Vec<Value>),
    Hold,
}

/// A fake API server that answers by route instead of by script, for driving a real `Controller`.
pub fn serve_routes(
    mut handle: ApiHandle,
    mut route: impl FnMut(&Method, &str, &Value) -> Reply + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            };
            let response = match route(&parts.method, &parts.uri.to_string(), &body) {
                Reply::Json(status, value) => Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&value).unwrap())),
                Reply::Stream(events) => {
                    let lines: String = events.iter().map(|e| format!("{e}\n")).collect();
                    Response::builder().body(Body::from(lines.into_bytes()))
                }
                Reply::Hold => {
                    held.push(send);
                    continue;
                }
            };
            send.send_response(response.unwrap());
        }
    })
}

/// A mocked client and the handle that answers it.
pub fn client() -> (Client, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, NAMESPACE), handle)
}

/// A list response of `kind` items at `resource_version`.
pub fn list(kind: &str, api_version: &str, resource_version: &str, items: Vec<Value>) -> Reply {
    Reply::Json(
        StatusCode::OK,
        json!({"kind": format!("{kind}List"), "apiVersion": api_version,
               "metadata": {"resourceVersion": resource_version}, "items": items}),
    )
}
