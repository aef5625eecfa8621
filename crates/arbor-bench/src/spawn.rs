//! Start-up and shutdown of a full binary tree: `spawn_dD_*` and `shutdown_dD_wall`.

use std::time::{Duration, Instant};

use arbor::Supervisor;

use crate::procstat::rss_bytes;
use crate::report::Metric;
use crate::tree::BinaryTree;

/// How long any one step may take before the measurement fails (also the shutdown timeout,
/// so that a slow shutdown is measured rather than cut short).
const LIMIT: Duration = Duration::from_secs(600);

/// Starts a tree of depth `depth` under a new supervisor, waits until every node is Healthy,
/// then shuts it down. Run it in a fresh process: the RSS figure is the growth of the whole
/// process.
///
/// Figures, with `D` = `depth`:
/// - `spawn_dD_wall` (ms): from creating the supervisor until every node has signalled
///   Healthy *and* the processor has handled every signal (the [`Supervisor::counts`] that
///   follows the last signal is answered after all of them, and must count every node
///   Healthy);
/// - `spawn_dD_per_node` (us): that over the node count;
/// - `spawn_dD_rss_per_node` (bytes): VmRSS growth from before the supervisor to the answer
///   of that [`Supervisor::counts`], over the node count: the tree as the processor knows it
///   whole, the moment at which the Erlang/OTP anchor reads its RSS (its start is synchronous);
/// - `spawn_dD_signal_wall` (ms): until the last signal returned, without the counts round
///   trip (not an anchor figure);
/// - `spawn_dD_signal_rss_per_node` (bytes): the RSS growth at the last signal, before the
///   processor has caught up (the `spawn_dD_rss_per_node` of the harness until issue 16's
///   sixth step; not an anchor figure);
/// - `shutdown_dD_wall` (ms): [`Supervisor::shutdown`] until every runnable has returned;
/// - `spawn_dD_warm_wall` (ms) and `spawn_dD_warm_per_node` (us): the same start-up again,
///   under a second supervisor, once the first tree is down. Its memory is mostly the first
///   tree's, already faulted in and freed to the allocator, so this figure leaves out most of
///   what the machine charges per byte first touched (see [`first_touch`](crate::first_touch))
///   and what the allocator pays to grow its heap. Not an anchor figure (the anchors start
///   cold);
/// - `spawn_dD_warm_rss_per_node` (bytes): how much the RSS grew during that second start-up,
///   per node: memory the allocator had given back or could not reuse, which the second tree
///   faulted in anew. The nearer 0, the fewer first touches the warm figure holds.
///
/// # Errors
///
/// When the tree is not all Healthy within 10 minutes, the counts disagree with the node count,
/// or the shutdown reports a stuck node.
pub async fn measure(depth: u32) -> anyhow::Result<Vec<Metric>> {
    let tree = BinaryTree::new(depth);
    let nodes = tree.nodes();
    let name = format!("d{depth}");

    let rss0 = rss_bytes()?;
    let cold = start_and_stop(&tree, rss0).await?;
    let warm = start_and_stop(&BinaryTree::new(depth), rss_bytes()?).await?;
    let (wall, signalled, shutdown) = (cold.wall, cold.signalled, cold.shutdown);
    let rss_growth = cold.rss_growth as f64;
    Ok(vec![
        Metric::ms(format!("spawn_{name}_wall"), wall),
        Metric::new(
            format!("spawn_{name}_per_node"),
            wall.as_secs_f64() * 1e6 / nodes as f64,
            "us",
        ),
        Metric::new(
            format!("spawn_{name}_rss_per_node"),
            rss_growth / nodes as f64,
            "bytes",
        ),
        Metric::ms(format!("spawn_{name}_signal_wall"), signalled),
        Metric::new(
            format!("spawn_{name}_signal_rss_per_node"),
            cold.rss_at_signal as f64 / nodes as f64,
            "bytes",
        ),
        Metric::ms(format!("shutdown_{name}_wall"), shutdown),
        Metric::ms(format!("spawn_{name}_warm_wall"), warm.wall),
        Metric::new(
            format!("spawn_{name}_warm_per_node"),
            warm.wall.as_secs_f64() * 1e6 / nodes as f64,
            "us",
        ),
        Metric::new(
            format!("spawn_{name}_warm_rss_per_node"),
            warm.rss_growth as f64 / nodes as f64,
            "bytes",
        ),
    ])
}

/// One start-up and shutdown of `tree`, as [`measure`] times it.
struct Round {
    wall: Duration,
    signalled: Duration,
    /// RSS once the processor has handled every signal, less `rss0`, in bytes.
    rss_growth: u64,
    /// RSS at the last signal, less `rss0`, in bytes.
    rss_at_signal: u64,
    shutdown: Duration,
}

async fn start_and_stop(tree: &BinaryTree, rss0: u64) -> anyhow::Result<Round> {
    let nodes = tree.nodes();
    let t0 = Instant::now();
    let sup = Supervisor::builder()
        .shutdown_timeout(LIMIT)
        .spawn(tree.root())?;
    tree.all_healthy(LIMIT).await?;
    let signalled = t0.elapsed();
    let rss_signalled = rss_bytes()?;
    let counts = sup.counts().await;
    let wall = t0.elapsed();
    let rss_counted = rss_bytes()?;
    anyhow::ensure!(
        counts.healthy == nodes && counts.nodes == nodes,
        "the counts show {} of {nodes} nodes Healthy",
        counts.healthy
    );

    let t1 = Instant::now();
    let report = sup.shutdown().await;
    let shutdown = t1.elapsed();
    report.into_result()?;
    Ok(Round {
        wall,
        signalled,
        rss_growth: rss_counted.saturating_sub(rss0),
        rss_at_signal: rss_signalled.saturating_sub(rss0),
        shutdown,
    })
}

/// Starts a tree of depth `depth` and waits until every node is Healthy and the processor
/// knows; reports `spawn_dD_wall` and leaves the tree running. For profiling start-up alone.
///
/// # Errors
///
/// When the tree is not all Healthy within 10 minutes.
pub async fn start_only(depth: u32) -> anyhow::Result<Vec<Metric>> {
    let tree = BinaryTree::new(depth);
    let t0 = Instant::now();
    let sup = Supervisor::new(tree.root());
    tree.all_healthy(LIMIT).await?;
    sup.counts().await;
    let wall = t0.elapsed();
    // Leak the supervisor: dropping it would shut the tree down.
    std::mem::forget(sup);
    Ok(vec![Metric::ms(format!("spawn_d{depth}_wall"), wall)])
}
