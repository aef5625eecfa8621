//! The dependency engine against a real tree: start order, bounces, waiting, outcomes, and
//! installing and uninstalling while it runs.

use std::sync::Arc;

use arbor::{Context, NodeState, Signal, Supervisor};
use arbor_engine::{Component, Engine, InstallError, Io, Missing, Uninstall};
use arbor_test_kit::*;
use parking_lot::Mutex;
use tracing::Level;

/// What the components did, in order: `"b started with a=2"`.
type Log = Arc<Mutex<Vec<String>>>;

/// A component that reads its inputs (strings), publishes `name(inputs)`, logs its start, and
/// serves; it dies when `kills` kills it.
fn component(
    name: &'static str,
    inputs: &[&'static str],
    log: &Log,
    kills: &Arc<Kills>,
) -> Component {
    let (log, kills) = (log.clone(), kills.clone());
    let names: Vec<&'static str> = inputs.to_vec();
    let worker = move |ctx: Context, io: Io| {
        let (log, names) = (log.clone(), names.clone());
        let killed = kills.killed(&ctx.dn().to_string());
        async move {
            let mut got = Vec::new();
            for input in &names {
                got.push(format!("{input}={}", io.input::<String>(input)?));
            }
            let run = io.engine().report().get(name).map_or(0, |c| c.starts);
            log.lock()
                .push(format!("{name} started with [{}]", got.join(", ")));
            io.publish(format!("{name}#{run}"));
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = killed => anyhow::bail!("killed by the test"),
            }
        }
    };
    inputs
        .iter()
        .fold(Component::new(name, worker), |c, i| c.input(*i))
}

fn supervise(engine: &Engine) -> Supervisor {
    supervisor(engine.clone())
}

#[tokio::test(start_paused = true)]
async fn a_diamond_starts_in_input_order_and_bounces_each_dependent_once() {
    let (log, kills, engine) = (Log::default(), Kills::new(), Engine::new());
    for (name, inputs) in [
        ("d", &["b", "c"][..]),
        ("b", &["a"]),
        ("c", &["a"]),
        ("a", &[]),
    ] {
        engine
            .install(component(name, inputs, &log, &kills))
            .unwrap();
    }
    let sup = supervise(&engine);
    let (_, mut events) = settled(&sup, |s| s.node_count() == 5 && all_healthy(s)).await;
    assert_eq!(
        log.lock().clone(),
        [
            "a started with []",
            "b started with [a=a#1]",
            "c started with [a=a#1]",
            "d started with [b=b#1, c=c#1]",
        ]
    );

    log.lock().clear();
    kills.kill("root.a");
    expect(&mut events, entered("root.a", NodeState::Dead)).await;
    until_status(&sup, &mut events, |s| all_healthy(s) && s.node_count() == 5).await;
    let log = log.lock().clone();
    assert_eq!(
        log.len(),
        4,
        "each of a, b, c, d started once more: {log:#?}"
    );
    assert_eq!(log[0], "a started with []");
    assert!(
        log.contains(&"b started with [a=a#2]".to_owned()),
        "{log:#?}"
    );
    assert!(
        log.contains(&"c started with [a=a#2]".to_owned()),
        "{log:#?}"
    );
    assert_eq!(
        log[3], "d started with [b=b#2, c=c#2]",
        "d never ran on an old b or c"
    );
    let report = engine.report();
    for name in ["a", "b", "c", "d"] {
        assert_eq!(report.get(name).unwrap().starts, 2, "{name}: {report:?}");
    }
    let status = sup.status().await;
    for dn in ["root.b", "root.c", "root.d"] {
        assert_eq!(
            status.get(dn).unwrap().restarts,
            1,
            "bounced once: {status}"
        );
        assert!(
            status.get(dn).unwrap().last_error.is_none(),
            "a bounce is no failure"
        );
    }
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_component_waits_quietly_for_a_provider_installed_later() {
    let mut logs = Logs::capture();
    let (log, kills, engine) = (Log::default(), Kills::new(), Engine::new());
    engine
        .install(component("api", &["db"], &log, &kills))
        .unwrap();
    let sup = supervise(&engine);
    let status = until_status(&sup, &mut sup.events(), |s| {
        s.get("root.api")
            .is_some_and(|n| n.notes.get("waiting_for").is_some_and(|w| w == "db"))
    })
    .await;
    assert_eq!(status.get("root.api").unwrap().state, NodeState::New);
    assert_eq!(
        engine.report().get("api").unwrap().waiting_for.as_deref(),
        Some("db")
    );
    assert_eq!(status.root().notes["components"], "1", "{status}");

    // Installed while the engine runs: the waiting component starts.
    engine.install(component("db", &[], &log, &kills)).unwrap();
    sup.watch("root.api")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    assert_eq!(log.lock().last().unwrap(), "api started with [db=db#1]");
    assert!(engine.report().get("api").unwrap().waiting_for.is_none());
    sup.shutdown().await.into_result().unwrap();
    let noisy: Vec<_> = logs
        .received()
        .into_iter()
        .filter(|l| {
            l.level >= Level::WARN && l.dn.as_deref().is_some_and(|d| d.starts_with("root.api"))
        })
        .collect();
    assert!(noisy.is_empty(), "waiting is quiet: {noisy:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_missing_outcome_waits_for_the_next_change_of_an_input() {
    let engine = Engine::new();
    // `config` publishes "draft" first, then "final" when asked.
    let (tx, rx) = tokio::sync::watch::channel("draft");
    engine
        .install(Component::new("config", move |ctx: Context, io: Io| {
            let mut rx = rx.clone();
            async move {
                io.publish(rx.borrow_and_update().to_string());
                ctx.signal(Signal::Healthy)?;
                loop {
                    tokio::select! {
                        () = ctx.cancelled() => return Ok(()),
                        _ = rx.changed() => io.publish(rx.borrow_and_update().to_string()),
                    }
                }
            }
        }))
        .unwrap();
    engine
        .install(
            Component::new("app", |ctx: Context, io: Io| async move {
                let config = io.input::<String>("config")?;
                if config.as_str() != "final" {
                    return Err(Missing::new(format!("config is {config}")).into());
                }
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            })
            .input("config"),
        )
        .unwrap();
    let sup = supervise(&engine);
    let status = until_status(&sup, &mut sup.events(), |s| {
        s.get("root.app")
            .is_some_and(|n| n.notes.get("stopped").is_some_and(|w| w == "missing"))
    })
    .await;
    assert_eq!(
        status.get("root.app").unwrap().state,
        NodeState::New,
        "no death: {status}"
    );
    tx.send("final").unwrap();
    let up = sup
        .watch("root.app")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    assert_eq!(up.run, 1, "bounced once, when the input changed");
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn cycles_and_duplicates_are_refused_and_a_component_uninstalls_itself() {
    let (log, kills, engine) = (Log::default(), Kills::new(), Engine::new());
    engine
        .install(component("a", &["c"], &log, &kills))
        .unwrap();
    engine
        .install(component("b", &["a"], &log, &kills))
        .unwrap();
    match engine.install(component("c", &["b"], &log, &kills)) {
        Err(InstallError::Cycle { path }) => assert_eq!(path, ["c", "b", "a", "c"]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        engine.install(component("a", &[], &log, &kills)),
        Err(InstallError::Duplicate { .. })
    ));
    assert!(matches!(
        engine.install(component("Bad", &[], &log, &kills)),
        Err(InstallError::InvalidName(_))
    ));

    // One that uninstalls itself on its first run.
    engine
        .install(Component::new(
            "once",
            |_ctx: Context, _io: Io| async move { Err(Uninstall.into()) },
        ))
        .unwrap();
    let sup = supervise(&engine);
    let mut events = sup.events();
    expect(&mut events, removed("root.once")).await;
    assert!(engine.report().get("once").is_none());
    assert!(matches!(
        engine.uninstall("once").await,
        Err(InstallError::NotInstalled { .. })
    ));
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn uninstalling_a_provider_bounces_its_dependents_into_waiting() {
    let (log, kills, engine) = (Log::default(), Kills::new(), Engine::new());
    engine.install(component("db", &[], &log, &kills)).unwrap();
    engine
        .install(component("api", &["db"], &log, &kills))
        .unwrap();
    let sup = supervise(&engine);
    let (_, mut events) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
    engine.uninstall("db").await.unwrap();
    expect(&mut events, removed("root.db")).await;
    let status = until_status(&sup, &mut events, |s| {
        s.get("root.api")
            .is_some_and(|n| n.notes.contains_key("waiting_for"))
    })
    .await;
    assert_eq!(status.get("root.api").unwrap().state, NodeState::New);
    // Installed again under the same name: the dependent starts on it.
    engine.install(component("db", &[], &log, &kills)).unwrap();
    sup.watch("root.api")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    assert_eq!(engine.report().get("api").unwrap().starts, 2);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_component_installs_another_from_inside_and_only_fatal_errors_end_the_engine() {
    let (log, kills) = (Log::default(), Kills::new());
    let engine = Engine::new().fatal_when(|err| format!("{err:#}").contains("disk").then_some(1));
    // `seed` installs `grown` from inside, then serves.
    let (l, k) = (log.clone(), kills.clone());
    engine
        .install(Component::new("seed", move |ctx: Context, io: Io| {
            let grown = component("grown", &["seed"], &l, &k);
            async move {
                io.publish("seed".to_owned());
                match io.engine().install(grown) {
                    Ok(()) | Err(InstallError::Duplicate { .. }) => {}
                    Err(err) => return Err(err.into()),
                }
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            }
        }))
        .unwrap();
    let sup = supervise(&engine);
    sup.watch("root.grown")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    assert_eq!(engine.report().get("grown").unwrap().inputs, ["seed"]);

    // An ordinary death is no end of the engine: `grown` is restarted.
    kills.kill("root.grown");
    let mut events = sup.events();
    expect(&mut events, restarted("root.grown")).await;
    assert_eq!(sup.status().await.root().state, NodeState::Healthy);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_engine_is_a_component_of_another_engine() {
    let (log, kills) = (Log::default(), Kills::new());
    let inner = Engine::new();
    inner.install(component("leaf", &[], &log, &kills)).unwrap();
    let outer = Engine::new();
    outer.install(component("base", &[], &log, &kills)).unwrap();
    outer
        .install(Component::new("inner", inner.clone()).input("base"))
        .unwrap();
    let sup = supervise(&outer);
    sup.watch("root.inner.leaf")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    // The inner engine depends on `base`: when base dies, the inner engine is bounced, and
    // its own components with it.
    kills.kill("root.base");
    let mut events = sup.events();
    expect(&mut events, restarted("root.inner")).await;
    sup.watch("root.inner.leaf")
        .until(|e| e.to == NodeState::Healthy && e.run == 0)
        .await
        .unwrap();
    assert_eq!(inner.report().get("leaf").unwrap().starts, 2);
    sup.shutdown().await.into_result().unwrap();
}
