//! Three real shop processes under a known load: the served per-pod rate follows the real one and falls to
//! zero when the load stops. Pod targets are fed straight into the store (discovery is tested on fixtures).

use herd_operator::traffic::discovery::{Discovered, PodTarget};
use herd_operator::traffic::rate::RateConfig;
use herd_operator::traffic::scrape::{self, ScrapeConfig};
use herd_operator::traffic::selector::Selector;
use herd_operator::traffic::selfmetrics::{ScrapeResult, SourceMetrics};
use herd_operator::traffic::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const METRIC: &str = "herd_http_requests_per_second";
const INTERVAL: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(4);

/// `target/debug/herd-shop`, next to this test's own directory (`target/debug/deps/`).
fn shop_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.parent()?.join("herd-shop");
    candidate.is_file().then_some(candidate)
}

/// A shop process killed on drop, so a failing assertion leaves nothing running.
struct Shop {
    child: Child,
    port: u16,
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_shop(binary: &PathBuf, name: &str) -> Shop {
    let port = free_port();
    let child = Command::new(binary)
        .args([
            "--dev",
            "--bind-address",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .env("POD_NAME", name)
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let shop = Shop { child, port };
    let client = scrape::http_client();
    for _ in 0..100 {
        let uri: http::Uri = format!("http://127.0.0.1:{port}/readyz").parse().unwrap();
        if client.get(uri).await.is_ok_and(|r| r.status().is_success()) {
            return shop;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("shop {name} did not become ready on port {port}");
}

fn target(pod: &str, port: u16) -> PodTarget {
    PodTarget {
        namespace: "shop".into(),
        pod: pod.into(),
        uid: format!("uid-{pod}"),
        labels: BTreeMap::from([("app.kubernetes.io/instance".to_string(), "shop".to_string())]),
        address: ([127, 0, 0, 1], port).into(),
        metric: METRIC.into(),
    }
}

/// Sends `per_second` GET /products to `port` until `until`, paced by a ticker that catches up after a
/// slow request so the average rate is the one asked for. Returns the number of answered requests.
async fn load(port: u16, per_second: u32, until: Instant, answered: Arc<AtomicU64>) {
    let client = scrape::http_client();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while Instant::now() < until {
        ticks.tick().await;
        let uri: http::Uri = format!("http://127.0.0.1:{port}/products").parse().unwrap();
        let client = client.clone();
        let answered = answered.clone();
        tokio::spawn(async move {
            if client.get(uri).await.is_ok_and(|r| r.status().is_success()) {
                answered.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

fn served(store: &Store) -> BTreeMap<String, f64> {
    store
        .values("shop", METRIC, &Selector::default(), store.now())
        .into_iter()
        .map(|v| (v.pod, v.per_second))
        .collect()
}

fn assert_close(pod: &str, served: Option<&f64>, real: f64) {
    let served = *served.unwrap_or_else(|| panic!("no rate served for {pod}"));
    if real == 0.0 {
        assert_eq!(served, 0.0, "{pod}: served {served} rps for an idle pod");
    } else {
        let error = (served - real).abs() / real;
        assert!(
            error <= 0.10,
            "{pod}: served {served:.2} rps, real {real:.2} rps ({:.0}% off)",
            error * 100.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_rates_follow_real_load_on_three_shops() {
    let Some(binary) = shop_binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "target/debug/herd-shop is missing; CI must build it"
        );
        println!("skipping: target/debug/herd-shop not built (run `cargo build -p herd-shop`)");
        return;
    };
    let shops = [
        start_shop(&binary, "busy").await,
        start_shop(&binary, "half").await,
        start_shop(&binary, "idle").await,
    ];
    let store = Arc::new(Store::new(RateConfig {
        window: WINDOW,
        stale_after: INTERVAL * 3,
    }));
    store.update(Discovered {
        targets: vec![
            target("busy", shops[0].port),
            target("half", shops[1].port),
            target("idle", shops[2].port),
        ],
        metric_names: BTreeSet::from([METRIC.to_string()]),
    });
    let metrics = Arc::new(SourceMetrics::default());
    let config = ScrapeConfig {
        interval: INTERVAL,
        timeout: Duration::from_millis(900),
        ..ScrapeConfig::default()
    };
    let scraper = tokio::spawn(scrape::run(store.clone(), metrics.clone(), config));

    let started = Instant::now();
    let until = started + Duration::from_secs(12);
    let (busy, half) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let loads = [
        tokio::spawn(load(shops[0].port, 40, until, busy.clone())),
        tokio::spawn(load(shops[1].port, 20, until, half.clone())),
    ];

    // Once the window holds only loaded samples, plus two scrape intervals, every reading must be right.
    tokio::time::sleep(WINDOW + INTERVAL * 2).await;
    let mut readings = 0;
    while Instant::now() + INTERVAL < until {
        let rates = served(&store);
        assert_close("busy", rates.get("busy"), 40.0);
        assert_close("half", rates.get("half"), 20.0);
        assert_close("idle", rates.get("idle"), 0.0);
        readings += 1;
        tokio::time::sleep(INTERVAL / 2).await;
    }
    for handle in loads {
        handle.await.unwrap();
    }
    assert!(readings >= 5, "only {readings} readings under load");
    // The generator really produced the rates it claims (all requests answered).
    let elapsed = started.elapsed().as_secs_f64();
    let busy_real = busy.load(Ordering::Relaxed) as f64 / elapsed;
    assert!(
        (busy_real - 40.0).abs() / 40.0 < 0.05,
        "load generator reached {busy_real:.1} rps, not 40"
    );

    // Load stopped: after a window and two intervals every pod is idle.
    tokio::time::sleep(WINDOW + INTERVAL * 2).await;
    let rates = served(&store);
    for pod in ["busy", "half", "idle"] {
        assert_close(pod, rates.get(pod), 0.0);
    }
    assert_eq!(
        metrics.scrapes(ScrapeResult::ConnectError) + metrics.scrapes(ScrapeResult::Timeout),
        0
    );
    scraper.abort();
}
