//! Micro-benchmarks of arbor's hot paths, through the public API only.
//!
//! Run with `cargo bench -p arbor-bench` (a few minutes in all).
//!
//! - `start`: a new supervisor until its whole tree is Healthy: a root with one group of two
//!   leaves, and a 2,047-node binary tree (per-node cost of spawning).
//! - `healthy_event`: from a runnable's `signal(Healthy)` to a subscriber receiving the event:
//!   the round trip of a signal through the processor.
//! - `status`: a `status()` round trip on a 3-node tree (the processor's message latency).
//! - `restart_leaf_group`: the group {a, b} beside a healthy subtree of 0, 1,023 or 32,767
//!   nodes; b dies, and the time until a is entered again. The GC looks only at what stopped,
//!   so the figure should not grow with the subtree.
//! - `shutdown`: `shutdown()` of a Healthy binary tree of 2,047 or 32,767 nodes, until every
//!   runnable has returned.
//!
//! Memory per node, and the anchors' figures on both runtimes, come from the `anchors` bench
//! beside this one (the harness in a quick configuration).
#![allow(clippy::disallowed_methods, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor::{Context, Event, Group, NodeState, RunFuture, Runnable, Signal, Supervisor};
use arbor_bench::restart::{tiny_backoff, Scenario};
use arbor_bench::tree::BinaryTree;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(30);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime for the benchmarks")
}

/// Time spent in `iters` cycles of a tree of `depth`: started to all-Healthy, then shut down.
struct Cycles {
    start: Duration,
    shutdown: Duration,
}

fn tree_cycles(rt: &Runtime, depth: u32, iters: u64) -> Cycles {
    rt.block_on(async {
        let mut cycles = Cycles {
            start: Duration::ZERO,
            shutdown: Duration::ZERO,
        };
        for _ in 0..iters {
            let tree = BinaryTree::new(depth);
            let t0 = Instant::now();
            let sup = Supervisor::new(tree.root());
            tree.all_healthy(LIMIT).await.expect("tree healthy");
            cycles.start += t0.elapsed();
            sup.counts().await; // the processor has caught up before the shutdown is timed
            let t1 = Instant::now();
            sup.shutdown().await.into_result().expect("clean shutdown");
            cycles.shutdown += t1.elapsed();
        }
        cycles
    })
}

fn start(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("start");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    for depth in [1u32, 10] {
        let id = BenchmarkId::new("binary_tree_nodes", arbor_bench::tree::nodes(depth));
        group.bench_function(id, |bench| {
            bench.iter_custom(|iters| tree_cycles(&rt, depth, iters).start);
        });
    }
    group.finish();
}

/// A leaf that takes the time just before it signals Healthy, then dies on command.
struct Timed {
    signalled: mpsc::UnboundedSender<Instant>,
    kill: Arc<tokio::sync::Notify>,
}

impl Runnable for Timed {
    fn run(&self, ctx: Context) -> RunFuture {
        let (signalled, kill) = (self.signalled.clone(), self.kill.clone());
        Box::pin(async move {
            let _ = signalled.send(Instant::now());
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = kill.notified() => anyhow::bail!("killed on command"),
            }
        })
    }
}

/// Waits for the leaf's next Healthy event; the snapshot counts only if `snapshot_ok`.
async fn leaf_healthy(events: &mut arbor::EventStream, snapshot_ok: bool) {
    loop {
        let e: Event = tokio::time::timeout(LIMIT, events.next())
            .await
            .expect("an event in time")
            .expect("events open");
        if e.dn == "root.leaf" && e.to == NodeState::Healthy && (snapshot_ok || e.from.is_some()) {
            return;
        }
    }
}

fn healthy_event(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("roundtrip");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("healthy_event", |bench| {
        bench.iter_custom(|iters| {
            rt.block_on(async {
                let (tx, mut signalled) = mpsc::unbounded_channel();
                let kill = Arc::new(tokio::sync::Notify::new());
                let leaf: Arc<dyn Runnable> = Arc::new(Timed {
                    signalled: tx,
                    kill: kill.clone(),
                });
                let sup = Supervisor::builder()
                    .backoff(tiny_backoff())
                    .spawn(move |ctx: Context| {
                        let leaf = leaf.clone();
                        async move {
                            ctx.run_group(Group::new().add_shared("leaf", leaf))?;
                            ctx.signal(Signal::Healthy)?;
                            ctx.cancelled().await;
                            Ok(())
                        }
                    })
                    .expect("supervisor");
                let mut events = sup.events();
                // The first run may be Healthy before the subscription: its snapshot counts.
                signalled.recv().await.expect("leaf started");
                leaf_healthy(&mut events, true).await;
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    kill.notify_one();
                    let at = tokio::time::timeout(LIMIT, signalled.recv())
                        .await
                        .expect("leaf restarted in time")
                        .expect("leaf alive");
                    leaf_healthy(&mut events, false).await;
                    total += at.elapsed();
                }
                sup.shutdown().await.into_result().expect("clean shutdown");
                total
            })
        });
    });
    group.bench_function("status_3_nodes", |bench| {
        let (sup, tree) = rt.block_on(async {
            let tree = BinaryTree::new(1);
            let sup = Supervisor::new(tree.root());
            tree.all_healthy(LIMIT).await.expect("tree healthy");
            (sup, tree)
        });
        bench.iter(|| rt.block_on(sup.status()));
        rt.block_on(sup.shutdown())
            .into_result()
            .expect("clean shutdown");
        drop(tree);
    });
    group.finish();
}

fn restart_leaf_group(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("restart_leaf_group");
    // Each iteration also waits out b's restart (tokio's 1 ms timer tick): fewer samples.
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    for big in [None, Some(9u32), Some(14)] {
        let beside = big.map_or(0, arbor_bench::tree::nodes);
        let mut scenario = rt
            .block_on(async { tokio::spawn(Scenario::start(big)).await })
            .expect("scenario task")
            .expect("scenario up");
        group.bench_function(BenchmarkId::new("beside_nodes", beside), |bench| {
            bench.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += scenario.kill_b().await.expect("restarted").a;
                    }
                    total
                })
            });
        });
        rt.block_on(scenario.shutdown()).expect("clean shutdown");
    }
    group.finish();
}

fn shutdown(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("shutdown");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    for depth in [10u32, 14] {
        let id = BenchmarkId::new("binary_tree_nodes", arbor_bench::tree::nodes(depth));
        group.bench_function(id, |bench| {
            bench.iter_custom(|iters| tree_cycles(&rt, depth, iters).shutdown);
        });
    }
    group.finish();
}

criterion_group!(benches, start, healthy_event, restart_leaf_group, shutdown);
criterion_main!(benches);
