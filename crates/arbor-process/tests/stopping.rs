//! Cancellation stops the whole process group politely, then firmly; nothing is left behind.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arbor::{Backoff, Context, Group, NodeState, Signal};
use arbor_process::Regex;
use arbor_test_kit::*;
use common::*;

fn ready_line() -> Regex {
    Regex::new("^ready$").expect("a valid pattern")
}

/// Starts a grandchild that ignores SIGTERM, so only a SIGKILL to the group can end it, and
/// waits until it has recorded its pid in `grandchild` (after its trap is set).
// The pid file is removed first: after a restart the old one would satisfy the wait at once.
const STUBBORN_GRANDCHILD: &str = "rm -f grandchild; \
    sh -c 'trap \"\" TERM; echo $$ > grandchild; exec sleep 1000' & \
                                   while [ ! -s grandchild ]; do sleep 0.01; done";

/// Whether `pid` ignores SIGTERM (bit 15 of `SigIgn` in `/proc/<pid>/status`).
fn ignores_term(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    mask & (1 << (15 - 1)) != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_sends_sigterm_which_the_program_can_handle() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = "trap 'echo term > marker; exit 0' TERM; echo $$ > pid; echo ready; \
                  sleep 1000 & wait";
    let cmd = sh(script)
        .current_dir(dir.path())
        .ready_on_line(ready_line());
    let sup = supervisor_with(root_running("polite", cmd), fast_backoff());
    let mut events = sup.events();
    expect(&mut events, entered("root.polite", NodeState::Healthy)).await;
    let pid = read_pid(&dir.path().join("pid")).await;

    shutdown(&sup).await;
    expect(&mut events, entered("root.polite", NodeState::Canceled)).await;
    let marker = std::fs::read_to_string(dir.path().join("marker")).expect("the TERM trap ran");
    assert_eq!(marker, "term\n");
    assert!(!alive(pid), "reaped before the run returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // `exec` keeps the pid, and an ignored signal stays ignored across exec.
    let cmd = sh("trap '' TERM; echo $$ > pid; echo ready; exec sleep 1000")
        .current_dir(dir.path())
        .ready_on_line(ready_line())
        .grace_period(Duration::from_millis(300));
    let sup = supervisor_with(root_running("stubborn", cmd), fast_backoff());
    let mut events = sup.events();
    expect(&mut events, entered("root.stubborn", NodeState::Healthy)).await;
    let pid = read_pid(&dir.path().join("pid")).await;
    assert!(ignores_term(pid), "the program really ignores SIGTERM");

    shutdown(&sup).await;
    expect(&mut events, entered("root.stubborn", NodeState::Canceled)).await;
    assert!(!alive(pid), "killed and reaped before the run returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_grandchild_survives_a_shutdown() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cmd = sh(&format!("{STUBBORN_GRANDCHILD}; echo ready; wait"))
        .current_dir(dir.path())
        .ready_on_line(ready_line())
        .grace_period(Duration::from_secs(5));
    let sup = supervisor_with(root_running("parent", cmd), fast_backoff());
    let mut events = sup.events();
    expect(&mut events, entered("root.parent", NodeState::Healthy)).await;
    let grandchild = read_pid(&dir.path().join("grandchild")).await;
    assert!(alive(grandchild) && ignores_term(grandchild));

    // The shell dies of the SIGTERM; the grandchild ignores it and is SIGKILLed with the
    // rest of the group once its parent has exited.
    shutdown(&sup).await;
    wait_gone(grandchild).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_grandchild_survives_a_group_restart() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cmd = sh(&format!("{STUBBORN_GRANDCHILD}; echo ready; wait"))
        .current_dir(dir.path())
        .ready_on_line(ready_line());
    // A group sibling that dies when the test says so.
    let kills = Kills::new();
    let sibling = Arc::new(worker(&kills));
    let root = move |ctx: Context| {
        let (cmd, sibling) = (cmd.clone(), sibling.clone());
        async move {
            ctx.run_group(Group::new().add("proc", cmd).add_shared("sibling", sibling))?;
            ctx.signal(Signal::Healthy)?;
            ctx.signal(Signal::Done)?;
            Ok(())
        }
    };
    let sup = supervisor_with(root, fast_backoff());
    let mut events = sup.events();
    expect(&mut events, entered("root.proc", NodeState::Healthy)).await;
    let first = read_pid(&dir.path().join("grandchild")).await;
    assert!(alive(first));

    // A kill is kept: the sibling crashes as soon as it waits, if it is not waiting yet.
    kills.kill("root.sibling");
    expect(&mut events, entered("root.proc", NodeState::Canceled)).await;
    wait_gone(first).await;
    // The group restarts, with a new grandchild.
    expect(&mut events, entered("root.proc", NodeState::Healthy)).await;
    let second = read_pid(&dir.path().join("grandchild")).await;
    assert_ne!(first, second);
    assert!(alive(second));
    shutdown(&sup).await;
    wait_gone(second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_grandchild_survives_its_parent_exiting_by_itself() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cmd = sh(&format!("{STUBBORN_GRANDCHILD}; exit 1")).current_dir(dir.path());
    // A long backoff: the restart (which would write a new pid file) waits until shutdown.
    let slow = Backoff::default()
        .initial(Duration::from_secs(600))
        .max_interval(Duration::from_secs(600))
        .randomization(0.0);
    let sup = supervisor_with(root_running("leaky", cmd), slow);
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.leaky", NodeState::Dead)).await;
    assert!(error_of(&dead).contains("exited with code 1"));
    let grandchild = read_pid(&dir.path().join("grandchild")).await;
    wait_gone(grandchild).await;
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_run_kills_its_process_group() {
    use arbor::Runnable;

    // Run the command's future outside any supervisor's control and drop it while it serves,
    // as a supervisor aborting a stuck node at its shutdown deadline would.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cmd = sh(&format!(
        "{STUBBORN_GRANDCHILD}; echo $$ > pid; echo ready; wait"
    ))
    .current_dir(dir.path())
    .ready_on_line(ready_line());
    let (run_tx, mut run_rx) = tokio::sync::mpsc::unbounded_channel();
    let root = move |ctx: Context| {
        let (cmd, run_tx) = (cmd.clone(), run_tx.clone());
        async move {
            // The root hosts the command's run in a task it aborts on request.
            let task = tokio::spawn(cmd.run(ctx.clone()));
            let _ = run_tx.send(task.abort_handle());
            ctx.cancelled().await;
            task.abort();
            Ok(())
        }
    };
    let sup = supervisor_with(root, fast_backoff());
    let mut events = sup.events();
    expect(&mut events, entered("root", NodeState::Healthy)).await;
    let leader = read_pid(&dir.path().join("pid")).await;
    let grandchild = read_pid(&dir.path().join("grandchild")).await;
    let abort = tokio::time::timeout(DEADLINE, run_rx.recv())
        .await
        .expect("the run started")
        .expect("a handle");
    abort.abort();
    wait_gone(leader).await;
    wait_gone(grandchild).await;
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_signal_replaces_sigterm() {
    assert_the_sigint_trap_ends_the_program().await;
}
