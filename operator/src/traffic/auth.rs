//! Delegated authentication (the aggregator's request-header client certificate) and authorization
//! (SubjectAccessReview, cached briefly), as every aggregated API server does.

use futures::future::BoxFuture;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Where kube-apiserver publishes the front proxy's client CA and the request-header names.
pub const AUTH_CONFIGMAP_NAMESPACE: &str = "kube-system";
pub const AUTH_CONFIGMAP_NAME: &str = "extension-apiserver-authentication";

/// The verified client certificate of a TLS connection; set by the server only when the chain checked out
/// against the request-header CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    pub common_name: String,
}

/// The user the aggregator says it is proxying for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Error, PartialEq)]
pub enum AuthError {
    #[error("no client certificate signed by the request-header CA was presented")]
    NoClientCertificate,
    #[error("client certificate common name {0:?} is not in requestheader-allowed-names")]
    NameNotAllowed(String),
    #[error("the request names no user (headers {0:?})")]
    NoUser(Vec<String>),
}

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error(
        "ConfigMap {AUTH_CONFIGMAP_NAMESPACE}/{AUTH_CONFIGMAP_NAME} has no {0}: the API server runs without \
         the aggregation layer's front proxy (--requestheader-client-ca-file)"
    )]
    Missing(&'static str),
    #[error("ConfigMap {AUTH_CONFIGMAP_NAMESPACE}/{AUTH_CONFIGMAP_NAME} key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// How to trust and read the aggregator's requests.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestHeaderAuth {
    /// PEM bundle the client certificate must chain to.
    pub client_ca_pem: String,
    /// Common names allowed to present request headers; empty means any certificate from the CA.
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_headers_prefixes: Vec<String>,
}

impl RequestHeaderAuth {
    /// Reads the settings kube-apiserver publishes in `kube-system/extension-apiserver-authentication`.
    pub fn from_configmap(configmap: &ConfigMap) -> Result<Self, ConfigError> {
        let data = configmap.data.clone().unwrap_or_default();
        let list = |key: &'static str, default: &[&str]| -> Result<Vec<String>, ConfigError> {
            match data.get(key) {
                None => Ok(default.iter().map(|s| s.to_string()).collect()),
                Some(text) => serde_json::from_str::<Vec<String>>(text).map_err(|e| ConfigError::Invalid {
                    key,
                    message: format!("not a JSON list of strings: {e}"),
                }),
            }
        };
        let client_ca_pem = data
            .get("requestheader-client-ca-file")
            .filter(|pem| !pem.trim().is_empty())
            .cloned()
            .ok_or(ConfigError::Missing("requestheader-client-ca-file"))?;
        Ok(RequestHeaderAuth {
            client_ca_pem,
            allowed_names: list("requestheader-allowed-names", &[])?,
            username_headers: list("requestheader-username-headers", &["X-Remote-User"])?,
            group_headers: list("requestheader-group-headers", &["X-Remote-Group"])?,
            extra_headers_prefixes: list("requestheader-extra-headers-prefix", &["X-Remote-Extra-"])?,
        })
    }

    /// The proxied user, trusted only from a verified front-proxy certificate with an allowed name.
    pub fn authenticate(
        &self,
        peer: Option<&PeerIdentity>,
        headers: &http::HeaderMap,
    ) -> Result<UserInfo, AuthError> {
        let peer = peer.ok_or(AuthError::NoClientCertificate)?;
        if !self.allowed_names.is_empty() && !self.allowed_names.contains(&peer.common_name) {
            return Err(AuthError::NameNotAllowed(peer.common_name.clone()));
        }
        let name = self
            .username_headers
            .iter()
            .find_map(|h| {
                headers
                    .get(h.as_str())
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty())
            })
            .ok_or_else(|| AuthError::NoUser(self.username_headers.clone()))?
            .to_string();
        let groups = self
            .group_headers
            .iter()
            .flat_map(|h| headers.get_all(h.as_str()).iter())
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (header, value) in headers {
            let prefix = self.extra_headers_prefixes.iter().find(|p| {
                header.as_str().len() > p.len() && header.as_str()[..p.len()].eq_ignore_ascii_case(p)
            });
            if let (Some(prefix), Ok(value)) = (prefix, value.to_str()) {
                let key = header.as_str()[prefix.len()..].to_ascii_lowercase();
                extra.entry(key).or_default().push(value.to_string());
            }
        }
        Ok(UserInfo { name, groups, extra })
    }
}

/// What a request wants to do, in SubjectAccessReview terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Attributes {
    Resource {
        verb: String,
        namespace: Option<String>,
        resource: String,
        name: Option<String>,
        subresource: Option<String>,
    },
    NonResource {
        verb: String,
        path: String,
    },
}

impl Attributes {
    /// Resolves a request the way kube-apiserver's request-info parser does for this group.
    pub fn for_request(method: &http::Method, path: &str) -> Self {
        let prefix = format!("/apis/{}/{}/", super::api::GROUP, super::api::VERSION);
        let rest: Vec<&str> = path
            .strip_prefix(&prefix)
            .unwrap_or("")
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let read_verb = |named: bool| if named { "get" } else { "list" };
        if rest.is_empty() {
            let verb = if method == http::Method::GET || method == http::Method::HEAD {
                "get"
            } else {
                "other"
            };
            return Attributes::NonResource {
                verb: verb.to_string(),
                path: path.to_string(),
            };
        }
        let (namespace, rest) = match rest.as_slice() {
            ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(namespace.to_string()), rest),
            _ => (None, rest.as_slice()),
        };
        let name = rest.get(1).map(|s| s.to_string());
        let verb = match *method {
            http::Method::GET | http::Method::HEAD => read_verb(name.is_some()),
            http::Method::POST => "create",
            http::Method::PUT => "update",
            http::Method::PATCH => "patch",
            http::Method::DELETE => "delete",
            _ => "other",
        };
        Attributes::Resource {
            verb: verb.to_string(),
            namespace,
            resource: rest.first().map(|s| s.to_string()).unwrap_or_default(),
            name,
            subresource: rest.get(2).map(|s| s.to_string()),
        }
    }
}

pub fn forbidden_message(user: &UserInfo, attributes: &Attributes) -> String {
    match attributes {
        Attributes::Resource {
            verb,
            namespace,
            resource,
            subresource,
            ..
        } => {
            let what = match subresource {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.clone(),
            };
            let scope = namespace
                .as_ref()
                .map(|ns| format!(" in the namespace {ns:?}"))
                .unwrap_or_default();
            format!(
                "user {:?} cannot {verb} resource {what:?} in API group {:?}{scope}",
                user.name,
                super::api::GROUP
            )
        }
        Attributes::NonResource { verb, path } => format!("user {:?} cannot {verb} path {path:?}", user.name),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

#[derive(Debug, Error)]
#[error("SubjectAccessReview failed: {0}")]
pub struct AuthzError(#[source] pub kube::Error);

/// Decides whether a user may make a request. A trait so tests can answer without an API server.
pub trait Authorizer: Send + Sync + 'static {
    fn authorize<'a>(
        &'a self,
        user: &'a UserInfo,
        attributes: &'a Attributes,
    ) -> BoxFuture<'a, Result<Decision, AuthzError>>;
}

/// Asks kube-apiserver with a SubjectAccessReview (needs `system:auth-delegator`).
pub struct SubjectAccessReviewer {
    client: kube::Client,
}

impl SubjectAccessReviewer {
    pub fn new(client: kube::Client) -> Self {
        SubjectAccessReviewer { client }
    }
}

/// The review kube-apiserver is asked to answer.
pub fn review(user: &UserInfo, attributes: &Attributes) -> SubjectAccessReview {
    let (resource_attributes, non_resource_attributes) = match attributes.clone() {
        Attributes::Resource {
            verb,
            namespace,
            resource,
            name,
            subresource,
        } => (
            Some(ResourceAttributes {
                group: Some(super::api::GROUP.to_string()),
                version: Some(super::api::VERSION.to_string()),
                verb: Some(verb),
                namespace,
                resource: Some(resource),
                name,
                subresource,
                ..ResourceAttributes::default()
            }),
            None,
        ),
        Attributes::NonResource { verb, path } => (
            None,
            Some(NonResourceAttributes {
                path: Some(path),
                verb: Some(verb),
            }),
        ),
    };
    SubjectAccessReview {
        metadata: Default::default(),
        spec: SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            resource_attributes,
            non_resource_attributes,
            uid: None,
        },
        status: None,
    }
}

impl Authorizer for SubjectAccessReviewer {
    fn authorize<'a>(
        &'a self,
        user: &'a UserInfo,
        attributes: &'a Attributes,
    ) -> BoxFuture<'a, Result<Decision, AuthzError>> {
        Box::pin(async move {
            let api: kube::Api<SubjectAccessReview> = kube::Api::all(self.client.clone());
            let answer = api
                .create(&kube::api::PostParams::default(), &review(user, attributes))
                .await
                .map_err(AuthzError)?;
            let status = answer.status.unwrap_or_default();
            Ok(Decision {
                allowed: status.allowed && !status.denied.unwrap_or(false),
                reason: status.reason.unwrap_or_default(),
            })
        })
    }
}

type CacheKey = (UserInfo, Attributes);

/// Remembers decisions for a short time: the HPA asks the same question every 15 s per autoscaler, and
/// kube-apiserver's own webhook authorizer caches the same way.
pub struct CachedAuthorizer<A> {
    inner: A,
    ttl: Duration,
    max_entries: usize,
    cache: Mutex<HashMap<CacheKey, (Instant, Decision)>>,
}

impl<A: Authorizer> CachedAuthorizer<A> {
    pub fn new(inner: A, ttl: Duration) -> Self {
        CachedAuthorizer {
            inner,
            ttl,
            max_entries: 4096,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &CacheKey) -> Option<Decision> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, d)| d.clone())
    }

    fn remember(&self, key: CacheKey, decision: Decision) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= self.max_entries {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if cache.len() >= self.max_entries {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), decision));
    }
}

impl<A: Authorizer> Authorizer for CachedAuthorizer<A> {
    fn authorize<'a>(
        &'a self,
        user: &'a UserInfo,
        attributes: &'a Attributes,
    ) -> BoxFuture<'a, Result<Decision, AuthzError>> {
        Box::pin(async move {
            let key = (user.clone(), attributes.clone());
            if let Some(decision) = self.cached(&key) {
                return Ok(decision);
            }
            // Errors are not cached: the next request asks again.
            let decision = self.inner.authorize(user, attributes).await?;
            self.remember(key, decision.clone());
            Ok(decision)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn settings() -> RequestHeaderAuth {
        let configmap: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": AUTH_CONFIGMAP_NAME, "namespace": AUTH_CONFIGMAP_NAMESPACE},
            "data": {
                "client-ca-file": "ignored",
                "requestheader-client-ca-file": "-----BEGIN CERTIFICATE-----\n...",
                "requestheader-allowed-names": "[\"front-proxy-client\"]",
                "requestheader-username-headers": "[\"X-Remote-User\"]",
                "requestheader-group-headers": "[\"X-Remote-Group\"]",
                "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
            }
        }))
        .unwrap();
        RequestHeaderAuth::from_configmap(&configmap).unwrap()
    }

    fn proxy() -> PeerIdentity {
        PeerIdentity {
            common_name: "front-proxy-client".into(),
        }
    }

    fn hpa_headers() -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-remote-user",
            "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
                .parse()
                .unwrap(),
        );
        headers.append("x-remote-group", "system:serviceaccounts".parse().unwrap());
        headers.append("x-remote-group", "system:authenticated".parse().unwrap());
        headers.insert(
            "x-remote-extra-authentication.kubernetes.io%2fpod-name",
            "kcm-0".parse().unwrap(),
        );
        headers
    }

    #[test]
    fn reads_the_published_request_header_settings() {
        let s = settings();
        assert_eq!(s.allowed_names, ["front-proxy-client"]);
        assert_eq!(s.username_headers, ["X-Remote-User"]);
        assert!(s.client_ca_pem.starts_with("-----BEGIN"));
    }

    #[test]
    fn a_cluster_without_front_proxy_or_with_garbage_is_a_clear_error() {
        let empty = ConfigMap::default();
        let err = RequestHeaderAuth::from_configmap(&empty).unwrap_err();
        assert!(err.to_string().contains("requestheader-client-ca-file"), "{err}");
        let bad = ConfigMap {
            data: Some(BTreeMap::from([
                ("requestheader-client-ca-file".to_string(), "pem".to_string()),
                (
                    "requestheader-allowed-names".to_string(),
                    "front-proxy-client".to_string(),
                ),
            ])),
            ..ConfigMap::default()
        };
        let err = RequestHeaderAuth::from_configmap(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    key: "requestheader-allowed-names",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn the_front_proxy_names_the_user_groups_and_extras() {
        let user = settings().authenticate(Some(&proxy()), &hpa_headers()).unwrap();
        assert_eq!(
            user.name,
            "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
        );
        assert_eq!(user.groups, ["system:serviceaccounts", "system:authenticated"]);
        assert_eq!(user.extra["authentication.kubernetes.io%2fpod-name"], ["kcm-0"]);
    }

    #[test]
    fn headers_without_an_allowed_certificate_are_not_believed() {
        let s = settings();
        assert_eq!(
            s.authenticate(None, &hpa_headers()),
            Err(AuthError::NoClientCertificate)
        );
        let stranger = PeerIdentity {
            common_name: "kubernetes-admin".into(),
        };
        assert_eq!(
            s.authenticate(Some(&stranger), &hpa_headers()),
            Err(AuthError::NameNotAllowed("kubernetes-admin".into()))
        );
        assert!(matches!(
            s.authenticate(Some(&proxy()), &http::HeaderMap::new()),
            Err(AuthError::NoUser(_))
        ));
        let any_name = RequestHeaderAuth {
            allowed_names: vec![],
            ..s
        };
        assert!(any_name.authenticate(Some(&stranger), &hpa_headers()).is_ok());
    }

    #[test]
    fn requests_map_to_the_attributes_rbac_checks() {
        let get = http::Method::GET;
        assert_eq!(
            Attributes::for_request(
                &get,
                "/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/pods/*/rps"
            ),
            Attributes::Resource {
                verb: "get".into(),
                namespace: Some("shop".into()),
                resource: "pods".into(),
                name: Some("*".into()),
                subresource: Some("rps".into()),
            }
        );
        assert_eq!(
            Attributes::for_request(&get, "/apis/custom.metrics.k8s.io/v1beta2/pods"),
            Attributes::Resource {
                verb: "list".into(),
                namespace: None,
                resource: "pods".into(),
                name: None,
                subresource: None,
            }
        );
        assert_eq!(
            Attributes::for_request(&get, "/apis/custom.metrics.k8s.io/v1beta2"),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/apis/custom.metrics.k8s.io/v1beta2".into()
            }
        );
        assert_eq!(
            Attributes::for_request(&get, "/apis"),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/apis".into()
            }
        );
    }

    #[test]
    fn the_review_carries_user_and_resource() {
        let user = settings().authenticate(Some(&proxy()), &hpa_headers()).unwrap();
        let attributes = Attributes::for_request(
            &http::Method::GET,
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/pods/*/herd_http_requests_per_second",
        );
        let review = serde_json::to_value(review(&user, &attributes)).unwrap();
        assert_eq!(review["apiVersion"], "authorization.k8s.io/v1");
        assert_eq!(review["kind"], "SubjectAccessReview");
        assert_eq!(review["spec"]["user"], user.name);
        assert_eq!(review["spec"]["groups"][1], "system:authenticated");
        assert_eq!(
            review["spec"]["resourceAttributes"],
            serde_json::json!({"group": "custom.metrics.k8s.io", "version": "v1beta2", "verb": "get",
                "namespace": "shop", "resource": "pods", "name": "*",
                "subresource": "herd_http_requests_per_second"})
        );
    }

    struct Counting(AtomicUsize);

    impl Authorizer for Counting {
        fn authorize<'a>(
            &'a self,
            user: &'a UserInfo,
            _: &'a Attributes,
        ) -> BoxFuture<'a, Result<Decision, AuthzError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let allowed = user.name == "hpa";
            Box::pin(async move {
                Ok(Decision {
                    allowed,
                    reason: String::new(),
                })
            })
        }
    }

    #[tokio::test]
    async fn decisions_are_cached_per_user_and_request() {
        let cached = CachedAuthorizer::new(Counting(AtomicUsize::new(0)), Duration::from_secs(3600));
        let user = |name: &str| UserInfo {
            name: name.into(),
            groups: vec![],
            extra: BTreeMap::new(),
        };
        let path = Attributes::NonResource {
            verb: "get".into(),
            path: "/apis".into(),
        };
        assert!(cached.authorize(&user("hpa"), &path).await.unwrap().allowed);
        assert!(cached.authorize(&user("hpa"), &path).await.unwrap().allowed);
        assert!(!cached.authorize(&user("mallory"), &path).await.unwrap().allowed);
        assert_eq!(cached.inner.0.load(Ordering::SeqCst), 2);

        let expiring = CachedAuthorizer::new(Counting(AtomicUsize::new(0)), Duration::ZERO);
        expiring.authorize(&user("hpa"), &path).await.unwrap();
        expiring.authorize(&user("hpa"), &path).await.unwrap();
        assert_eq!(expiring.inner.0.load(Ordering::SeqCst), 2);
    }
    #[tokio::test]
    async fn subject_access_reviews_are_posted_and_their_answer_obeyed() {
        use kube::client::Body;
        let (service, mut handle) = tower_test::mock::pair::<http::Request<Body>, http::Response<Body>>();
        let reviewer = SubjectAccessReviewer::new(kube::Client::new(service, "default"));
        let api_server = tokio::spawn(async move {
            for allowed in [true, false] {
                let (request, respond) = handle.next_request().await.expect("a review");
                assert_eq!(request.method(), http::Method::POST);
                assert_eq!(
                    request.uri().path(),
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews"
                );
                let mut review: serde_json::Value =
                    serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
                assert_eq!(review["spec"]["user"], "hpa");
                assert_eq!(review["spec"]["nonResourceAttributes"]["path"], "/apis");
                review["status"] = serde_json::json!({"allowed": allowed, "reason": "RBAC says so"});
                respond.send_response(
                    http::Response::builder()
                        .body(Body::from(serde_json::to_vec(&review).unwrap()))
                        .unwrap(),
                );
            }
        });
        let user = UserInfo {
            name: "hpa".into(),
            groups: vec!["system:authenticated".into()],
            extra: BTreeMap::new(),
        };
        let path = Attributes::NonResource {
            verb: "get".into(),
            path: "/apis".into(),
        };
        let first = reviewer.authorize(&user, &path).await.unwrap();
        assert_eq!(
            first,
            Decision {
                allowed: true,
                reason: "RBAC says so".into()
            }
        );
        assert!(!reviewer.authorize(&user, &path).await.unwrap().allowed);
        api_server.await.unwrap();
    }
}
