//! The status of a big tree: what [`Supervisor::status`](arbor::Supervisor::status) and its
//! JSON cost on a full binary tree, and that [`Supervisor::counts`](arbor::Supervisor::counts)
//! stays constant time whatever the size.
//!
//! Figures, with `D` the depth: `status_dD_wall` (ms, the snapshot), `status_dD_json_wall`
//! (ms, `serde_json::to_string` of it), `status_dD_json_bytes`, `status_dD_rss_growth`
//! (bytes: RSS with the snapshot and its JSON held, less RSS before; the peak memory a status
//! call adds) and `counts_dD_wall` (µs, the median of 101 calls).

use std::time::{Duration, Instant};

use arbor::Supervisor;

use crate::percentile::percentile;
use crate::procstat::rss_bytes;
use crate::report::Metric;
use crate::tree::BinaryTree;

const LIMIT: Duration = Duration::from_secs(600);

/// Starts a tree of depth `depth`, then takes and renders its status.
///
/// # Errors
///
/// When the tree is not up within ten minutes, the snapshot misses a node, or the JSON cannot
/// be made.
pub async fn measure(depth: u32) -> anyhow::Result<Vec<Metric>> {
    let tree = BinaryTree::new(depth);
    let sup = Supervisor::builder()
        .shutdown_timeout(LIMIT)
        .spawn(tree.root())?;
    tree.all_healthy(LIMIT).await?;
    sup.counts().await;
    let name = format!("d{depth}");

    let mut counts = Vec::with_capacity(101);
    for _ in 0..101 {
        let t = Instant::now();
        let c = sup.counts().await;
        counts.push(t.elapsed());
        anyhow::ensure!(c.nodes == tree.nodes(), "counts saw {} nodes", c.nodes);
    }

    let rss0 = rss_bytes()?;
    let t0 = Instant::now();
    let status = sup.status().await;
    let snapshot = t0.elapsed();
    anyhow::ensure!(
        status.node_count() == tree.nodes(),
        "the snapshot has {} of {} nodes",
        status.node_count(),
        tree.nodes()
    );
    let t1 = Instant::now();
    let json = serde_json::to_string(&status)?;
    let render = t1.elapsed();
    let growth = rss_bytes()?.saturating_sub(rss0);
    let bytes = json.len();
    drop((json, status));
    sup.shutdown().await.into_result()?;

    Ok(vec![
        Metric::ms(format!("status_{name}_wall"), snapshot),
        Metric::ms(format!("status_{name}_json_wall"), render),
        Metric::new(format!("status_{name}_json_bytes"), bytes as f64, "bytes"),
        Metric::new(format!("status_{name}_rss_growth"), growth as f64, "bytes"),
        Metric::us(
            format!("counts_{name}_wall"),
            percentile(&counts, 0.5).unwrap_or_default(),
        ),
    ])
}
