//! A program does not inherit the signals its supervisor ignores. This binary ignores SIGINT
//! and SIGQUIT for the whole process, as a tree started under `nohup` or as a script's
//! background job does, so it holds this one test alone.
#![allow(unsafe_code)] // to ignore signals in this process, as such a parent would

mod common;

use std::time::Duration;

use arbor::NodeState;
use arbor_process::{Regex, UnixSignal};
use arbor_test_kit::*;
use common::*;
use nix::sys::signal::{self, SigHandler, Signal};

/// The signals a non-interactive shell ignores in a background job.
fn ignore_as_a_background_job() {
    for sig in [Signal::SIGINT, Signal::SIGQUIT] {
        // SAFETY: ignoring installs no handler, so no code of ours runs on a signal.
        unsafe { signal::signal(sig, SigHandler::SigIgn) }.expect("a signal can be ignored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_can_trap_a_signal_its_supervisor_ignores() {
    ignore_as_a_background_job();
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A shell cannot trap a signal ignored when it started: the trap proves the reset.
    let script = "trap 'echo int > marker; exit 0' INT; echo ready; \
                  while :; do sleep 0.05; done";
    let cmd = sh(script)
        .current_dir(dir.path())
        .ready_on_line(Regex::new("^ready$").expect("a valid pattern"))
        .stop_signal(UnixSignal::SIGINT)
        .grace_period(Duration::from_secs(30));
    let sup = supervisor_with(root_running("interrupted", cmd), fast_backoff());
    let mut events = sup.events();
    expect(&mut events, entered("root.interrupted", NodeState::Healthy)).await;

    shutdown(&sup).await;
    expect(
        &mut events,
        entered("root.interrupted", NodeState::Canceled),
    )
    .await;
    let marker = std::fs::read_to_string(dir.path().join("marker")).expect("the INT trap ran");
    assert_eq!(marker, "int\n");
}
