//! Helpers shared by the test binaries: waiting on events, files and `/proc`, with deadlines.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of this

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use arbor::{Backoff, Context, Event, Events, NodeState, Runnable, Signal, Supervisor};
use arbor_process::Command;
use tokio::time::timeout;

/// Generous: these deadlines only bound a test that is already failing.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Between two looks at something outside the process (a file, `/proc`): polling a real
/// resource, always inside a deadline.
const POLL: Duration = Duration::from_millis(10);

/// `sh -c script`: the program is `sh`, the script one argument (no shell parses our call).
pub fn sh(script: &str) -> Command {
    Command::new("sh").arg("-c").arg(script)
}

/// A backoff fast enough for tests, exact (no randomization).
pub fn fast_backoff() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(50))
        .max_interval(Duration::from_millis(200))
        .randomization(0.0)
}

/// A root that starts `cmd` as its child `name`, then is Done.
pub fn root_with(name: &'static str, cmd: Command) -> impl Runnable {
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

/// A supervisor over `root`, with the fast backoff and panics propagated.
pub fn supervise(root: impl Runnable, backoff: Backoff) -> Supervisor {
    Supervisor::builder()
        .backoff(backoff)
        .propagate_panics(true)
        .spawn(root)
        .expect("valid settings inside a runtime")
}

/// The next event that `want` accepts, or a panic naming `what` at the deadline.
pub async fn expect(events: &mut Events, what: &str, want: impl Fn(&Event) -> bool) -> Event {
    let hit = async {
        loop {
            let event = events.next().await.expect("the event stream ended");
            if want(&event) {
                break event;
            }
        }
    };
    timeout(DEADLINE, hit)
        .await
        .unwrap_or_else(|_| panic!("no event {what} before the deadline"))
}

/// The next transition of `dn` into `to`.
pub async fn expect_state(events: &mut Events, dn: &str, to: NodeState) -> Event {
    expect(events, &format!("{dn} -> {to:?}"), |e| {
        e.dn.as_str() == dn && e.to == to
    })
    .await
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

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("a bound address").port()
}

/// Shuts down and checks that every runnable returned in time.
pub async fn shutdown(sup: Supervisor) {
    let report = timeout(DEADLINE, sup.shutdown())
        .await
        .expect("shutdown finished before the deadline");
    assert!(report.stuck.is_empty(), "stuck nodes: {:?}", report.stuck);
    report.into_result().expect("a clean shutdown");
}
