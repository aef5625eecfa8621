//! A program starts with every signal at its default action, whatever this process ignores.
//!
//! An ignored signal stays ignored across `exec`, and a shell cannot trap a signal that was
//! ignored when it started. So a tree run under `nohup`, or started as a background job of a
//! script (which ignores SIGINT and SIGQUIT), would pass those dispositions on: a program
//! whose [`stop_signal`](crate::Command::stop_signal) is SIGINT would never see it, and would
//! be killed at the end of its grace period instead of stopping politely. Supervisors (runit,
//! s6, systemd) reset them for the same reason. Handlers need no reset (`exec` does that),
//! and the standard library's spawn empties the signal mask and restores SIGPIPE, which every
//! Rust program ignores.
//!
//! The reset runs in the child between `fork` and `exec`, which keeps the standard library
//! from spawning with `posix_spawn`; so it is asked for only when this process does ignore a
//! signal, and a spawn otherwise stays as fast as it was.

use std::mem::MaybeUninit;
use std::ptr;

use nix::libc;

/// Has the program spawned by `cmd` start with default actions for the signals this process
/// ignores (none is asked for when it ignores none).
pub(crate) fn reset_in_child(cmd: &mut tokio::process::Command) {
    if !signals().any(ignored) {
        return;
    }
    // SAFETY: the closure runs in the forked child before `exec`, where only
    // async-signal-safe functions may be called: it calls `sigaction` and `signal` only, and
    // neither allocates nor takes a lock.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            for signal in signals().filter(|&s| ignored(s)) {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
}

/// The signals whose disposition is passed on: all but SIGPIPE, which the standard library
/// restores itself, and SIGKILL and SIGSTOP, which cannot be ignored.
fn signals() -> impl Iterator<Item = libc::c_int> {
    (1..=libc::SIGRTMAX())
        .filter(|&s| s != libc::SIGPIPE && s != libc::SIGKILL && s != libc::SIGSTOP)
}

/// Whether this process ignores `signal` (false for a number that is not a signal).
fn ignored(signal: libc::c_int) -> bool {
    let mut current = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one, into memory we own; `sigaction`
    // is async-signal-safe, so this may also run in the forked child.
    #[allow(unsafe_code)]
    unsafe {
        libc::sigaction(signal, ptr::null(), current.as_mut_ptr()) == 0
            && current.assume_init().sa_sigaction == libc::SIG_IGN
    }
}
