//! `Context::defer_children_stop`: a run that stops its children itself, in its own order,
//! and may start cleanup children while it winds down.

use std::sync::Arc;

use arbor::{Child, Context, Group, NodeState, RestartLimit, Signal, StopTimeout};
use arbor_test_kit::*;
use parking_lot::Mutex;

type Log = Arc<Mutex<Vec<String>>>;

/// A child that serves until told to stop, and notes when it is.
fn server(log: &Log) -> impl arbor::Runnable {
    let log = log.clone();
    move |ctx: Context| {
        let log = log.clone();
        async move {
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            log.lock().push(format!("{} told", ctx.dn().name()));
            Ok(())
        }
    }
}

/// A parent that, once told to stop, stops `b` then `a`, then runs a `cleanup` child to its
/// end, then returns.
fn winding_down(log: &Log) -> impl arbor::Runnable {
    let log = log.clone();
    move |ctx: Context| {
        let log = log.clone();
        async move {
            ctx.defer_children_stop()?;
            ctx.allow_late_children()?;
            ctx.run("a", server(&log))?;
            ctx.run("b", server(&log))?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            log.lock().push("parent told".into());
            for name in ["b", "a"] {
                let mut stopped = ctx.watch_child(name);
                ctx.stop_child(name).await?;
                stopped.until_state(NodeState::Stopped).await?;
                log.lock().push(format!("{name} stopped"));
            }
            let cleanup_log = log.clone();
            ctx.run_child(
                Child::new("cleanup", move |cctx: Context| {
                    let log = cleanup_log.clone();
                    async move {
                        let told = cctx.is_cancelled();
                        log.lock()
                            .push(format!("cleanup ran, told to stop: {told}"));
                        Ok(())
                    }
                })
                .restart(arbor::Restart::Transient),
            )?;
            ctx.watch_child("cleanup")
                .until_state(NodeState::Done)
                .await?;
            log.lock().push("parent returns".into());
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn on_shutdown_the_run_stops_its_children_in_its_own_order_and_cleanup_runs() {
    let log = Log::default();
    let h = Harness::new({
        let log = log.clone();
        root_with(move || Group::new().add("group", winding_down(&log)))
    });
    h.until_state("root.group.a", NodeState::Healthy).await;
    h.until_state("root.group.b", NodeState::Healthy).await;
    assert_clean(h.shutdown().await);
    assert_eq!(
        *log.lock(),
        [
            "parent told",
            "b told",
            "b stopped",
            "a told",
            "a stopped",
            "cleanup ran, told to stop: false",
            "parent returns",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn children_the_run_left_running_are_told_once_it_returns() {
    let log = Log::default();
    let parent_log = log.clone();
    let h = Harness::new(move |ctx: Context| {
        let log = parent_log.clone();
        async move {
            ctx.defer_children_stop()?;
            ctx.run("a", server(&log))?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            log.lock().push("root told".into());
            Ok(())
        }
    });
    h.until_state("root.a", NodeState::Healthy).await;
    assert_clean(h.shutdown().await);
    assert_eq!(*log.lock(), ["root told", "a told"]);
}

#[tokio::test(start_paused = true)]
async fn a_child_that_exceeds_the_limit_tells_only_the_run_which_stops_the_others() {
    let log = Log::default();
    let parent_log = log.clone();
    let h = Harness::new(root_with(move || {
        let log = parent_log.clone();
        Group::new().add("group", move |ctx: Context| {
            let log = log.clone();
            async move {
                ctx.defer_children_stop()?;
                ctx.limit_restarts(RestartLimit::new(0, ms(1_000)))?;
                ctx.run("steady", server(&log))?;
                ctx.run(
                    "flaky",
                    |_ctx: Context| async move { anyhow::bail!("broken") },
                )?;
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                // Told to stop by its own limit: its steady child still runs until stopped here.
                let steady = ctx
                    .watch_child("steady")
                    .within(ms(1))
                    .until_state(NodeState::Healthy)
                    .await;
                log.lock()
                    .push(format!("steady still healthy: {}", steady.is_ok()));
                ctx.stop_child("steady").await?;
                ctx.watch_child("steady")
                    .until_state(NodeState::Stopped)
                    .await?;
                log.lock().push("parent returns".into());
                Ok(())
            }
        })
    }));
    let died = h.until_state("root.group", NodeState::Dead).await;
    assert!(
        died.error.as_deref().unwrap().contains("restart limit"),
        "{died:?}"
    );
    h.until("root.group", "its next run", |e| {
        e.to == NodeState::New && e.run == 1
    })
    .await;
    assert_eq!(
        log.lock()[..3],
        [
            "steady still healthy: true",
            "steady told",
            "parent returns"
        ]
    );
    assert_clean(h.shutdown().await);
}

#[tokio::test(start_paused = true)]
async fn a_stuck_child_is_still_aborted_after_its_stop_timeout() {
    let sup = supervisor(move |ctx: Context| async move {
        ctx.defer_children_stop()?;
        ctx.run_child(
            Child::new("stuck", |ctx: Context| async move {
                ctx.signal(Signal::Healthy)?;
                std::future::pending::<()>().await;
                Ok(())
            })
            .stop_timeout(StopTimeout::After(ms(50))),
        )?;
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        ctx.stop_child("stuck").await?;
        ctx.watch_child("stuck")
            .until_state(NodeState::Stopped)
            .await?;
        Ok(())
    });
    sup.watch("root.stuck")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    let report = sup.shutdown().await;
    let stuck: Vec<String> = report.stuck.iter().map(ToString::to_string).collect();
    assert_eq!(
        stuck,
        ["root.stuck"],
        "aborted after its own timeout, and reported"
    );
}
