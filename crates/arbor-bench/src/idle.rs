//! `idle_cpu_ms`: what an idle tree costs.

use std::time::Duration;

use arbor::Supervisor;

use crate::procstat::cpu_time;
use crate::report::Metric;
use crate::tree::BinaryTree;

/// How long the tree is left alone before the window opens, so that the start-up's last
/// wake-ups (a worker spinning before it parks) are not counted.
pub const SETTLE: Duration = Duration::from_millis(200);

/// How many watches wait during the second window.
pub const WATCHES: usize = 1000;

/// Starts a tree of depth `depth`, waits until it is all Healthy (and the processor knows),
/// lets it settle, then reports the CPU time of the whole process over `window` as
/// `idle_cpu_ms` (ms). The harness itself only sleeps on one tokio timer meanwhile. Then the
/// same again with [`WATCHES`] watches waiting on a node that never changes:
/// `idle_watched_cpu_ms` (ms), which must stay as low (a watch costs nothing while the tree
/// is idle).
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

    let watches: Vec<_> = (0..WATCHES)
        .map(|_| {
            let mut watch = sup.watch("root");
            tokio::spawn(async move { watch.until_state(arbor::NodeState::Done).await })
        })
        .collect();
    tokio::time::sleep(SETTLE).await; // every watch has read its snapshot and waits
    let before = cpu_time();
    tokio::time::sleep(window).await;
    let watched = cpu_time().saturating_sub(before);

    sup.shutdown().await.into_result()?;
    for watch in watches {
        let _ = watch.await; // each ends with the supervisor
    }
    Ok(vec![
        Metric::ms("idle_cpu_ms", used),
        Metric::ms("idle_watched_cpu_ms", watched),
    ])
}
