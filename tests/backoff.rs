//! Backoff: growing delays for consecutive deaths, reset by Healthy, none for a cancelled node.
//! Time is paused, so delays are read exactly from the events and from tokio's clock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arbor::{Backoff, Context, Group, NodeState, Runnable, Signal, Supervisor};
use common::*;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn consecutive_deaths_wait_longer_and_healthy_resets_the_wait() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let runs = Arc::new(AtomicUsize::new(0));
    // Runs 1 to 4 fail while New; run 5 becomes Healthy and is then killed; run 6 fails again.
    let flaky: Arc<dyn Runnable> = Arc::new(tracker.track({
        let runs = runs.clone();
        let kills = kills.clone();
        move |ctx: Context| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let killed = kills.killed(ctx.dn().as_str());
            async move {
                if run != 5 {
                    anyhow::bail!("failing run {run}");
                }
                ctx.signal(Signal::Healthy)?;
                killed.await;
                anyhow::bail!("killed after being healthy")
            }
        }
    }));
    let peer: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let sup = supervisor(root_with(move || {
        Group::new()
            .add_shared("flaky", flaky.clone())
            .add_shared("peer", peer.clone())
    }));
    let mut events = sup.events();

    let mut delays = Vec::new();
    for _ in 0..4 {
        expect(&mut events, entered("root.flaky", NodeState::Dead)).await;
        let died_at = Instant::now();
        let peer_back = expect(&mut events, restarted("root.peer")).await;
        assert_eq!(
            peer_back.delay,
            Some(ms(0)),
            "the cancelled peer does not wait"
        );
        let back = expect(&mut events, restarted("root.flaky")).await;
        assert_eq!(
            Instant::now() - died_at,
            back.delay.unwrap(),
            "the event tells the wait"
        );
        delays.push(back.delay.unwrap());
    }
    // 1687.5 ms, waited on tokio's millisecond timer.
    assert_eq!(delays, [ms(500), ms(750), ms(1125), ms(1688)]);

    // Run 5 signals Healthy: that resets the backoff, so its death waits the initial delay.
    expect(&mut events, entered("root.flaky", NodeState::Healthy)).await;
    kills.kill("root.flaky");
    let back = expect(&mut events, restarted("root.flaky")).await;
    assert_eq!(back.delay, Some(ms(500)));
    // Run 6 fails while New again: the sequence grows from the start.
    let back = expect(&mut events, restarted("root.flaky")).await;
    assert_eq!(back.delay, Some(ms(750)));

    sup.shutdown().await.into_result().unwrap();
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn backoff_never_gives_up_and_holds_at_its_maximum() {
    let backoff = Backoff::default()
        .randomization(0.0)
        .initial(ms(100))
        .multiplier(2.0)
        .max_interval(ms(400));
    let sup = Supervisor::builder()
        .backoff(backoff)
        .propagate_panics(true)
        .spawn(root_with(|| {
            Group::new().add("broken", |_ctx: Context| async { anyhow::bail!("always") })
        }))
        .unwrap();
    let mut events = sup.events();
    let mut delays = Vec::new();
    for _ in 0..12 {
        delays.push(
            expect(&mut events, restarted("root.broken"))
                .await
                .delay
                .unwrap(),
        );
    }
    let mut want = vec![ms(100), ms(200)];
    want.resize(12, ms(400));
    assert_eq!(delays, want);
    let status = sup.status().await;
    assert!(status.get("root.broken").unwrap().restarts >= 12);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn done_resets_the_backoff_too() {
    let runs = Arc::new(AtomicUsize::new(0));
    let sup = supervisor(root_with({
        let runs = runs.clone();
        move || {
            let runs = runs.clone();
            Group::new().add("job", move |ctx: Context| {
                let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    match run {
                        // Two deaths grow the delay to 750 ms.
                        1 | 2 => anyhow::bail!("early failure {run}"),
                        // Done, then a failure while Done is a death that waits from scratch.
                        _ => {
                            ctx.signal(Signal::Healthy)?;
                            ctx.signal(Signal::Done)?;
                            anyhow::bail!("failed after Done")
                        }
                    }
                }
            })
        }
    }));
    let mut events = sup.events();
    assert_eq!(
        expect(&mut events, restarted("root.job")).await.delay,
        Some(ms(500))
    );
    assert_eq!(
        expect(&mut events, restarted("root.job")).await.delay,
        Some(ms(750))
    );
    // Run 3 signals Healthy (reset) and dies while Done-requested: back to the initial delay.
    let dead = expect(&mut events, entered("root.job", NodeState::Dead)).await;
    assert!(dead.error.unwrap().contains("failed after Done"));
    assert_eq!(
        expect(&mut events, restarted("root.job")).await.delay,
        Some(ms(500))
    );
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn with_reset_after_only_a_long_healthy_run_resets_the_backoff() {
    let runs = Arc::new(AtomicUsize::new(0));
    let backoff = exact_backoff().reset_after(ms(10_000));
    let sup = Supervisor::builder()
        .backoff(backoff)
        .propagate_panics(true)
        .spawn(root_with({
            let runs = runs.clone();
            move || {
                let runs = runs.clone();
                Group::new().add("flappy", move |ctx: Context| {
                    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        // Healthy at once every time; runs 1-3 crash after 1 s, run 4 after 20 s.
                        ctx.signal(Signal::Healthy)?;
                        let uptime = if run == 4 { 20_000 } else { 1_000 };
                        tokio::select! {
                            () = ctx.cancelled() => return Ok(()),
                            () = tokio::time::sleep(ms(uptime)) => {}
                        }
                        anyhow::bail!("crashed after {uptime} ms")
                    }
                })
            }
        }))
        .unwrap();
    let mut events = sup.events();
    let mut delays = Vec::new();
    for _ in 0..4 {
        delays.push(
            expect(&mut events, restarted("root.flappy"))
                .await
                .delay
                .unwrap(),
        );
    }
    // Short healthy runs keep growing the delay; the 20 s run resets it.
    assert_eq!(delays, [ms(500), ms(750), ms(1125), ms(500)]);
    sup.shutdown().await.into_result().unwrap();
}
