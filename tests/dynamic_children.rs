//! Children started after New, and a run's orders about its own children: the primitives a
//! layer such as a dependency engine stands on.

use std::sync::Arc;

use arbor::{Context, Error, NodeState, Runnable, Signal};
use arbor_test_kit::*;
use tokio::sync::mpsc;

/// What the test asks the parent's run to do.
#[derive(Debug)]
enum Ask {
    Start(&'static str),
    Restart(&'static str),
    Stop(&'static str),
    Resume(&'static str),
    Remove(&'static str),
}

/// A parent that allows late children and does what it is asked, answering each ask.
fn parent(
    child: Arc<dyn Runnable>,
    asks: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Ask>>>,
    answers: mpsc::UnboundedSender<Result<(), Error>>,
) -> impl Runnable {
    move |ctx: Context| {
        let (child, asks, answers) = (child.clone(), asks.clone(), answers.clone());
        async move {
            ctx.allow_late_children()?;
            ctx.signal(Signal::Healthy)?;
            let mut asks = asks.lock().await;
            loop {
                let ask = tokio::select! {
                    () = ctx.cancelled() => return Ok(()),
                    ask = asks.recv() => ask,
                };
                let Some(ask) = ask else { return Ok(()) };
                let answer = match ask {
                    Ask::Start(name) => ctx.run(name, child.clone()),
                    Ask::Restart(name) => ctx.restart_child(name).await,
                    Ask::Stop(name) => ctx.stop_child(name).await,
                    Ask::Resume(name) => ctx.resume_child(name).await,
                    Ask::Remove(name) => ctx.remove_child(name).await,
                };
                let _ = answers.send(answer);
            }
        }
    }
}

struct Fixture {
    sup: arbor::Supervisor,
    asks: mpsc::UnboundedSender<Ask>,
    answers: mpsc::UnboundedReceiver<Result<(), Error>>,
    tracker: Arc<Tracker>,
}

impl Fixture {
    fn new() -> Self {
        let tracker = Tracker::new();
        let child: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&Kills::new())));
        let (asks, rx) = mpsc::unbounded_channel();
        let (tx, answers) = mpsc::unbounded_channel();
        let sup = supervisor(parent(child, Arc::new(tokio::sync::Mutex::new(rx)), tx));
        Fixture {
            sup,
            asks,
            answers,
            tracker,
        }
    }

    async fn ask(&mut self, ask: Ask) -> Result<(), Error> {
        self.asks.send(ask).unwrap();
        self.answers.recv().await.unwrap()
    }
}

#[tokio::test(start_paused = true)]
async fn a_healthy_run_that_allows_it_starts_children_and_steers_them() {
    let mut f = Fixture::new();
    let mut events = f.sup.events();
    expect(&mut events, entered("root", NodeState::Healthy)).await;

    f.ask(Ask::Start("a")).await.unwrap();
    expect(&mut events, entered("root.a", NodeState::Healthy)).await;
    assert!(matches!(
        f.ask(Ask::Start("a")).await,
        Err(Error::DuplicateName { .. })
    ));

    f.ask(Ask::Restart("a")).await.unwrap();
    let bounced = expect(&mut events, entered("root.a", NodeState::Canceled)).await;
    assert_eq!(bounced.bounce.as_deref(), Some("restarted by order"));
    expect(&mut events, entered("root.a", NodeState::Healthy)).await;

    f.ask(Ask::Stop("a")).await.unwrap();
    expect(&mut events, entered("root.a", NodeState::Stopped)).await;
    f.ask(Ask::Resume("a")).await.unwrap();
    expect(&mut events, entered("root.a", NodeState::Healthy)).await;

    // Removed, then started again under the same name: never two runs at once.
    f.ask(Ask::Remove("a")).await.unwrap();
    expect(&mut events, removed("root.a")).await;
    f.ask(Ask::Start("a")).await.unwrap();
    expect(&mut events, entered("root.a", NodeState::Healthy)).await;
    assert_eq!(f.tracker.entries("root.a"), 4);
    assert_eq!(f.sup.status().await.node_count(), 2);

    assert!(matches!(
        f.ask(Ask::Remove("ghost")).await,
        Err(Error::NoSuchNode { .. })
    ));
    f.sup.shutdown().await.into_result().unwrap();
    f.tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn a_run_orders_only_its_own_children() {
    // root.a is a child of root; root.a's own run may not order its sibling root.b.
    let sup = supervisor(root_with(|| {
        arbor::Group::new()
            .add("b", worker(&Kills::new()))
            .add("a", |ctx: Context| async move {
                let answer = ctx.restart_child("b").await; // root.a.b: no such child
                ctx.annotate("answer", format!("{answer:?}"));
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            })
    }));
    let (status, _) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
    let answer = &status.get("root.a").unwrap().notes["answer"];
    assert!(
        answer.contains("NoSuchNode") && answer.contains("root.a.b"),
        "{answer}"
    );
    assert_eq!(status.get("root.b").unwrap().restarts, 0);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn late_children_must_be_allowed_while_new() {
    let sup = supervisor(|ctx: Context| async move {
        ctx.signal(Signal::Healthy)?;
        let late = ctx.run("late", worker(&Kills::new()));
        let allow = ctx.allow_late_children();
        ctx.annotate("late", format!("{late:?}"));
        ctx.annotate("allow", format!("{allow:?}"));
        ctx.cancelled().await;
        Ok(())
    });
    let (status, _) = settled(&sup, all_healthy).await;
    assert!(status.root().notes["late"].contains("NotNew"));
    assert!(status.root().notes["allow"].contains("NotNew"));
    sup.shutdown().await.into_result().unwrap();
}

/// A run that removes a child and starts one of the same name as soon as it sees the removal,
/// over and over: the name is always free by the time the removal is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_childs_name_is_free_when_its_removal_is_seen() {
    const ROUNDS: usize = 5000;
    let (done, mut result) = mpsc::unbounded_channel();
    let sup = supervisor(move |ctx: Context| {
        let done = done.clone();
        async move {
            ctx.allow_late_children()?;
            ctx.signal(Signal::Healthy)?;
            for round in 0..ROUNDS {
                ctx.run("a", |ctx: Context| async move {
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                    Ok(())
                })
                .map_err(|err| anyhow::anyhow!("round {round}: {err}"))?;
                ctx.watch_child("a").until_state(NodeState::Healthy).await?;
                let mut gone = ctx.watch_child("a");
                ctx.remove_child("a").await?;
                gone.until(|e| e.removed).await?;
            }
            let _ = done.send(());
            ctx.cancelled().await;
            Ok(())
        }
    });
    let mut events = sup.events();
    tokio::select! {
        _ = result.recv() => {}
        dead = expect(&mut events, entered("root", NodeState::Dead)) => {
            panic!("a start after a seen removal was refused: {:?}", dead.error);
        }
    }
    sup.shutdown().await.into_result().unwrap();
}
