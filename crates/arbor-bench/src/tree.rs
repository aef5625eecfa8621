//! The full binary tree that the spawn, idle and big-restart measurements run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, Group, RunFuture, Runnable, Signal};
use tokio::sync::Notify;

/// A full binary tree of depth `depth`: 2^(depth+1) - 1 nodes. Every inner node starts its two
/// children as one group, then signals Healthy; every node then serves until cancelled.
///
/// All nodes of one level share one runnable value (through
/// [`Group::add_shared`](arbor::Group::add_shared)), so building the tree costs the
/// benchmark nothing per node but the future of each run.
#[derive(Debug, Clone)]
pub struct BinaryTree {
    depth: u32,
    top: Arc<TreeNode>,
    counts: Arc<Counts>,
}

/// How many nodes have signalled Healthy, and who to tell when all have.
#[derive(Debug)]
struct Counts {
    nodes: usize,
    healthy: AtomicUsize,
    all_healthy: Notify,
}

/// The runnable of every node `levels` levels above the leaves.
#[derive(Debug, Clone)]
struct TreeNode {
    /// The runnable both children share; `None` for a leaf.
    child: Option<Arc<TreeNode>>,
    counts: Arc<Counts>,
}

impl BinaryTree {
    /// A tree of depth `depth` (0 is a single leaf).
    pub fn new(depth: u32) -> Self {
        let counts = Arc::new(Counts {
            nodes: nodes(depth),
            healthy: AtomicUsize::new(0),
            all_healthy: Notify::new(),
        });
        let mut top = Arc::new(TreeNode {
            child: None,
            counts: counts.clone(),
        });
        for _ in 0..depth {
            top = Arc::new(TreeNode {
                child: Some(top),
                counts: counts.clone(),
            });
        }
        BinaryTree { depth, top, counts }
    }

    /// Its depth.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// How many nodes it has: 2^(depth+1) - 1.
    pub fn nodes(&self) -> usize {
        self.counts.nodes
    }

    /// The runnable of the tree's top node, to be any node's child (with
    /// [`Group::add_shared`](arbor::Group::add_shared)).
    pub fn runnable(&self) -> Arc<dyn Runnable> {
        self.top.clone()
    }

    /// The same runnable as a value, to be a supervisor's root (`Arc<dyn Runnable>` does not
    /// implement [`Runnable`] itself).
    pub fn root(&self) -> impl Runnable {
        TreeNode::clone(&self.top)
    }

    /// How many runs have signalled Healthy so far (restarts count again).
    pub fn healthy(&self) -> usize {
        self.counts.healthy.load(Ordering::Acquire)
    }

    /// Waits until every node has signalled Healthy (the signal has returned; the processor
    /// may not have handled it yet).
    ///
    /// # Errors
    ///
    /// When that has not happened within `limit`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn all_healthy(&self, limit: Duration) -> anyhow::Result<()> {
        let wait = async {
            loop {
                // Registered before the check, so a notification between the two is not lost.
                let notified = self.counts.all_healthy.notified();
                if self.healthy() >= self.counts.nodes {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.map_err(|_| {
            anyhow::anyhow!(
                "only {} of {} nodes healthy after {limit:?}",
                self.healthy(),
                self.counts.nodes
            )
        })
    }
}

/// 2^(depth+1) - 1.
pub fn nodes(depth: u32) -> usize {
    (1usize << (depth + 1)) - 1
}

impl Runnable for TreeNode {
    fn run(&self, ctx: Context) -> RunFuture {
        let child = self.child.clone();
        let counts = self.counts.clone();
        Box::pin(async move {
            if let Some(child) = child {
                let shared: Arc<dyn Runnable> = child;
                ctx.run_group(
                    Group::new()
                        .add_shared("l", shared.clone())
                        .add_shared("r", shared),
                )?;
            }
            ctx.signal(Signal::Healthy)?;
            if counts.healthy.fetch_add(1, Ordering::AcqRel) + 1 == counts.nodes {
                // notify_one keeps a permit if the waiter is between its check and its await.
                counts.all_healthy.notify_one();
            }
            ctx.cancelled().await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor::{NodeState, Supervisor};

    #[test]
    fn counts_nodes_of_a_full_binary_tree() {
        assert_eq!(nodes(0), 1);
        assert_eq!(nodes(10), 2047);
        assert_eq!(nodes(14), 32_767);
        assert_eq!(nodes(19), 1_048_575);
    }

    #[tokio::test]
    async fn every_node_of_the_tree_becomes_healthy_with_two_children() {
        let tree = BinaryTree::new(4);
        let sup = Supervisor::builder()
            .propagate_panics(true)
            .spawn(tree.root())
            .unwrap();
        tree.all_healthy(Duration::from_secs(10)).await.unwrap();
        let status = sup.status().await;
        assert_eq!(status.node_count(), 31);
        assert!(status.iter().all(|n| n.state == NodeState::Healthy));
        let leaves = status
            .iter()
            .filter(|n| status.children(n).next().is_none())
            .count();
        let inner = status
            .iter()
            .filter(|n| status.children(n).count() == 2)
            .count();
        assert_eq!((leaves, inner), (16, 15));
        assert!(status.get("root.l.r.l.r").is_some());
        sup.shutdown().await.into_result().unwrap();
    }
}
