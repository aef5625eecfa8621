//! The restart storm: N leaves under one parent die within the same millisecond.
//!
//! The tree is the restart benchmark's (the group {a, b} under the root, see
//! [`restart`](crate::restart)) with one more child of the root, `storm`, whose run starts N
//! leaves, each in a group of its own (OTP's `one_for_one`) with a 1 µs backoff. Every leaf
//! signals Healthy and waits on one shared `watch` channel; one send makes all N return an
//! error at once. Figures, with `N` the number of leaves:
//!
//! - `storm_nN_wall` (ms): from just before the send until the N-th leaf has been entered
//!   again;
//! - `storm_nN_probe_{a,b}_p50/p99` (ms) and `storm_nN_probe_samples`: meanwhile, b of the
//!   unrelated group is killed again and again, and each time the latency until a and b are
//!   entered again is taken: how fair the processor stays to the rest of the tree;
//! - `storm_nN_events_1`, `storm_nN_events_10` (transitions per second, per subscriber): a
//!   storm again with one, then ten, subscribers to the event stream, each reading as fast as
//!   it can; `storm_nN_lagged_1`, `storm_nN_lagged_10`: how many transitions each missed (the
//!   stream's ring buffer is bounded, so a reader that falls behind skips to a fresh snapshot);
//! - `storm_nN_stalled_rss_growth` (bytes): a storm with one subscriber that never reads: the
//!   growth of RSS, which the bounded buffer must keep small whatever N is.
//!
//! Erlang/OTP runs the same storm in `scripts/storm.erl`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor::{Child, Context, EventStream, RunFuture, Runnable, Signal};
use tokio::sync::{watch, Notify};

use crate::percentile::percentile;
use crate::procstat::rss_bytes;
use crate::report::Metric;
use crate::restart::{tiny_backoff, Restart, Scenario};

/// How long one storm may take before the measurement fails.
const LIMIT: Duration = Duration::from_secs(120);

/// What the leaves and the harness share.
#[derive(Debug)]
struct Storm {
    /// One send kills every leaf.
    die: watch::Sender<u64>,
    /// Runs of leaves entered so far, restarts included.
    entries: AtomicUsize,
    /// The entry count that ends the current storm.
    target: AtomicUsize,
    /// When the entry that reached `target` was made.
    reached: Mutex<Option<Instant>>,
    done: AtomicBool,
    notify: Notify,
}

impl Storm {
    fn entered(&self) {
        let count = self.entries.fetch_add(1, Ordering::AcqRel) + 1;
        if count == self.target.load(Ordering::Acquire) {
            *self
                .reached
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
            self.done.store(true, Ordering::Release);
            self.notify.notify_one();
        }
    }

    /// Waits until the current storm's target is reached.
    async fn reached(&self) -> anyhow::Result<Instant> {
        let wait = async {
            loop {
                let notified = self.notify.notified();
                if self.done.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(LIMIT, wait).await.map_err(|_| {
            anyhow::anyhow!(
                "{} of {} leaf runs entered after {LIMIT:?}",
                self.entries.load(Ordering::Acquire),
                self.target.load(Ordering::Acquire)
            )
        })?;
        (*self
            .reached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
        .ok_or_else(|| anyhow::anyhow!("the storm ended without a time"))
    }

    /// Arms a storm that ends once `more` further leaf runs have been entered.
    fn arm(&self, more: usize) {
        self.done.store(false, Ordering::Release);
        *self
            .reached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let now = self.entries.load(Ordering::Acquire);
        self.target.store(now + more, Ordering::Release);
    }
}

/// The parent of the leaves.
struct StormParent {
    leaves: usize,
    leaf: Arc<dyn Runnable>,
}

impl Runnable for StormParent {
    fn run(&self, ctx: Context) -> RunFuture {
        let (leaves, leaf) = (self.leaves, self.leaf.clone());
        Box::pin(async move {
            for i in 0..leaves {
                ctx.run_child(
                    Child::shared(format!("l{i}"), leaf.clone()).backoff(tiny_backoff()),
                )?;
            }
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        })
    }
}

struct Leaf {
    storm: Arc<Storm>,
}

impl Runnable for Leaf {
    fn run(&self, ctx: Context) -> RunFuture {
        let storm = self.storm.clone();
        // Subscribed on entry: only a send after it kills this run.
        let mut die = storm.die.subscribe();
        Box::pin(async move {
            storm.entered();
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                _ = die.changed() => Err(anyhow::anyhow!("died in the storm")),
            }
        })
    }
}

/// Runs the storms with `n` leaves and reports their figures.
///
/// # Errors
///
/// When the tree does not come up, or a storm does not end, within two minutes.
pub async fn measure(n: usize) -> anyhow::Result<Vec<Metric>> {
    let storm = Arc::new(Storm {
        die: watch::channel(0).0,
        entries: AtomicUsize::new(0),
        target: AtomicUsize::new(n),
        reached: Mutex::new(None),
        done: AtomicBool::new(false),
        notify: Notify::new(),
    });
    let parent = StormParent {
        leaves: n,
        leaf: Arc::new(Leaf {
            storm: storm.clone(),
        }),
    };
    let mut scenario = Scenario::start_beside(Some(Arc::new(parent))).await?;
    storm.reached().await?;
    let name = format!("storm_n{n}");
    let mut metrics = Vec::new();

    // The storm alone, with the probe.
    settled(scenario.supervisor()).await?;
    storm.arm(n);
    let t0 = Instant::now();
    storm.die.send_modify(|g| *g += 1);
    let mut probes: Vec<Restart> = Vec::new();
    loop {
        probes.push(scenario.kill_b().await?);
        if storm.done.load(Ordering::Acquire) {
            break;
        }
    }
    let wall = storm.reached().await?.saturating_duration_since(t0);
    metrics.push(Metric::ms(format!("{name}_wall"), wall));
    for (who, samples) in [
        ("a", probes.iter().map(|r| r.a).collect::<Vec<_>>()),
        ("b", probes.iter().map(|r| r.b).collect()),
    ] {
        for (p, label) in [(0.50, "p50"), (0.99, "p99")] {
            let value = percentile(&samples, p).unwrap_or_default();
            metrics.push(Metric::ms(format!("{name}_probe_{who}_{label}"), value));
        }
    }
    metrics.push(Metric::new(
        format!("{name}_probe_samples"),
        probes.len() as f64,
        "count",
    ));

    // With readers of the event stream.
    for readers in [1usize, 10] {
        let (rate, lagged) = storm_with_readers(&scenario, &storm, n, readers).await?;
        metrics.push(Metric::new(
            format!("{name}_events_{readers}"),
            rate,
            "per_s",
        ));
        metrics.push(Metric::new(
            format!("{name}_lagged_{readers}"),
            lagged,
            "count",
        ));
    }

    // With a reader that never reads.
    settled(scenario.supervisor()).await?;
    let stalled = scenario.supervisor().events();
    let rss0 = rss_bytes()?;
    storm.arm(n);
    storm.die.send_modify(|g| *g += 1);
    storm.reached().await?;
    let growth = rss_bytes()?.saturating_sub(rss0);
    drop(stalled);
    metrics.push(Metric::new(
        format!("{name}_stalled_rss_growth"),
        growth as f64,
        "bytes",
    ));

    scenario.shutdown().await?;
    Ok(metrics)
}

/// Waits until the supervisor has taken in every node's start: no node New, Dead or
/// Canceled in its counts. The leaves are entered before their signals reach the processor,
/// and on the current-thread runtime a storm armed at that moment would find the processor
/// still working through the start-up's ten thousand `AddChildren` messages, which wait in the
/// same parent's queue as the unrelated group's news: the probe would measure the start-up.
async fn settled(sup: &arbor::Supervisor) -> anyhow::Result<()> {
    let wait = async {
        loop {
            // An answer comes after every message sent before the question.
            let counts = sup.counts().await;
            if counts.new + counts.dead + counts.canceled == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(LIMIT, wait)
        .await
        .map_err(|_| anyhow::anyhow!("the tree did not settle within {LIMIT:?}"))
}

/// A storm with `readers` subscribers, each counting the transitions it gets: their mean
/// rate over the storm (per second, per reader) and the mean number each missed.
async fn storm_with_readers(
    scenario: &Scenario,
    storm: &Arc<Storm>,
    n: usize,
    readers: usize,
) -> anyhow::Result<(f64, f64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    settled(scenario.supervisor()).await?;
    let nodes = scenario.supervisor().counts().await.nodes;
    let ready = Arc::new(AtomicUsize::new(0));
    for _ in 0..readers {
        let events = scenario.supervisor().events();
        let (stop, ready) = (stop.clone(), ready.clone());
        tasks.push(tokio::spawn(read(events, nodes, ready, stop)));
    }
    // Each reader has taken its first snapshot before the storm begins.
    while ready.load(Ordering::Acquire) < readers {
        tokio::task::yield_now().await;
    }
    storm.arm(n);
    let t0 = Instant::now();
    storm.die.send_modify(|g| *g += 1);
    let wall = storm.reached().await?.saturating_duration_since(t0);
    stop.store(true, Ordering::Release);
    let (mut transitions, mut lagged) = (0u64, 0u64);
    for task in tasks {
        let (t, l) = task.await?;
        transitions += t;
        lagged += l;
    }
    let per_reader = readers as f64;
    let rate = transitions as f64 / per_reader / wall.as_secs_f64().max(1e-9);
    Ok((rate, lagged as f64 / per_reader))
}

/// Reads `events` until told to stop: the transitions seen after the first snapshot of `nodes`
/// nodes (snapshot events, which have no `from`, are not counted), and how many it missed.
async fn read(
    mut events: EventStream,
    nodes: usize,
    ready: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> (u64, u64) {
    let mut snapshot = 0usize;
    while snapshot < nodes {
        match events.next().await {
            Some(_) => snapshot += 1,
            None => return (0, 0),
        }
    }
    ready.fetch_add(1, Ordering::AcqRel);
    let mut transitions = 0u64;
    loop {
        // Whatever is already in the buffer when told to stop still counts; then it ends.
        let next = tokio::time::timeout(Duration::from_millis(50), events.next()).await;
        match next {
            Ok(Some(event)) if event.from.is_some() => transitions += 1,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) if stop.load(Ordering::Acquire) => break,
            Err(_) => {}
        }
    }
    (transitions, events.lagged())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_storm_restarts_every_leaf_and_counts_its_transitions() {
        let metrics = measure(50).await.unwrap();
        let get = |name: &str| {
            metrics
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{name} in {metrics:?}"))
                .value
        };
        assert!(get("storm_n50_wall") > 0.0);
        assert!(get("storm_n50_probe_samples") >= 1.0);
        // Each leaf goes Healthy -> Dead -> New -> Healthy: three transitions at least.
        assert!(get("storm_n50_events_1") > 0.0);
        assert!(get("storm_n50_events_10") > 0.0);
    }
}
