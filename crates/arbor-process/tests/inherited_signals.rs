//! A program does not inherit the signals its supervisor ignores. This binary ignores SIGINT
//! and SIGQUIT for the whole process, as a tree started under `nohup` or as a script's
//! background job does, so it holds this one test alone.
#![allow(unsafe_code)] // to ignore signals in this process, as such a parent would

mod common;

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
    // A shell cannot trap a signal ignored when it started: the trap proves the reset.
    assert_the_sigint_trap_ends_the_program().await;
}
