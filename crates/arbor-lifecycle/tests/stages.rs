//! The task lifecycle with plain runnables on a paused clock: stage order, restarts per task,
//! the leader, the stop order and shutdown at each stage.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, EventStream, NodeState, Runnable, Signal, Supervisor};
use arbor_lifecycle::{Error, Hook, Mode, RestartPolicy, Stage, Task, TaskGroup};
use arbor_test_kit::*;
use tokio::sync::broadcast;

/// A long-running task: Healthy, then serves until told to stop.
async fn serve(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    ctx.cancelled().await;
    Ok(())
}

/// A job that succeeds at once.
async fn job(_ctx: Context) -> anyhow::Result<()> {
    Ok(())
}

/// A job that fails its first `failures` runs, then succeeds; counts its runs.
fn flaky(failures: usize, runs: &Arc<AtomicUsize>) -> impl Runnable {
    let runs = runs.clone();
    move |_ctx: Context| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        async move {
            if run < failures {
                anyhow::bail!("migration failed, run {}", run + 1);
            }
            Ok(())
        }
    }
}

fn quick() -> RestartPolicy {
    RestartPolicy::default()
        .attempts(5)
        .interval(Duration::from_secs(60))
        .delay(ms(10))
}

/// A supervisor whose root runs `group` as `root.web`.
fn run_web(group: &TaskGroup) -> Supervisor {
    let group = group.clone();
    supervisor(move |ctx: Context| {
        let group = group.clone();
        async move {
            ctx.run("web", group)?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    })
}

/// The full group of the issue.
fn full_group() -> TaskGroup {
    TaskGroup::new([
        Task::new("migrate", job).hook(Hook::Prestart),
        Task::new("proxy", serve).hook(Hook::Prestart).sidecar(),
        Task::new("api", serve),
        Task::new("worker", serve),
        Task::new("warmup", job).hook(Hook::Poststart),
        Task::new("deregister", job).hook(Hook::Poststop),
    ])
    .unwrap()
}

/// The tasks' transitions, as `"migrate Done"`, in order, until `last` is seen.
async fn task_steps(events: &mut EventStream, last: &str) -> Vec<String> {
    let mut steps = Vec::new();
    loop {
        let event = tokio::time::timeout(DEADLINE, events.next())
            .await
            .unwrap_or_else(|_| panic!("{last:?} not seen; saw {steps:#?}"))
            .expect("the tree runs");
        let dn = event.dn.to_string();
        if let Some(task) = dn.strip_prefix("root.web.") {
            let step = format!(
                "{task} {:?}{}",
                event.to,
                if event.removed { " removed" } else { "" }
            );
            let end = step == last;
            steps.push(step);
            if end {
                return steps;
            }
        }
    }
}

fn at(steps: &[String], step: &str) -> usize {
    steps
        .iter()
        .position(|s| s == step)
        .unwrap_or_else(|| panic!("{step:?} not in {steps:#?}"))
}

fn before(steps: &[String], earlier: &str, later: &str) {
    assert!(
        at(steps, earlier) < at(steps, later),
        "{earlier:?} before {later:?}: {steps:#?}"
    );
}

/// Waits for `root.web` to die, with an error that says each of `words`.
async fn group_dies_with(sup: &Supervisor, words: &[&str]) {
    let died = sup
        .watch("root.web")
        .within(DEADLINE)
        .until_state(NodeState::Dead)
        .await
        .unwrap();
    let error = died.error.as_deref().unwrap();
    assert!(words.iter().all(|w| error.contains(w)), "{error}");
}

async fn stages_until(
    stages: &mut broadcast::Receiver<arbor_lifecycle::StageChange>,
    last: Stage,
) -> Vec<Stage> {
    let mut seen = Vec::new();
    loop {
        let change = tokio::time::timeout(DEADLINE, stages.recv())
            .await
            .expect("a stage change")
            .expect("no lag");
        seen.push(change.stage);
        if change.stage == last {
            return seen;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_group_starts_and_stops_in_the_seeds_order() {
    let group = full_group();
    let mut stages = group.stages();
    let sup = run_web(&group);
    let mut events = sup.events();
    let up = task_steps(&mut events, "warmup Done").await;
    for main in ["api", "worker"] {
        before(&up, "migrate Done", &format!("{main} New"));
        before(&up, "proxy Healthy", &format!("{main} New"));
        before(&up, &format!("{main} Healthy"), "warmup New");
    }
    assert_eq!(
        stages_until(&mut stages, Stage::Wait).await,
        [
            Stage::Init,
            Stage::Prestart,
            Stage::Main,
            Stage::Poststart,
            Stage::Wait
        ]
    );
    let status = sup.status().await;
    assert_eq!(status.get("root.web").unwrap().notes["stage"], "wait");
    assert_eq!(status.get("root.web").unwrap().state, NodeState::Healthy);

    let stopping = tokio::spawn(async move { sup.shutdown().await });
    let down = task_steps(&mut events, "deregister Done").await;
    for main in ["api", "worker"] {
        before(&down, &format!("{main} Stopped"), "proxy Stopped");
    }
    before(&down, "proxy Stopped", "deregister New");
    assert_clean(stopping.await.unwrap());
    assert_eq!(
        stages_until(&mut stages, Stage::Poststop).await,
        [Stage::Poststop]
    );
}

#[tokio::test(start_paused = true)]
async fn main_waits_for_a_prestart_job_that_fails_twice_then_succeeds() {
    let runs = Arc::new(AtomicUsize::new(0));
    let group = TaskGroup::new([
        Task::new("migrate", flaky(2, &runs))
            .hook(Hook::Prestart)
            .restart(quick()),
        Task::new("api", serve),
    ])
    .unwrap();
    let sup = run_web(&group);
    let mut events = sup.events();
    let steps = task_steps(&mut events, "api Healthy").await;
    let deaths = steps.iter().filter(|s| *s == "migrate Dead").count();
    assert_eq!(deaths, 2, "{steps:#?}");
    before(&steps, "migrate Done", "api New");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_clean(sup.shutdown().await);
}

#[tokio::test(start_paused = true)]
async fn with_mode_fail_a_job_that_uses_up_its_attempts_fails_the_group() {
    let runs = Arc::new(AtomicUsize::new(0));
    let group = TaskGroup::new([
        Task::new("migrate", flaky(usize::MAX, &runs))
            .hook(Hook::Prestart)
            .restart(quick().attempts(1).mode(Mode::Fail)),
        Task::new("api", serve),
    ])
    .unwrap();
    let sup = run_web(&group);
    group_dies_with(&sup, &["restart limit", "root.web.migrate"]).await;
    let status = sup.status().await;
    assert!(
        status.get("root.web.api").is_none(),
        "main never started:\n{status}"
    );
    assert_clean(sup.shutdown().await);
}

#[tokio::test(start_paused = true)]
async fn with_mode_delay_the_job_waits_and_the_group_does_not_fail() {
    let runs = Arc::new(AtomicUsize::new(0));
    let group = TaskGroup::new([
        Task::new("migrate", flaky(3, &runs))
            .hook(Hook::Prestart)
            .restart(
                quick()
                    .attempts(1)
                    .interval(Duration::from_secs(10))
                    .mode(Mode::Delay),
            ),
        Task::new("api", serve),
    ])
    .unwrap();
    let sup = run_web(&group);
    let mut events = sup.events();
    let steps = task_steps(&mut events, "api Healthy").await;
    before(&steps, "migrate Done", "api New");
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    let status = sup.status().await;
    assert_eq!(
        status.get("root.web").unwrap().restarts,
        0,
        "the group never failed"
    );
    assert_clean(sup.shutdown().await);
}

#[tokio::test(start_paused = true)]
async fn a_sidecar_that_dies_while_main_runs_restarts_alone() {
    let kills = Kills::new();
    let group = TaskGroup::new([
        Task::new("proxy", worker(&kills))
            .hook(Hook::Prestart)
            .sidecar()
            .restart(quick()),
        Task::new("api", serve),
    ])
    .unwrap();
    let mut stages = group.stages();
    let sup = run_web(&group);
    stages_until(&mut stages, Stage::Wait).await;
    let mut events = sup.events();
    kills.kill("root.web.proxy");
    let mut steps = task_steps(&mut events, "proxy Dead").await;
    steps.extend(task_steps(&mut events, "proxy Healthy").await);
    assert!(
        !steps
            .iter()
            .any(|s| s.starts_with("api") && s != "api Healthy"),
        "{steps:#?}"
    );
    let status = sup.status().await;
    assert_eq!(status.get("root.web.api").unwrap().restarts, 0);
    assert_eq!(status.get("root.web").unwrap().restarts, 0);
    assert_clean(sup.shutdown().await);
}

#[tokio::test(start_paused = true)]
async fn when_the_leader_exits_the_others_stop_in_order_poststop_runs_and_the_group_is_done() {
    let group = TaskGroup::new([
        Task::new("proxy", serve).hook(Hook::Prestart).sidecar(),
        Task::new("batch", |ctx: Context| async move {
            ctx.signal(Signal::Healthy)?;
            tokio::time::sleep(ms(100)).await;
            Ok(())
        })
        .leader(),
        Task::new("api", serve),
        Task::new("reporter", serve).hook(Hook::Poststart).sidecar(),
        Task::new("cleanup", job).hook(Hook::Poststop),
    ])
    .unwrap();
    let sup = run_web(&group);
    let mut events = sup.events();
    let steps = task_steps(&mut events, "cleanup Done").await;
    before(&steps, "batch Done", "api Stopped");
    before(&steps, "api Stopped", "proxy Stopped");
    before(&steps, "reporter Stopped", "proxy Stopped");
    before(&steps, "proxy Stopped", "cleanup New");
    sup.watch("root.web")
        .within(DEADLINE)
        .until_state(NodeState::Done)
        .await
        .unwrap();
    assert_clean(sup.shutdown().await);
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_fails_ends_the_group_with_its_error() {
    let group = TaskGroup::new([
        Task::new("batch", |_ctx: Context| async move {
            anyhow::bail!("bad input")
        })
        .leader(),
        Task::new("api", serve),
    ])
    .unwrap();
    let sup = run_web(&group);
    group_dies_with(&sup, &["leader \"batch\" failed", "bad input"]).await;
    assert_clean(sup.shutdown().await);
}

/// Counts the runs of a poststop job.
fn counted_job(runs: &Arc<AtomicUsize>) -> impl Runnable {
    let runs = runs.clone();
    move |_ctx: Context| {
        runs.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    }
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_prestart_stops_the_job_and_runs_poststop_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let group = TaskGroup::new([
        Task::new("migrate", serve).hook(Hook::Prestart), // never finishes
        Task::new("api", serve),
        Task::new("cleanup", counted_job(&runs)).hook(Hook::Poststop),
    ])
    .unwrap();
    let sup = run_web(&group);
    sup.watch("root.web.migrate")
        .within(DEADLINE)
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    let report = sup.shutdown().await;
    assert_clean(report);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_main_aborts_a_stuck_task_after_its_kill_timeout_and_reports_it() {
    let runs = Arc::new(AtomicUsize::new(0));
    let group = TaskGroup::new([
        Task::new("stubborn", |ctx: Context| async move {
            ctx.signal(Signal::Healthy)?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .kill_timeout(ms(200)),
        Task::new("cleanup", counted_job(&runs)).hook(Hook::Poststop),
    ])
    .unwrap();
    let mut stages = group.stages();
    let sup = run_web(&group);
    stages_until(&mut stages, Stage::Wait).await;
    let report = sup.shutdown().await;
    let stuck: Vec<String> = report.stuck.iter().map(ToString::to_string).collect();
    assert_eq!(stuck, ["root.web.stubborn"]);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "poststop ran after the abort"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_poststop_lets_it_finish_within_its_kill_timeout() {
    let (finished, slow_cleanup) = {
        let finished = Arc::new(AtomicUsize::new(0));
        let f = finished.clone();
        (finished, move |ctx: Context| {
            let f = f.clone();
            async move {
                // Runs uncancelled, although the tree is shutting down.
                assert!(!ctx.is_cancelled());
                tokio::time::sleep(ms(50)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
    };
    let group = TaskGroup::new([
        Task::new("api", serve),
        Task::new("cleanup", slow_cleanup)
            .hook(Hook::Poststop)
            .kill_timeout(ms(500)),
    ])
    .unwrap();
    let mut stages = group.stages();
    let sup = run_web(&group);
    stages_until(&mut stages, Stage::Wait).await;
    assert_clean(sup.shutdown().await);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(
        stages_until(&mut stages, Stage::Poststop).await,
        [Stage::Poststop]
    );
}

#[tokio::test(start_paused = true)]
async fn a_poststop_task_that_overruns_during_shutdown_is_stopped_and_reported() {
    let group = TaskGroup::new([
        Task::new("api", serve),
        Task::new("cleanup", |_ctx: Context| async move {
            std::future::pending::<()>().await;
            Ok(())
        })
        .hook(Hook::Poststop)
        .kill_timeout(ms(100)),
    ])
    .unwrap();
    let mut stages = group.stages();
    let sup = run_web(&group);
    stages_until(&mut stages, Stage::Wait).await;
    let report = sup.shutdown().await;
    let stuck: Vec<String> = report.stuck.iter().map(ToString::to_string).collect();
    assert_eq!(stuck, ["root.web.cleanup"]);
}

#[tokio::test(start_paused = true)]
async fn empty_stages_are_skipped() {
    let group = TaskGroup::new([
        Task::new("api", serve),
        Task::new("bye", job).hook(Hook::Poststop),
    ])
    .unwrap();
    let mut stages = group.stages();
    let sup = run_web(&group);
    assert_eq!(
        stages_until(&mut stages, Stage::Wait).await,
        [Stage::Init, Stage::Main, Stage::Wait]
    );
    assert_clean(sup.shutdown().await);
    assert_eq!(
        stages_until(&mut stages, Stage::Poststop).await,
        [Stage::Poststop]
    );

    let group = TaskGroup::new([Task::new("api", serve)]).unwrap();
    let mut stages = group.stages();
    let sup = run_web(&group);
    assert_eq!(
        stages_until(&mut stages, Stage::Wait).await,
        [Stage::Init, Stage::Main, Stage::Wait]
    );
    assert_clean(sup.shutdown().await);
    assert!(
        stages.try_recv().is_err(),
        "no poststop stage without poststop tasks"
    );
}

#[test]
fn a_group_that_cannot_run_is_refused_with_the_reason() {
    let cases: Vec<(Vec<Task>, Error)> = vec![
        (
            vec![Task::new("bye", job).hook(Hook::Poststop)],
            Error::NoMainTask,
        ),
        (
            vec![Task::new("a", serve), Task::new("a", job)],
            Error::DuplicateTask { name: "a".into() },
        ),
        (
            vec![
                Task::new("a", serve).leader(),
                Task::new("b", serve).leader(),
            ],
            Error::BadLeader {
                name: "b".into(),
                reason: "a group has at most one leader",
            },
        ),
        (
            vec![
                Task::new("a", serve),
                Task::new("p", serve).hook(Hook::Prestart).leader(),
            ],
            Error::BadLeader {
                name: "p".into(),
                reason: "the leader must be a main task",
            },
        ),
        (
            vec![
                Task::new("a", serve),
                Task::new("bye", job).hook(Hook::Poststop).sidecar(),
            ],
            Error::PoststopSidecar { name: "bye".into() },
        ),
        (
            vec![Task::new("a", serve).restart(RestartPolicy::default().delay(Duration::ZERO))],
            Error::BadRestart {
                name: "a".into(),
                reason: "its restart delay is zero",
            },
        ),
        (
            vec![Task::new("a", serve)
                .restart(RestartPolicy::default().attempts(0).mode(Mode::Delay))],
            Error::BadRestart {
                name: "a".into(),
                reason: "mode delay needs at least one attempt",
            },
        ),
    ];
    for (tasks, want) in cases {
        let err = TaskGroup::new(tasks).unwrap_err();
        assert_eq!(err, want);
        assert!(!err.to_string().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_that_arrives_during_poststop_lets_it_finish_once() {
    let finished = Arc::new(AtomicUsize::new(0));
    let cleanup = {
        let finished = finished.clone();
        move |_ctx: Context| {
            let finished = finished.clone();
            async move {
                tokio::time::sleep(ms(100)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
    };
    let group = TaskGroup::new([
        Task::new("batch", |ctx: Context| async move {
            ctx.signal(Signal::Healthy)?;
            tokio::time::sleep(ms(10)).await;
            Ok(())
        })
        .leader(),
        Task::new("cleanup", cleanup)
            .hook(Hook::Poststop)
            .kill_timeout(ms(500)),
    ])
    .unwrap();
    let mut stages = group.stages();
    let sup = run_web(&group);
    stages_until(&mut stages, Stage::Poststop).await;
    sup.watch("root.web.cleanup")
        .within(DEADLINE)
        .until_state(NodeState::New)
        .await
        .unwrap();
    assert_clean(sup.shutdown().await);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}
