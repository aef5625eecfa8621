//! Task groups of real subprocesses: the stages order what the processes do, the stop order
//! holds during a shutdown, and no process outlives the tree.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arbor::{Context, Event, EventStream, NodeState, Signal, Supervisor};
use arbor_lifecycle::{Hook, Mode, RestartPolicy, Stage, StageChange, Task, TaskGroup};
use arbor_process::{Command, Regex};
use arbor_test_kit::{assert_clean, fast_backoff, supervisor_with, DEADLINE};
use tokio::sync::broadcast;
use tokio::time::timeout;

/// The group's node.
const GROUP: &str = "root.web";

/// A directory of its own for one test, removed at the end (even when the test fails).
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "arbor-lifecycle-processes-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `sh -c script` (the script reads its files from the environment: no quoting to get wrong).
fn sh(script: &str) -> Command {
    Command::new("sh").arg("-c").arg(script)
}

/// A long-running process: it appends its pid to `$PIDS`, says `ready` (its readiness, so that
/// Healthy means the pid is written), then sleeps until it is stopped. `exec` keeps the pid.
fn service(pids: &Path) -> Command {
    sh(r#"echo $$ >> "$PIDS"; echo ready; exec sleep 1000"#)
        .env("PIDS", pids)
        .ready_on_line(Regex::new("^ready$").expect("a valid regex"))
        .grace_period(Duration::from_secs(5))
}

/// A job that appends `line` to `$LOG` and exits 0.
fn append(log: &Path, line: &str) -> Command {
    sh(r#"echo "$LINE" >> "$LOG""#)
        .env("LOG", log)
        .env("LINE", line)
        .job()
}

/// A job that counts its runs in `$COUNT` and fails the first two.
fn fails_twice(count: &Path) -> Command {
    sh(r#"n=$(cat "$COUNT" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNT"; [ $n -ge 3 ]"#)
        .env("COUNT", count)
        .job()
}

/// A tree whose root runs `group` as its child `web` and serves until cancelled, with the
/// group's events recorded from the very start.
fn tree(group: TaskGroup) -> (Supervisor, Recorder) {
    // The root starts the group only once the recorder has subscribed: the subscription is
    // then ahead of the group's first child in the processor's inbox, so every event of the
    // group is a transition (none is folded into the stream's first snapshot).
    let (open, gate) = tokio::sync::watch::channel(false);
    let sup = supervisor_with(
        move |ctx: Context| {
            let group = group.clone();
            let mut gate = gate.clone();
            async move {
                gate.wait_for(|open| *open).await?;
                ctx.run("web", group)?;
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            }
        },
        fast_backoff(),
    );
    let recorder = Recorder::new(&sup);
    open.send(true).expect("the root waits for the gate");
    (sup, recorder)
}

/// The DN of the group's task `name`.
fn task(name: &str) -> String {
    format!("{GROUP}.{name}")
}

/// Whether an event is about the group's node or one of its tasks (its children).
fn of_group(event: &Event) -> bool {
    event.dn == GROUP || event.dn.parent().is_some_and(|p| *p == GROUP)
}

/// The group's events as they come, kept in order.
struct Recorder {
    events: EventStream,
    seen: Vec<Event>,
}

impl Recorder {
    fn new(sup: &Supervisor) -> Recorder {
        Recorder {
            events: sup.events(),
            seen: Vec::new(),
        }
    }

    /// The first event matching `want`: one recorded already, or else the next one (recording
    /// until then), within the deadline.
    async fn until(&mut self, what: &str, want: impl Fn(&Event) -> bool) -> Event {
        if let Some(event) = self.seen.iter().find(|e| want(e)) {
            return event.clone();
        }
        let wait = async {
            loop {
                let event = self.events.next().await.expect("event stream ended");
                assert!(!event.resync, "the test fell behind the events: {event}");
                if of_group(&event) {
                    self.seen.push(event.clone());
                    if want(&event) {
                        break event;
                    }
                }
            }
        };
        match timeout(DEADLINE, wait).await {
            Ok(event) => event,
            Err(_) => panic!("no event {what} before the deadline; saw:\n{}", self.show()),
        }
    }

    /// Records until `dn` enters `state`.
    async fn until_state(&mut self, dn: &str, state: NodeState) -> Event {
        let what = format!("{dn}: {state:?}");
        self.until(&what, |e| e.dn == dn && e.to == state && !e.removed)
            .await
    }

    /// Records until `dn` enters `state` in an event at or after index `from`, within the
    /// deadline; returns the event's index.
    async fn until_state_from(&mut self, from: usize, dn: &str, state: NodeState) -> usize {
        let matches = |e: &Event| e.dn == dn && e.to == state && !e.removed;
        if let Some(i) = (from..self.seen.len()).find(|&i| matches(&self.seen[i])) {
            return i;
        }
        let wait = async {
            loop {
                let event = self.events.next().await.expect("event stream ended");
                assert!(!event.resync, "the test fell behind the events: {event}");
                if of_group(&event) {
                    let found = matches(&event);
                    self.seen.push(event);
                    if found && self.seen.len() > from {
                        break self.seen.len() - 1;
                    }
                }
            }
        };
        match timeout(DEADLINE, wait).await {
            Ok(i) => i,
            Err(_) => panic!(
                "no event {dn}: {state:?} (from #{from}) before the deadline; saw:\n{}",
                self.show()
            ),
        }
    }

    /// Records the rest, until the supervisor has stopped and the stream ends.
    async fn drain(&mut self) {
        let wait = async {
            while let Some(event) = self.events.next().await {
                assert!(!event.resync, "the test fell behind the events: {event}");
                if of_group(&event) {
                    self.seen.push(event);
                }
            }
        };
        timeout(DEADLINE, wait)
            .await
            .unwrap_or_else(|_| panic!("the event stream did not end; saw:\n{}", self.show()));
        assert_eq!(self.events.lagged(), 0, "the test missed events");
    }

    /// The index of the first recorded event of `dn` into `state`.
    fn first(&self, dn: &str, state: NodeState) -> usize {
        self.find(dn, state, 0)
    }

    /// The index of the first recorded event of `dn` into `state` at or after `from`.
    fn find(&self, dn: &str, state: NodeState, from: usize) -> usize {
        self.seen
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, e)| e.dn == dn && e.to == state && !e.removed)
            .map(|(i, _)| i)
            .unwrap_or_else(|| {
                panic!(
                    "no event {dn}: {state:?} (from #{from}) in:\n{}",
                    self.show()
                )
            })
    }

    /// How many recorded events are of `dn` into `state`.
    fn count(&self, dn: &str, state: NodeState) -> usize {
        self.seen
            .iter()
            .filter(|e| e.dn == dn && e.to == state && !e.removed)
            .count()
    }

    /// Whether any event of `dn` was recorded.
    fn any_of(&self, dn: &str) -> bool {
        self.seen.iter().any(|e| e.dn == dn)
    }

    /// The events recorded, numbered, one a line.
    fn show(&self) -> String {
        self.seen
            .iter()
            .enumerate()
            .map(|(i, e)| format!("#{i} {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Asserts that event `a` came before event `b`, naming both.
    fn assert_before(&self, a: usize, b: usize) {
        assert!(
            a < b,
            "expected #{a} ({}) before #{b} ({}); saw:\n{}",
            self.seen[a],
            self.seen[b],
            self.show()
        );
    }
}

/// The stage changes of the group, kept in order.
struct Stages {
    rx: broadcast::Receiver<StageChange>,
    seen: Vec<StageChange>,
}

impl Stages {
    fn new(group: &TaskGroup) -> Stages {
        Stages {
            rx: group.stages(),
            seen: Vec::new(),
        }
    }

    /// Waits, within the deadline, until the group has entered `stage`.
    async fn until(&mut self, stage: Stage) {
        if self.seen.iter().any(|c| c.stage == stage) {
            return;
        }
        let wait = async {
            loop {
                let change = self.rx.recv().await.expect("a stage change");
                let entered = change.stage == stage;
                self.seen.push(change);
                if entered {
                    break;
                }
            }
        };
        if timeout(DEADLINE, wait).await.is_err() {
            panic!(
                "stage {stage} not entered before the deadline; saw {:?}",
                self.seen
            );
        }
    }

    /// Every stage entered so far, in order; each change is the group's.
    fn entered(&mut self) -> Vec<Stage> {
        while let Ok(change) = self.rx.try_recv() {
            self.seen.push(change);
        }
        assert!(
            self.seen.iter().all(|c| c.group == GROUP),
            "every change is the group's: {:?}",
            self.seen
        );
        self.seen.iter().map(|c| c.stage).collect()
    }
}

/// The lines of a file.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The pids the long-running processes wrote.
fn pids(path: &Path) -> Vec<u32> {
    lines(path)
        .iter()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not a pid: {l:?}")))
        .collect()
}

/// The state and the process group of a process, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`: comm may hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether a process runs (exists and is not a zombie: an orphan killed in a container whose
/// PID 1 does not reap stays a zombie, dead all the same).
fn running(state: char) -> bool {
    !matches!(state, 'Z' | 'X')
}

/// The processes still running of those a test started: each wrote its pid, and leads a
/// process group of its own, so this is every live process whose pid or group is one of
/// `pids` (a shell's children as well).
fn left_running(pids: &[u32]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        panic!("/proc cannot be read");
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat(pid).is_some_and(|(state, pgrp)| {
                running(state) && (pids.contains(&pid) || pids.contains(&pgrp))
            })
        })
        .collect()
}

/// Asserts that none of the processes started is running.
fn assert_none_left(pids: &[u32]) {
    assert!(!pids.is_empty(), "the test knows of no process");
    let left = left_running(pids);
    assert!(
        left.is_empty(),
        "processes outlived the tree: {left:?} (of {pids:?})"
    );
}

/// Waits, within the deadline, until none of the processes started is running: those killed
/// when a run was aborted are reaped in the background.
async fn wait_none_left(pids: &[u32]) {
    assert!(!pids.is_empty(), "the test knows of no process");
    let wait = async {
        while !left_running(pids).is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if timeout(DEADLINE, wait).await.is_err() {
        panic!(
            "processes still run after the deadline: {:?} (of {pids:?})",
            left_running(pids)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_group_of_processes_runs_and_stops_in_the_stages_order() {
    let scratch = Scratch::new("full");
    let (log, pid_file) = (scratch.path("log"), scratch.path("pids"));
    let group = TaskGroup::new([
        Task::new("migrate", append(&log, "migrate")).hook(Hook::Prestart),
        Task::new("proxy", service(&pid_file))
            .hook(Hook::Prestart)
            .sidecar(),
        Task::new("api", service(&pid_file)),
        Task::new("worker", service(&pid_file)),
        Task::new("warmup", sh("exit 0").job()).hook(Hook::Poststart),
        Task::new("deregister", append(&log, "deregister")).hook(Hook::Poststop),
    ])
    .unwrap();
    let mut stages = Stages::new(&group);
    let (sup, mut rec) = tree(group);

    let (migrate, proxy, api, worker, warmup, deregister) = (
        task("migrate"),
        task("proxy"),
        task("api"),
        task("worker"),
        task("warmup"),
        task("deregister"),
    );
    stages.until(Stage::Wait).await;
    assert_eq!(lines(&log), ["migrate"], "only the prestart job has run");
    assert_eq!(pids(&pid_file).len(), 3, "proxy, api and worker run");

    let report = timeout(DEADLINE, sup.shutdown())
        .await
        .expect("the shutdown ends before the deadline");
    rec.drain().await;
    assert_clean(report);

    // Prestart: the job has succeeded and the sidecar is up before a main task is created.
    let migrate_done = rec.first(&migrate, NodeState::Done);
    let proxy_healthy = rec.first(&proxy, NodeState::Healthy);
    for main in [&api, &worker] {
        let created = rec.first(main, NodeState::New);
        rec.assert_before(migrate_done, created);
        rec.assert_before(proxy_healthy, created);
    }
    // Poststart: once both main tasks run.
    let warmup_new = rec.first(&warmup, NodeState::New);
    rec.assert_before(rec.first(&api, NodeState::Healthy), warmup_new);
    rec.assert_before(rec.first(&worker, NodeState::Healthy), warmup_new);
    rec.assert_before(warmup_new, rec.first(&warmup, NodeState::Done));
    // The stop: main tasks, then the sidecar, then the poststop job runs to its end.
    let proxy_stopped = rec.first(&proxy, NodeState::Stopped);
    rec.assert_before(rec.first(&api, NodeState::Stopped), proxy_stopped);
    rec.assert_before(rec.first(&worker, NodeState::Stopped), proxy_stopped);
    let deregister_new = rec.first(&deregister, NodeState::New);
    rec.assert_before(proxy_stopped, deregister_new);
    rec.assert_before(
        deregister_new,
        rec.find(&deregister, NodeState::Done, deregister_new),
    );
    // Each task ran once.
    for dn in [&migrate, &proxy, &api, &worker, &warmup, &deregister] {
        assert_eq!(
            rec.count(dn, NodeState::New),
            1,
            "{dn} ran once:\n{}",
            rec.show()
        );
    }

    assert_eq!(
        stages.entered(),
        [
            Stage::Init,
            Stage::Prestart,
            Stage::Main,
            Stage::Poststart,
            Stage::Wait,
            Stage::Poststop,
        ]
    );
    assert_eq!(lines(&log), ["migrate", "deregister"], "the real jobs ran");
    assert_none_left(&pids(&pid_file));
}

/// `attempts` restarts a minute, each after `delay_ms`.
fn retry(attempts: u32, delay_ms: u64) -> RestartPolicy {
    RestartPolicy::default()
        .attempts(attempts)
        .interval(Duration::from_secs(60))
        .delay(Duration::from_millis(delay_ms))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prestart_job_that_fails_twice_is_retried_and_main_waits_for_its_success() {
    let scratch = Scratch::new("retried");
    let (count, pid_file) = (scratch.path("count"), scratch.path("pids"));
    let policy = retry(5, 10);
    let group = TaskGroup::new([
        Task::new("migrate", fails_twice(&count))
            .hook(Hook::Prestart)
            .restart(policy),
        Task::new("api", service(&pid_file)),
    ])
    .unwrap();
    let mut stages = Stages::new(&group);
    let (sup, mut rec) = tree(group);

    let (migrate, api) = (task("migrate"), task("api"));
    stages.until(Stage::Wait).await;
    let report = timeout(DEADLINE, sup.shutdown())
        .await
        .expect("the shutdown ends before the deadline");
    rec.drain().await;
    assert_clean(report);

    assert_eq!(rec.count(&migrate, NodeState::Dead), 2, "{}", rec.show());
    assert_eq!(rec.count(&migrate, NodeState::Done), 1, "{}", rec.show());
    rec.assert_before(
        rec.first(&migrate, NodeState::Done),
        rec.first(&api, NodeState::New),
    );
    assert_eq!(lines(&count), ["3"], "exactly three runs");
    assert_eq!(
        stages.entered(),
        [Stage::Init, Stage::Prestart, Stage::Main, Stage::Wait]
    );
    assert_none_left(&pids(&pid_file));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prestart_job_out_of_attempts_fails_the_group_before_main_starts() {
    let scratch = Scratch::new("limit");
    let (count, pid_file) = (scratch.path("count"), scratch.path("pids"));
    let policy = retry(1, 10).mode(Mode::Fail);
    let group = TaskGroup::new([
        Task::new("migrate", fails_twice(&count))
            .hook(Hook::Prestart)
            .restart(policy),
        Task::new("api", service(&pid_file)),
    ])
    .unwrap();
    let mut stages = Stages::new(&group);
    let (sup, mut rec) = tree(group);

    let migrate = task("migrate");
    let dead = rec.until_state(GROUP, NodeState::Dead).await;
    let error = dead.error.as_deref().unwrap_or("");
    assert!(error.contains("restart limit"), "{error}");
    assert!(error.contains(&migrate), "names the task: {error}");
    assert_eq!(rec.count(&migrate, NodeState::Dead), 2, "{}", rec.show());
    assert_eq!(rec.count(&migrate, NodeState::Done), 0, "{}", rec.show());
    assert!(
        !rec.any_of(&task("api")),
        "main never started:\n{}",
        rec.show()
    );
    // Up to its death, the group never left prestart. (Its parent restarts it, and the
    // job's third run succeeds: what follows is a new run.)
    let entered = stages.entered();
    assert_eq!(entered[..2], [Stage::Init, Stage::Prestart], "{entered:?}");
    assert!(
        entered.len() == 2 || entered[2] == Stage::Init,
        "the next stage is a new run's: {entered:?}"
    );

    let report = timeout(DEADLINE, sup.shutdown())
        .await
        .expect("the shutdown ends before the deadline");
    rec.drain().await;
    assert_clean(report);
    if pid_file.exists() {
        assert_none_left(&pids(&pid_file));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_is_done_the_others_stop_in_order_and_the_group_is_done() {
    let scratch = Scratch::new("leader");
    let (log, pid_file) = (scratch.path("log"), scratch.path("pids"));
    // The leader finishes once the api runs (it has written its pid).
    let leader = sh(
        r#"while [ ! -s "$PIDS" ] || [ "$(wc -l < "$PIDS")" -lt 2 ]; do sleep 0.01; done; echo leader >> "$LOG""#,
    )
    .env("PIDS", &pid_file)
    .env("LOG", &log)
    .job();
    let group = TaskGroup::new([
        Task::new("proxy", service(&pid_file))
            .hook(Hook::Prestart)
            .sidecar(),
        Task::new("job", leader).leader(),
        Task::new("api", service(&pid_file)),
        Task::new("deregister", append(&log, "deregister")).hook(Hook::Poststop),
    ])
    .unwrap();
    let mut stages = Stages::new(&group);
    let (sup, mut rec) = tree(group);

    let (proxy, job, api, deregister) =
        (task("proxy"), task("job"), task("api"), task("deregister"));
    rec.until_state(GROUP, NodeState::Done).await;

    let job_done = rec.first(&job, NodeState::Done);
    let api_stopped = rec.first(&api, NodeState::Stopped);
    let proxy_stopped = rec.first(&proxy, NodeState::Stopped);
    let deregister_new = rec.first(&deregister, NodeState::New);
    let deregister_done = rec.find(&deregister, NodeState::Done, deregister_new);
    rec.assert_before(job_done, api_stopped);
    rec.assert_before(api_stopped, proxy_stopped);
    rec.assert_before(proxy_stopped, deregister_new);
    rec.assert_before(deregister_done, rec.first(GROUP, NodeState::Done));
    assert_eq!(lines(&log), ["leader", "deregister"], "the real jobs ran");
    assert_eq!(
        stages.entered(),
        [
            Stage::Init,
            Stage::Prestart,
            Stage::Main,
            Stage::Wait,
            Stage::Poststop,
        ]
    );
    // Each stopped run has reaped its process.
    assert_none_left(&pids(&pid_file));

    let report = timeout(DEADLINE, sup.shutdown())
        .await
        .expect("the shutdown ends before the deadline");
    rec.drain().await;
    assert_clean(report);
    assert_eq!(rec.count(GROUP, NodeState::New), 1, "{}", rec.show());
    assert_eq!(pids(&pid_file).len(), 2, "proxy and api ran once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_ignores_sigterm_is_aborted_at_its_kill_timeout_and_reported_stuck() {
    let scratch = Scratch::new("stubborn");
    let pid_file = scratch.path("pids");
    let stubborn =
        sh(r#"trap '' TERM; echo $$ >> "$PIDS"; echo ready; while true; do sleep 0.1; done"#)
            .env("PIDS", &pid_file)
            .ready_on_line(Regex::new("^ready$").expect("a valid regex"))
            // Longer than the kill timeout: the abort, not the SIGKILL, ends the run.
            .grace_period(Duration::from_secs(30));
    let group = TaskGroup::new([
        Task::new("stubborn", stubborn).kill_timeout(Duration::from_millis(300)),
        Task::new("api", service(&pid_file)),
    ])
    .unwrap();
    let mut stages = Stages::new(&group);
    let (sup, mut rec) = tree(group);

    stages.until(Stage::Wait).await;
    let report = timeout(DEADLINE, sup.shutdown())
        .await
        .expect("the shutdown ends before the deadline");
    rec.drain().await;

    // It alone was stuck: the group went on with the stop once it was aborted.
    let stuck: Vec<String> = report.stuck.iter().map(ToString::to_string).collect();
    assert_eq!(stuck, ["root.web.stubborn"], "{report:?}");
    assert!(report.panic.is_none(), "{report:?}");
    let stubborn = task("stubborn");
    let aborted = &rec.seen[rec.first(&stubborn, NodeState::Canceled)];
    let why = aborted.error.as_deref().unwrap_or("");
    assert!(why.contains("stop timeout"), "{aborted}");
    rec.first(&stubborn, NodeState::Stopped);
    rec.first(&task("api"), NodeState::Stopped);
    let pids = pids(&pid_file);
    assert_eq!(pids.len(), 2, "stubborn and api ran once each");
    wait_none_left(&pids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_process_that_dies_while_main_runs_is_restarted_alone() {
    let scratch = Scratch::new("sidecar");
    let (proxy_pids, api_pids) = (scratch.path("proxy-pids"), scratch.path("api-pids"));
    let policy = retry(5, 50);
    let group = TaskGroup::new([
        Task::new("proxy", service(&proxy_pids))
            .hook(Hook::Prestart)
            .sidecar()
            .restart(policy),
        Task::new("api", service(&api_pids)),
    ])
    .unwrap();
    let mut stages = Stages::new(&group);
    let (sup, mut rec) = tree(group);

    let (proxy, api) = (task("proxy"), task("api"));
    stages.until(Stage::Wait).await;
    rec.until_state(&proxy, NodeState::Healthy).await;
    rec.until_state(&api, NodeState::Healthy).await;
    rec.until_state(GROUP, NodeState::Healthy).await;
    let first = pids(&proxy_pids);
    assert_eq!(first.len(), 1, "the proxy ran once: {first:?}");

    // The proxy's process dies under it.
    let mark = rec.seen.len();
    // The shell's builtin: a fresh Debian has no `kill` program (procps is not installed).
    let killed = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -9 {}", first[0]))
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -9 {}: {killed}", first[0]);

    let dead = rec.until_state_from(mark, &proxy, NodeState::Dead).await;
    let new = rec.until_state_from(dead, &proxy, NodeState::New).await;
    let healthy = rec.until_state_from(new, &proxy, NodeState::Healthy).await;
    rec.assert_before(dead, new);
    rec.assert_before(new, healthy);
    let again = pids(&proxy_pids);
    assert_eq!(again.len(), 2, "the proxy ran again: {again:?}");
    assert_ne!(again[0], again[1], "a new process: {again:?}");

    // The api and the group saw none of it.
    assert!(
        !rec.seen[mark..]
            .iter()
            .any(|e| e.dn == api.as_str() || e.dn == GROUP),
        "only the proxy changed after the kill:\n{}",
        rec.show()
    );
    let status = sup.status().await;
    let api_status = status.get(&api).expect("the api is in the tree");
    assert_eq!(api_status.state, NodeState::Healthy, "{status}");
    assert_eq!(api_status.restarts, 0, "{status}");
    assert_eq!(status.get(GROUP).unwrap().restarts, 0, "{status}");
    assert_eq!(
        status.get(&proxy).unwrap().state,
        NodeState::Healthy,
        "{status}"
    );
    assert_eq!(pids(&api_pids).len(), 1, "the api ran once");

    let report = timeout(DEADLINE, sup.shutdown())
        .await
        .expect("the shutdown ends before the deadline");
    rec.drain().await;
    assert_clean(report);
    assert_eq!(rec.count(&api, NodeState::New), 1, "{}", rec.show());
    assert_eq!(rec.count(GROUP, NodeState::New), 1, "{}", rec.show());
    let mut all = pids(&proxy_pids);
    all.extend(pids(&api_pids));
    assert_none_left(&all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_during_prestart_stops_the_job_process_and_runs_poststop_once() {
    let scratch = Scratch::new("prestart-shutdown");
    let (log, pid_file) = (scratch.path("log"), scratch.path("pids"));
    // A job that never finishes: ready, then sleeps until it is stopped.
    let migrate = sh(r#"echo $$ >> "$PIDS"; echo ready; exec sleep 1000"#)
        .env("PIDS", &pid_file)
        .ready_on_line(Regex::new("^ready$").expect("a valid regex"))
        .grace_period(Duration::from_secs(5))
        .job();
    let group = TaskGroup::new([
        Task::new("migrate", migrate).hook(Hook::Prestart),
        Task::new("api", service(&pid_file)),
        Task::new("cleanup", append(&log, "cleanup")).hook(Hook::Poststop),
    ])
    .unwrap();
    let mut stages = Stages::new(&group);
    let (sup, mut rec) = tree(group);

    let (migrate, api, cleanup) = (task("migrate"), task("api"), task("cleanup"));
    rec.until_state(&migrate, NodeState::Healthy).await;
    let report = timeout(DEADLINE, sup.shutdown())
        .await
        .expect("the shutdown ends before the deadline");
    rec.drain().await;
    assert_clean(report);

    assert!(!rec.any_of(&api), "main never started:\n{}", rec.show());
    assert_eq!(rec.count(&migrate, NodeState::Done), 0, "{}", rec.show());
    assert_eq!(rec.count(&cleanup, NodeState::New), 1, "{}", rec.show());
    assert_eq!(lines(&log), ["cleanup"], "the poststop job ran once");
    let entered = stages.entered();
    assert!(
        !entered.contains(&Stage::Main),
        "the group never reached main: {entered:?}"
    );
    let pids = pids(&pid_file);
    assert_eq!(pids.len(), 1, "only the job ran: {pids:?}");
    assert_none_left(&pids);
}
