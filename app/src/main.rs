//! herd-shop's entry point: configuration, logging, the listener and graceful shutdown.

use std::{io::IsTerminal, net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use axum::http::HeaderValue;
use clap::Parser;
use herd_shop::{
    AppState,
    auth::Auth,
    config::{Config, LogFormat, SecretSource},
    serve, shutdown,
    store::{MemoryStore, RedisStore, Store},
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(e) = init_logging(config.log_format) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match run(config).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("cannot start: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A malformed `RUST_LOG` stops the start: silently logging at another level hides the very lines wanted.
fn init_logging(format: LogFormat) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => EnvFilter::try_new(&directives)
            .map_err(|e| format!("RUST_LOG={directives:?} is not a valid filter: {e}"))?,
        Err(_) => EnvFilter::new("info"),
    };
    // Colour codes only for a person at a terminal, never into a collected log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let (secret, source) = config.jwt_secret()?;
    match source {
        SecretSource::DevRandom => tracing::warn!(
            "!!! --dev: signing sessions with a RANDOM key; tokens die with this process and no other replica \
             accepts them. Set JWT_SECRET or JWT_SECRET_FILE for anything but trying the shop out !!!"
        ),
        SecretSource::File(path) => {
            tracing::info!(file = %path.display(), "JWT key read from JWT_SECRET_FILE")
        }
        SecretSource::Env => tracing::info!("JWT key read from JWT_SECRET"),
    }
    let auth = Auth::new(&secret, config.jwt_ttl()).context("JWT_SECRET")?;
    let store: Arc<dyn Store> = match &config.redis_url {
        Some(url) => Arc::new(RedisStore::new(url).context("REDIS_URL is not a valid redis:// URL")?),
        None => {
            tracing::warn!(
                "REDIS_URL is not set: carts and orders live in this process only; \
                 unsafe with more than one replica"
            );
            Arc::new(MemoryStore::new())
        }
    };
    if store.is_shared() {
        // Not fatal (Redis may start after the shop), but a wrong password or database index is permanent:
        // say so at once instead of only in a readiness probe nobody reads.
        match tokio::time::timeout(Duration::from_secs(2), store.ping()).await {
            Ok(Ok(())) => tracing::info!("REDIS_URL: Redis answered"),
            Ok(Err(e)) => tracing::warn!(
                error = %e,
                "REDIS_URL: Redis did not accept this replica at start; it stays unready until it does"
            ),
            Err(_) => tracing::warn!(
                "REDIS_URL: no answer from Redis within 2 s at start; unready until it answers"
            ),
        }
    }
    let pod_name = match config.pod_name.clone().filter(|name| !name.is_empty()) {
        Some(name) => name,
        None => hostname::get()
            .context("POD_NAME is unset and the hostname is unreadable")?
            .to_string_lossy()
            .into(),
    };
    let served_by = HeaderValue::from_str(&pod_name)
        .with_context(|| format!("POD_NAME {pod_name:?} cannot be sent in an HTTP header"))?;
    let state = AppState::new(store, auth, served_by, config.request_timeout());
    let draining = state.draining.clone();

    let addr = SocketAddr::new(config.bind_address, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("BIND_ADDRESS/PORT: cannot bind {addr}"))?;
    // With PORT=0 the kernel picks the port: log the one actually bound.
    let addr = listener
        .local_addr()
        .context("the bound listener has no address")?;
    tracing::info!(%addr, replica = %pod_name, "serving");

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel();
    let server = serve::serve(
        listener,
        herd_shop::app(state),
        config.header_read_timeout(),
        shutdown::drain(draining, config.drain_delay(), stopping_tx),
    );
    let timeout = config.shutdown_timeout();
    let deadline = async move {
        // Until the drain delay ends there is no deadline; an error means the server is already gone.
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = server => {
            tracing::info!("all connections closed; exiting");
            Ok(ExitCode::SUCCESS)
        }
        () = deadline => {
            tracing::error!(timeout_s = timeout.as_secs(), "in-flight requests outlived SHUTDOWN_TIMEOUT_SECONDS");
            Ok(ExitCode::FAILURE)
        }
    }
}
