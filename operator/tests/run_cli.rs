//! `herd-operator run` as the kubelet drives it: it serves liveness while the API server is unreachable, reports
//! not-ready, and SIGTERM stops it cleanly instead of leaving it for SIGKILL at the end of the grace period.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_herd-operator");

/// A kubeconfig whose API server refuses every connection (port 1 on loopback).
const UNREACHABLE_KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
users:
- name: nobody
  user:
    token: not-a-real-token
contexts:
- name: nowhere
  context:
    cluster: nowhere
    user: nobody
    namespace: default
current-context: nowhere
";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status code of a plain HTTP/1.1 GET, or None while nothing listens.
fn status_of(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

fn wait_for_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn start_against_unreachable_api(dir: &Path, port: u16) -> Child {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, UNREACHABLE_KUBECONFIG).unwrap();
    Command::new(BIN)
        // No subcommand: `run` is the default and takes its flags at the top level too.
        .args(["--probe-addr", &format!("127.0.0.1:{port}")])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_stops_an_operator_that_never_reached_the_api_server() {
    let dir = std::env::temp_dir().join(format!("herd-run-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut operator = start_against_unreachable_api(&dir, port);

    let start = Instant::now();
    while status_of(port, "/healthz").is_none() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        status_of(port, "/healthz"),
        Some(200),
        "liveness is served without an API server"
    );
    assert_eq!(
        status_of(port, "/readyz"),
        Some(503),
        "not ready before the caches synced"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &operator.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Far below the kubelet's grace period; before the fix the process never exited on its own.
    let status = wait_for_exit(&mut operator, Duration::from_secs(60));
    if status.is_none() {
        operator.kill().unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
    let status = status.expect("operator still running 60 s after SIGTERM");
    assert!(status.success(), "operator exited with {status}");
}

#[test]
fn out_of_range_settings_are_refused_before_connecting() {
    for args in [
        &["run", "--watch-dead-after-seconds", "0"][..],
        &["--probe-addr", "not-an-address"][..],
        &["--probe-addr", "127.0.0.1:1", "crd"][..],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .env("KUBECONFIG", "/nonexistent")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
}
