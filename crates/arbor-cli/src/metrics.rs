//! `--metrics ADDR`: the core's metrics in Prometheus' text format at `/metrics`, and the
//! status as JSON at `/status`, over HTTP on a loopback address only (neither is meant for
//! the network: put a proxy with authentication in front if it must be reached from afar).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::app::App;

/// A bound metrics listener, not serving yet.
pub(crate) struct MetricsServer {
    listener: TcpListener,
    prometheus: PrometheusHandle,
}

/// Installs the Prometheus recorder and binds `addr`, which must be a loopback address.
///
/// # Errors
///
/// A message naming the address and the cause.
pub(crate) async fn bind(addr: SocketAddr) -> Result<MetricsServer, String> {
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--metrics {addr}: only a loopback address (127.0.0.1, ::1) is served"
        ));
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| format!("--metrics {addr}: cannot listen: {err}"))?;
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|err| format!("--metrics: cannot install the recorder: {err}"))?;
    Ok(MetricsServer {
        listener,
        prometheus,
    })
}

#[derive(Clone)]
struct Served {
    app: Arc<App>,
    prometheus: PrometheusHandle,
}

impl MetricsServer {
    /// Serves until the process ends.
    pub(crate) async fn serve(self, app: Arc<App>) {
        let served = Served {
            app,
            prometheus: self.prometheus,
        };
        let router = Router::new()
            .route("/metrics", get(metrics))
            .route("/status", get(status))
            .with_state(served);
        if let Err(err) = axum::serve(self.listener, router).await {
            tracing::warn!(error = %err, "the metrics server stopped");
        }
    }
}

async fn metrics(State(served): State<Served>) -> String {
    // Counts reach the recorder once per processor batch; ask for them so the page is current.
    served.app.sup.counts().await;
    served.prometheus.render()
}

async fn status(State(served): State<Served>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "nodes": served.app.nodes().await }))
}
