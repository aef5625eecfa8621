//! User code that misbehaves where the supervisor itself calls it (an error's `Display` and
//! `Drop`, a finished future's `Drop`, a runnable's `Drop`), and handles used in ways that
//! once hung or panicked: the processor survives, the node's run is a death, every handle call
//! gets an answer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use arbor::{Backoff, Context, Group, NodeState, RunFuture, Runnable, Signal, Supervisor};
use arbor_test_kit::*;

/// An error whose `Display` panics or fails, and whose `Drop` may panic.
struct Nasty {
    display: Display,
    panic_on_drop: bool,
}

#[derive(Clone, Copy)]
enum Display {
    Fine,
    Panics,
    Fails,
}

impl fmt::Display for Nasty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.display {
            Display::Fine => f.write_str("nasty error"),
            Display::Panics => panic!("Display of an error panicked"),
            Display::Fails => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Nasty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nasty")
    }
}

impl std::error::Error for Nasty {}

impl Drop for Nasty {
    fn drop(&mut self) {
        if self.panic_on_drop {
            panic!("Drop of an error panicked");
        }
    }
}

/// A group {bad, peer}: bad's first run fails with `error()`, later runs serve.
fn bad_and_peer(error: fn() -> Nasty) -> impl Runnable {
    let runs = Arc::new(AtomicUsize::new(0));
    root_with(move || {
        let runs = runs.clone();
        Group::new()
            .add("bad", move |ctx: Context| {
                let first = runs.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    if first {
                        return Err(error().into());
                    }
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                    Ok(())
                }
            })
            .add("peer", |ctx: Context| async move {
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            })
    })
}

/// Runs `root`, waits for bad's death and for the group to be back, and returns bad's error.
async fn death_of_bad(root: impl Runnable) -> String {
    let sup = Supervisor::builder()
        .backoff(exact_backoff())
        .spawn(root)
        .unwrap();
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.bad", NodeState::Dead)).await;
    // The processor lives on: the group restarts, and every handle call answers.
    until_status(&sup, &mut events, |s| s.node_count() == 3 && all_healthy(s)).await;
    assert_eq!(sup.counts().await.healthy, 3);
    sup.shutdown().await.into_result().unwrap();
    dead.error.unwrap().to_string()
}

#[tokio::test(start_paused = true)]
async fn an_error_whose_display_panics_is_described_and_the_tree_goes_on() {
    let error = death_of_bad(bad_and_peer(|| Nasty {
        display: Display::Panics,
        panic_on_drop: false,
    }))
    .await;
    assert!(error.contains("Display panicked"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn an_error_whose_display_fails_is_described_and_the_tree_goes_on() {
    let error = death_of_bad(bad_and_peer(|| Nasty {
        display: Display::Fails,
        panic_on_drop: false,
    }))
    .await;
    assert!(error.contains("Display failed"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn an_error_whose_drop_panics_is_a_death_and_the_tree_goes_on() {
    let error = death_of_bad(bad_and_peer(|| Nasty {
        display: Display::Fine,
        panic_on_drop: true,
    }))
    .await;
    assert!(
        error.contains("Drop of an error panicked") && error.contains("nasty error"),
        "{error}"
    );
}

/// A future that returns `Ok(())` at once, and whose `Drop` panics.
struct ExplodingFuture;

impl Future for ExplodingFuture {
    type Output = anyhow::Result<()>;
    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for ExplodingFuture {
    fn drop(&mut self) {
        panic!("Drop of a future panicked");
    }
}

#[tokio::test(start_paused = true)]
async fn a_future_whose_drop_panics_is_a_death_and_the_tree_goes_on() {
    let runs = Arc::new(AtomicUsize::new(0));
    let root = root_with(move || {
        let runs = runs.clone();
        Group::new()
            .add("bad", move |ctx: Context| -> RunFuture {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Box::pin(ExplodingFuture);
                }
                Box::pin(async move {
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                    Ok(())
                })
            })
            .add("peer", |ctx: Context| async move {
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            })
    });
    let error = death_of_bad(move |ctx: Context| root.run(ctx)).await;
    assert!(error.contains("Drop of a future panicked"), "{error}");
}

/// A runnable value whose `Drop` panics, as the node that holds it is removed.
struct BombRunnable {
    drops: Arc<AtomicUsize>,
}

impl Runnable for BombRunnable {
    fn run(&self, ctx: Context) -> RunFuture {
        Box::pin(async move {
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        })
    }
}

impl Drop for BombRunnable {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        panic!("Drop of a runnable panicked");
    }
}

#[tokio::test(start_paused = true)]
async fn a_runnable_whose_drop_panics_is_removed_and_the_tree_goes_on() {
    let kills = Kills::new();
    let drops = Arc::new(AtomicUsize::new(0));
    // parent starts child (a fresh BombRunnable each run); killing parent removes the child.
    let parent = {
        let (kills, drops) = (kills.clone(), drops.clone());
        move |ctx: Context| {
            let killed = kills.killed(&ctx.dn().to_string());
            let drops = drops.clone();
            async move {
                ctx.run("child", BombRunnable { drops })?;
                ctx.signal(Signal::Healthy)?;
                tokio::select! {
                    () = ctx.cancelled() => Ok(()),
                    () = killed => anyhow::bail!("killed by the test"),
                }
            }
        }
    };
    let sup = Supervisor::builder()
        .backoff(exact_backoff())
        .spawn(root_with(move || {
            Group::new().add("parent", parent.clone())
        }))
        .unwrap();
    let (_, mut events) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
    kills.kill("root.parent");
    expect(&mut events, restarted("root.parent")).await;
    until_status(&sup, &mut events, |s| s.node_count() == 3 && all_healthy(s)).await;
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the first child was dropped"
    );
    sup.shutdown().await.into_result().unwrap();
    // The last tree goes with the handle: its runnables' drops must not panic here either.
    drop(sup);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

/// Owned by a run's future; when dropped, asks the run's context whether the run has already
/// been reported over. It must not have been: the end of a run is reported only once its
/// future, and everything the future owned, is gone, so a restart never overlaps a destructor.
struct Owned {
    ctx: Context,
    reported_before_drop: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        // Healthy, so starting a child is refused without side effects: NotNew while the run
        // is current, RunEnded once its end has been reported.
        let probe = self.ctx.run("probe", |_ctx: Context| async { Ok(()) });
        if matches!(probe, Err(arbor::Error::RunEnded { .. })) {
            self.reported_before_drop.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A future that owns `_owned` as a field, past its completion.
struct Holding {
    _owned: Owned,
    run: RunFuture,
}

impl Future for Holding {
    type Output = anyhow::Result<()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.run.as_mut().poll(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_is_dropped_before_its_end_is_reported() {
    let reported_before_drop = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let flapping = {
        let (reported_before_drop, drops) = (reported_before_drop.clone(), drops.clone());
        move |ctx: Context| {
            let owned = Owned {
                ctx: ctx.clone(),
                reported_before_drop: reported_before_drop.clone(),
                drops: drops.clone(),
            };
            let run: RunFuture = Box::pin(async move {
                ctx.signal(Signal::Healthy)?;
                anyhow::bail!("dies, owning something with a destructor")
            });
            // An async block drops its locals before it completes; a future that owns a socket
            // or a child process as a field keeps it until the future itself is dropped.
            Holding { _owned: owned, run }
        }
    };
    let sup = supervisor(root_with(move || {
        Group::new().add("flapping", flapping.clone())
    }));
    let mut events = sup.events();
    for _ in 0..3 {
        expect(&mut events, restarted("root.flapping")).await;
    }
    sup.shutdown().await.into_result().unwrap();
    assert!(drops.load(Ordering::SeqCst) >= 3);
    assert_eq!(
        reported_before_drop.load(Ordering::SeqCst),
        0,
        "a run's end was reported while its future still existed"
    );
}

fn serving_root() -> impl Runnable {
    |ctx: Context| async move {
        ctx.run("leaf", |ctx: Context| async move {
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        })?;
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        Ok(())
    }
}

#[test]
fn a_handle_whose_runtime_is_gone_still_answers() {
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let sup = first.block_on(async {
        let sup = Supervisor::new(serving_root());
        settled(&sup, |s| s.node_count() == 2 && all_healthy(s)).await;
        sup
    });
    drop(first);

    let second = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    second.block_on(async {
        let report = tokio::time::timeout(DEADLINE, sup.wait())
            .await
            .expect("wait answers once the runtime is gone");
        assert!(report.interrupted, "{report:?}");
        let status = sup.status().await;
        assert_eq!(status.node_count(), 2, "the last tree is still there");
        assert_eq!(sup.counts().await.nodes, 2);
        assert_eq!(sup.shutdown().await, report);
        assert!(
            sup.events().next().await.is_none(),
            "no events from a gone tree"
        );
    });
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_timeout_of_duration_max_waits_without_overflowing() {
    let sup = Supervisor::builder()
        .shutdown_timeout(Duration::MAX)
        .spawn(serving_root())
        .unwrap();
    settled(&sup, |s| s.node_count() == 2 && all_healthy(s)).await;
    let report = sup.shutdown().await;
    assert_eq!(report.stuck, Vec::<arbor::Dn>::new());
    report.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_backoff_of_duration_max_is_a_wait_that_shutdown_can_cancel() {
    let backoff = Backoff::default()
        .initial(Duration::MAX)
        .max_interval(Duration::MAX);
    let sup = Supervisor::builder()
        .backoff(backoff)
        .spawn(root_with(|| {
            Group::new().add("dies", |_ctx: Context| async move {
                anyhow::bail!("dies once, then waits for ever")
            })
        }))
        .unwrap();
    let mut events = sup.events();
    expect(&mut events, entered("root.dies", NodeState::Dead)).await;
    let status = sup.status().await;
    let node = status.get("root.dies").unwrap();
    assert_eq!((node.state, node.restarts), (NodeState::Dead, 0));
    let report = sup.shutdown().await;
    report.into_result().unwrap();
}

/// A `Context` is `Send`: a runnable may hand it to a plain thread, which starts children.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_started_from_a_thread_outside_the_runtime_run() {
    let sup = supervisor(|ctx: Context| async move {
        let from_thread = ctx.clone();
        let started = std::thread::spawn(move || {
            from_thread.run("from_thread", |ctx: Context| async move {
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread panicked"))?;
        started?;
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        Ok(())
    });
    let (status, _) = settled(&sup, |s| s.node_count() == 2 && all_healthy(s)).await;
    assert_eq!(
        status.get("root.from_thread").unwrap().state,
        NodeState::Healthy
    );
    sup.shutdown().await.into_result().unwrap();
}

/// An illegal signal makes a node Dead; if it then panics, that is the same death, not a second:
/// one Dead transition, one cancellation of its sibling.
#[tokio::test(start_paused = true)]
async fn a_misused_node_that_then_panics_dies_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let sup = Supervisor::builder()
        .backoff(exact_backoff())
        .spawn(root_with(move || {
            let runs = runs.clone();
            Group::new()
                .add("misuser", move |ctx: Context| {
                    let first = runs.fetch_add(1, Ordering::SeqCst) == 0;
                    async move {
                        ctx.signal(Signal::Healthy)?;
                        if first {
                            let _ = ctx.signal(Signal::Healthy);
                            tokio::task::yield_now().await;
                            panic!("and then it panicked");
                        }
                        ctx.cancelled().await;
                        Ok(())
                    }
                })
                .add("sibling", |ctx: Context| async move {
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                    Ok(())
                })
        }))
        .unwrap();
    let mut events = sup.events();
    let seen = record(&mut events, |seen| {
        seen.iter()
            .filter(|e| e.to == NodeState::Healthy && e.from.is_some() && e.dn != "root")
            .count()
            == 4
    })
    .await;
    let count = |dn: &str, to: NodeState| seen.iter().filter(|e| e.dn == dn && e.to == to).count();
    assert_eq!(count("root.misuser", NodeState::Dead), 1, "{seen:#?}");
    assert_eq!(count("root.sibling", NodeState::Canceled), 1, "{seen:#?}");
    let dead = seen
        .iter()
        .find(|e| e.dn == "root.misuser" && e.to == NodeState::Dead)
        .unwrap();
    assert!(dead.error.as_deref().unwrap().contains("not allowed"));
    sup.shutdown().await.into_result().unwrap();
}
