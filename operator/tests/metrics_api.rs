//! The custom metrics API over real HTTPS on loopback: documents checked against mirrors of the upstream Go
//! types, client-certificate authentication as the aggregator does it, and delegated authorization.

#![allow(dead_code)]

use futures::future::BoxFuture;
use herd_operator::traffic::api::{ApiState, router};
use herd_operator::traffic::auth::{
    Attributes, Authorizer, AuthzError, Decision, RequestHeaderAuth, UserInfo,
};
use herd_operator::traffic::discovery::{Discovered, PodTarget};
use herd_operator::traffic::rate::RateConfig;
use herd_operator::traffic::selfmetrics::SourceMetrics;
use herd_operator::traffic::store::Store;
use herd_operator::traffic::tls::{ServingCert, serve, server_config};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HPA_USER: &str = "system:serviceaccount:kube-system:horizontal-pod-autoscaler";
const METRIC: &str = "herd_http_requests_per_second";
const BASE: &str = "/apis/custom.metrics.k8s.io/v1beta2";

// ---- mirrors of the upstream types (k8s.io/apimachinery meta/v1, k8s.io/metrics custom_metrics/v1beta2) ----
// Every upstream field is declared so deny_unknown_fields refuses anything else; not all are read.

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApiResourceList {
    kind: String,
    api_version: String,
    group_version: String,
    resources: Vec<ApiResource>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApiResource {
    name: String,
    singular_name: String,
    namespaced: bool,
    group: Option<String>,
    version: Option<String>,
    kind: String,
    verbs: Vec<String>,
    short_names: Option<Vec<String>>,
    categories: Option<Vec<String>>,
    storage_version_hash: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GroupVersionForDiscovery {
    group_version: String,
    version: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApiGroup {
    kind: Option<String>,
    api_version: Option<String>,
    name: String,
    versions: Vec<GroupVersionForDiscovery>,
    preferred_version: Option<GroupVersionForDiscovery>,
    server_address_by_client_cidrs: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApiGroupList {
    kind: String,
    api_version: String,
    groups: Vec<ApiGroup>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListMeta {
    self_link: Option<String>,
    resource_version: Option<String>,
    #[serde(rename = "continue")]
    continue_: Option<String>,
    remaining_item_count: Option<i64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ObjectReference {
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    uid: Option<String>,
    api_version: Option<String>,
    resource_version: Option<String>,
    field_path: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct MetricIdentifier {
    name: String,
    selector: Option<serde_json::Value>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricValue {
    kind: Option<String>,
    api_version: Option<String>,
    described_object: ObjectReference,
    metric: MetricIdentifier,
    timestamp: String,
    window_seconds: Option<i64>,
    value: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MetricValueList {
    kind: String,
    api_version: String,
    #[serde(default)]
    metadata: ListMeta,
    items: Vec<MetricValue>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatusDetails {
    name: Option<String>,
    group: Option<String>,
    kind: Option<String>,
    uid: Option<String>,
    causes: Option<Vec<serde_json::Value>>,
    retry_after_seconds: Option<i32>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Status {
    kind: String,
    api_version: String,
    #[serde(default)]
    metadata: ListMeta,
    status: String,
    message: String,
    reason: String,
    details: Option<StatusDetails>,
    code: i32,
}

// ---- certificates ----

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

struct Leaf {
    cert: CertificateDer<'static>,
    cert_pem: String,
    key: KeyPair,
}

fn leaf(ca: &Ca, common_name: &str, dns: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        cert: cert.der().clone(),
        key,
    }
}

// ---- the server under test ----

/// Allows only the HPA's service account and remembers what it was asked.
#[derive(Default)]
struct OnlyTheHpa {
    asked: Mutex<Vec<(String, Attributes)>>,
}

impl Authorizer for OnlyTheHpa {
    fn authorize<'a>(
        &'a self,
        user: &'a UserInfo,
        attributes: &'a Attributes,
    ) -> BoxFuture<'a, Result<Decision, AuthzError>> {
        self.asked
            .lock()
            .unwrap()
            .push((user.name.clone(), attributes.clone()));
        let allowed = user.name == HPA_USER;
        Box::pin(async move {
            Ok(Decision {
                allowed,
                reason: String::new(),
            })
        })
    }
}

struct Fixture {
    addr: SocketAddr,
    serving_ca: String,
    front_proxy: Ca,
    authz: Arc<OnlyTheHpa>,
    store: Arc<Store>,
}

fn target(pod: &str, instance: &str, metric: &str) -> PodTarget {
    PodTarget {
        namespace: "shop".into(),
        pod: pod.into(),
        uid: format!("uid-{pod}"),
        labels: BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), instance.to_string()),
            ("app.kubernetes.io/instance".to_string(), instance.to_string()),
        ]),
        address: ([127, 0, 0, 1], 1).into(),
        metric: metric.into(),
    }
}

async fn start() -> Fixture {
    let front_proxy = ca("front-proxy-ca");
    let serving = ca("herd-metrics-api-ca");
    let server = leaf(
        &serving,
        "herd-metrics-api",
        &["localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    // One directory per fixture: tests run in parallel and each removes its own.
    static FIXTURES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = FIXTURES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("herd-metrics-api-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_file, &server.cert_pem).unwrap();
    std::fs::write(&key_file, server.key.serialize_pem()).unwrap();

    let config = server_config(
        &ServingCert::Files {
            cert: cert_file,
            key: key_file,
        },
        &front_proxy.pem,
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let store = Arc::new(Store::new(RateConfig {
        window: Duration::from_secs(30),
        stale_after: Duration::from_secs(3600),
    }));
    let web1 = target("web-1", "web", METRIC);
    let web2 = target("web-2", "web", METRIC);
    let api1 = target("api-1", "api", "api_requests_per_second");
    store.update(Discovered {
        targets: vec![
            web1.clone(),
            web2.clone(),
            api1.clone(),
            target("web-new", "web", METRIC),
        ],
        metric_names: BTreeSet::from([METRIC.to_string(), "api_requests_per_second".to_string()]),
    });
    // Samples 10 s apart; the second is stamped ahead of the store's clock, which only makes it fresh.
    let first = store.now();
    for (t, per_second) in [(&web1, 12.5), (&web2, 40.0), (&api1, 3.0)] {
        store.record(t, first, 1000.0);
        store.record(t, first + Duration::from_secs(10), 1000.0 + per_second * 10.0);
    }

    let authz = Arc::new(OnlyTheHpa::default());
    let state = ApiState {
        store: store.clone(),
        metrics: Arc::new(SourceMetrics::default()),
        authn: Arc::new(RequestHeaderAuth {
            client_ca_pem: front_proxy.pem.clone(),
            allowed_names: vec!["front-proxy-client".into()],
            username_headers: vec!["X-Remote-User".into()],
            group_headers: vec!["X-Remote-Group".into()],
            extra_headers_prefixes: vec!["X-Remote-Extra-".into()],
        }),
        authz: authz.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config, router(state)));
    Fixture {
        addr,
        serving_ca: serving.pem,
        front_proxy,
        authz,
        store,
    }
}

// ---- a client playing the aggregator ----

fn client_config(serving_ca: &str, client: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(serving_ca.as_bytes()).unwrap())
        .unwrap();
    let builder =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let config = match client {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.cert.clone()],
                PrivateKeyDer::try_from(leaf.key.serialize_der()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// GET over a fresh TLS connection; Err when the connection or handshake fails.
async fn get(
    fixture: &Fixture,
    client: Option<&Leaf>,
    path: &str,
    user: Option<&str>,
) -> Result<(u16, String), String> {
    let connector = tokio_rustls::TlsConnector::from(client_config(&fixture.serving_ca, client));
    let tcp = tokio::net::TcpStream::connect(fixture.addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = http::Request::get(path).header("host", "localhost");
    if let Some(user) = user {
        request = request
            .header("X-Remote-User", user)
            .header("X-Remote-Group", "system:serviceaccounts")
            .header("X-Remote-Group", "system:authenticated");
    }
    let response = sender
        .send_request(request.body(Empty::<bytes::Bytes>::new()).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8(body.to_vec()).unwrap()))
}

fn aggregator(fixture: &Fixture) -> Leaf {
    leaf(
        &fixture.front_proxy,
        "front-proxy-client",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    )
}

async fn get_json<T: serde::de::DeserializeOwned>(fixture: &Fixture, path: &str, expected: u16) -> T {
    let proxy = aggregator(fixture);
    let (status, body) = get(fixture, Some(&proxy), path, Some(HPA_USER)).await.unwrap();
    assert_eq!(status, expected, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[tokio::test]
async fn discovery_documents_have_the_upstream_shape() {
    let fixture = start().await;
    let groups: ApiGroupList = get_json(&fixture, "/apis", 200).await;
    assert_eq!(
        (groups.kind.as_str(), groups.api_version.as_str()),
        ("APIGroupList", "v1")
    );
    assert_eq!(groups.groups[0].name, "custom.metrics.k8s.io");

    let group: ApiGroup = get_json(&fixture, "/apis/custom.metrics.k8s.io", 200).await;
    assert_eq!(group.kind.as_deref(), Some("APIGroup"));
    assert_eq!(group.versions[0].group_version, "custom.metrics.k8s.io/v1beta2");
    assert_eq!(group.preferred_version.unwrap().version, "v1beta2");

    let list: ApiResourceList = get_json(&fixture, BASE, 200).await;
    assert_eq!(
        (list.kind.as_str(), list.api_version.as_str()),
        ("APIResourceList", "v1")
    );
    assert_eq!(list.group_version, "custom.metrics.k8s.io/v1beta2");
    let names: Vec<_> = list.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pods/api_requests_per_second",
            "pods/herd_http_requests_per_second"
        ]
    );
    for resource in &list.resources {
        assert!(resource.namespaced);
        assert_eq!(resource.kind, "MetricValueList");
        assert_eq!(resource.verbs, ["get"]);
    }
}

#[tokio::test]
async fn the_hpa_query_returns_every_matching_pod_with_a_rate() {
    let fixture = start().await;
    let path =
        format!("{BASE}/namespaces/shop/pods/*/{METRIC}?labelSelector=app.kubernetes.io%2Finstance%3Dweb");
    let list: MetricValueList = get_json(&fixture, &path, 200).await;
    assert_eq!(
        (list.kind.as_str(), list.api_version.as_str()),
        ("MetricValueList", "custom.metrics.k8s.io/v1beta2")
    );
    // web-new has a single sample: it is left out rather than reported as idle.
    let values: Vec<_> = list
        .items
        .iter()
        .map(|i| (i.described_object.name.as_deref().unwrap(), i.value.as_str()))
        .collect();
    assert_eq!(values, [("web-1", "12500m"), ("web-2", "40")]);
    for item in &list.items {
        let object = &item.described_object;
        assert_eq!(object.kind.as_deref(), Some("Pod"));
        assert_eq!(object.api_version.as_deref(), Some("v1"));
        assert_eq!(object.namespace.as_deref(), Some("shop"));
        assert_eq!(item.metric.name, METRIC);
        assert!(item.metric.selector.is_none());
        assert_eq!(item.window_seconds, Some(10));
        assert!(
            item.timestamp.parse::<jiff::Timestamp>().is_ok(),
            "{}",
            item.timestamp
        );
        assert!(item.kind.is_none() && item.api_version.is_none());
    }
    assert!(list.metadata.resource_version.is_none());

    let other = format!("{BASE}/namespaces/shop/pods/*/api_requests_per_second");
    let list: MetricValueList = get_json(&fixture, &other, 200).await;
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].value, "3");

    let empty: MetricValueList = get_json(
        &fixture,
        &format!("{BASE}/namespaces/elsewhere/pods/*/{METRIC}"),
        200,
    )
    .await;
    assert!(empty.items.is_empty());

    let asked = fixture.authz.asked.lock().unwrap().clone();
    assert!(asked.iter().any(|(user, attributes)| user == HPA_USER
        && *attributes
            == Attributes::Resource {
                verb: "get".into(),
                namespace: Some("shop".into()),
                resource: "pods".into(),
                name: Some("*".into()),
                subresource: Some(METRIC.into()),
            }));
}

#[tokio::test]
async fn one_pod_can_be_asked_for() {
    let fixture = start().await;
    let value: MetricValue = get_json(
        &fixture,
        &format!("{BASE}/namespaces/shop/pods/web-2/{METRIC}"),
        200,
    )
    .await;
    assert_eq!(value.kind.as_deref(), Some("MetricValue"));
    assert_eq!(
        value.api_version.as_deref(),
        Some("custom.metrics.k8s.io/v1beta2")
    );
    assert_eq!(value.value, "40");
    let missing: Status = get_json(
        &fixture,
        &format!("{BASE}/namespaces/shop/pods/web-new/{METRIC}"),
        404,
    )
    .await;
    assert_eq!(missing.reason, "NotFound");
    assert!(missing.message.contains("web-new"), "{}", missing.message);
}

#[tokio::test]
async fn errors_are_kubernetes_status_objects() {
    let fixture = start().await;
    let unknown: Status = get_json(
        &fixture,
        &format!("{BASE}/namespaces/shop/pods/*/bitcoin_mined"),
        404,
    )
    .await;
    assert_eq!(
        (unknown.kind.as_str(), unknown.api_version.as_str()),
        ("Status", "v1")
    );
    assert_eq!(
        (unknown.status.as_str(), unknown.reason.as_str(), unknown.code),
        ("Failure", "NotFound", 404)
    );
    assert!(unknown.message.contains("bitcoin_mined"), "{}", unknown.message);
    assert_eq!(
        unknown.details.unwrap().group.as_deref(),
        Some("custom.metrics.k8s.io")
    );

    let bad: Status = get_json(
        &fixture,
        &format!("{BASE}/namespaces/shop/pods/*/{METRIC}?labelSelector=a%20in%20(b"),
        400,
    )
    .await;
    assert_eq!(bad.reason, "BadRequest");
    assert!(bad.message.contains("labelSelector"), "{}", bad.message);

    let nowhere: Status = get_json(&fixture, "/apis/custom.metrics.k8s.io/v1beta1", 404).await;
    assert_eq!(nowhere.code, 404);
}

#[tokio::test]
async fn only_the_aggregator_certificate_with_an_allowed_name_gets_in() {
    let fixture = start().await;
    let path = format!("{BASE}/namespaces/shop/pods/*/{METRIC}");

    // No certificate: the TLS handshake succeeds (health checks need that) but the API refuses.
    let (status, body) = get(&fixture, None, &path, Some(HPA_USER)).await.unwrap();
    assert_eq!(status, 401, "{body}");
    let refused: Status = serde_json::from_str(&body).unwrap();
    assert_eq!(refused.reason, "Unauthorized");

    // Right CA, wrong name: someone else's client certificate from the front-proxy CA.
    let intruder = leaf(
        &fixture.front_proxy,
        "intruder",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (status, body) = get(&fixture, Some(&intruder), &path, Some(HPA_USER))
        .await
        .unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("intruder"), "{body}");

    // A certificate with the right name from another CA does not even complete the handshake.
    let forged = leaf(
        &ca("front-proxy-ca"),
        "front-proxy-client",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let outcome = get(&fixture, Some(&forged), &path, Some(HPA_USER)).await;
    assert!(outcome.is_err(), "forged certificate was accepted: {outcome:?}");

    // The aggregator, proxying for a user RBAC does not allow: forbidden.
    let proxy = aggregator(&fixture);
    let (status, body) = get(&fixture, Some(&proxy), &path, Some("system:anonymous"))
        .await
        .unwrap();
    assert_eq!(status, 403, "{body}");
    let forbidden: Status = serde_json::from_str(&body).unwrap();
    assert_eq!(forbidden.reason, "Forbidden");
    assert!(
        forbidden.message.contains("system:anonymous"),
        "{}",
        forbidden.message
    );

    // The aggregator without a user header.
    let (status, _) = get(&fixture, Some(&proxy), &path, None).await.unwrap();
    assert_eq!(status, 401);

    // None of the refused requests reached the data.
    assert_eq!(fixture.store.pods_tracked(), 4);
    let (status, _) = get(&fixture, Some(&proxy), &path, Some(HPA_USER)).await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn health_and_own_metrics_need_no_client_certificate() {
    let fixture = start().await;
    for path in ["/healthz", "/readyz", "/livez"] {
        let (status, body) = get(&fixture, None, path, None).await.unwrap();
        assert_eq!((status, body.as_str()), (200, "ok"), "{path}");
    }
    let (status, body) = get(&fixture, None, "/metrics", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("herd_metrics_api_scrapes_total") || body.contains("herd_metrics_api_pods_tracked"),
        "{body}"
    );
}
