//! Fatal errors, settling and resuming, and a long chain that bounces many times.

use std::collections::HashMap;
use std::sync::Arc;

use arbor::{Context, Event, Group, NodeState, RestartLimit, Signal};
use arbor_engine::{Component, Engine, Io};
use arbor_test_kit::*;
use parking_lot::Mutex;

/// Counts each component's runs, and fails the test if two runs of one overlap.
#[derive(Default)]
struct Runs {
    live: Mutex<HashMap<String, usize>>,
    entries: Mutex<HashMap<String, usize>>,
}

impl Runs {
    fn enter(&self, name: &str) {
        *self.entries.lock().entry(name.to_owned()).or_default() += 1;
        let mut live = self.live.lock();
        let n = live.entry(name.to_owned()).or_default();
        *n += 1;
        assert_eq!(*n, 1, "two runs of {name} at once");
    }

    fn leave(&self, name: &str) {
        *self.live.lock().get_mut(name).unwrap() -= 1;
    }

    fn entries(&self, name: &str) -> usize {
        self.entries.lock().get(name).copied().unwrap_or(0)
    }
}

/// A component that publishes its run number, serves, and dies when killed.
fn component(
    name: String,
    input: Option<String>,
    runs: &Arc<Runs>,
    kills: &Arc<Kills>,
) -> Component {
    let (runs, kills, me) = (runs.clone(), kills.clone(), name.clone());
    let worker = move |ctx: Context, io: Io| {
        let (runs, me) = (runs.clone(), me.clone());
        let killed = kills.killed(&ctx.dn().to_string());
        async move {
            runs.enter(&me);
            io.publish(runs.entries(&me));
            let result = async {
                ctx.signal(Signal::Healthy)?;
                tokio::select! {
                    () = ctx.cancelled() => Ok(()),
                    () = killed => anyhow::bail!("fatal: killed by the test"),
                }
            }
            .await;
            runs.leave(&me);
            result
        }
    };
    let component = Component::new(name, worker);
    match input {
        Some(input) => component.input(input),
        None => component,
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_100_bounces_all_the_way_every_time_its_head_restarts() {
    let (runs, kills, engine) = (Arc::new(Runs::default()), Kills::new(), Engine::new());
    for i in 0..100 {
        let input = (i > 0).then(|| format!("c{}", i - 1));
        engine
            .install(component(format!("c{i}"), input, &runs, &kills))
            .unwrap();
    }
    let sup = supervisor(engine.clone());
    let (_, mut events) = settled(&sup, |s| s.node_count() == 101 && all_healthy(s)).await;
    for round in 1..=50 {
        kills.kill("root.c0");
        expect(&mut events, entered("root.c0", NodeState::Dead)).await;
        let want = round + 1;
        until_status(&sup, &mut events, |s| {
            all_healthy(s) && (0..100).all(|i| runs.entries(&format!("c{i}")) == want)
        })
        .await;
    }
    for i in 0..100 {
        assert_eq!(
            runs.entries(&format!("c{i}")),
            51,
            "c{i}: no bounce lost, none twice"
        );
    }
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn settling_stops_dependents_before_their_providers_and_resume_restarts_them() {
    let (runs, kills, engine) = (Arc::new(Runs::default()), Kills::new(), Engine::new());
    let edge = |name: &str, input: Option<&str>| {
        component(name.to_owned(), input.map(str::to_owned), &runs, &kills)
    };
    engine.install(edge("a", None)).unwrap();
    engine.install(edge("b", Some("a"))).unwrap();
    engine.install(edge("d", Some("b"))).unwrap();
    engine.install(edge("other", None)).unwrap();
    let sup = supervisor(engine.clone());
    let (_, mut events) = settled(&sup, |s| s.node_count() == 5 && all_healthy(s)).await;

    let settled_order = engine.settle("a").await.unwrap();
    assert_eq!(settled_order, ["d", "b", "a"]);
    let stops: Vec<Event> = record_matching(
        &mut events,
        |e| e.to == NodeState::Stopped,
        |s| s.len() == 3,
    )
    .await;
    let order: Vec<String> = stops.iter().map(|e| e.dn.name().to_owned()).collect();
    assert_eq!(order, ["d", "b", "a"], "dependents first");
    assert_eq!(runs.entries("other"), 1, "the rest keeps running");
    let status = sup.status().await;
    assert_eq!(status.get("root.other").unwrap().state, NodeState::Healthy);

    engine.resume(&settled_order).await.unwrap();
    until_status(&sup, &mut events, |s| s.node_count() == 5 && all_healthy(s)).await;
    for name in ["a", "b", "d"] {
        assert_eq!(runs.entries(name), 2, "{name}");
    }
    assert_eq!(engine.report().get("d").unwrap().starts, 2);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_ends_the_engine_and_escalates_through_its_parents_limit() {
    let (runs, kills) = (Arc::new(Runs::default()), Kills::new());
    let engine =
        Engine::new().fatal_when(|err| format!("{err:#}").starts_with("fatal").then_some(1));
    engine
        .install(component("db".into(), None, &runs, &kills))
        .unwrap();
    engine
        .install(component("api".into(), Some("db".into()), &runs, &kills))
        .unwrap();
    let e = engine.clone();
    // The engine's parent tolerates no restart of it.
    let sup = supervisor(move |ctx: Context| {
        let engine = e.clone();
        async move {
            ctx.limit_restarts(RestartLimit::new(0, std::time::Duration::from_secs(60)))?;
            ctx.run_group(Group::new().add("engine", engine))?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    let (_, mut events) = settled(&sup, |s| s.node_count() == 4 && all_healthy(s)).await;
    kills.kill("root.engine.db");
    let engine_died = expect(&mut events, entered("root.engine", NodeState::Dead)).await;
    let error = engine_died.error.as_deref().unwrap();
    assert!(
        error.contains("component db failed fatally: fatal: killed by the test"),
        "{error}"
    );
    let root_died = expect(&mut events, entered("root", NodeState::Dead)).await;
    assert!(
        root_died
            .error
            .as_deref()
            .unwrap()
            .contains("root.engine restarted 1 times"),
        "{root_died}"
    );
    sup.shutdown().await.into_result().unwrap();
}
