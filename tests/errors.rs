//! Every misuse of design §3 returns its error, logs a line with the DN, and aborts nothing.

use std::sync::Arc;

use arbor::{Backoff, Context, Error, Group, NodeState, Signal, Supervisor};
use arbor_test_kit::*;
use tokio::sync::mpsc;

/// Runs `probe` as the root's only run (it may misuse its context) and collects what it sends.
async fn with_root<T: Send + 'static>(
    probe: impl Fn(Context, mpsc::UnboundedSender<T>) -> anyhow::Result<()> + Send + Sync + 'static,
) -> (Supervisor, mpsc::UnboundedReceiver<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let probe = Arc::new(probe);
    let sup = supervisor(move |ctx: Context| {
        let probe = probe.clone();
        let tx = tx.clone();
        async move {
            probe(ctx.clone(), tx)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    (sup, rx)
}

async fn serve(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    ctx.cancelled().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn invalid_names_are_rejected_with_the_reason() {
    let (sup, mut results) = with_root(|ctx, tx| {
        let long = "x".repeat(65);
        let max = "y".repeat(64);
        for name in [
            "a.b",
            "Upper",
            "",
            long.as_str(),
            "dash-ed",
            "sp ace",
            max.as_str(),
        ] {
            tx.send((name.to_owned(), ctx.run(name.to_owned(), serve)))?;
        }
        ctx.signal(Signal::Healthy)?;
        Ok(())
    })
    .await;
    let mut got = Vec::new();
    for _ in 0..7 {
        got.push(results.recv().await.unwrap());
    }
    for (name, result) in &got[..6] {
        match result {
            Err(Error::InvalidName {
                parent,
                name: n,
                reason,
            }) => {
                assert_eq!(parent, "root");
                assert_eq!(n, name);
                assert!(!reason.is_empty());
            }
            other => panic!("{name:?}: expected InvalidName, got {other:?}"),
        }
    }
    assert!(matches!(&got[0].1, Err(e) if e.to_string().contains("'.'")));
    assert!(got[6].1.is_ok(), "64 bytes is allowed");
    let mut events = sup.events();
    let status = until_status(&sup, &mut events, |s| s.node_count() == 2 && all_healthy(s)).await;
    assert!(status.get(&format!("root.{}", "y".repeat(64))).is_some());
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn duplicates_and_empty_groups_are_rejected_and_start_nothing() {
    let (sup, mut results) = with_root(|ctx, tx| {
        tx.send(ctx.run("dup", serve))?;
        tx.send(ctx.run("dup", serve))?;
        tx.send(ctx.run_group(Group::new().add("fresh", serve).add("dup", serve)))?;
        tx.send(ctx.run_group(Group::new().add("twin", serve).add("twin", serve)))?;
        tx.send(ctx.run_group(Group::new()))?;
        ctx.signal(Signal::Healthy)?;
        Ok(())
    })
    .await;
    assert_eq!(results.recv().await.unwrap(), Ok(()));
    for want in ["dup", "dup", "twin"] {
        match results.recv().await.unwrap() {
            Err(Error::DuplicateName { parent, name }) => {
                assert_eq!((parent.to_string().as_str(), name.as_str()), ("root", want));
            }
            other => panic!("expected DuplicateName for {want}, got {other:?}"),
        }
    }
    assert!(matches!(
        results.recv().await.unwrap(),
        Err(Error::EmptyGroup { .. })
    ));
    let mut events = sup.events();
    let status = until_status(&sup, &mut events, all_healthy).await;
    let dns: Vec<_> = status.iter().map(|n| n.dn.to_string()).collect();
    assert_eq!(
        dns,
        ["root", "root.dup"],
        "a rejected group starts none of its members"
    );
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn children_after_healthy_or_done_are_refused() {
    let (sup, mut results) = with_root(|ctx, tx| {
        ctx.signal(Signal::Healthy)?;
        tx.send(ctx.run("late", serve))?;
        ctx.signal(Signal::Done)?;
        tx.send(ctx.run("later", serve))?;
        Ok(())
    })
    .await;
    for state in [NodeState::Healthy, NodeState::Done] {
        match results.recv().await.unwrap() {
            Err(Error::NotNew { dn, state: s }) => {
                assert_eq!(dn, "root");
                assert_eq!(s, state);
            }
            other => panic!("expected NotNew, got {other:?}"),
        }
    }
    assert_eq!(sup.status().await.node_count(), 1);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn illegal_signals_error_log_and_kill_the_node() {
    let mut logs = Logs::capture();

    let (tx, mut results) = mpsc::unbounded_channel();
    let tx_twice = tx.clone();
    let sup = supervisor(root_with(move || {
        let (t1, t2) = (tx_twice.clone(), tx.clone());
        Group::new()
            .add("twice", move |ctx: Context| {
                let tx = t1.clone();
                async move {
                    ctx.signal(Signal::Healthy)?;
                    let _ = tx.send(ctx.signal(Signal::Healthy));
                    // Ignores the error and serves on; the supervisor stops it anyway.
                    ctx.cancelled().await;
                    Ok(())
                }
            })
            .add("early", move |ctx: Context| {
                let tx = t2.clone();
                async move {
                    let _ = tx.send(ctx.signal(Signal::Done));
                    ctx.cancelled().await;
                    Ok(())
                }
            })
    }));
    let mut events = sup.events();
    let mut errors = [results.recv().await.unwrap(), results.recv().await.unwrap()];
    errors.sort_by_key(|e| format!("{e:?}"));
    assert!(errors.iter().any(|e| matches!(e,
        Err(Error::InvalidSignal { dn, signal: Signal::Healthy, state: NodeState::Healthy })
            if dn == "root.twice")));
    assert!(errors.iter().any(|e| matches!(e,
        Err(Error::InvalidSignal { dn, signal: Signal::Done, state: NodeState::New })
            if dn == "root.early")));

    for dn in ["root.twice", "root.early"] {
        let dead = expect(&mut events, |e| e.dn == dn && e.to == NodeState::Dead).await;
        assert!(dead.error.unwrap().contains("is not allowed"));
    }
    // Treated as Dead: restarted with backoff (they are one group, so each restart of one
    // cancels the other; either way both come back).
    let back = expect(&mut events, |e| {
        e.to == NodeState::New && e.delay > Some(ms(0))
    })
    .await;
    assert!(back.dn == "root.twice" || back.dn == "root.early");
    sup.shutdown().await.into_result().unwrap();

    let lines = logs.received();
    for dn in ["root.twice", "root.early"] {
        assert!(
            lines
                .iter()
                .any(|l| l.message.contains("illegal signal") && l.dn.as_deref() == Some(dn)),
            "no log line for {dn}: {lines:#?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn rejected_calls_are_logged_with_the_dn() {
    let mut logs = Logs::capture();
    let (sup, mut results) = with_root(|ctx, tx| {
        tx.send(ctx.run("Bad", serve))?;
        ctx.signal(Signal::Healthy)?;
        Ok(())
    })
    .await;
    assert!(results.recv().await.unwrap().is_err());
    sup.shutdown().await.into_result().unwrap();
    let lines = logs.received();
    assert!(
        lines.iter().any(|l| l.message.contains("rejected children")
            && l.dn.as_deref() == Some("root")
            && l.field("error").is_some_and(|e| e.contains("\"Bad\""))),
        "{lines:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_context_used_after_its_run_ended_says_so() {
    let (tx, mut saved) = mpsc::unbounded_channel();
    let sup = supervisor(root_with(move || {
        let tx = tx.clone();
        Group::new().add("brief", move |ctx: Context| {
            let tx = tx.clone();
            async move {
                ctx.signal(Signal::Healthy)?;
                ctx.signal(Signal::Done)?;
                let _ = tx.send(ctx.clone());
                Ok(())
            }
        })
    }));
    let mut events = sup.events();
    expect(&mut events, entered("root.brief", NodeState::Done)).await;
    let old: Context = saved.recv().await.unwrap();
    assert!(matches!(old.run("x", serve), Err(Error::RunEnded { dn }) if dn == "root.brief"));
    assert!(matches!(
        old.signal(Signal::Healthy),
        Err(Error::RunEnded { .. })
    ));
    sup.shutdown().await.into_result().unwrap();
}

#[test]
fn bad_settings_and_missing_runtime_are_errors_not_panics() {
    let bad = Supervisor::builder()
        .backoff(Backoff::default().multiplier(0.1))
        .spawn(|_ctx: Context| async { Ok(()) });
    assert!(matches!(bad, Err(Error::InvalidConfig { reason }) if reason.contains("multiplier")));
    let outside = Supervisor::builder().spawn(|_ctx: Context| async { Ok(()) });
    assert!(matches!(outside, Err(Error::NoRuntime)));
}
