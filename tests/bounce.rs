//! A bounce: a run that ends asking for a new run at once, which is not a failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use arbor::{Bounce, Context, Group, NodeState, Signal};
use arbor_test_kit::*;
use tracing::Level;

/// A runnable that plays `script`, one step per run (then serves): `Fail` returns an error
/// before Healthy, `Bounce` bounces before Healthy (which would reset the backoff), `Serve`
/// serves until cancelled.
#[derive(Clone, Copy)]
enum Step {
    Fail,
    Bounce,
    Serve,
}

fn scripted(script: &'static [Step]) -> impl arbor::Runnable {
    let runs = Arc::new(AtomicUsize::new(0));
    move |ctx: Context| {
        let step = script
            .get(runs.fetch_add(1, Ordering::SeqCst))
            .copied()
            .unwrap_or(Step::Serve);
        async move {
            match step {
                Step::Fail => anyhow::bail!("scripted failure"),
                Step::Bounce => Err(Bounce::new("the input moved")).context("while starting"),
                Step::Serve => {
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                    Ok(())
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_bounce_restarts_at_once_quietly_and_leaves_its_group_alone() {
    let mut logs = Logs::capture();
    let kills = Kills::new();
    let tracker = Tracker::new();
    let (t, k) = (tracker.clone(), kills.clone());
    let sup = supervisor(root_with(move || {
        Group::new()
            .add("bouncy", t.track(scripted(&[Step::Bounce])))
            .add("peer", t.track(worker(&k)))
    }));
    let mut events = sup.events();

    let bounced = expect(&mut events, entered("root.bouncy", NodeState::Canceled)).await;
    assert_eq!(bounced.bounce.as_deref(), Some("the input moved"));
    assert!(bounced.error.is_none());
    assert!(
        bounced.to_string().contains("bounce: the input moved"),
        "{bounced}"
    );
    let back = expect(&mut events, restarted("root.bouncy")).await;
    assert_eq!(back.delay, Some(std::time::Duration::ZERO), "at once");
    let status = until_status(&sup, &mut events, all_healthy).await;
    let peer = status.get("root.peer").unwrap();
    assert_eq!(
        (peer.restarts, peer.stopping),
        (0, false),
        "the group is left alone"
    );
    assert!(status.get("root.bouncy").unwrap().last_error.is_none());
    assert_eq!(tracker.entries("root.peer"), 1);

    sup.shutdown().await.into_result().unwrap();
    let lines = logs.received();
    let mine = |l: &&LogLine| l.dn.as_deref() == Some("root.bouncy");
    assert!(
        !lines.iter().filter(mine).any(|l| l.level == Level::ERROR),
        "a bounce logs no error: {lines:#?}"
    );
    assert!(lines
        .iter()
        .filter(mine)
        .any(|l| l.level == Level::INFO && l.message == "runnable bounced"));
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn a_bounce_leaves_the_backoff_as_it_was() {
    // Deaths before Healthy grow the backoff (500 ms, 750 ms, 1125 ms); a bounce between them
    // neither resets it nor counts as a death.
    let sup = supervisor(root_with(|| {
        Group::new().add(
            "flaky",
            scripted(&[Step::Fail, Step::Bounce, Step::Fail, Step::Fail]),
        )
    }));
    let mut events = sup.events();
    let delays: Vec<_> = record_matching(&mut events, restarted("root.flaky"), |s| s.len() == 4)
        .await
        .into_iter()
        .map(|e| e.delay.unwrap())
        .collect();
    assert_eq!(delays, [ms(500), ms(0), ms(750), ms(1125)]);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_bounce_after_cancellation_is_an_ordinary_return() {
    let kills = Kills::new();
    let k = kills.clone();
    let sup = supervisor(root_with(move || {
        Group::new()
            .add("peer", worker(&k))
            .add("quiet", |ctx: Context| async move {
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Err(Bounce::new("too late").into())
            })
    }));
    let (_, mut events) = settled(&sup, all_healthy).await;
    kills.kill("root.peer");
    let canceled = expect(&mut events, entered("root.quiet", NodeState::Canceled)).await;
    assert!(canceled.bounce.is_none(), "{canceled}");
    sup.shutdown().await.into_result().unwrap();
}
