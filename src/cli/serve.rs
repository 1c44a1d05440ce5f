//! `recast serve` and `recast worker`: long-running processes until SIGTERM or Ctrl-C. What
//! they start and the order they stop in is `service::server`'s, shared with the tests.

use std::net::TcpListener;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::service::server::{self, Background};

/// SIGTERM or Ctrl-C.
pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Binds the configured address, failing with a message that names it.
pub fn bind(settings: &Settings) -> Result<TcpListener> {
    let addr = settings.listen_addr();
    TcpListener::bind(addr).map_err(|e| Error::Unavailable {
        detail: format!("cannot listen on {addr}: {e}"),
    })
}

pub async fn serve(settings: Settings) -> Result<()> {
    let listener = bind(&settings)?;
    serve_on(settings, listener).await
}

/// `serve` on a listener bound earlier (the demo binds before its work).
pub async fn serve_on(settings: Settings, listener: TcpListener) -> Result<()> {
    let mut running = server::start(settings, listener, Background::ALL).await?;
    let bound = running.addr;
    tracing::info!(%bound, lake = running.app.lake.url(), "recast listening; docs at http://{bound}/docs");
    let result = tokio::select! {
        _ = shutdown_signal() => Ok(()),
        result = running.stopped() => result,
    };
    tracing::info!(
        "shutting down: finishing jobs and the last event flush, then draining requests"
    );
    running.shutdown().await;
    tracing::info!("stopped");
    result
}

pub async fn worker(settings: Settings) -> Result<()> {
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing or releasing running jobs");
        signal.cancel();
    });
    server::run_worker(settings, stop).await?;
    tracing::info!("stopped");
    Ok(())
}
