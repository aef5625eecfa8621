//! What the end-to-end tests share: a directory per test, `arbor run` as a child whose output
//! is captured, the client commands, polling `arbor status --json` with a deadline, and the
//! processes in `/proc`.
//!
//! Nothing here sleeps to wait for a state: every wait polls what it waits for, a bounded
//! number of times, and fails with the last status and everything arbor printed. A [`Run`]
//! that is dropped (a test failed, or ended) SIGKILLs arbor and every program's process group,
//! so that no process outlives its test.

#![allow(dead_code)] // each test file uses its own part of this module

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde::Deserialize;

/// The binary under test.
pub(crate) const ARBOR: &str = env!("CARGO_BIN_EXE_arbor");

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);
/// How many times a wait looks before it fails: 30 s of polling.
const POLLS: u32 = 600;

/// A directory of this test's own, removed when the test passes (kept for a look when it
/// fails).
#[derive(Debug)]
pub(crate) struct Dir {
    path: PathBuf,
}

impl Dir {
    /// `/tmp/arbor-e2e-NAME-PID`, empty.
    pub(crate) fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("arbor-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the test's directory");
        Dir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The path, as text to put in a file.
    pub(crate) fn show(&self, name: &str) -> String {
        self.join(name).display().to_string()
    }

    /// Writes `text` to `name` in the directory and returns its path.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text).expect("write a file in the test's directory");
        path
    }

    /// The lines of `name`, none if it does not exist.
    pub(crate) fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The socket every run of this test uses.
    pub(crate) fn socket(&self) -> PathBuf {
        self.join("s.sock")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the test's files are kept in {})", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The lines a child writes to one of its pipes, as they come.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Reads `pipe` on a thread of its own until it closes.
    pub(crate) fn capture(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().unwrap().push(line);
            }
        });
        lines
    }

    pub(crate) fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn text(&self) -> String {
        self.get().join("\n")
    }
}

/// One node of `arbor status --json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Node {
    pub(crate) dn: String,
    pub(crate) depth: usize,
    pub(crate) state: String,
    pub(crate) stopping: bool,
    pub(crate) pid: Option<u32>,
    pub(crate) in_state_ms: u64,
    pub(crate) restarts: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) waiting_for: Option<String>,
    pub(crate) stage: Option<String>,
}

/// What `arbor status --json` printed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Status {
    pub(crate) nodes: Vec<Node>,
    /// The text as printed.
    #[serde(skip)]
    pub(crate) raw: String,
}

/// `web.server` or `root.web.server`: the DN.
fn dn(name: &str) -> String {
    if name == "root" || name.starts_with("root.") {
        name.to_owned()
    } else {
        format!("root.{name}")
    }
}

impl Status {
    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        let dn = dn(name);
        self.nodes.iter().find(|n| n.dn == dn)
    }

    /// The node, which must be there.
    pub(crate) fn get(&self, name: &str) -> &Node {
        self.node(name)
            .unwrap_or_else(|| panic!("no node {name} in the status:\n{self}"))
    }

    pub(crate) fn state(&self, name: &str) -> Option<&str> {
        self.node(name).map(|n| n.state.as_str())
    }

    pub(crate) fn pid(&self, name: &str) -> Option<u32> {
        self.node(name).and_then(|n| n.pid)
    }

    /// The node's pid, which it must have.
    pub(crate) fn pid_of(&self, name: &str) -> u32 {
        self.get(name)
            .pid
            .unwrap_or_else(|| panic!("{name} has no pid in the status:\n{self}"))
    }

    /// Whether `name` is in `state` with a pid (a program running, or done).
    pub(crate) fn is(&self, name: &str, state: &str) -> bool {
        self.node(name)
            .is_some_and(|n| n.state == state && n.pid.is_some())
    }

    /// Every pid in the status.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(|n| n.pid).collect()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.nodes {
            writeln!(
                f,
                "  {:<24} {:<9} pid={:<8} restarts={} stopping={} waiting_for={:?} stage={:?} last_error={:?}",
                n.dn,
                n.state,
                n.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                n.restarts,
                n.stopping,
                n.waiting_for,
                n.stage,
                n.last_error,
            )?;
        }
        Ok(())
    }
}

/// What a command printed and how it exited.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The exit code, or 128 + the signal that killed it, as a shell shows it.
fn code_of(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Runs `cmd` to its end.
pub(crate) fn outcome(cmd: &mut Command) -> Outcome {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("the arbor binary runs");
    Outcome {
        code: code_of(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `arbor ARGS`, to its end.
pub(crate) fn arbor(args: &[&str]) -> Outcome {
    outcome(Command::new(ARBOR).args(args))
}

/// A client command for the run on `socket`: `arbor ARGS --socket SOCKET`.
pub(crate) fn client(socket: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(ARBOR);
    cmd.args(args).arg("--socket").arg(socket);
    cmd
}

/// `arbor status --json` of the run on `socket`, parsed.
pub(crate) fn status_at(socket: &Path) -> Result<Status, Outcome> {
    let out = outcome(&mut client(socket, &["status", "--json"]));
    if out.code != 0 {
        return Err(out);
    }
    match serde_json::from_str::<Status>(&out.stdout) {
        Ok(mut status) => {
            status.raw = out.stdout;
            Ok(status)
        }
        Err(err) => panic!("`arbor status --json` printed what is not a status ({err}):\n{out}"),
    }
}

/// One `arbor run --plain --socket DIR/s.sock FILE`, its output captured. Dropping it kills
/// arbor and every program's process group.
#[derive(Debug)]
pub(crate) struct Run {
    child: Child,
    pub(crate) socket: PathBuf,
    pub(crate) stdout: Lines,
    pub(crate) stderr: Lines,
    /// Every program pid a status showed.
    seen: Mutex<BTreeSet<u32>>,
    exit: Option<i32>,
}

impl Run {
    /// Starts `arbor run` on `file`, with the directory's socket.
    pub(crate) fn start(dir: &Dir, file: &Path) -> Run {
        Run::start_with(file, &dir.socket(), &[])
    }

    /// Starts `arbor run --plain --socket SOCKET EXTRA... FILE`.
    pub(crate) fn start_with(file: &Path, socket: &Path, extra: &[&str]) -> Run {
        let mut args: Vec<&std::ffi::OsStr> = vec!["--socket".as_ref(), socket.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        Run::spawn(file, socket, &args)
    }

    /// Starts `arbor run --plain FILE`, with the socket it defaults to: `.NAME.sock` beside
    /// the file.
    pub(crate) fn start_default(file: &Path) -> Run {
        let name = file.file_name().expect("a file name").to_string_lossy();
        let socket = file.with_file_name(format!(".{name}.sock"));
        Run::spawn(file, &socket, &[])
    }

    fn spawn(file: &Path, socket: &Path, args: &[&std::ffi::OsStr]) -> Run {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(ARBOR)
            .arg("run")
            .arg("--plain")
            .args(args)
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, as a shell would give it: a signal meant for the test
            // runner's group does not reach it, and the guard can kill it as a whole.
            .process_group(0)
            .spawn()
            .expect("spawn arbor run");
        let stdout = Lines::capture(child.stdout.take().expect("piped stdout"));
        let stderr = Lines::capture(child.stderr.take().expect("piped stderr"));
        Run {
            child,
            socket: socket.to_owned(),
            stdout,
            stderr,
            seen: Mutex::new(BTreeSet::new()),
            exit: None,
        }
    }

    /// arbor's own pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to arbor, as a terminal or `kill` would.
    pub(crate) fn signal(&self, signal: Signal) {
        kill(pid(self.pid()), signal).expect("signal arbor");
    }

    /// A client command against this run.
    pub(crate) fn client(&self, args: &[&str]) -> Outcome {
        outcome(&mut client(&self.socket, args))
    }

    /// A client command that must succeed.
    pub(crate) fn ok(&self, args: &[&str]) -> Outcome {
        let out = self.client(args);
        assert_eq!(
            out.code,
            0,
            "`arbor {}`: {out}\n{}",
            args.join(" "),
            self.report()
        );
        out
    }

    /// The status now; every pid it shows is remembered for the guard.
    pub(crate) fn try_status(&self) -> Result<Status, Outcome> {
        let status = status_at(&self.socket)?;
        self.seen.lock().unwrap().extend(status.pids());
        Ok(status)
    }

    /// The status now, which must be there.
    pub(crate) fn status(&self) -> Status {
        self.try_status()
            .unwrap_or_else(|out| panic!("`arbor status --json` failed: {out}\n{}", self.report()))
    }

    /// Every program pid a status has shown.
    pub(crate) fn seen_pids(&self) -> BTreeSet<u32> {
        self.seen.lock().unwrap().clone()
    }

    /// Polls the status until `ready` holds, and returns that status. Fails, with the last
    /// status and arbor's output, if arbor exits or the deadline passes first.
    pub(crate) async fn wait_status(
        &mut self,
        what: &str,
        ready: impl Fn(&Status) -> bool,
    ) -> Status {
        let mut last = String::from("(none yet)");
        for _ in 0..POLLS {
            match self.try_status() {
                Ok(status) if ready(&status) => return status,
                Ok(status) => last = status.to_string(),
                Err(out) => last = format!("(no status: {out})"),
            }
            if let Some(code) = self.exited() {
                panic!(
                    "arbor exited ({code}) while waiting for {what}\nlast status:\n{last}\n{}",
                    self.report()
                );
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "timed out waiting for {what}\nlast status:\n{last}\n{}",
            self.report()
        );
    }

    /// Polls arbor's stdout until `ready` holds for its lines.
    pub(crate) async fn wait_output(&mut self, what: &str, ready: impl Fn(&[String]) -> bool) {
        for _ in 0..POLLS {
            if ready(&self.stdout.get()) {
                return;
            }
            if self.exited().is_some() && ready(&self.stdout.get()) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "timed out waiting for {what} in the output\n{}",
            self.report()
        );
    }

    /// Polls arbor's stdout until a line contains `text`.
    pub(crate) async fn wait_line(&mut self, text: &str) {
        let what = format!("a line with {text:?}");
        self.wait_output(&what, |lines| lines.iter().any(|l| l.contains(text)))
            .await;
    }

    /// Polls arbor's stderr until it contains `text`.
    pub(crate) async fn wait_stderr(&mut self, text: &str) {
        for _ in 0..POLLS {
            if self.stderr.text().contains(text) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "timed out waiting for {text:?} on stderr\n{}",
            self.report()
        );
    }

    /// arbor's exit code, if it has exited.
    pub(crate) fn exited(&mut self) -> Option<i32> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(code_of(status));
            }
        }
        self.exit
    }

    /// Waits for arbor to exit and returns its exit code.
    pub(crate) async fn wait_exit(&mut self) -> i32 {
        for _ in 0..POLLS {
            if let Some(code) = self.exited() {
                return code;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("arbor did not exit\n{}", self.report());
    }

    /// Everything arbor printed, for a failure message.
    pub(crate) fn report(&self) -> String {
        let out = self.stdout.get();
        let skip = out.len().saturating_sub(80);
        format!(
            "--- arbor's stdout (last {} lines)\n{}\n--- arbor's stderr\n{}",
            out.len() - skip,
            out[skip..].join("\n"),
            self.stderr.text()
        )
    }

    /// SIGKILLs arbor alone, as a crash would: its programs, each in a process group of its
    /// own, go on running.
    pub(crate) async fn crash(&mut self) {
        kill(pid(self.pid()), Signal::SIGKILL).expect("SIGKILL arbor");
        let code = self.wait_exit().await;
        assert_eq!(code, 128 + 9, "arbor was SIGKILLed");
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let arbor = self.pid();
        // Frozen first, so that it spawns nothing between the look at its children and its
        // death; its children are the programs, each leading its process group.
        let running = self.exited().is_none();
        if !running && !std::thread::panicking() {
            return; // ended as the test meant it to, which checked what it left
        }
        let mut groups = self.seen_pids();
        if running {
            let _ = kill(pid(arbor), Signal::SIGSTOP);
            groups.extend(children_of(arbor));
        }
        for leader in groups {
            if alive(leader) || !group(leader).is_empty() {
                let _ = killpg(pid(leader), Signal::SIGKILL);
            }
        }
        if running {
            let _ = killpg(pid(arbor), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).expect("a pid fits an i32"))
}

/// Sends `signal` to the process `target`.
pub(crate) fn signal(target: u32, signal: Signal) {
    kill(pid(target), signal).unwrap_or_else(|err| panic!("kill -{signal} {target}: {err}"));
}

/// SIGKILLs the process group `leader` leads.
pub(crate) fn kill_group(leader: u32) {
    let _ = killpg(pid(leader), Signal::SIGKILL);
}

/// `/proc/PID/stat`: the state letter, the parent and the process group.
fn stat(pid: u32) -> Option<(char, u32, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `PID (COMM) STATE PPID PGRP ...`; COMM may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Whether the process `pid` exists and is not a zombie (a zombie has ended; where the
/// container's init does not reap orphans it would stay for ever).
pub(crate) fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, ..)| !matches!(state, 'Z' | 'X'))
}

/// Every live process, as (pid, ppid, pgrp).
fn processes() -> Vec<(u32, u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let (state, ppid, pgrp) = stat(p)?;
            (!matches!(state, 'Z' | 'X')).then_some((p, ppid, pgrp))
        })
        .collect()
}

/// The live processes of the process group `pgid`.
pub(crate) fn group(pgid: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(_, _, g)| *g == pgid)
        .map(|(p, ..)| p)
        .collect()
}

/// The live children of `parent`.
pub(crate) fn children_of(parent: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(_, pp, _)| *pp == parent)
        .map(|(p, ..)| p)
        .collect()
}

/// Polls until no process of `pids`, nor of the process groups they lead, is alive.
pub(crate) async fn wait_gone(pids: &[u32], context: &str) {
    let left = || -> Vec<u32> {
        pids.iter()
            .flat_map(|&p| {
                let mut all = group(p);
                if alive(p) {
                    all.push(p);
                }
                all
            })
            .collect()
    };
    for _ in 0..POLLS {
        if left().is_empty() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "processes still alive: {:?} (of {pids:?})\n{context}",
        left()
    );
}

/// A TCP port on loopback that nothing listens on now.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}

/// The user id this test runs as, from `/proc/self/status`.
pub(crate) fn uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("a Uid line")
}
