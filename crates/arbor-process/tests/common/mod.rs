//! Helpers of the subprocess tests, on top of `arbor-test-kit`: shell scripts, a root for one
//! command, and waits on files and `/proc`, within the kit's deadline.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of this

use std::path::Path;
use std::time::Duration;

use arbor::{Context, Event, NodeState, Runnable, Signal};
use arbor_process::{Command, Regex, UnixSignal};
use arbor_test_kit::{entered, expect, fast_backoff, shutdown, supervisor_with, DEADLINE};
use tokio::time::timeout;

/// Between two looks at something outside the process (a file, `/proc`): polling a real
/// resource, always inside a deadline.
const POLL: Duration = Duration::from_millis(10);

/// `sh -c script`: the program is `sh`, the script one argument (no shell parses our call).
pub fn sh(script: &str) -> Command {
    Command::new("sh").arg("-c").arg(script)
}

/// A root whose only child `name` runs `cmd`; the root itself is then Done (the child runs on).
pub fn root_running(name: &'static str, cmd: Command) -> impl Runnable {
    move |ctx: Context| {
        let cmd = cmd.clone();
        async move {
            ctx.run(name, cmd)?;
            ctx.signal(Signal::Healthy)?;
            ctx.signal(Signal::Done)?;
            Ok(())
        }
    }
}

/// Runs a shell that ignores SIGTERM and traps SIGINT under a node whose stop signal is
/// SIGINT, shuts the tree down, and checks that the trap ran: only the configured signal can
/// have ended it before its (long) grace period.
pub async fn assert_the_sigint_trap_ends_the_program() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = "trap '' TERM; trap 'echo int > marker; exit 0' INT; echo ready; \
                  sleep 1000 & wait";
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

/// The error text of an event, or "" if it has none.
pub fn error_of(event: &Event) -> &str {
    event.error.as_deref().unwrap_or("")
}

/// Reads a file another process writes, once it holds a complete line.
pub async fn read_when_written(path: &Path) -> String {
    let read = async {
        loop {
            if let Ok(text) = std::fs::read_to_string(path) {
                if text.ends_with('\n') {
                    break text.trim().to_owned();
                }
            }
            tokio::time::sleep(POLL).await;
        }
    };
    timeout(DEADLINE, read)
        .await
        .unwrap_or_else(|_| panic!("{} was not written before the deadline", path.display()))
}

/// A pid written to a file by a script.
pub async fn read_pid(path: &Path) -> u32 {
    let text = read_when_written(path).await;
    text.parse()
        .unwrap_or_else(|_| panic!("{} holds {text:?}, not a pid", path.display()))
}

/// The pid in a death message, e.g. `"sh" (pid 4242) exited with code 3`.
pub fn pid_in(message: &str) -> u32 {
    let digits = message
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no pid in {message:?}"));
    digits.parse().expect("a pid is a number")
}

/// Whether a process with this pid is running (it exists and is not a zombie). A killed
/// orphan is reparented to PID 1, which in some containers never reaps it: a zombie is dead.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state ...`; comm may hold spaces and parentheses, so split at the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Waits until the process is gone (see [`alive`]), or panics at the deadline.
pub async fn wait_gone(pid: u32) {
    let gone = async {
        while alive(pid) {
            tokio::time::sleep(POLL).await;
        }
    };
    timeout(DEADLINE, gone)
        .await
        .unwrap_or_else(|_| panic!("process {pid} is still running after the deadline"));
}
