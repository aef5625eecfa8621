//! The test harness for users' runnables, on runnables written as a user would.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use arbor::{Context, NodeState, Runnable, Signal};
use arbor_test_kit::*;
use tracing::Level;

/// A runnable that fails its first `failures` runs, logging why, then serves.
fn flaky(failures: u32) -> impl Runnable {
    let runs = Arc::new(AtomicU32::new(0));
    move |ctx: Context| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        async move {
            if run < failures {
                tracing::warn!(run, "not ready yet");
                anyhow::bail!("not ready (run {run})");
            }
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_harness_reads_exact_backoffs_and_the_tests_own_log_lines() {
    let mut harness = Harness::new(flaky(2));
    let mut events = harness.supervisor().events();
    let up = harness.until_state("root", NodeState::Healthy).await;
    assert_eq!(up.run, 2);
    let delays: Vec<_> = record_matching(&mut events, restarted("root"), |s| s.len() == 2)
        .await
        .into_iter()
        .map(|e| e.delay.unwrap())
        .collect();
    assert_eq!(delays, [ms(500), ms(750)], "exact, on the paused clock");

    let lines = harness.logs();
    let warnings: Vec<&LogLine> = lines.iter().filter(|l| l.level == Level::WARN).collect();
    assert_eq!(warnings.len(), 2, "{lines:#?}");
    assert!(warnings.iter().all(|l| l.dn.as_deref() == Some("root")));
    assert!(lines
        .iter()
        .any(|l| l.level == Level::ERROR && l.field("error") == Some("not ready (run 1)")));
    harness.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_times_out_names_the_last_error_and_shows_the_tree() {
    let harness = Harness::new(flaky(u32::MAX));
    let timeout = harness
        .try_until("root", "Healthy", |e| e.to == NodeState::Healthy)
        .await
        .unwrap_err();
    assert_eq!(timeout.waited_for, "root: Healthy");
    assert!(
        timeout
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("not ready")),
        "{timeout}"
    );
    assert!(timeout.tree.starts_with("root "), "{timeout}");
    assert!(
        timeout.to_string().contains("its last error: not ready"),
        "{timeout}"
    );
    harness.shutdown().await;
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "did not shut down cleanly")]
async fn a_panic_in_the_runnable_fails_the_test_at_shutdown() {
    let harness = Harness::new(|_ctx: Context| async move {
        panic!("a bug in the runnable");
        #[allow(unreachable_code)]
        Ok(())
    });
    harness.supervisor().wait().await; // the panic stops the supervisor
    harness.shutdown().await;
}
