//! A host restarted under the same name while its old process is frozen, not dead: the new
//! process must wait for the old process's claim (its lease is still alive) exactly as for a
//! claim of another host, and the two runs never overlap, whatever the old process does when it
//! wakes up.
//!
//! # Two real processes
//!
//! The old holder has to be a process of its own, to be frozen with SIGSTOP. Each holder is
//! this test binary run again with `--exact holder` and `ARBOR_ETCD_HOLDER` set: the `holder`
//! "test" below is then the host's `main`, and in an ordinary test run it returns at once.
//! That keeps the helper next to the test, built by `cargo test` with the test's own harness
//! (`common`) and dev-dependencies, and adds no binary to the crate.
//!
//! Both holders write their events to one pipe that the test reads. A pipe keeps the order of
//! its writes, and each event is one short write, made before the step that follows from it
//! (the old holder writes `stopped` before it releases its claim; the new one can only write
//! `started` after that release), so the order the test reads is the order things happened.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use arbor::{Context, Signal};
use arbor_etcd::{Lease, MaxCount, Options};
use arbor_test_kit::DEADLINE;
use common::etcd::Etcd;
use nix::sys::signal::Signal as Unix;
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Set in a holder process: its label in the events ("old" or "new").
const HOLDER_ENV: &str = "ARBOR_ETCD_HOLDER";
/// Set in a holder process: the etcd endpoint.
const ENDPOINT_ENV: &str = "ARBOR_ETCD_HOLDER_ENDPOINT";
/// Marks an event line in a holder's output (libtest writes there too).
const MARK: &str = "@@ ";

const NS: &str = "/test/same-name";
/// Both processes run under this one host name.
const HOST: &str = "alpha";
const TTL: Duration = Duration::from_secs(2);

fn options() -> Options {
    Options::new().session_ttl(TTL).strategy(MaxCount(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_restarted_under_the_same_name_waits_for_its_frozen_predecessor() {
    arbor_test_kit::init_tracing();
    let etcd = Etcd::single().await;
    let endpoint = etcd.endpoint(0);
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let mut events = Events::read(reader);

    let mut old = spawn_holder("old", &endpoint, &writer);
    events
        .wait("the old process runs the work", 0, |e| {
            e.is("old", "started")
        })
        .await;
    let joined = events
        .wait("the old process joined", 0, |e| e.is("old", "joined"))
        .await;
    let old_lease = events.log[joined].lease();

    signal(&old, Unix::SIGSTOP).await;
    // Stands in for the frozen process's renewals, so that its lease outlives the freeze
    // however slow this machine is to start the second process: the case under test is a
    // frozen holder whose lease is alive (one whose lease expired was fenced first, see
    // docs/etcd.md).
    let keeper = keep_alive(&endpoint, old_lease).await;

    let mut new = spawn_holder("new", &endpoint, &writer);
    drop(writer); // the holders hold the only write ends now: the events end when both exit
    let joined = events
        .wait("the new process joined", 0, |e| e.is("new", "joined"))
        .await;
    assert_ne!(
        events.log[joined].lease(),
        old_lease,
        "the new process has a lease of its own"
    );
    // The new process is placed (the placement names the host) and fresh: all it lacks to
    // start is the old claim gone. It starts at once if it takes that claim for its own. Give
    // it three renewals of its lease to do so: two renewal intervals (a third of the TTL each)
    // after it joined, longer than the old process's fencing delay (half the TTL), so that the
    // old process also wakes up past its fencing deadline.
    let mut at = events
        .wait("the new process sees itself placed", joined, |e| {
            e.is("new", "placed")
        })
        .await;
    for _ in 0..3 {
        at = events
            .wait("the new process renews its lease", at + 1, |e| {
                e.is("new", "renewed")
            })
            .await;
    }
    assert!(
        !keeper.is_finished(),
        "the old lease must stay alive while the old process is frozen"
    );
    assert!(
        !events.log.iter().any(|e| e.is("new", "started")),
        "the new process started the work while the old process, frozen, still held it under \
         a live lease: {:#?}",
        events.log
    );

    signal(&old, Unix::SIGCONT).await;
    let woke = events.log.len();
    // The old process renews its own lease again: it is awake. Past its fencing deadline, it
    // fences itself and releases its claim, and the new process takes over; or, if a renewal
    // it sent on waking was confirmed first, it runs on, and the new process waits on.
    events
        .wait("the old process is awake", woke, |e| e.is("old", "renewed"))
        .await;
    stop_keeping(keeper).await;
    // Stop the old process cleanly (if it still runs the work, the new one takes over then).
    drop(old.stdin.take());
    events
        .wait("the new process runs the work", woke, |e| {
            e.is("new", "started")
        })
        .await;
    let status = exit(&mut old).await;
    assert!(status.success(), "the old process failed: {status}");

    drop(new.stdin.take());
    let status = exit(&mut new).await;
    assert!(status.success(), "the new process failed: {status}");
    events.drain().await;

    let mut running = BTreeSet::new();
    for event in &events.log {
        match event.what.as_str() {
            "started" => {
                running.insert(event.who.clone());
                assert_eq!(
                    running.len(),
                    1,
                    "both processes ran the work at once: {:#?}",
                    events.log
                );
            }
            "stopped" => {
                running.remove(&event.who);
            }
            _ => {}
        }
    }
    assert!(running.is_empty(), "{:#?}", events.log);
    for who in ["old", "new"] {
        assert!(
            events.log.iter().any(|e| e.is(who, "exited")),
            "{who} did not leave cleanly: {:#?}",
            events.log
        );
    }
}

/// Not a test: the `main` of a holder process (see the module docs). Runs host `alpha` until
/// its stdin closes, then shuts it down; reports what happens as event lines on stdout.
#[test]
fn holder() {
    let Ok(who) = std::env::var(HOLDER_ENV) else {
        return; // an ordinary test run
    };
    let endpoint = std::env::var(ENDPOINT_ENV).expect("the etcd endpoint");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(hold(who, endpoint));
}

async fn hold(who: String, endpoint: String) {
    arbor_test_kit::init_tracing();
    let label = who.clone();
    let inner = move |ctx: Context| {
        let who = label.clone();
        async move {
            emit(&who, "started", "");
            let _stopped = Stopped(who);
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    };
    let host = common::start_host_with(vec![endpoint], NS, HOST, options(), inner).await;
    let reporter = tokio::spawn(report(who.clone(), host.view.clone()));
    // Until the test closes stdin, or goes away.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = closed.send(());
    });
    let _ = stdin_closed.await;
    host.stop().await;
    reporter.abort();
    emit(&who, "exited", "");
}

/// Reports, from the host's view: `joined <lease>` for each new lease, `placed` once per lease
/// when the placement names the host, `renewed` when a renewal moves the lease's freshness on.
async fn report(who: String, mut view: tokio::sync::watch::Receiver<arbor_etcd::View>) {
    let mut last: Option<Lease> = None;
    let mut placed: Option<i64> = None;
    loop {
        {
            let v = view.borrow_and_update();
            match (v.lease, last) {
                (Some(now), Some(before)) if now.id == before.id => {
                    if now.fresh_until > before.fresh_until {
                        emit(&who, "renewed", "");
                    }
                }
                (Some(now), _) => emit(&who, "joined", &format!("{:x}", now.id)),
                (None, _) => {}
            }
            last = v.lease;
            if let Some(lease) = v.lease {
                if v.is_placed() && placed != Some(lease.id) {
                    placed = Some(lease.id);
                    emit(&who, "placed", "");
                }
            }
        }
        if view.changed().await.is_err() {
            return;
        }
    }
}

/// Writes one event line in one write (a pipe does not split writes this short). The leading
/// newline keeps it off a line libtest has begun.
fn emit(who: &str, what: &str, arg: &str) {
    let line = format!("\n{MARK}{who} {what} {arg}\n");
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).expect("write an event");
    out.flush().expect("flush an event");
}

/// Reports the end of a run of the work, however it ends.
struct Stopped(String);

impl Drop for Stopped {
    fn drop(&mut self) {
        emit(&self.0, "stopped", "");
    }
}

/// Starts a holder process labelled `who`, its stdout and stderr on `out`. Killed when dropped
/// (a failing test leaves none behind, frozen or not).
fn spawn_holder(who: &str, endpoint: &str, out: &std::io::PipeWriter) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    Command::new(exe)
        .args(["holder", "--exact", "--nocapture", "--test-threads=1"])
        .env(HOLDER_ENV, who)
        .env(ENDPOINT_ENV, endpoint)
        .stdin(Stdio::piped())
        .stdout(out.try_clone().expect("a write end"))
        .stderr(out.try_clone().expect("a write end"))
        .kill_on_drop(true)
        .spawn()
        .expect("start a holder process")
}

async fn signal(child: &Child, sig: Unix) {
    let pid = child.id().expect("the holder runs");
    let pid = Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"));
    nix::sys::signal::kill(pid, sig).unwrap_or_else(|err| panic!("kill {sig} {pid}: {err}"));
}

async fn exit(child: &mut Child) -> ExitStatus {
    tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the holder exits once its stdin is closed")
        .expect("wait for the holder")
}

/// Renews `lease` until stopped; the task ends (with a panic) only if the lease is gone.
async fn keep_alive(endpoint: &str, lease: i64) -> JoinHandle<()> {
    let mut raw = etcd_client::Client::connect([endpoint], None)
        .await
        .expect("raw client");
    let (mut keeper, mut stream) = raw.lease_keep_alive(lease).await.expect("the lease lives");
    tokio::spawn(async move {
        let _raw = raw;
        loop {
            keeper.keep_alive().await.expect("send a renewal");
            let resp = stream.message().await.expect("a renewal answer");
            assert!(resp.is_some_and(|r| r.ttl() > 0), "the old lease is gone");
            tokio::time::sleep(TTL / 4).await;
        }
    })
}

async fn stop_keeping(keeper: JoinHandle<()>) {
    keeper.abort();
    if let Err(err) = keeper.await {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
    }
}

/// One event line of a holder.
#[derive(Debug, Clone)]
struct Event {
    who: String,
    what: String,
    arg: String,
}

impl Event {
    fn is(&self, who: &str, what: &str) -> bool {
        self.who == who && self.what == what
    }

    fn lease(&self) -> i64 {
        i64::from_str_radix(&self.arg, 16).expect("a lease ID in hex")
    }
}

/// The holders' events, in the order they were written.
struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
    log: Vec<Event>,
}

impl Events {
    /// Reads the pipe on a thread of its own until every write end is closed. Lines that are
    /// not events (logs, libtest, panics) go to this test's output.
    fn read(reader: std::io::PipeReader) -> Events {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                let Some(at) = line.find(MARK) else {
                    if !line.trim().is_empty() {
                        println!("holder| {line}");
                    }
                    continue;
                };
                let mut words = line[at + MARK.len()..].split_whitespace();
                let event = Event {
                    who: words.next().unwrap_or_default().to_owned(),
                    what: words.next().unwrap_or_default().to_owned(),
                    arg: words.next().unwrap_or_default().to_owned(),
                };
                println!("holder| event {event:?}");
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Events {
            rx,
            log: Vec::new(),
        }
    }

    /// Waits for an event at index `from` or later that `want` accepts; returns its index.
    async fn wait(&mut self, what: &str, from: usize, want: impl Fn(&Event) -> bool) -> usize {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(at) = self.log.iter().skip(from).position(&want) {
                return from + at;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => self.log.push(event),
                Ok(None) => panic!("{what}: the holders' output ended: {:#?}", self.log),
                Err(_) => panic!("{what}: not within {DEADLINE:?}: {:#?}", self.log),
            }
        }
    }

    /// Reads every event up to the end of the output (all holders have exited).
    async fn drain(&mut self) {
        loop {
            match tokio::time::timeout(DEADLINE, self.rx.recv()).await {
                Ok(Some(event)) => self.log.push(event),
                Ok(None) => return,
                Err(_) => panic!("the holders' output did not end: {:#?}", self.log),
            }
        }
    }
}
