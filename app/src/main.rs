//! herd-shop's entry point: configuration, logging, the listener and graceful shutdown.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use anyhow::Context;
use axum::{http::HeaderValue, serve::ListenerExt};
use clap::Parser;
use herd_shop::{
    AppState,
    auth::Auth,
    config::{Config, LogFormat, SecretSource},
    shutdown,
    store::{MemoryStore, RedisStore, Store},
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    init_logging(config.log_format);
    match run(config).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("cannot start: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
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
    let pod_name = match config.pod_name.clone() {
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
        .with_context(|| format!("PORT: cannot bind {addr}"))?;
    // Without TCP_NODELAY a small response can wait for the client's delayed ACK of the previous one.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    tracing::info!(%addr, replica = %pod_name, "serving");

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel();
    let server = axum::serve(listener, herd_shop::app(state)).with_graceful_shutdown(shutdown::drain(
        draining,
        config.drain_delay(),
        stopping_tx,
    ));
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
        result = server.into_future() => {
            result.context("server failed")?;
            tracing::info!("all connections closed; exiting");
            Ok(ExitCode::SUCCESS)
        }
        () = deadline => {
            tracing::error!(timeout_s = timeout.as_secs(), "in-flight requests outlived SHUTDOWN_TIMEOUT_SECONDS");
            Ok(ExitCode::FAILURE)
        }
    }
}
