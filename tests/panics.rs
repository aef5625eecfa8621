//! A panic is a death; with `propagate_panics` it stops the supervisor and surfaces from `wait`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arbor::{Context, Error, Group, NodeState, Signal, Supervisor};
use arbor_test_kit::*;

#[tokio::test(start_paused = true)]
async fn panic_is_a_death_and_the_node_restarts() {
    let runs = Arc::new(AtomicUsize::new(0));
    let tracker = Tracker::new();
    let runnable = tracker.track({
        let runs = runs.clone();
        move |ctx: Context| {
            let first = runs.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                ctx.signal(Signal::Healthy)?;
                if first {
                    panic!("boom on the first run");
                }
                ctx.cancelled().await;
                Ok(())
            }
        }
    });
    let runnable = Arc::new(runnable);
    let sup = Supervisor::builder()
        .backoff(exact_backoff())
        .spawn(root_with(move || {
            Group::new().add_shared("p", runnable.clone())
        }))
        .unwrap();
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.p", NodeState::Dead)).await;
    assert_eq!(
        dead.error.as_deref(),
        Some("panicked: boom on the first run")
    );
    let back = expect(&mut events, restarted("root.p")).await;
    assert_eq!(back.delay, Some(ms(500)));
    expect(&mut events, entered("root.p", NodeState::Healthy)).await;
    let status = sup.status().await;
    let p = status.get("root.p").unwrap();
    assert_eq!(p.restarts, 1);
    assert_eq!(
        p.last_error.as_deref(),
        Some("panicked: boom on the first run")
    );
    sup.shutdown().await.into_result().unwrap();
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn panic_while_building_the_future_is_a_death_too() {
    struct PanicsAtCall;
    impl arbor::Runnable for PanicsAtCall {
        fn run(&self, _ctx: Context) -> arbor::RunFuture {
            panic!("no future for you")
        }
    }
    let sup = Supervisor::new(root_with(|| Group::new().add("p", PanicsAtCall)));
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.p", NodeState::Dead)).await;
    assert_eq!(dead.error.as_deref(), Some("panicked: no future for you"));
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn propagated_panic_stops_the_tree_and_surfaces_from_wait() {
    let tracker = Tracker::new();
    let kills = Kills::new();
    let bystander = Arc::new(tracker.track(worker(&kills)));
    let sup = supervisor(root_with(move || {
        Group::new()
            .add_shared("calm", bystander.clone())
            .add("p", |ctx: Context| async move {
                ctx.signal(Signal::Healthy)?;
                tokio::task::yield_now().await;
                panic!("a bug");
            })
    }));
    let report = sup.wait().await;
    assert_eq!(
        report.clone().into_result(),
        Err(Error::Panicked {
            dn: sup.status().await.get("root.p").unwrap().dn.clone(),
            message: "a bug".into()
        })
    );
    assert!(report.stuck.is_empty());
    assert_eq!(tracker.live(), 0, "the supervisor stopped every runnable");
    assert_eq!(tracker.entries("root.calm"), 1, "nothing restarted");
    // shutdown after the fact returns the same report.
    assert_eq!(sup.shutdown().await, report);
}
