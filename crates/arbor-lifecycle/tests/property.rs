//! Random task groups, with jobs that fail a random number of times, sidecars and poststop
//! jobs, shut down at a random moment: the stage rules and the stop order hold in every one,
//! poststop jobs run exactly once, and the shutdown is clean. The invariant walker of the core
//! runs after every processor batch (feature `invariants`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, Event, NodeState, Runnable, Signal, Supervisor};
use arbor_lifecycle::{Hook, RestartPolicy, Task, TaskGroup};
use arbor_test_kit::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Spec {
    /// Each prestart job fails this many times, then succeeds.
    prestart_jobs: Vec<usize>,
    prestart_sidecar: bool,
    mains: usize,
    poststart_job: Option<usize>,
    poststop_jobs: usize,
    /// The shutdown comes this long after the start.
    shutdown_after_ms: u64,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(0usize..3, 0..3),
        any::<bool>(),
        1usize..4,
        prop::option::of(0usize..3),
        0usize..3,
        0u64..60,
    )
        .prop_map(
            |(prestart_jobs, prestart_sidecar, mains, poststart_job, poststop_jobs, after)| Spec {
                prestart_jobs,
                prestart_sidecar,
                mains,
                poststart_job,
                poststop_jobs,
                shutdown_after_ms: after,
            },
        )
}

/// Takes a while, fails its first `failures` runs, then succeeds; counts its runs.
fn job(failures: usize, runs: &Arc<AtomicUsize>) -> impl Runnable {
    let runs = runs.clone();
    move |_ctx: Context| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            anyhow::ensure!(run >= failures, "failure {}", run + 1);
            Ok(())
        }
    }
}

async fn serve(ctx: Context) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    ctx.signal(Signal::Healthy)?;
    ctx.cancelled().await;
    Ok(())
}

async fn scenario(spec: Spec) {
    let retry = RestartPolicy::default()
        .attempts(10)
        .interval(Duration::from_secs(60))
        .delay(Duration::from_millis(2));
    let mut tasks = Vec::new();
    for (i, &failures) in spec.prestart_jobs.iter().enumerate() {
        let runs = Arc::new(AtomicUsize::new(0));
        tasks.push(
            Task::new(format!("pre{i}"), job(failures, &runs))
                .hook(Hook::Prestart)
                .restart(retry),
        );
    }
    if spec.prestart_sidecar {
        tasks.push(Task::new("sidecar", serve).hook(Hook::Prestart).sidecar());
    }
    for i in 0..spec.mains {
        tasks.push(Task::new(format!("main{i}"), serve).restart(retry));
    }
    if let Some(failures) = spec.poststart_job {
        let runs = Arc::new(AtomicUsize::new(0));
        tasks.push(
            Task::new("post", job(failures, &runs))
                .hook(Hook::Poststart)
                .restart(retry),
        );
    }
    let poststop_runs: Vec<Arc<AtomicUsize>> = (0..spec.poststop_jobs)
        .map(|_| Arc::new(AtomicUsize::new(0)))
        .collect();
    for (i, runs) in poststop_runs.iter().enumerate() {
        tasks.push(Task::new(format!("stop{i}"), job(0, runs)).hook(Hook::Poststop));
    }
    let group = TaskGroup::new(tasks).unwrap();

    let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
    let gate = parking_lot::Mutex::new(Some(gate_rx));
    let sup = supervisor(move |ctx: Context| {
        let (group, gate) = (group.clone(), gate.lock().take());
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            ctx.run("web", group)?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    let mut events = sup.events();
    let _ = gate_tx.send(());
    tokio::time::sleep(Duration::from_millis(spec.shutdown_after_ms)).await;
    let stopping: tokio::task::JoinHandle<arbor::ShutdownReport> = {
        let sup: Supervisor = sup;
        tokio::spawn(async move { sup.shutdown().await })
    };
    let mut seen: Vec<Event> = Vec::new();
    while let Some(event) = events.next().await {
        if event.dn.to_string().starts_with("root.web.") {
            seen.push(event);
        }
    }
    assert_clean(stopping.await.unwrap());
    check(&spec, &seen);
    for runs in &poststop_runs {
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "each poststop job runs once: {seen:#?}"
        );
    }
}

fn task(event: &Event) -> String {
    event.dn.name().to_owned()
}

/// Where the first event of `name` reaching `to` is, if any.
fn first(seen: &[Event], name: &str, to: NodeState) -> Option<usize> {
    seen.iter().position(|e| task(e) == name && e.to == to)
}

fn check(spec: &Spec, seen: &[Event]) {
    let mains: Vec<String> = (0..spec.mains).map(|i| format!("main{i}")).collect();
    let first_main = mains
        .iter()
        .filter_map(|m| first(seen, m, NodeState::New))
        .min();
    if let Some(first_main) = first_main {
        // Main starts only once every prestart job succeeded and the sidecar is Healthy.
        for i in 0..spec.prestart_jobs.len() {
            let done = first(seen, &format!("pre{i}"), NodeState::Done);
            assert!(
                done.is_some_and(|d| d < first_main),
                "pre{i} Done before main: {seen:#?}"
            );
        }
        if spec.prestart_sidecar {
            let up = first(seen, "sidecar", NodeState::Healthy);
            assert!(
                up.is_some_and(|u| u < first_main),
                "sidecar Healthy before main: {seen:#?}"
            );
            // The sidecar stops after every main task.
            let sidecar_stopped = first(seen, "sidecar", NodeState::Stopped).expect("stopped");
            for m in &mains {
                if let Some(stopped) = first(seen, m, NodeState::Stopped) {
                    assert!(
                        stopped < sidecar_stopped,
                        "{m} stops before the sidecar: {seen:#?}"
                    );
                }
            }
        }
    }
    // The poststart job starts only once every main task has run.
    if let Some(post) = first(seen, "post", NodeState::New) {
        for m in &mains {
            let ran = seen
                .iter()
                .position(|e| task(e) == *m && e.to != NodeState::New)
                .expect("main ran");
            assert!(ran < post, "{m} ran before post: {seen:#?}");
        }
    }
    // Poststop jobs start once everything else has stopped.
    for i in 0..spec.poststop_jobs {
        let start = first(seen, &format!("stop{i}"), NodeState::New).expect("poststop ran");
        for e in &seen[start..] {
            let name = task(e);
            assert!(
                name.starts_with("stop") || e.to == NodeState::Stopped || e.removed,
                "nothing but poststop runs after stop{i} started: {e:?} in {seen:#?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_group_keeps_the_stage_rules_and_stop_order_whenever_it_is_shut_down(spec in spec()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(scenario(spec));
    }
}
