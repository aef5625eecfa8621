//! The floor under restart latency: the same hops in bare tokio, without arbor.
//!
//! - `floor_spawn_p50/p99` (us, finer than the anchors' ms): a task takes the time and sends a
//!   message to a central task, which spawns a task that takes the time on entry. One hop and
//!   one spawn: the least any design with a central processor can do for "a death causes a
//!   restart".
//! - `floor_chain_p50/p99` (us): the path of arbor's restart of a cancelled sibling. Task b
//!   takes the time and tells the central task it died; the central task cancels task a's
//!   token; a wakes, returns, and tells the central task it exited; the central task spawns a
//!   new a, which takes the time on entry. Two hops, one wake-up by cancellation, one spawn;
//!   and, as arbor restarts the dead b after its backoff, one more task on a 1 µs timer.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::percentile::percentile;
use crate::report::Metric;

const LIMIT: Duration = Duration::from_secs(60);

/// Measures both floors `reps` times each.
///
/// # Errors
///
/// When a hop is lost or takes over a minute (which would be a bug in this harness).
pub async fn measure(reps: usize) -> anyhow::Result<Vec<Metric>> {
    let spawn = spawn_floor(reps).await?;
    let chain = chain_floor(reps).await?;
    let mut metrics = Vec::new();
    for (name, samples) in [("floor_spawn", &spawn), ("floor_chain", &chain)] {
        for (p, label) in [(0.50, "p50"), (0.99, "p99")] {
            let value = percentile(samples, p).unwrap_or_default();
            metrics.push(Metric::us(format!("{name}_{label}"), value));
        }
    }
    Ok(metrics)
}

async fn spawn_floor(reps: usize) -> anyhow::Result<Vec<Duration>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<Instant>>();
    let central = tokio::spawn(async move {
        while let Some(reply) = rx.recv().await {
            tokio::spawn(async move {
                let _ = reply.send(Instant::now());
            });
        }
    });
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let (reply, entered) = oneshot::channel();
        let (sent_tx, sent) = oneshot::channel();
        let tx = tx.clone();
        // The sender is a task of its own, as a dying runnable is.
        tokio::spawn(async move {
            let _ = sent_tx.send(Instant::now());
            let _ = tx.send(reply);
        });
        let sent = sent.await?;
        let entered = tokio::time::timeout(LIMIT, entered).await??;
        samples.push(entered.saturating_duration_since(sent));
    }
    drop(tx);
    central.await?;
    Ok(samples)
}

enum Msg {
    /// b died at this time; cancel a.
    Died,
    /// a returned; start it again.
    Exited,
}

async fn chain_floor(reps: usize) -> anyhow::Result<Vec<Duration>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (entered_tx, mut entered) = mpsc::unbounded_channel::<Instant>();
    let central_tx = tx.clone();
    let central = tokio::spawn(async move {
        let mut a_token = start_a(CancellationToken::new(), &central_tx, &entered_tx);
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Died => {
                    a_token.cancel();
                    // As arbor restarts the dead b after its backoff: a task on a 1 µs timer.
                    tokio::spawn(tokio::time::sleep(Duration::from_micros(1)));
                }
                Msg::Exited => {
                    a_token = start_a(CancellationToken::new(), &central_tx, &entered_tx);
                }
            }
        }
    });
    tokio::time::timeout(LIMIT, entered.recv()).await?;
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let (died_tx, died) = oneshot::channel();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = died_tx.send(Instant::now());
            let _ = tx.send(Msg::Died);
        });
        let died = died.await?;
        let at = tokio::time::timeout(LIMIT, entered.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the central task ended"))?;
        samples.push(at.saturating_duration_since(died));
    }
    drop(tx);
    central.abort();
    Ok(samples)
}

/// Spawns a task that takes the time on entry, serves until `token` is cancelled, then tells
/// the central task it exited.
fn start_a(
    token: CancellationToken,
    central: &mpsc::UnboundedSender<Msg>,
    entered: &mpsc::UnboundedSender<Instant>,
) -> CancellationToken {
    let (central, entered, task_token) = (central.clone(), entered.clone(), token.clone());
    tokio::spawn(async move {
        let _ = entered.send(Instant::now());
        task_token.cancelled().await;
        let _ = central.send(Msg::Exited);
    });
    token
}
