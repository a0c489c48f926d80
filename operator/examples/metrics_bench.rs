//! Benchmark of the metrics source (not a test): scrape cost for 500 simulated pods, and the time from a
//! load step to the served rate reflecting it. Run: `cargo run --release -p herd-operator --example metrics_bench`.
//!
//! The simulated pods live in a child process (this binary with `pods N`), so the CPU and memory measured
//! here are the scraper's alone.

use herd_operator::traffic::discovery::{Discovered, PodTarget};
use herd_operator::traffic::rate::RateConfig;
use herd_operator::traffic::scrape::{ScrapeConfig, http_client, scrape_round};
use herd_operator::traffic::selector::Selector;
use herd_operator::traffic::selfmetrics::{ScrapeResult, SourceMetrics};
use herd_operator::traffic::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const METRIC: &str = "herd_http_requests_per_second";
const ROUTES: [&str; 8] = [
    "/products",
    "/products/{id}",
    "/categories",
    "/login",
    "/cart",
    "/cart/items",
    "/orders",
    "/orders/{id}",
];

/// A shop-like exposition: 8 routes × 2 statuses of the counter plus a 14-bucket latency histogram per route.
fn exposition(total: f64) -> String {
    let mut out = String::from(
        "# HELP herd_http_requests HTTP requests answered.\n# TYPE herd_http_requests counter\n",
    );
    for (i, route) in ROUTES.iter().enumerate() {
        let share = total / ROUTES.len() as f64;
        out += &format!(
            "herd_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"200\"}} {}\n",
            share.floor()
        );
        out += &format!("herd_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"404\"}} {i}\n");
    }
    out += "# TYPE herd_http_request_duration_seconds histogram\n";
    for route in ROUTES {
        for b in 0..14 {
            let le = 0.0005 * 2f64.powi(b);
            out += &format!(
                "herd_http_request_duration_seconds_bucket{{method=\"GET\",route=\"{route}\",le=\"{le}\"}} {b}\n"
            );
        }
        out += &format!("herd_http_request_duration_seconds_sum{{method=\"GET\",route=\"{route}\"}} 1.5\n");
        out += &format!("herd_http_request_duration_seconds_count{{method=\"GET\",route=\"{route}\"}} 14\n");
    }
    out + "# EOF\n"
}

/// Child mode: N pods, each a port; pod 0's counter follows a rate that steps from 0 to 100 rps at
/// `step_after` seconds, the others serve a fixed body. Prints the ports on one line.
async fn serve_pods(count: usize, step_after: f64) {
    use axum::{Router, routing::get};
    let started = Instant::now();
    let mut ports = Vec::new();
    for i in 0..count {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        ports.push(listener.local_addr().expect("addr").port().to_string());
        let fixed = exposition(1000.0 + i as f64);
        let router = Router::new().route(
            "/metrics",
            get(move || {
                let fixed = fixed.clone();
                async move {
                    if i == 0 {
                        let t = started.elapsed().as_secs_f64();
                        exposition((t - step_after).max(0.0) * 100.0)
                    } else {
                        fixed
                    }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    println!("{}", ports.join(" "));
    // Lives until the parent kills it; bounded anyway.
    tokio::time::sleep(Duration::from_secs(600)).await;
}

fn target(pod: usize, port: u16) -> PodTarget {
    PodTarget {
        namespace: "bench".into(),
        pod: format!("pod-{pod:03}"),
        uid: pod.to_string(),
        labels: BTreeMap::new(),
        address: ([127, 0, 0, 1], port).into(),
        metric: METRIC.into(),
    }
}

/// (user+system CPU seconds, current RSS KiB, peak RSS KiB) of this process.
fn usage() -> (f64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (ticks / 100.0, kib("VmRSS:"), kib("VmHWM:"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("pods") {
        let count = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(500);
        let step = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(3.0);
        return serve_pods(count, step).await;
    }
    let pods = 500;
    let step_after = 12.0;
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["pods", &pods.to_string(), &step_after.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn pods");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ports");
    let started = Instant::now();
    let ports: Vec<u16> = line.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    assert_eq!(ports.len(), pods);

    // Part 1: scrape cost, 500 pods, default settings (64 at a time, 2 s timeout).
    let config = ScrapeConfig::default();
    let store = Store::new(RateConfig {
        window: Duration::from_secs(30),
        stale_after: Duration::from_secs(60),
    });
    store.update(Discovered {
        targets: ports.iter().enumerate().map(|(i, p)| target(i, *p)).collect(),
        metric_names: BTreeSet::from([METRIC.to_string()]),
    });
    let metrics = SourceMetrics::default();
    let client = http_client();
    let (cpu0, rss0, _) = usage();
    let rounds = 10;
    let mut walls = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        scrape_round(&client, &store, &metrics, &config).await;
        walls.push(t.elapsed().as_secs_f64());
    }
    let (cpu1, rss1, hwm) = usage();
    walls.sort_by(f64::total_cmp);
    let cpu_per_round = (cpu1 - cpu0) / rounds as f64;
    println!(
        "## scrape cost: {pods} pods, {} bytes each, {rounds} rounds",
        exposition(1000.0).len()
    );
    println!(
        "round wall time: median {:.1} ms, max {:.1} ms",
        walls[rounds / 2] * 1e3,
        walls[rounds - 1] * 1e3
    );
    println!(
        "CPU per round: {:.1} ms = {:.2}% of one core at a 5 s interval",
        cpu_per_round * 1e3,
        cpu_per_round / 5.0 * 100.0
    );
    println!("RSS before {} KiB, after {} KiB, peak {} KiB", rss0, rss1, hwm);
    println!(
        "scrapes ok {}, failed {}",
        metrics.scrapes(ScrapeResult::Success),
        rounds as u64 * pods as u64 - metrics.scrapes(ScrapeResult::Success)
    );

    // Part 2: load step. Pod 0 goes from 0 to 100 rps at `step_after` s; two sources scrape it side by side
    // every 5 s, one with the default 30 s window, one with 10 s.
    let windows = [Duration::from_secs(30), Duration::from_secs(10)];
    let stores: Vec<Arc<Store>> = windows
        .iter()
        .map(|w| {
            let s = Arc::new(Store::new(RateConfig {
                window: *w,
                stale_after: Duration::from_secs(17),
            }));
            s.update(Discovered {
                targets: vec![target(0, ports[0])],
                metric_names: BTreeSet::from([METRIC.to_string()]),
            });
            s
        })
        .collect();
    let interval = Duration::from_secs(5);
    let mut first_seen: Vec<Option<f64>> = vec![None; windows.len()];
    let mut ninety: Vec<Option<f64>> = vec![None; windows.len()];
    let step_at = step_after - started.elapsed().as_secs_f64();
    let bench_start = Instant::now();
    let mut ticks = tokio::time::interval(interval);
    while bench_start.elapsed() < Duration::from_secs(75) && ninety.iter().any(Option::is_none) {
        ticks.tick().await;
        for (i, s) in stores.iter().enumerate() {
            scrape_round(&client, s, &metrics, &config).await;
            let since_step = bench_start.elapsed().as_secs_f64() - step_at;
            let value = s
                .values("bench", METRIC, &Selector::default(), s.now())
                .first()
                .map(|v| v.per_second);
            if since_step > 0.0 {
                if first_seen[i].is_none() && value.is_some_and(|v| v > 1.0) {
                    first_seen[i] = Some(since_step);
                }
                if ninety[i].is_none() && value.is_some_and(|v| v >= 90.0) {
                    ninety[i] = Some(since_step);
                }
            }
        }
    }
    println!("## load step 0 -> 100 rps, scrape interval 5 s");
    for (i, w) in windows.iter().enumerate() {
        let show = |t: Option<f64>| t.map_or("not within 75 s".to_string(), |t| format!("{t:.1} s"));
        println!(
            "window {:>2} s: first change served after {}, 90% of the new rate after {}",
            w.as_secs(),
            show(first_seen[i]),
            show(ninety[i])
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
