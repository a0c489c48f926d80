//! Real `herd-shop` processes on loopback: replicas that share only Redis serve one user interchangeably,
//! and SIGTERM under load loses no request.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::http::{Method, StatusCode};
use common::{ALICE, CAROL, Http, RedisServer, ShopProcess, eventually};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_replica_serves_any_request_of_one_session() {
    let Some(redis) = RedisServer::start() else { return };
    let url = redis.url();
    let shops: Vec<_> = ["shop-a", "shop-b", "shop-c"]
        .iter()
        .map(|n| ShopProcess::start(n, Some(&url), &[]))
        .collect();
    let http = Http::new();
    for shop in &shops {
        shop.wait_ready(&http).await;
    }
    let (a, b, c) = (&shops[0], &shops[1], &shops[2]);
    let body = json!({"username": CAROL.0, "password": CAROL.1});
    let login = http
        .request(Method::POST, &a.url("/login"), None, Some(body))
        .await
        .unwrap();
    assert_eq!((login.status, login.served_by()), (StatusCode::OK, "shop-a"));
    let token = login.json["token"].as_str().unwrap();
    let item = json!({"productId": 42, "quantity": 2});
    let added = http
        .request(Method::POST, &b.url("/cart/items"), Some(token), Some(item))
        .await
        .unwrap();
    assert_eq!((added.status, added.served_by()), (StatusCode::OK, "shop-b"));
    let cart = http
        .request(Method::GET, &c.url("/cart"), Some(token), None)
        .await
        .unwrap();
    assert_eq!((cart.status, cart.served_by()), (StatusCode::OK, "shop-c"));
    assert_eq!(cart.json, added.json);
    assert_eq!(cart.json["items"][0]["productId"], 42);
    let order = http
        .request(Method::POST, &a.url("/orders"), Some(token), None)
        .await
        .unwrap();
    assert_eq!(order.status, StatusCode::CREATED);
    let id = order.json["id"].as_str().unwrap();
    let fetched = http
        .request(Method::GET, &b.url(&format!("/orders/{id}")), Some(token), None)
        .await
        .unwrap();
    assert_eq!(
        (fetched.json.clone(), fetched.served_by()),
        (order.json, "shop-b")
    );
    let missing = http
        .request(Method::GET, &c.url("/no/such/route"), None, None)
        .await
        .unwrap();
    assert_eq!(
        (missing.status, missing.served_by()),
        (StatusCode::NOT_FOUND, "shop-c")
    );
}

/// Reads one HTTP/1.1 response with a Content-Length body from a raw connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buffer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "connection closed before a full response: {}",
            String::from_utf8_lossy(&buffer)
        );
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_finishes_in_flight_requests_and_exits_zero() {
    let env = [("DRAIN_DELAY_SECONDS", "2"), ("SHUTDOWN_TIMEOUT_SECONDS", "20")];
    let mut shop = ShopProcess::start("shop-draining", None, &env);
    let http = Http::new();
    shop.wait_ready(&http).await;
    let addr = format!("127.0.0.1:{}", shop.port);

    // An idle keep-alive connection: graceful shutdown must close it rather than wait for it.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: shop\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));

    // A slow upload: its request is in flight (the server awaits the body) when SIGTERM arrives.
    let login = format!(r#"{{"username":"{}","password":"{}"}}"#, ALICE.0, ALICE.1);
    let (first_half, second_half) = login.split_at(10);
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /login HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        login.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(first_half.as_bytes()).await.unwrap();

    // Continuous load until the "load balancer" sees the replica unready, as endpoints would.
    let routed = Arc::new(AtomicBool::new(true));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (http, url) = (http.clone(), shop.url("/products?category=books&limit=5"));
            let (routed, served, failed) = (routed.clone(), served.clone(), failed.clone());
            tokio::spawn(async move {
                while routed.load(Ordering::SeqCst) {
                    match http.request(Method::GET, &url, None, None).await {
                        Ok(reply) if reply.status == StatusCode::OK => served.fetch_add(1, Ordering::SeqCst),
                        _ => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    let warmed = eventually(Duration::from_secs(10), async || {
        served.load(Ordering::SeqCst) > 20
    })
    .await;
    assert!(warmed, "load never got going");

    shop.terminate();
    let unready = eventually(Duration::from_secs(1), async || {
        let reply = http.request(Method::GET, &shop.url("/readyz"), None, None).await;
        reply.is_ok_and(|r| r.status == StatusCode::SERVICE_UNAVAILABLE && r.json["error"] == "not_ready")
    })
    .await;
    assert!(unready, "/readyz did not turn 503 within a second of SIGTERM");
    let before = served.load(Ordering::SeqCst);
    let kept_serving = eventually(Duration::from_secs(1), async || {
        served.load(Ordering::SeqCst) > before + 10
    })
    .await;
    assert!(
        kept_serving,
        "requests must still be served during the drain delay"
    );
    routed.store(false, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the drain"
    );

    // The drain delay is over once new connections are refused; the slow request must still complete.
    let stopped_accepting = eventually(Duration::from_secs(10), async || {
        TcpStream::connect(&addr).await.is_err()
    })
    .await;
    assert!(
        stopped_accepting,
        "the listener stayed open after the drain delay"
    );
    slow.write_all(second_half.as_bytes()).await.unwrap();
    let response = read_response(&mut slow).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"token\""), "{response}");

    assert_eq!(
        shop.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "graceful exit with code 0"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle keep-alive connection was not closed");
}

#[tokio::test]
async fn a_request_outliving_the_shutdown_timeout_does_not_keep_the_process_alive() {
    let env = [
        ("DRAIN_DELAY_SECONDS", "0"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "1"),
        ("REQUEST_TIMEOUT_SECONDS", "600"),
    ];
    let mut shop = ShopProcess::start("shop-stuck", None, &env);
    shop.wait_ready(&Http::new()).await;
    // An upload that never finishes: only the shutdown deadline can end it. `100 Continue` comes back once
    // the handler reads the body, so SIGTERM is sent only when the request is surely in flight.
    let mut stuck = TcpStream::connect(("127.0.0.1", shop.port)).await.unwrap();
    let head = "POST /login HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\n\
                content-length: 100\r\nexpect: 100-continue\r\n\r\n";
    stuck.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0; 64];
    let n = tokio::time::timeout(Duration::from_secs(20), stuck.read(&mut interim))
        .await
        .unwrap()
        .unwrap();
    assert!(
        interim[..n].starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim[..n])
    );
    stuck.write_all(b"{").await.unwrap();
    shop.terminate();
    let code = shop.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(
        code,
        Some(1),
        "a forced shutdown exits, and says so with a non-zero code"
    );
}

#[tokio::test]
async fn a_half_sent_request_is_cut_off_and_does_not_hold_up_shutdown() {
    let env = [
        ("DRAIN_DELAY_SECONDS", "0"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "10"),
        ("HEADER_READ_TIMEOUT_SECONDS", "1"),
    ];
    let mut shop = ShopProcess::start("shop-slowloris", None, &env);
    shop.wait_ready(&Http::new()).await;
    let addr = format!("127.0.0.1:{}", shop.port);

    // Headers that never end: the connection must not be held open forever.
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /products HTTP/1.1\r\nhost: shop\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), half.read_to_end(&mut answer)).await;
    assert!(
        closed.is_ok(),
        "a connection that never finished its headers stayed open"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // The same at shutdown: a half-sent request is not in flight and must not turn the exit into a failure.
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /products HTTP/1.1\r\nhost: shop\r\n")
        .await
        .unwrap();
    shop.terminate();
    assert_eq!(
        shop.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "graceful exit with code 0"
    );
}
