//! `idle_cpu_ms`: what an idle tree costs.

use std::time::Duration;

use arbor::Supervisor;

use crate::procstat::cpu_time;
use crate::report::Metric;
use crate::tree::BinaryTree;

/// How long the tree is left alone before the window opens, so that the start-up's last
/// wake-ups (a worker spinning before it parks) are not counted.
pub const SETTLE: Duration = Duration::from_millis(200);

/// Starts a tree of depth `depth`, waits until it is all Healthy (and the processor knows),
/// lets it settle, then reports the CPU time of the whole process over `window` as
/// `idle_cpu_ms` (ms). The harness itself only sleeps on one tokio timer meanwhile.
///
/// # Errors
///
/// When the tree does not come up or shut down in time.
pub async fn measure(depth: u32, window: Duration) -> anyhow::Result<Vec<Metric>> {
    let tree = BinaryTree::new(depth);
    let sup = Supervisor::new(tree.root());
    tree.all_healthy(Duration::from_secs(600)).await?;
    drop(sup.status().await);
    tokio::time::sleep(SETTLE).await;

    let before = cpu_time();
    tokio::time::sleep(window).await;
    let used = cpu_time().saturating_sub(before);

    sup.shutdown().await.into_result()?;
    Ok(vec![Metric::ms("idle_cpu_ms", used)])
}
