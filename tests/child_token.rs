//! `Context::child_token`: a real `CancellationToken` that is cancelled with its run, whether
//! it was taken before the run was told to stop, after, or at the same moment.

use std::sync::{Arc, Mutex};

use arbor::{Context, NodeState, Signal};
use arbor_test_kit::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn a_token_taken_before_the_stop_is_cancelled_with_the_run_and_one_taken_after_is_born_cancelled(
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(&str, bool)>();
    let sup = supervisor(move |ctx: Context| {
        let tx = tx.clone();
        async move {
            let early = ctx.child_token();
            let _ = tx.send(("early, before the stop", early.is_cancelled()));
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            let _ = tx.send(("early, after the stop", early.is_cancelled()));
            let _ = tx.send(("late", ctx.child_token().is_cancelled()));
            Ok(())
        }
    });
    sup.watch("root")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    sup.shutdown().await.into_result().unwrap();
    let mut seen = Vec::new();
    while let Ok(item) = rx.try_recv() {
        seen.push(item);
    }
    assert_eq!(
        seen,
        [
            ("early, before the stop", false),
            ("early, after the stop", true),
            ("late", true)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_first_token_taken_after_the_stop_is_born_cancelled() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    let sup = supervisor(move |ctx: Context| {
        let tx = tx.clone();
        async move {
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            // No token was made before: this one is made after the cancel went by.
            let _ = tx.send(ctx.child_token().is_cancelled());
            Ok(())
        }
    });
    sup.watch("root")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    sup.shutdown().await.into_result().unwrap();
    assert_eq!(rx.try_recv(), Ok(true));
}

/// Tokens taken on another thread while the processor cancels the run: the flag and the
/// token's mark are crossed (see `cancel.rs`), so however the two interleave, every token
/// taken by the run is cancelled once the run has been told to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_taken_while_the_run_is_cancelled_are_all_cancelled() {
    const ROUNDS: u32 = 200;
    type Taken = Arc<Mutex<Vec<CancellationToken>>>;
    // Each run hands the test its own list: the next run may start before the test looks.
    let (runs_tx, mut runs) = tokio::sync::mpsc::unbounded_channel::<Taken>();
    let sup = supervisor(move |ctx: Context| {
        let runs_tx = runs_tx.clone();
        async move {
            ctx.run("c", move |ctx: Context| {
                let tokens: Taken = Arc::default();
                let _ = runs_tx.send(tokens.clone());
                async move {
                    ctx.signal(Signal::Healthy)?;
                    // Keeps taking tokens, on a worker of its own, until told to stop.
                    let taker = tokio::spawn({
                        let ctx = ctx.clone();
                        async move {
                            while !ctx.is_cancelled() {
                                tokens.lock().unwrap().push(ctx.child_token());
                                tokio::task::yield_now().await;
                            }
                            tokens.lock().unwrap().push(ctx.child_token());
                        }
                    });
                    ctx.cancelled().await;
                    let _ = taker.await;
                    Ok(())
                }
            })?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    for run in 0..ROUNDS {
        let taken = runs.recv().await.expect("each run sends its list");
        let mut watch = sup.watch("root.c");
        watch
            .until(|e| e.to == NodeState::Healthy && e.run == run && !e.removed)
            .await
            .unwrap();
        sup.restart_node("root.c").await.unwrap();
        watch
            .until(|e| e.to == NodeState::Canceled && e.run == run)
            .await
            .unwrap();
        let tokens = taken.lock().unwrap();
        assert!(!tokens.is_empty(), "run {run} took tokens");
        let live = tokens.iter().filter(|t| !t.is_cancelled()).count();
        assert_eq!(
            live,
            0,
            "run {run}: {live} of {} tokens not cancelled",
            tokens.len()
        );
    }
    sup.shutdown().await.into_result().unwrap();
}
