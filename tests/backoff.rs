//! Backoff: growing delays for consecutive deaths, reset by Healthy, owed by the whole group of
//! the node that died, and never cut short by a cancellation.
//! Time is paused, so delays are read exactly from the events and from tokio's clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arbor::{Backoff, Context, Group, NodeState, Runnable, Signal, Supervisor};
use arbor_test_kit::*;
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
            let killed = kills.killed(&ctx.dn().to_string());
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

    // Each event is read at the (paused) moment it happens: read times are event times.
    let (mut delays, mut peer_delays, mut died_at) = (Vec::new(), Vec::new(), None);
    let mut healthy = false;
    while delays.len() < 4 || peer_delays.len() < 4 || !healthy {
        let e = expect(&mut events, |e| e.dn != "root").await;
        if e.dn == "root.flaky" && e.to == NodeState::Healthy {
            healthy = true;
        } else if e.dn == "root.flaky" && e.to == NodeState::Dead {
            died_at = Some(Instant::now());
        } else if restarted("root.flaky")(&e) {
            let waited = Instant::now() - died_at.take().expect("a restart follows a death");
            assert_eq!(waited, e.delay.unwrap(), "the event tells the wait");
            delays.push(waited);
        } else if restarted("root.peer")(&e) {
            peer_delays.push(e.delay.unwrap());
        }
    }
    assert_eq!(
        peer_delays, delays,
        "the cancelled peer waits out the backoff of its group's death"
    );
    // 1687.5 ms, waited on tokio's millisecond timer.
    assert_eq!(delays, [ms(500), ms(750), ms(1125), ms(1688)]);

    // Run 5 signals Healthy: that resets the backoff, so its death waits the initial delay.
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

/// The commonest outage: db is down, and api fails without it. Each death cancels the other,
/// whose restart (or pending backoff) is then cut short; neither may restart sooner than the
/// backoff the last death in the group imposed, so the pair backs off instead of looping.
#[tokio::test(start_paused = true)]
async fn group_members_failing_together_back_off_instead_of_looping() {
    let starts: Arc<parking_lot::Mutex<Vec<(String, Instant)>>> = Default::default();
    let failing = |starts: &Arc<parking_lot::Mutex<Vec<(String, Instant)>>>| {
        let starts = starts.clone();
        move |ctx: Context| {
            let mut starts = starts.lock();
            starts.push((ctx.dn().to_string(), Instant::now()));
            let looping = starts.len() > 200;
            async move {
                if looping {
                    // A tight loop never lets the paused clock move: end it so the test fails.
                    ctx.cancelled().await;
                    return Ok(());
                }
                anyhow::bail!("{} cannot work without its peer", ctx.dn())
            }
        }
    };
    let (db, api) = (failing(&starts), failing(&starts));
    let sup = Supervisor::builder()
        .backoff(exact_backoff())
        .spawn(root_with(move || {
            Group::new().add("db", db.clone()).add("api", api.clone())
        }))
        .unwrap();
    let began = Instant::now();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    sup.shutdown().await.into_result().unwrap();

    let starts = starts.lock();
    assert!(
        starts.len() <= 200,
        "a tight loop: {} starts in 3 s",
        starts.len()
    );
    // The first start of each is at 0; every later one waits at least the initial backoff
    // after the previous start of the group (the death that cancelled it came right after).
    let mut last: Option<Instant> = None;
    for (dn, at) in starts.iter().skip(2) {
        if let Some(last) = last {
            assert!(
                *at >= last,
                "{dn} restarted at {:?}, before the group's last restart at {:?}",
                *at - began,
                last - began
            );
        }
        assert!(*at - began >= ms(500), "{dn} restarted before any backoff");
        last = Some(*at);
    }
    // Starts come in pairs (the group restarts together), each pair at least 500 ms apart.
    let times: Vec<_> = starts.iter().map(|(_, at)| *at - began).collect();
    for pair in times.chunks(2).collect::<Vec<_>>().windows(2) {
        assert!(
            pair[1][0] >= pair[0][0] + ms(500),
            "restarts less than a backoff apart: {times:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_child_with_a_backoff_of_its_own_waits_by_it() {
    // `slow` fails before Healthy on every run; `quick` too, with the supervisor's backoff.
    let always_failing = || |_ctx: Context| async { anyhow::bail!("not yet") };
    let sup = supervisor(move |ctx: Context| async move {
        let own = Backoff::default()
            .initial(std::time::Duration::from_secs(2))
            .multiplier(2.0)
            .randomization(0.0);
        ctx.run_child(arbor::Child::new("slow", always_failing()).backoff(own))?;
        ctx.run("quick", always_failing())?;
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        Ok(())
    });
    let mut events = sup.events();
    let mut slow_events = sup.events();
    assert_eq!(
        restart_delays(&mut events, "root.quick").await,
        [ms(500), ms(750), ms(1125)]
    );
    assert_eq!(
        restart_delays(&mut slow_events, "root.slow").await,
        [ms(2000), ms(4000), ms(8000)]
    );

    // A bad backoff is refused when the child starts.
    let (tx, mut result) = tokio::sync::mpsc::unbounded_channel();
    let sup2 = supervisor(move |ctx: Context| {
        let tx = tx.clone();
        async move {
            let bad = Backoff::default().initial(std::time::Duration::ZERO);
            let _ = tx.send(ctx.run_child(arbor::Child::new("x", always_failing()).backoff(bad)));
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    assert!(matches!(
        result.recv().await.unwrap(),
        Err(arbor::Error::InvalidConfig { reason }) if reason.contains("initial")
    ));
    sup.shutdown().await.into_result().unwrap();
    sup2.shutdown().await.into_result().unwrap();
}

/// The delays of the first three restarts of `dn`.
async fn restart_delays(events: &mut arbor::EventStream, dn: &str) -> Vec<std::time::Duration> {
    record_matching(events, restarted(dn), |s| s.len() == 3)
        .await
        .into_iter()
        .map(|e| e.delay.unwrap())
        .collect()
}
