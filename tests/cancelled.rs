//! `Context::cancelled`: every future waiting for a run's stop is woken by it, however many
//! wait, from whichever thread, and however their waits interleave with the cancel.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, NodeState, Signal};
use arbor_test_kit::*;

/// How long a round may take to see all its waiters end once the run is told to stop: far
/// beyond what it needs, so that only a lost wake-up (a waiter that never ends) fails it.
const DEADLINE: Duration = Duration::from_secs(30);

/// Waiters of three kinds on another worker while the processor cancels the run: some wait
/// from before the stop, some keep making and dropping waits (a `select!` in a loop), some
/// begin just as the stop arrives. Each reports when its wait ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_waiter_wakes_however_its_wait_meets_the_cancel() {
    const ROUNDS: u32 = 1000;
    const STEADY: usize = 4;
    const CHURNING: usize = 4;
    const WAITERS: usize = STEADY + CHURNING + 1;
    let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let runs = Arc::new(AtomicU32::new(0));
    let sup = supervisor(move |ctx: Context| {
        let (ended_tx, runs) = (ended_tx.clone(), runs.clone());
        async move {
            ctx.run("c", move |ctx: Context| {
                let ended_tx = ended_tx.clone();
                // The node's runs are numbered from 0, as its events number them.
                let run = runs.fetch_add(1, Ordering::SeqCst);
                async move {
                    let wait = |ctx: Context, churn: bool| {
                        let ended_tx = ended_tx.clone();
                        tokio::spawn(async move {
                            if churn {
                                loop {
                                    tokio::select! {
                                        biased;
                                        () = ctx.cancelled() => break,
                                        () = tokio::task::yield_now() => {}
                                    }
                                }
                            } else {
                                ctx.cancelled().await;
                            }
                            let _ = ended_tx.send(run);
                        })
                    };
                    for i in 0..STEADY + CHURNING {
                        wait(ctx.clone(), i >= STEADY);
                    }
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                    // A wait that begins after the stop ends at once.
                    wait(ctx.clone(), false);
                    Ok(())
                }
            })?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    for run in 0..ROUNDS {
        let mut watch = sup.watch("root.c");
        watch
            .until(|e| e.to == NodeState::Healthy && e.run == run && !e.removed)
            .await
            .unwrap();
        sup.restart_node("root.c").await.unwrap();
        for n in 0..WAITERS {
            let got = tokio::time::timeout(DEADLINE, ended.recv())
                .await
                .unwrap_or_else(|_| panic!("run {run}: only {n} of {WAITERS} waiters woke"));
            assert_eq!(
                got,
                Some(run),
                "the waiters of run {run} end before the next"
            );
        }
    }
    sup.shutdown().await.into_result().unwrap();
}

/// A wait dropped before the stop gives its place up: the others, before and after it in the
/// run's list of waiters, are still woken, and a new wait may take the freed place.
#[tokio::test(start_paused = true)]
async fn a_dropped_wait_leaves_the_others_woken() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&str>();
    let sup = supervisor(move |ctx: Context| {
        let tx = tx.clone();
        async move {
            let waiter = |name: &'static str| {
                let (ctx, tx) = (ctx.clone(), tx.clone());
                tokio::spawn(async move {
                    ctx.cancelled().await;
                    let _ = tx.send(name);
                })
            };
            let first = waiter("first");
            let dropped = waiter("dropped");
            let last = waiter("last");
            tokio::task::yield_now().await; // all three wait now
            dropped.abort();
            let _ = dropped.await;
            let again = waiter("again");
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            for task in [first, last, again] {
                task.await?;
            }
            Ok(())
        }
    });
    sup.watch("root")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    sup.shutdown().await.into_result().unwrap();
    let mut woken = Vec::new();
    while let Ok(name) = rx.try_recv() {
        woken.push(name);
    }
    woken.sort();
    assert_eq!(woken, ["again", "first", "last"]);
}

/// A wait made before the stop completes after it, whether or not it was polled before: the run
/// below only returns (and the shutdown only ends cleanly) once both have.
#[tokio::test(start_paused = true)]
async fn a_wait_made_before_the_stop_completes_after_it_polled_or_not() {
    let sup = supervisor(|ctx: Context| async move {
        let mut polled = std::pin::pin!(ctx.cancelled());
        let pending = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(polled.as_mut().poll(cx).is_pending())
        })
        .await;
        assert!(pending, "pending while not cancelled");
        let unpolled = ctx.cancelled(); // made, never polled, before the stop
        ctx.signal(Signal::Healthy)?;
        polled.await;
        unpolled.await;
        Ok(())
    });
    sup.watch("root")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    sup.shutdown().await.into_result().unwrap();
}
