//! SIGTERM handling: turn unready at once, keep serving through the drain delay, then stop accepting.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::signal::unix::{SignalKind, signal};

/// Set when shutdown begins; `/readyz` answers 503 from then on so endpoints drop this replica.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Waits for SIGTERM (Kubernetes) or SIGINT (Ctrl-C). As PID 1 in a scratch image the kernel delivers no
/// default action for these, so they must be handled, not left to the default.
pub async fn signal_received() -> std::io::Result<&'static str> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// The graceful-shutdown trigger for `axum::serve`: resolves once the drain delay after a signal is over.
/// `stopping` is told at that moment, so the caller can start the shutdown timeout.
pub async fn drain(draining: Draining, delay: Duration, stopping: tokio::sync::oneshot::Sender<()>) {
    match signal_received().await {
        Ok(name) => tracing::info!(
            signal = name,
            drain_delay_s = delay.as_secs(),
            "shutting down: not ready"
        ),
        Err(e) => {
            // Without signal handlers the process can only be killed; serving is still the useful choice.
            tracing::error!(error = %e, "cannot listen for SIGTERM; graceful shutdown is disabled");
            std::future::pending::<()>().await;
        }
    }
    draining.start();
    tokio::time::sleep(delay).await;
    tracing::info!("drain delay over: no new connections, finishing in-flight requests");
    // The receiver only goes away when the server already stopped; nothing to tell then.
    let _ = stopping.send(());
}
