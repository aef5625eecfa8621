//! Status renders as an indented tree and as JSON; events start with a snapshot.

use std::sync::Arc;

use arbor::{Context, Group, NodeState, Signal};
use arbor_test_kit::*;

#[tokio::test(start_paused = true)]
async fn status_shows_each_node_as_text_and_json() {
    let kills = Kills::new();
    let sup = supervisor(root_with({
        let kills = kills.clone();
        move || {
            Group::new()
                .add("api", {
                    let kills = kills.clone();
                    move |ctx: Context| {
                        let kills = kills.clone();
                        async move {
                            ctx.run("listener", worker(&kills))?;
                            ctx.signal(Signal::Healthy)?;
                            ctx.cancelled().await;
                            Ok(())
                        }
                    }
                })
                .add("db", worker(&kills))
        }
    }));
    let (_, mut events) = settled(&sup, |s| s.node_count() == 4 && all_healthy(s)).await;
    kills.kill("root.db");
    // api and db are one group: api restarts at once (with a new listener), db after 500 ms.
    expect(&mut events, entered("root.db", NodeState::Healthy)).await;
    tokio::time::advance(ms(1500)).await;

    let status = sup.status().await;
    let text = status.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("root Healthy"), "{text}");
    assert!(lines[1].starts_with("  api Healthy"), "{text}");
    assert!(lines[2].starts_with("    listener Healthy"), "{text}");
    assert!(
        lines[3].starts_with("  db Healthy") && lines[3].contains("restarts=1"),
        "{text}"
    );
    assert!(
        lines[3].contains("last_error=\"killed by the test\""),
        "{text}"
    );

    // JSON: a flat list in preorder, each node naming its parent's index.
    let json = serde_json::to_value(&status).unwrap();
    let nodes = json["nodes"].as_array().unwrap();
    let names: Vec<_> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["root", "api", "listener", "db"]);
    let parents: Vec<_> = nodes.iter().map(|n| n["parent"].as_u64()).collect();
    assert_eq!(parents, [None, Some(0), Some(1), Some(0)]);
    let db = &nodes[3];
    assert_eq!(db["depth"], 1);
    assert_eq!(db["state"], "Healthy");
    assert_eq!(db["restarts"], 1);
    assert_eq!(db["last_error"], "killed by the test");
    assert_eq!(db["in_state_ms"], 1500);
    // The same shape through the Rust API.
    let api = status.get("root.api").unwrap();
    let listener: Vec<_> = status.children(api).map(|n| n.dn.to_string()).collect();
    assert_eq!(listener, ["root.api.listener"]);
    assert_eq!(status.children(status.root()).count(), 2);
    assert_eq!(status.parent(api).unwrap().dn, "root");
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_new_stream_starts_with_the_current_state_of_every_node() {
    let kills = Kills::new();
    let w = Arc::new(worker(&kills));
    let sup = supervisor(root_with(move || Group::new().add_shared("w", w.clone())));
    settled(&sup, |s| s.node_count() == 2 && all_healthy(s)).await;
    let mut events = sup.events();
    let first = events.next().await.unwrap();
    let second = events.next().await.unwrap();
    assert_eq!(
        (first.dn.to_string().as_str(), first.from, first.to),
        ("root", None, NodeState::Healthy)
    );
    assert_eq!(
        (second.dn.to_string().as_str(), second.from, second.to),
        ("root.w", None, NodeState::Healthy)
    );
    kills.kill("root.w");
    let next = events.next().await.unwrap();
    assert_eq!(
        (next.dn.to_string().as_str(), next.from, next.to),
        ("root.w", Some(NodeState::Healthy), NodeState::Dead)
    );
    assert_eq!(
        next.to_string(),
        "root.w: Healthy -> Dead (killed by the test)"
    );
    sup.shutdown().await.into_result().unwrap();
    let mut rest = Vec::new();
    while let Some(e) = events.next().await {
        rest.push(e);
    }
    assert!(rest
        .iter()
        .any(|e| e.dn == "root" && e.to == NodeState::Canceled));
}

#[tokio::test(start_paused = true)]
async fn notes_show_in_status_and_are_cleared_by_a_restart() {
    let kills = Kills::new();
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sup = supervisor(root_with({
        let (kills, runs) = (kills.clone(), runs.clone());
        move || {
            let (kills, runs) = (kills.clone(), runs.clone());
            Group::new().add("noted", move |ctx: Context| {
                let killed = kills.killed("root.noted");
                let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if run == 0 {
                        ctx.annotate("pid", 4242);
                        ctx.annotate("addr", "127.0.0.1:1");
                        ctx.annotate("addr", "127.0.0.1:2");
                        ctx.annotate("gone", "soon");
                        ctx.remove_note("gone");
                    }
                    ctx.signal(Signal::Healthy)?;
                    tokio::select! {
                        () = ctx.cancelled() => Ok(()),
                        () = killed => anyhow::bail!("killed"),
                    }
                }
            })
        }
    }));
    let (status, mut events) = settled(&sup, |s| s.node_count() == 2 && all_healthy(s)).await;
    let noted = status.get("root.noted").unwrap();
    assert_eq!(noted.notes.len(), 2);
    assert_eq!(noted.notes["pid"], "4242");
    assert_eq!(noted.notes["addr"], "127.0.0.1:2");
    assert!(
        status.to_string().contains("noted Healthy")
            && status.to_string().contains(" addr=127.0.0.1:2 pid=4242")
    );
    assert_eq!(
        serde_json::to_value(&status).unwrap()["nodes"][1]["notes"]["pid"],
        "4242"
    );

    kills.kill("root.noted");
    expect(&mut events, restarted("root.noted")).await;
    expect(&mut events, entered("root.noted", NodeState::Healthy)).await;
    assert!(sup
        .status()
        .await
        .get("root.noted")
        .unwrap()
        .notes
        .is_empty());
    sup.shutdown().await.into_result().unwrap();
}

/// A stream nobody reads while a node restarts thousands of times holds at most the shared
/// buffer; when it is read at last it says it lagged, and goes on with a whole fresh snapshot.
#[tokio::test(start_paused = true)]
async fn a_stream_that_falls_behind_is_bounded_and_resyncs_from_a_snapshot() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CAPACITY: usize = 16;
    let runs = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let sup = arbor::Supervisor::builder()
        .backoff(exact_backoff().initial(ms(2)))
        .event_capacity(CAPACITY)
        .spawn(root_with({
            let (runs, enough) = (runs.clone(), enough.clone());
            move || {
                let (runs, enough) = (runs.clone(), enough.clone());
                Group::new()
                    .add("steady", |ctx: Context| async move {
                        ctx.signal(Signal::Healthy)?;
                        ctx.cancelled().await;
                        Ok(())
                    })
                    .add("flapping", move |ctx: Context| {
                        if runs.fetch_add(1, Ordering::SeqCst) == 1_000 {
                            enough.notify_one();
                        }
                        async move {
                            ctx.signal(Signal::Healthy)?;
                            anyhow::bail!("flaps")
                        }
                    })
            }
        }))
        .unwrap();
    let mut unread = sup.events();
    // 1,000 restarts of the pair, each several transitions; the stream is not read meanwhile.
    tokio::time::timeout(DEADLINE, enough.notified())
        .await
        .expect("a thousand runs");
    assert!(
        format!("{unread:?}").contains("buffered: 0"),
        "nothing read yet, nothing answered yet: {unread:?}"
    );

    // The snapshot it was subscribed with, then the lag, then a whole fresh snapshot.
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &arbor::Event| e.resync) {
        seen.push(expect(&mut unread, |_| true).await);
        assert!(seen.len() < 3 * CAPACITY, "never resynced: {seen:#?}");
    }
    assert!(unread.lagged() > 0);
    let mut fresh = vec![seen.pop().unwrap()];
    while fresh.len() < 3 {
        fresh.push(expect(&mut unread, |_| true).await);
    }
    let dns: Vec<String> = fresh.iter().map(|e| e.dn.to_string()).collect();
    assert_eq!(dns, ["root", "root.steady", "root.flapping"]);
    assert!(fresh.iter().all(|e| e.from.is_none()), "{fresh:#?}");
    sup.shutdown().await.into_result().unwrap();
}

/// A parent's restart removes its children before its new run starts them again: a stream
/// says so, so that a reader keeps no ghosts.
#[tokio::test(start_paused = true)]
async fn a_parent_restart_reports_its_children_removed() {
    let kills = Kills::new();
    let sup = supervisor(root_with({
        let kills = kills.clone();
        move || {
            let kills = kills.clone();
            Group::new().add("parent", move |ctx: Context| {
                let killed = kills.killed(&ctx.dn().to_string());
                async move {
                    ctx.run("child", |ctx: Context| async move {
                        ctx.signal(Signal::Healthy)?;
                        ctx.cancelled().await;
                        Ok(())
                    })?;
                    ctx.signal(Signal::Healthy)?;
                    tokio::select! {
                        () = ctx.cancelled() => Ok(()),
                        () = killed => anyhow::bail!("killed by the test"),
                    }
                }
            })
        }
    }));
    let (_, mut events) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
    kills.kill("root.parent");
    let seen = record(&mut events, |seen| {
        seen.iter()
            .any(|e| e.dn == "root.parent.child" && e.to == NodeState::Healthy)
    })
    .await;
    let removed = position(&seen, "child removed", |e| {
        e.dn == "root.parent.child" && e.removed
    });
    assert_eq!(seen[removed].to, NodeState::Canceled);
    let parent_back = position(&seen, "parent restarted", restarted("root.parent"));
    let child_back = position(&seen, "child created", |e| {
        e.dn == "root.parent.child" && e.from.is_none()
    });
    assert!(
        removed < parent_back && parent_back < child_back,
        "{seen:#?}"
    );
    sup.shutdown().await.into_result().unwrap();
}

/// Notes are kept with the run, not queued for the processor: a runnable that annotates in a
/// loop costs the tree nothing, and a snapshot shows the latest value.
#[tokio::test(start_paused = true)]
async fn annotating_in_a_loop_keeps_the_latest_value() {
    let sup = supervisor(|ctx: Context| async move {
        for i in 0..100_000u32 {
            ctx.annotate("progress", i);
        }
        ctx.annotate("gone", "soon");
        ctx.remove_note("gone");
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        Ok(())
    });
    let (status, _) = settled(&sup, all_healthy).await;
    assert_eq!(status.root().notes.len(), 1);
    assert_eq!(status.root().notes["progress"], "99999");
    sup.shutdown().await.into_result().unwrap();
}
