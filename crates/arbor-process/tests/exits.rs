//! A process that exits, or cannot start, is a death that names the program and the cause.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use arbor::{Backoff, NodeState};
use arbor_process::Command;
use arbor_test_kit::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_program_is_restarted_with_backoff_and_its_exit_code_reported() {
    let sup = supervisor_with(root_running("crasher", sh("exit 3")), fast_backoff());
    let mut events = sup.events();
    let mut pids = Vec::new();
    for _ in 0..3 {
        let dead = expect(&mut events, entered("root.crasher", NodeState::Dead)).await;
        let error = error_of(&dead);
        assert!(error.contains("\"sh\""), "names the program: {error}");
        assert!(error.contains("exited with code 3"), "{error}");
        pids.push(pid_in(error));
        let restart = expect(&mut events, |e| {
            e.dn == "root.crasher" && e.from == Some(NodeState::Dead) && e.to == NodeState::New
        })
        .await;
        let delay = restart.delay.expect("a restart carries its delay");
        assert!(delay > Duration::ZERO, "a dead node waits out its backoff");
    }
    // Each restart is a new process.
    assert!(pids[0] != pids[1] && pids[1] != pids[2], "{pids:?}");
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_killed_by_a_signal_is_a_death_naming_the_signal() {
    let sup = supervisor_with(root_running("victim", sh("kill -9 $$")), fast_backoff());
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.victim", NodeState::Dead)).await;
    let error = error_of(&dead);
    assert!(error.contains("killed by signal 9 (SIGKILL)"), "{error}");
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_exit_is_a_death_too_because_a_service_should_keep_running() {
    let sup = supervisor_with(
        root_running("quitter", Command::new("true")),
        fast_backoff(),
    );
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.quitter", NodeState::Dead)).await;
    let error = error_of(&dead);
    assert!(
        error.contains("\"true\"") && error.contains("exited with code 0"),
        "{error}"
    );
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_is_a_death_naming_it_and_the_os_error() {
    let program = "arbor-process-test-no-such-program";
    let sup = supervisor_with(
        root_running("missing", Command::new(program)),
        fast_backoff(),
    );
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.missing", NodeState::Dead)).await;
    let error = error_of(&dead);
    assert!(
        error.contains(&format!("cannot start \"{program}\"")),
        "{error}"
    );
    assert!(error.contains("No such file or directory"), "{error}");
    // It keeps being retried (with backoff), never crashing the tree.
    let again = expect(&mut events, entered("root.missing", NodeState::Dead)).await;
    assert_eq!(again.error, dead.error);
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_executable_is_a_death_with_permission_denied() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").expect("write the script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644))
        .expect("make it not executable");
    let sup = supervisor_with(
        root_running("noexec", Command::new(&script)),
        fast_backoff(),
    );
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.noexec", NodeState::Dead)).await;
    let error = error_of(&dead);
    assert!(
        error.contains("not-executable.sh"),
        "names the program: {error}"
    );
    assert!(error.contains("Permission denied"), "{error}");
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_working_directory_is_named_in_the_error() {
    let cmd = sh("exit 0").current_dir("/nonexistent/arbor-process-test");
    let sup = supervisor_with(root_running("nodir", cmd), Backoff::default());
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.nodir", NodeState::Dead)).await;
    let error = error_of(&dead);
    assert!(
        error.contains("cannot start \"sh\" in \"/nonexistent/arbor-process-test\""),
        "{error}"
    );
    shutdown(&sup).await;
}

/// A root that runs `cmd` as a transient child `name`.
fn root_running_transient(name: &'static str, cmd: Command) -> impl arbor::Runnable {
    move |ctx: arbor::Context| {
        let cmd = cmd.clone();
        async move {
            ctx.run_child(arbor::Child::new(name, cmd).restart(arbor::Restart::Transient))?;
            ctx.signal(arbor::Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_exits_with_code_0_is_done_and_one_that_fails_is_a_death() {
    let sup = supervisor_with(
        root_running_transient("migrate", Command::new("true").job()),
        fast_backoff(),
    );
    let done = sup
        .watch("root.migrate")
        .within(DEADLINE)
        .until(|e| e.to != NodeState::New && e.to != NodeState::Healthy)
        .await
        .unwrap();
    assert_eq!(done.to, NodeState::Done, "{done:?}");
    shutdown(&sup).await;

    let sup = supervisor_with(
        root_running_transient("migrate", sh("exit 4").job()),
        fast_backoff(),
    );
    let dead = sup
        .watch("root.migrate")
        .within(DEADLINE)
        .until_state(NodeState::Dead)
        .await
        .unwrap();
    assert!(error_of(&dead).contains("exited with code 4"), "{dead:?}");
    shutdown(&sup).await;
}
