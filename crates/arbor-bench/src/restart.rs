//! Restart latency: `restart_{a,b}_p50/p99` and `restart_big_dD_{a,b}_p50/p99`.
//!
//! The root runs the group {a, b} (and, for the big variant, a child `big` holding a healthy
//! [`BinaryTree`]). b dies on command by returning an error, and takes the time just before it
//! returns. Its group sibling a is cancelled, returns, and is restarted at once; b is Dead and
//! is restarted after its backoff. Both take the time when their runnable is entered again.
//!
//! Erlang/OTP has no backoff, so b's backoff is set to 1 µs without randomization: b then
//! measures the restart mechanism rather than the policy. tokio's timer has a resolution of
//! 1 ms, so any non-zero backoff still waits for the timer's next tick.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor::{Backoff, Context, Group, RunFuture, Runnable, Signal, Supervisor};
use tokio::sync::{mpsc, Notify};

use crate::percentile::percentile;
use crate::report::Metric;
use crate::tree::BinaryTree;

/// How long one step may take before the measurement fails.
const LIMIT: Duration = Duration::from_secs(60);

/// The backoff of every node in the scenario: 1 µs, exact.
pub fn tiny_backoff() -> Backoff {
    Backoff::default()
        .initial(Duration::from_micros(1))
        .max_interval(Duration::from_micros(1))
        .randomization(0.0)
}

/// Which member of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    A,
    B,
}

/// Shared by the harness and the two members.
#[derive(Debug)]
struct Probe {
    entered: mpsc::UnboundedSender<(Who, Instant)>,
    died: mpsc::UnboundedSender<Instant>,
    kill: Notify,
}

#[derive(Debug)]
struct Member {
    who: Who,
    probe: Arc<Probe>,
}

impl Runnable for Member {
    fn run(&self, ctx: Context) -> RunFuture {
        let at = Instant::now();
        let (who, probe) = (self.who, self.probe.clone());
        Box::pin(async move {
            ctx.signal(Signal::Healthy)?;
            let _ = probe.entered.send((who, at));
            match who {
                Who::A => ctx.cancelled().await,
                Who::B => tokio::select! {
                    () = ctx.cancelled() => {}
                    () = probe.kill.notified() => {
                        // The error first: with RUST_BACKTRACE set, anyhow captures a backtrace
                        // (~10 µs), which is the runnable's cost, not the restart's.
                        let err = anyhow::anyhow!("killed on command");
                        let _ = probe.died.send(Instant::now());
                        return Err(err);
                    }
                },
            }
            Ok(())
        })
    }
}

/// How long after b's death each member was entered again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// Until a (cancelled with its group) was entered again.
    pub a: Duration,
    /// Until b (dead, 1 µs backoff) was entered again.
    pub b: Duration,
}

/// A running tree with the group {a, b} under its root, ready to kill b.
#[derive(Debug)]
pub struct Scenario {
    sup: Supervisor,
    probe: Arc<Probe>,
    entered: mpsc::UnboundedReceiver<(Who, Instant)>,
    died: mpsc::UnboundedReceiver<Instant>,
}

impl Scenario {
    /// Starts the tree, with a healthy binary tree of depth `big` beside the group if given,
    /// and waits until a and b have been entered (and the big tree is all Healthy).
    ///
    /// # Errors
    ///
    /// When the supervisor cannot start or the tree does not come up within a minute.
    pub async fn start(big: Option<u32>) -> anyhow::Result<Scenario> {
        let big = big.map(BinaryTree::new);
        let scenario = Scenario::start_beside(big.as_ref().map(BinaryTree::runnable)).await?;
        if let Some(big) = big {
            big.all_healthy(LIMIT).await?;
        }
        Ok(scenario)
    }

    /// Starts the tree with `beside`, if given, as the root's child `big` next to the group,
    /// and waits until a and b have been entered (not until `beside` is up: that is the
    /// caller's to wait for).
    ///
    /// # Errors
    ///
    /// When the supervisor cannot start or a and b are not entered within a minute.
    pub async fn start_beside(beside: Option<Arc<dyn Runnable>>) -> anyhow::Result<Scenario> {
        let (entered_tx, entered) = mpsc::unbounded_channel();
        let (died_tx, died) = mpsc::unbounded_channel();
        let probe = Arc::new(Probe {
            entered: entered_tx,
            died: died_tx,
            kill: Notify::new(),
        });
        let root = Root {
            a: Arc::new(Member {
                who: Who::A,
                probe: probe.clone(),
            }),
            b: Arc::new(Member {
                who: Who::B,
                probe: probe.clone(),
            }),
            big: beside,
        };
        let sup = Supervisor::builder().backoff(tiny_backoff()).spawn(root)?;
        let mut scenario = Scenario {
            sup,
            probe,
            entered,
            died,
        };
        scenario.both_entered().await?;
        Ok(scenario)
    }

    /// The supervisor, for figures of the whole tree (events, status).
    pub fn supervisor(&self) -> &Supervisor {
        &self.sup
    }

    /// Kills b and waits until a and b have both been entered again.
    ///
    /// # Errors
    ///
    /// When b does not die, or a or b is not restarted, within a minute.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped half-way, the next call may see this kill's restarts.
    pub async fn kill_b(&mut self) -> anyhow::Result<Restart> {
        self.probe.kill.notify_one();
        let died = tokio::time::timeout(LIMIT, self.died.recv())
            .await
            .map_err(|_| anyhow::anyhow!("b did not die on command"))?
            .ok_or_else(|| anyhow::anyhow!("every member is gone"))?;
        let (a, b) = self.both_entered().await?;
        Ok(Restart {
            a: a.saturating_duration_since(died),
            b: b.saturating_duration_since(died),
        })
    }

    /// Shuts the tree down.
    ///
    /// # Errors
    ///
    /// When a runnable does not return in time.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.sup.shutdown().await.into_result()?;
        Ok(())
    }

    async fn both_entered(&mut self) -> anyhow::Result<(Instant, Instant)> {
        let (mut a, mut b) = (None, None);
        loop {
            if let (Some(a), Some(b)) = (a, b) {
                return Ok((a, b));
            }
            let (who, at) = tokio::time::timeout(LIMIT, self.entered.recv())
                .await
                .map_err(|_| anyhow::anyhow!("a or b was not entered within {LIMIT:?}"))?
                .ok_or_else(|| anyhow::anyhow!("every member is gone"))?;
            match who {
                Who::A => a = Some(at),
                Who::B => b = Some(at),
            }
        }
    }
}

/// The root: the group {a, b}, the big tree if any, then Healthy until cancelled.
struct Root {
    a: Arc<Member>,
    b: Arc<Member>,
    big: Option<Arc<dyn Runnable>>,
}

impl Runnable for Root {
    fn run(&self, ctx: Context) -> RunFuture {
        let group = Group::new()
            .add_shared("a", self.a.clone())
            .add_shared("b", self.b.clone());
        let big = self.big.clone();
        Box::pin(async move {
            ctx.run_group(group)?;
            if let Some(big) = big {
                ctx.run_group(Group::new().add_shared("big", big))?;
            }
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        })
    }
}

/// Kills b `reps` times and reports the p50 and p99 of each member's restart latency, as
/// `restart_{a,b}_p50/p99` (ms), or `restart_big_dD_{a,b}_p50/p99` with a big tree of depth D.
///
/// # Errors
///
/// As [`Scenario::start`] and [`Scenario::kill_b`].
pub async fn measure(reps: usize, big: Option<u32>) -> anyhow::Result<Vec<Metric>> {
    let name = match big {
        None => "restart".to_owned(),
        Some(depth) => format!("restart_big_d{depth}"),
    };
    let mut scenario = Scenario::start(big).await?;
    let (mut la, mut lb) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for _ in 0..reps {
        let restart = scenario.kill_b().await?;
        la.push(restart.a);
        lb.push(restart.b);
    }
    scenario.shutdown().await?;
    let mut metrics = Vec::new();
    for (who, samples) in [("a", &la), ("b", &lb)] {
        for (p, label) in [(0.50, "p50"), (0.99, "p99")] {
            let value = percentile(samples, p).unwrap_or_default();
            metrics.push(Metric::ms(format!("{name}_{who}_{label}"), value));
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn killing_b_restarts_both_members_every_time() {
        let mut scenario = Scenario::start(Some(3)).await.unwrap();
        for _ in 0..3 {
            scenario.kill_b().await.unwrap();
        }
        let status = scenario.sup.status().await;
        assert_eq!(status.get("root.a").unwrap().restarts, 3);
        assert_eq!(status.get("root.b").unwrap().restarts, 3);
        assert_eq!(status.get("root.big").unwrap().restarts, 0);
        assert_eq!(status.node_count(), 3 + 15);
        scenario.shutdown().await.unwrap();
    }
}
