//! The tree floor: the spawn benchmark's full binary tree built from bare tokio tasks, without
//! arbor. What any supervision tree on tokio pays at least per node, in time and in memory.
//!
//! Each node is a task that spawns its two children (each with a child of its cancellation
//! token), reports to one central task through a channel, and waits on its token. The central
//! task counts the reports; when all nodes have reported, the tree is up. Shutdown cancels the
//! root's token; each task reports its exit through the same channel, and the tree is down once
//! the central task has counted every exit. That is the least a tree can do and still be
//! started, known to be up, stopped and known to be down from one place, as arbor's processor
//! knows.
//!
//! Figures, with `D` the depth (as `spawn_dD_*`, so that the two compare name by name):
//! `tree_floor_dD_wall` (ms), `tree_floor_dD_per_node` (µs), `tree_floor_dD_rss_per_node`
//! (bytes), `tree_floor_shutdown_dD_wall` (ms); and `tree_floor_dD_warm_per_node` (µs) and
//! `tree_floor_dD_warm_rss_per_node` (bytes), the same start-up again once the first tree is
//! down, in the memory it freed (as `spawn_dD_warm_per_node` and `_warm_rss_per_node`).

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::procstat::rss_bytes;
use crate::report::Metric;
use crate::tree::nodes;

/// How long either phase may take before the measurement fails.
const LIMIT: Duration = Duration::from_secs(600);

/// What a node tells the central task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Up,
    Exited,
}

/// Builds, counts and stops a floor tree of depth `depth`, then a second one in the memory the
/// first freed. Run it in a fresh process: the RSS figure is the growth of the whole process
/// under the first tree.
///
/// # Errors
///
/// When a phase takes over ten minutes or the central task is lost (a bug in this harness).
pub async fn measure(depth: u32) -> anyhow::Result<Vec<Metric>> {
    let total = nodes(depth);
    let name = format!("d{depth}");
    let rss0 = rss_bytes()?;
    let cold = start_and_stop(depth).await?;
    let rss_down = rss_bytes()?;
    let warm = start_and_stop(depth).await?;
    let per_node = |wall: Duration| wall.as_secs_f64() * 1e6 / total as f64;
    let rss_per_node = cold.rss_at_up.saturating_sub(rss0) as f64 / total as f64;
    Ok(vec![
        Metric::ms(format!("tree_floor_{name}_wall"), cold.wall),
        Metric::new(
            format!("tree_floor_{name}_per_node"),
            per_node(cold.wall),
            "us",
        ),
        Metric::new(
            format!("tree_floor_{name}_rss_per_node"),
            rss_per_node,
            "bytes",
        ),
        Metric::ms(format!("tree_floor_shutdown_{name}_wall"), cold.shutdown),
        Metric::new(
            format!("tree_floor_{name}_warm_per_node"),
            per_node(warm.wall),
            "us",
        ),
        Metric::new(
            format!("tree_floor_{name}_warm_rss_per_node"),
            warm.rss_at_up.saturating_sub(rss_down) as f64 / total as f64,
            "bytes",
        ),
    ])
}

/// One start-up and shutdown of a floor tree.
struct Round {
    wall: Duration,
    /// The process's RSS once the tree is up.
    rss_at_up: u64,
    shutdown: Duration,
}

async fn start_and_stop(depth: u32) -> anyhow::Result<Round> {
    let t0 = Instant::now();
    let tree = start(depth).await?;
    let wall = t0.elapsed();
    let rss_at_up = rss_bytes()?;

    let t1 = Instant::now();
    tree.root.cancel();
    tokio::time::timeout(LIMIT, tree.down).await??;
    let shutdown = t1.elapsed();
    tree.central.await?;
    Ok(Round {
        wall,
        rss_at_up,
        shutdown,
    })
}

/// Builds a floor tree and leaves it up: the start-up alone, for profiles (the
/// `tree_floor_only` job, as `spawn_only` is arbor's).
///
/// # Errors
///
/// As [`measure`].
pub async fn start_only(depth: u32) -> anyhow::Result<Vec<Metric>> {
    let t0 = Instant::now();
    let tree = start(depth).await?;
    let wall = t0.elapsed();
    // Leak the tree: cancelling its root would stop it.
    std::mem::forget(tree);
    Ok(vec![Metric::ms(format!("tree_floor_d{depth}_wall"), wall)])
}

/// A floor tree that is up.
struct Up {
    root: CancellationToken,
    down: oneshot::Receiver<()>,
    central: tokio::task::JoinHandle<()>,
}

/// Starts a floor tree and waits until every node has reported.
async fn start(depth: u32) -> anyhow::Result<Up> {
    let total = nodes(depth);
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();
    let (up_tx, up) = oneshot::channel::<()>();
    let (down_tx, down) = oneshot::channel::<()>();
    let central = tokio::spawn(async move {
        let (mut ups, mut exits) = (0usize, 0usize);
        let (mut up_tx, mut down_tx) = (Some(up_tx), Some(down_tx));
        while let Some(report) = rx.recv().await {
            match report {
                Report::Up => ups += 1,
                Report::Exited => exits += 1,
            }
            if ups == total {
                if let Some(up) = up_tx.take() {
                    let _ = up.send(());
                }
            }
            if exits == total {
                if let Some(down) = down_tx.take() {
                    let _ = down.send(());
                }
                return;
            }
        }
    });
    let root = CancellationToken::new();
    tokio::spawn(node(depth, root.child_token(), tx));
    tokio::time::timeout(LIMIT, up).await??;
    Ok(Up {
        root,
        down,
        central,
    })
}

/// One node, `levels` above the leaves: its two children first, then its report, then its
/// token; its exit is reported too.
fn node(
    levels: u32,
    token: CancellationToken,
    central: mpsc::UnboundedSender<Report>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        if levels > 0 {
            for _ in 0..2 {
                tokio::spawn(node(levels - 1, token.child_token(), central.clone()));
            }
        }
        let _ = central.send(Report::Up);
        token.cancelled().await;
        let _ = central.send(Report::Exited);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_floor_tree_comes_up_and_down_whole() {
        let metrics = measure(6).await.unwrap();
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tree_floor_d6_wall",
                "tree_floor_d6_per_node",
                "tree_floor_d6_rss_per_node",
                "tree_floor_shutdown_d6_wall",
                "tree_floor_d6_warm_per_node",
                "tree_floor_d6_warm_rss_per_node"
            ]
        );
        assert!(metrics.iter().all(|m| m.value >= 0.0));
    }
}
