//! Restart limits (OTP's intensity and period) and their escalation up the tree.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, Error, Event, Group, NodeState, RestartLimit, Runnable, Signal};
use arbor_test_kit::*;

/// A leaf that fails the first `failures` times it runs (before Healthy), then serves.
fn failing(failures: usize) -> impl Runnable {
    let runs = Arc::new(AtomicUsize::new(0));
    move |ctx: Context| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        async move {
            if run < failures {
                anyhow::bail!("failure {}", run + 1);
            }
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    }
}

/// A node that sets `limit` (if any), starts `child` as `name` (in a group with `group_limit`,
/// if any), and serves.
fn parent(
    limit: Option<RestartLimit>,
    group_limit: Option<RestartLimit>,
    name: &'static str,
    child: Arc<dyn Runnable>,
) -> impl Runnable {
    move |ctx: Context| {
        let child = child.clone();
        async move {
            if let Some(limit) = limit {
                ctx.limit_restarts(limit)?;
            }
            let mut group = Group::new().add_shared(name, child);
            if let Some(limit) = group_limit {
                group = group.restart_limit(limit);
            }
            ctx.run_group(group)?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    }
}

fn dead(dn: &'static str) -> impl Fn(&Event) -> bool + Send + Sync + 'static {
    entered(dn, NodeState::Dead)
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn one_failure_too_many_within_the_period_escalates_once() {
    // Two restarts within a minute are tolerated; the third failure's restart is one too many.
    let tracker = Tracker::new();
    let worker: Arc<dyn Runnable> = Arc::new(tracker.track(failing(3)));
    let sup = supervisor(root_with(move || {
        Group::new().add(
            "pool",
            parent(
                Some(RestartLimit::new(2, MINUTE)),
                None,
                "worker",
                worker.clone(),
            ),
        )
    }));
    let mut events = sup.events();
    let seen = record(&mut events, |seen| {
        seen.iter()
            .any(|e| e.dn == "root.pool.worker" && e.to == NodeState::Healthy)
    })
    .await;
    let pool_deaths: Vec<&Event> = seen.iter().filter(|e| dead("root.pool")(e)).collect();
    assert_eq!(pool_deaths.len(), 1, "escalated exactly once: {seen:#?}");
    let error = pool_deaths[0].error.as_deref().unwrap();
    assert!(
        error.contains("root.pool.worker restarted 3 times within 60s (at most 2)"),
        "{error}"
    );
    // The parent's own backoff applies to it: its first death waits the initial 500 ms.
    let pool_back = expect_in(&seen, restarted("root.pool"));
    assert_eq!(pool_back.delay, Some(ms(500)));
    // Its new run starts with a fresh count and a new worker, which now serves.
    let status = until_status(&sup, &mut events, all_healthy).await;
    assert_eq!(status.get("root.pool").unwrap().restarts, 1);
    assert_eq!(
        tracker.entries("root.pool.worker"),
        4,
        "three failures and the run that serves: the restart one too many never ran"
    );
    sup.shutdown().await.into_result().unwrap();
    tracker.assert_never_two_at_once();
}

/// The first event in `seen` that `want` accepts.
fn expect_in(seen: &[Event], want: impl Fn(&Event) -> bool) -> &Event {
    seen.iter().find(|e| want(e)).expect("no such event")
}

#[tokio::test(start_paused = true)]
async fn failures_spaced_wider_than_the_period_never_escalate() {
    // The backoff spaces the worker's restarts by at least 500 ms; the limit counts within
    // 100 ms.
    let limit = RestartLimit::new(1, ms(100));
    let sup = supervisor(root_with(move || {
        Group::new().add(
            "pool",
            parent(Some(limit), None, "worker", Arc::new(failing(6))),
        )
    }));
    let mut events = sup.events();
    let seen = record(&mut events, |seen| {
        seen.iter()
            .any(|e| e.dn == "root.pool.worker" && e.to == NodeState::Healthy)
    })
    .await;
    assert_eq!(
        seen.iter().filter(|e| dead("root.pool.worker")(e)).count(),
        6
    );
    assert!(!seen.iter().any(|e| dead("root.pool")(e)), "{seen:#?}");
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_group_limit_counts_its_members_instead_of_the_parent() {
    // The parent tolerates no restart at all, its group two: the group's count applies.
    let sup = supervisor(root_with(|| {
        Group::new().add(
            "pool",
            parent(
                Some(RestartLimit::new(0, MINUTE)),
                Some(RestartLimit::new(2, MINUTE)),
                "worker",
                Arc::new(failing(3)),
            ),
        )
    }));
    let mut events = sup.events();
    let seen = record(&mut events, |seen| {
        seen.iter()
            .any(|e| e.dn == "root.pool.worker" && e.to == NodeState::Healthy)
    })
    .await;
    let deaths: Vec<&Event> = seen.iter().filter(|e| dead("root.pool")(e)).collect();
    assert_eq!(deaths.len(), 1, "{seen:#?}");
    assert!(deaths[0]
        .error
        .as_deref()
        .unwrap()
        .contains("restarted 3 times"));
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn nested_limits_escalate_level_by_level_up_to_the_root() {
    // root, a and b each tolerate one restart of their children per minute; c always fails.
    let one = Some(RestartLimit::new(1, MINUTE));
    let c: Arc<dyn Runnable> = Arc::new(failing(usize::MAX));
    let b: Arc<dyn Runnable> = Arc::new(parent(one, None, "c", c));
    let a: Arc<dyn Runnable> = Arc::new(parent(one, None, "b", b));
    let sup = supervisor(parent(one, None, "a", a));
    let mut events = sup.events();
    let seen = record(&mut events, |seen| seen.iter().any(|e| dead("root")(e))).await;

    let escalations: Vec<String> = seen
        .iter()
        .filter(|e| e.to == NodeState::Dead && e.dn != "root.a.b.c")
        .map(|e| {
            let error = e.error.as_deref().unwrap();
            assert!(error.starts_with("restart limit exceeded: "), "{error}");
            format!(
                "{} gave up on {}",
                e.dn,
                error.split_whitespace().nth(3).unwrap()
            )
        })
        .collect();
    // Each level gives up on the second failure of its child within the minute.
    assert_eq!(
        escalations,
        [
            "root.a.b gave up on root.a.b.c",
            "root.a.b gave up on root.a.b.c",
            "root.a gave up on root.a.b",
            "root.a.b gave up on root.a.b.c",
            "root.a.b gave up on root.a.b.c",
            "root.a gave up on root.a.b",
            "root gave up on root.a",
        ]
    );
    // The root has no parent to give up: it restarts after its backoff.
    expect(&mut events, restarted("root")).await;
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_limit_is_set_while_new_with_a_period() {
    let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
    let sup = supervisor(move |ctx: Context| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.limit_restarts(RestartLimit::new(1, Duration::ZERO)));
            let _ = tx.send(
                ctx.run_group(
                    Group::new()
                        .add("x", failing(0))
                        .restart_limit(RestartLimit::new(1, Duration::ZERO)),
                ),
            );
            ctx.signal(Signal::Healthy)?;
            let _ = tx.send(ctx.limit_restarts(RestartLimit::new(1, MINUTE)));
            ctx.cancelled().await;
            Ok(())
        }
    });
    for _ in 0..2 {
        assert!(matches!(
            results.recv().await.unwrap(),
            Err(Error::InvalidConfig { reason }) if reason.contains("period")
        ));
    }
    assert!(matches!(
        results.recv().await.unwrap(),
        Err(Error::NotNew {
            state: NodeState::Healthy,
            ..
        })
    ));
    assert_eq!(
        sup.status().await.node_count(),
        1,
        "the refused group started nothing"
    );
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_limit_that_waits_holds_the_restart_instead_of_giving_up() {
    let limit = RestartLimit::new(2, MINUTE).or_wait();
    let sup = supervisor(parent(Some(limit), None, "flaky", Arc::new(failing(5))));
    let mut events = sup.events();
    let (mut entered_at, mut seen) = (Vec::new(), Vec::new());
    loop {
        let event = tokio::time::timeout(DEADLINE * 10, events.next())
            .await
            .expect("flaky becomes Healthy")
            .unwrap();
        let flaky = event.dn == "root.flaky";
        if flaky && event.to == NodeState::New {
            entered_at.push(tokio::time::Instant::now());
        }
        let healthy = flaky && event.to == NodeState::Healthy;
        seen.push(event);
        if healthy {
            break;
        }
    }
    assert!(
        !seen
            .iter()
            .any(|e| e.dn == "root" && e.to == NodeState::Dead),
        "the parent never gives up: {seen:#?}"
    );
    // Runs 0, 1 and 2 within the backoff; run 3 waits until run 1's restart leaves the minute,
    // run 5 until run 3's does.
    assert_eq!(entered_at.len(), 6, "{seen:#?}");
    assert!(entered_at[3] - entered_at[1] >= MINUTE);
    assert!(entered_at[2] - entered_at[1] < MINUTE);
    assert!(entered_at[5] - entered_at[3] >= MINUTE);
    shutdown(&sup).await;
}

#[tokio::test(start_paused = true)]
async fn a_limit_that_waits_must_allow_a_restart() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = parking_lot::Mutex::new(Some(tx));
    let sup = supervisor(move |ctx: Context| {
        let tx = tx.lock().take();
        async move {
            let group = Group::new()
                .add("child", failing(0))
                .restart_limit(RestartLimit::new(0, MINUTE).or_wait());
            if let Some(tx) = tx {
                let _ = tx.send(ctx.run_group(group));
            }
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    let err = rx.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    assert!(err.to_string().contains("at least one restart"), "{err}");
    shutdown(&sup).await;
}
