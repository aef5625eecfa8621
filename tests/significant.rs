//! Significant children (OTP's auto_shutdown): a node finishes when they end cleanly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Child, Context, NodeState, Runnable, Signal, Significant};
use arbor_test_kit::*;

/// A job that fails its first `failures` runs, then works for a while and returns Done.
fn job(failures: usize, works: Duration) -> impl Runnable {
    let runs = Arc::new(AtomicUsize::new(0));
    move |ctx: Context| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        async move {
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                () = tokio::time::sleep(works) => {}
            }
            anyhow::ensure!(run >= failures, "job failed (run {run})");
            ctx.signal(Signal::Done)?;
            Ok(())
        }
    }
}

/// A parent that finishes with `mode`, runs the significant `jobs` and a helper, and serves.
fn batch(mode: Significant, jobs: Vec<(&'static str, Arc<dyn Runnable>)>) -> impl Runnable {
    move |ctx: Context| {
        let jobs = jobs.clone();
        async move {
            ctx.finish_with(mode)?;
            for (name, job) in jobs {
                ctx.run_child(Child::shared(name, job).significant())?;
            }
            ctx.run("helper", worker(&Kills::new()))?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    }
}

fn run_batch(batch: impl Runnable) -> Harness {
    let batch: Arc<dyn Runnable> = Arc::new(batch);
    Harness::new(root_with(move || {
        arbor::Group::new().add_shared("batch", batch.clone())
    }))
}

/// Every event until the batch is Done.
async fn until_batch_done(events: &mut arbor::EventStream) -> Vec<arbor::Event> {
    let done = entered("root.batch", NodeState::Done);
    record(events, |seen| seen.iter().any(&done)).await
}

fn shared(runnable: impl Runnable) -> Arc<dyn Runnable> {
    Arc::new(runnable)
}

#[tokio::test(start_paused = true)]
async fn any_significant_child_that_ends_cleanly_finishes_its_parent() {
    let harness = run_batch(batch(
        Significant::Any,
        vec![
            ("quick", shared(job(0, Duration::from_secs(1)))),
            ("slow", shared(job(0, Duration::from_secs(100)))),
        ],
    ));
    let sup = harness.supervisor();
    let mut events = sup.events();
    let seen = until_batch_done(&mut events).await;
    let done_at = position(&seen, "batch Done", entered("root.batch", NodeState::Done));
    let quick = position(
        &seen,
        "quick Done",
        entered("root.batch.quick", NodeState::Done),
    );
    assert!(quick < done_at);
    let status = until_status(sup, &mut events, |s| {
        s.get("root.batch.slow")
            .is_some_and(|n| n.state == NodeState::Canceled)
    })
    .await;
    for dn in ["root.batch.slow", "root.batch.helper"] {
        assert_eq!(
            status.get(dn).unwrap().state,
            NodeState::Canceled,
            "{status}"
        );
    }
    harness.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn all_significant_children_must_end_and_a_failure_is_no_end() {
    let harness = run_batch(batch(
        Significant::All,
        vec![
            ("first", shared(job(0, Duration::from_secs(1)))),
            // Fails once (restarted after its backoff), then succeeds.
            ("second", shared(job(1, Duration::from_secs(2)))),
        ],
    ));
    let sup = harness.supervisor();
    let mut events = sup.events();
    let seen = until_batch_done(&mut events).await;
    let first = position(
        &seen,
        "first Done",
        entered("root.batch.first", NodeState::Done),
    );
    let failed = position(
        &seen,
        "second Dead",
        entered("root.batch.second", NodeState::Dead),
    );
    let second = position(
        &seen,
        "second Done",
        entered("root.batch.second", NodeState::Done),
    );
    let finished = position(&seen, "batch Done", entered("root.batch", NodeState::Done));
    assert!(
        first < second && failed < second && second < finished,
        "{seen:#?}"
    );
    let status = sup.status().await;
    assert_eq!(
        status.get("root.batch.helper").unwrap().state,
        NodeState::Canceled
    );
    assert_eq!(status.get("root.batch.second").unwrap().restarts, 1);
    harness.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_finish_is_asked_while_new() {
    let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
    let sup = supervisor(move |ctx: Context| {
        let tx = tx.clone();
        async move {
            ctx.signal(Signal::Healthy)?;
            let _ = tx.send(ctx.finish_with(Significant::Any));
            ctx.cancelled().await;
            Ok(())
        }
    });
    assert!(matches!(
        results.recv().await.unwrap(),
        Err(arbor::Error::NotNew {
            state: NodeState::Healthy,
            ..
        })
    ));
    sup.shutdown().await.into_result().unwrap();
}
