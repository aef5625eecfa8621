//! Hosts as processes of their own, for tests that freeze a host (SIGSTOP) or put it in a network
//! namespace of its own.
//!
//! Each host process is the test binary run again with `--exact <entry>` and [`SPEC_ENV`] set:
//! the entry "test" of the binary calls [`main_if_spawned`], which is then the host's `main`,
//! and in an ordinary test run returns at once. That keeps the helper next to the tests, built
//! by `cargo test` with their harness and dev-dependencies, and adds no binary to the crate.
//!
//! Every host writes its events to one pipe that the test reads. A pipe keeps the order of its
//! writes, and each event is one short write, made before the step that follows from it (a host
//! writes `stopped` before it releases its claim; the next can only write `started` after that
//! release), so the order the test reads is the order things happened, across hosts.
//!
//! Events carry times on the system's monotonic clock ([`mono_ms`]), which every process on the
//! machine shares: a test compares a host's renewal deadline with the moment it healed a cut.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::Duration;

use arbor::{Context, Signal};
use arbor_etcd::{Alphabetical, MaxCount, Options, View};
use arbor_test_kit::DEADLINE;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Set in a host process: its [`Spec`], encoded.
pub const SPEC_ENV: &str = "ARBOR_ETCD_HOST_SPEC";
/// Marks an event line in a host's output (libtest and logs write there too).
const MARK: &str = "@@ ";

/// How a host process runs: labelled `label` in its events, it runs host `host` of namespace
/// `ns` with a singleton job.
#[derive(Debug, Clone)]
pub struct Spec {
    pub label: String,
    pub host: String,
    pub ns: String,
    pub endpoints: Vec<String>,
    pub ttl: Duration,
    /// `false`: `MaxCount(1)` (sticky); `true`: `Alphabetical(1)` (the first name takes it).
    pub alphabetical: bool,
}

impl Spec {
    /// A `MaxCount(1)` host named as labelled.
    pub fn new(name: &str, ns: &str, endpoints: Vec<String>, ttl: Duration) -> Spec {
        Spec {
            label: name.to_owned(),
            host: name.to_owned(),
            ns: ns.to_owned(),
            endpoints,
            ttl,
            alphabetical: false,
        }
    }

    pub fn options(&self) -> Options {
        let options = Options::new().session_ttl(self.ttl);
        if self.alphabetical {
            options.strategy(Alphabetical(1))
        } else {
            options.strategy(MaxCount(1))
        }
    }

    fn encode(&self) -> String {
        [
            self.label.clone(),
            self.host.clone(),
            self.ns.clone(),
            self.endpoints.join(","),
            self.ttl.as_millis().to_string(),
            self.alphabetical.to_string(),
        ]
        .join("|")
    }

    fn decode(text: &str) -> Spec {
        let parts: Vec<&str> = text.split('|').collect();
        let [label, host, ns, endpoints, ttl, alphabetical] = parts[..] else {
            panic!("a malformed host spec: {text}");
        };
        Spec {
            label: label.to_owned(),
            host: host.to_owned(),
            ns: ns.to_owned(),
            endpoints: endpoints.split(',').map(str::to_owned).collect(),
            ttl: Duration::from_millis(ttl.parse().expect("a TTL in ms")),
            alphabetical: alphabetical.parse().expect("a bool"),
        }
    }
}

/// The system's monotonic clock, in milliseconds: the clock of `std::time::Instant` on Linux,
/// and the same in every process of the machine.
pub fn mono_ms() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("a clock");
    let ms = Duration::from(now).as_millis();
    u64::try_from(ms).expect("milliseconds fit in u64")
}

/// `at` on the monotonic clock in milliseconds (see [`mono_ms`]).
fn instant_ms(at: Instant) -> u64 {
    let now = Instant::now();
    let mono = mono_ms();
    if at >= now {
        mono + u64::try_from((at - now).as_millis()).unwrap_or(u64::MAX)
    } else {
        mono.saturating_sub(u64::try_from((now - at).as_millis()).unwrap_or(u64::MAX))
    }
}

/// Starts a host process for `spec` through the test entry `entry`, inside network namespace
/// `netns` (a path such as `/run/netns/x`) if given, its stdout and stderr on `out`. It runs
/// until its stdin closes; killed when dropped (a failing test leaves none behind).
pub fn spawn(entry: &str, spec: &Spec, netns: Option<&str>, out: &std::io::PipeWriter) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = match netns {
        // nsenter execs the binary (no fork without --pid), so the child is the host itself.
        Some(path) => {
            let mut command = Command::new("nsenter");
            command.arg(format!("--net={path}")).arg("--").arg(exe);
            command
        }
        None => Command::new(exe),
    };
    command
        .args([entry, "--exact", "--nocapture", "--test-threads=1"])
        .env(SPEC_ENV, spec.encode())
        .stdin(Stdio::piped())
        .stdout(out.try_clone().expect("a write end"))
        .stderr(out.try_clone().expect("a write end"))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("start host process {}: {err}", spec.label))
}

/// The `main` of a host process, when this binary was started as one by [`spawn`]; returns at
/// once otherwise. Runs the host until its stdin closes, then shuts it down and reports
/// `exited`.
pub fn main_if_spawned() {
    let Ok(spec) = std::env::var(SPEC_ENV) else {
        return; // an ordinary test run
    };
    let spec = Spec::decode(&spec);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(host(spec));
}

async fn host(spec: Spec) {
    arbor_test_kit::init_tracing();
    let who = spec.label.clone();
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
    let host = super::start_host_with(
        spec.endpoints.clone(),
        &spec.ns,
        &spec.host,
        spec.options(),
        inner,
    )
    .await;
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

/// Reports, from the host's view:
/// - `joined <lease>` for each new lease, and `left` when the membership ends;
/// - `renewed <ms>` when a renewal moves the lease's freshness on, to `<ms>` ([`mono_ms`]);
/// - `placed` once per lease when the placement names the host;
/// - `leader <host>`, `hosts <a,b>` and `endpoint <url>` when those change.
async fn report(who: String, mut view: watch::Receiver<View>) {
    let mut last: Option<View> = None;
    let mut placed: Option<i64> = None;
    loop {
        {
            let v = view.borrow_and_update();
            let before = last.as_ref();
            match (v.lease, before.and_then(|b| b.lease)) {
                (Some(now), Some(was)) if now.id == was.id => {
                    if now.fresh_until > was.fresh_until {
                        emit(&who, "renewed", &instant_ms(now.fresh_until).to_string());
                    }
                }
                (Some(now), _) => emit(&who, "joined", &format!("{:x}", now.id)),
                (None, Some(_)) => emit(&who, "left", ""),
                (None, None) => {}
            }
            if let Some(lease) = v.lease {
                if v.is_placed() && placed != Some(lease.id) {
                    placed = Some(lease.id);
                    emit(&who, "placed", "");
                }
            }
            if before.is_none_or(|b| b.leader != v.leader) {
                emit(&who, "leader", v.leader.as_deref().unwrap_or("-"));
            }
            if before.is_none_or(|b| b.hosts != v.hosts) {
                emit(&who, "hosts", &v.hosts.join(","));
            }
            if before.is_none_or(|b| b.endpoint != v.endpoint) && !v.endpoint.is_empty() {
                emit(&who, "endpoint", &v.endpoint);
            }
            last = Some(v.clone());
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

/// One event line of a host.
#[derive(Debug, Clone)]
pub struct Event {
    pub who: String,
    pub what: String,
    pub arg: String,
}

impl Event {
    pub fn is(&self, who: &str, what: &str) -> bool {
        self.who == who && self.what == what
    }

    pub fn lease(&self) -> i64 {
        i64::from_str_radix(&self.arg, 16).expect("a lease ID in hex")
    }

    /// The time a `renewed` event carries ([`mono_ms`]).
    pub fn ms(&self) -> u64 {
        self.arg.parse().expect("a time in ms")
    }
}

/// The hosts' events, in the order they were written.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
    pub log: Vec<Event>,
}

impl Events {
    /// Reads the pipe on a thread of its own until every write end is closed. Lines that are
    /// not events (logs, libtest, panics) go to this test's output.
    pub fn read(reader: std::io::PipeReader) -> Events {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                let Some(at) = line.find(MARK) else {
                    if !line.trim().is_empty() {
                        println!("host| {line}");
                    }
                    continue;
                };
                let mut words = line[at + MARK.len()..].split_whitespace();
                let event = Event {
                    who: words.next().unwrap_or_default().to_owned(),
                    what: words.next().unwrap_or_default().to_owned(),
                    arg: words.next().unwrap_or_default().to_owned(),
                };
                if event.what != "renewed" {
                    println!("host| event {event:?}");
                }
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

    /// Waits, at most `within`, for an event at index `from` or later that `want` accepts;
    /// returns its index.
    pub async fn wait_within(
        &mut self,
        what: &str,
        within: Duration,
        from: usize,
        want: impl Fn(&Event) -> bool,
    ) -> usize {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.log.iter().skip(from).position(&want) {
                return from + at;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => self.log.push(event),
                Ok(None) => panic!("{what}: the hosts' output ended: {}", self.dump()),
                Err(_) => panic!("{what}: not within {within:?}: {}", self.dump()),
            }
        }
    }

    /// [`wait_within`](Self::wait_within) the kit's deadline.
    pub async fn wait(&mut self, what: &str, from: usize, want: impl Fn(&Event) -> bool) -> usize {
        self.wait_within(what, DEADLINE, from, want).await
    }

    /// Takes in the events written so far, without waiting.
    pub fn catch_up(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            self.log.push(event);
        }
    }

    /// Reads every event up to the end of the output (all hosts have exited).
    pub async fn drain(&mut self) {
        loop {
            match tokio::time::timeout(DEADLINE, self.rx.recv()).await {
                Ok(Some(event)) => self.log.push(event),
                Ok(None) => return,
                Err(_) => panic!("the hosts' output did not end: {}", self.dump()),
            }
        }
    }

    /// Checks that no two hosts ever ran the work at once, in the order of the events.
    pub fn assert_never_two_at_once(&self) {
        let mut running = std::collections::BTreeSet::new();
        for event in &self.log {
            match event.what.as_str() {
                "started" => {
                    running.insert(event.who.clone());
                    assert_eq!(
                        running.len(),
                        1,
                        "two hosts ran the work at once: {}",
                        self.dump()
                    );
                }
                "stopped" => {
                    running.remove(&event.who);
                }
                _ => {}
            }
        }
    }

    /// The events, one per line, without the (many) renewals.
    pub fn dump(&self) -> String {
        let lines: Vec<String> = self
            .log
            .iter()
            .filter(|e| e.what != "renewed")
            .map(|e| format!("  {} {} {}", e.who, e.what, e.arg))
            .collect();
        format!("\n{}", lines.join("\n"))
    }
}
