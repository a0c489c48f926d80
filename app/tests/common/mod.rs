//! Helpers shared by the shop's integration tests: in-process requests, a throwaway redis-server, and
//! shop processes on loopback.
#![allow(dead_code)] // each test binary uses a different subset

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, Method, Request, StatusCode},
};
use herd_shop::{AppState, auth::Auth, store::Store};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";
pub const ALICE: (&str, &str) = ("alice", "wonderland-42");
pub const BOB: (&str, &str) = ("bob", "builder-42");
pub const CAROL: (&str, &str) = ("carol", "carols-42");

pub fn state_with(store: Arc<dyn Store>, timeout: Duration) -> AppState {
    let auth = Auth::new(SECRET.as_bytes(), Duration::from_secs(3600)).unwrap();
    AppState::new(store, auth, HeaderValue::from_static("test-replica"), timeout)
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn served_by(&self) -> &str {
        self.headers
            .get("x-served-by")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// Asserts the API's one error shape and returns the code.
    pub fn error_code(&self) -> &str {
        assert!(
            self.json["message"].is_string(),
            "error without message: {}",
            self.json
        );
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.json))
    }
}

/// One request through the router, the way `axum::serve` would deliver it.
pub async fn call(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(json) => request
            .header("content-type", "application/json")
            .body(Body::from(json.to_string())),
        None => request.body(Body::empty()),
    };
    send(app, request.unwrap()).await
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply {
        status: parts.status,
        headers: parts.headers,
        json,
    }
}

pub async fn login(app: &Router, (user, password): (&str, &str)) -> String {
    let reply = call(
        app,
        Method::POST,
        "/login",
        None,
        Some(serde_json::json!({"username": user, "password": password})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["token"].as_str().unwrap().to_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it holds or `limit` passes; every wait in these tests is bounded.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A private `redis-server` on a free loopback port, without persistence, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// `None` (after a skip line) when redis-server is not installed, unless `CI` is set: CI must run these.
    pub fn start() -> Option<Self> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed but CI is set"
            );
            eprintln!("SKIP: redis-server is not installed");
            return None;
        }
        let mut server = RedisServer {
            port: free_port(),
            child: None,
        };
        server.restart();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server on the same port (after `kill`) and waits until it answers PING.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        let start = Instant::now();
        loop {
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `herd-shop` process on a free loopback port, killed on drop unless it already exited.
pub struct ShopProcess {
    pub port: u16,
    pub name: String,
    pub child: Child,
}

impl ShopProcess {
    pub fn start(name: &str, redis_url: Option<&str>, extra_env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_herd-shop"));
        command
            .env_clear()
            .env("PORT", port.to_string())
            .env("BIND_ADDRESS", "127.0.0.1")
            .env("POD_NAME", name)
            .env("JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url);
        }
        for (key, value) in extra_env {
            command.env(key, value);
        }
        ShopProcess {
            port,
            name: name.to_owned(),
            child: command.spawn().expect("spawn herd-shop"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn wait_ready(&self, http: &Http) {
        let ready = eventually(Duration::from_secs(20), async || {
            http.request(Method::GET, &self.url("/readyz"), None, None)
                .await
                .is_ok_and(|r| r.status == StatusCode::OK)
        })
        .await;
        assert!(ready, "{} never became ready", self.name);
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for ShopProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A small HTTP/1.1 client over loopback, with keep-alive, for talking to shop processes.
#[derive(Clone)]
pub struct Http(Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>);

impl Http {
    pub fn new() -> Self {
        Http(Client::builder(TokioExecutor::new()).build_http())
    }

    pub async fn request(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder().method(method).uri(url);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let response = tokio::time::timeout(
            Duration::from_secs(15),
            self.0.request(request.body(body).unwrap()),
        )
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("{e:?}"))?;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            json,
        })
    }
}
