//! `arbor run`'s live view, end to end: the real binary runs in a tmux pane of a private tmux
//! server with a fixed size, the test reads the pane with `capture-pane` and types with
//! `send-keys`. Every expectation is polled until it holds or a deadline passes; nothing
//! relies on a fixed sleep. Without tmux the tests say so and pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The binary under test.
const ARBOR: &str = env!("CARGO_BIN_EXE_arbor");

/// Time between two looks at the pane.
const POLL: Duration = Duration::from_millis(50);

/// How many looks before giving up: about 20 s (`Instant::now` is kept out of tests by the
/// clippy configuration, so the deadline is counted in polls).
const POLLS: u32 = 400;

/// A private tmux server running one `arbor run` in a 120x40 pane, and the directory with its
/// file, socket and the programs' pid files. Dropping it stops everything it started, even
/// when a test fails half-way.
struct Pane {
    /// The server's name (`tmux -L`): its own socket, so no user session is touched.
    server: String,
    /// That socket, which tmux leaves behind when its server is killed.
    server_socket: Option<PathBuf>,
    dir: PathBuf,
}

impl Pane {
    /// Runs `arbor run` on a file with `programs` (TOML, where `{dir}` stands for the test's
    /// directory) in a new pane; `None` if tmux is not installed.
    fn start(test: &str, programs: &str) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipped: tmux is not installed, the live view is not tested");
            return None;
        }
        let name = format!("arbor-live-{}-{test}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let file = dir.join("arbor.toml");
        let text = programs.replace("{dir}", dir.to_str().expect("a UTF-8 temporary path"));
        std::fs::write(&file, text).expect("the file is written");
        let mut pane = Pane {
            server: name,
            server_socket: None,
            dir,
        };
        // The pane's shell reports arbor's exit code and whether the terminal is back in
        // cooked mode, then waits so that the pane stays readable.
        // arbor's own diagnostics at info for its process runs: the view must show them among
        // the output, not write them over its screen.
        let script = r#"ARBOR_LOG=arbor_process::run=info "$0" run "$1" --socket "$2"; code=$?
case "$(stty -a)" in *-icanon*) echo TTY=raw;; *) echo TTY=cooked;; esac
echo EXIT=$code; read _"#;
        let file = file.to_str().expect("a UTF-8 path");
        let socket = pane.socket();
        let out = pane.tmux(&[
            "new-session",
            "-d",
            "-s",
            "live",
            "-x",
            "120",
            "-y",
            "40",
            "--",
            "sh",
            "-c",
            script,
            ARBOR,
            file,
            &socket,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        let out = pane.tmux(&["display-message", "-p", "#{socket_path}"]);
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        pane.server_socket = Some(PathBuf::from(path)).filter(|p| p.is_absolute());
        Some(pane)
    }

    fn socket(&self) -> String {
        self.dir.join("s.sock").display().to_string()
    }

    /// Runs a tmux command on this test's server only, without the user's configuration.
    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.server, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs")
    }

    /// The pane as it is on screen now (the alternate screen while the view shows).
    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "live"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format about the pane, such as `#{alternate_on}`.
    fn format(&self, format: &str) -> String {
        let out = self.tmux(&["display-message", "-p", "-t", "live", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Asserts that arbor left the terminal as it found it: main screen, cursor shown,
    /// cooked mode.
    fn assert_restored(&self, screen: &str) {
        assert_eq!(
            self.format("#{alternate_on}"),
            "0",
            "left the alternate screen"
        );
        assert_eq!(self.format("#{cursor_flag}"), "1", "the cursor is shown");
        assert!(screen.contains("TTY=cooked"), "raw mode is off:\n{screen}");
    }

    /// Types `keys` (tmux key names: `q`, `C-c`).
    fn send(&self, keys: &str) {
        let out = self.tmux(&["send-keys", "-t", "live", keys]);
        assert!(out.status.success(), "tmux send-keys {keys}: {out:?}");
    }

    /// Polls the pane until `done` holds for it, and returns it; panics with the last screen
    /// after the deadline.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let mut screen = String::new();
        for _ in 0..POLLS {
            screen = self.screen();
            if done(&screen) {
                return screen;
            }
            pause();
        }
        panic!("timed out waiting for {what}; the pane shows:\n{screen}");
    }

    /// The pids the programs wrote to `NAME.pid` files in the test's directory.
    fn pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "pid") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
            }
        }
        pids
    }

    /// Asserts that no process the programs started is left, polling briefly.
    fn assert_no_program_left(&self) {
        let pids = self.pids();
        assert!(!pids.is_empty(), "the programs wrote their pids");
        for _ in 0..POLLS {
            if !pids.iter().any(|pid| alive(*pid)) {
                return;
            }
            pause();
        }
        let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
        panic!("programs still running after arbor exited: {left:?}");
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        // On a failure arbor may still run: ask it to stop, close the pane, and kill what is
        // left of the programs (checked to be theirs, in case a pid was reused).
        let _ = Command::new(ARBOR)
            .args(["shutdown", "--socket", &self.socket()])
            .output();
        let _ = self.tmux(&["kill-server"]);
        if let Some(socket) = &self.server_socket {
            let _ = std::fs::remove_file(socket);
        }
        for pid in self.pids() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.starts_with(b"sleep\x001000") {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a process `pid` exists (a zombie counts: it was not reaped).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits one poll. `park_timeout` may return early; that only makes one poll shorter.
fn pause() {
    std::thread::park_timeout(POLL);
}

/// The row of node `name` in the tree: its words from the state on (state, pid, uptime,
/// restarts, info), if the pane shows one.
fn row<'s>(screen: &'s str, name: &str) -> Option<Vec<&'s str>> {
    const STATES: [&str; 6] = ["New", "Healthy", "Dead", "Done", "Stopped", "Canceled"];
    screen.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words
            .windows(2)
            .position(|w| w[0] == name && STATES.contains(&w[1]))?;
        Some(words[at + 1..].to_vec())
    })
}

/// Whether `name`'s row shows it Healthy (then with a pid).
fn healthy(screen: &str, name: &str) -> bool {
    row(screen, name)
        .is_some_and(|w| w[0] == "Healthy" && w.get(1).is_some_and(|p| p.parse::<u32>().is_ok()))
}

/// The exit code the pane's shell reported, once arbor has exited.
fn exit_code(screen: &str) -> Option<&str> {
    screen.lines().find_map(|l| l.trim().strip_prefix("EXIT="))
}

#[test]
fn the_live_view_shows_the_tree_a_restart_and_the_output_and_q_restores_the_terminal() {
    let Some(pane) = Pane::start(
        "restart",
        r#"
[program.steady]
command = ["sh", "-c", "echo $$ > steady.pid; echo hello-from-a; exec sleep 1000"]
dir = '{dir}'

[program.crashy]
command = ["sh", "-c", "echo $$ >> crashy.pid; echo tick; sleep 1; exit 3"]
dir = '{dir}'
"#,
    ) else {
        return;
    };

    // A frame may be caught half drawn: each wait asks for all it needs at once.
    pane.wait_for("the tree's title, both programs Healthy, the keys", |s| {
        s.contains("arbor run")
            && healthy(s, "steady")
            && healthy(s, "crashy")
            && s.contains("q / Ctrl-C stop")
    });
    pane.wait_for("the output line of steady", |s| {
        s.lines()
            .any(|l| l.contains("steady") && l.contains("hello-from-a"))
    });
    pane.wait_for("arbor's own diagnostic line among the output", |s| {
        s.lines().any(|l| {
            l.trim_start().starts_with("arbor") && l.contains("arbor_process::run: started")
        })
    });
    // crashy is Dead for a few milliseconds only: what stays is its count and its error.
    pane.wait_for(
        "crashy restarted, Healthy again, with its last error",
        |s| {
            healthy(s, "crashy")
                && row(s, "crashy").is_some_and(|w| {
                    w.get(3).and_then(|r| r.parse::<u32>().ok()) >= Some(1)
                        && w.join(" ").contains("exited with code 3")
                })
        },
    );
    pane.wait_for("the uptime of steady counting", |s| {
        row(s, "steady").is_some_and(|w| w.get(2).is_some_and(|u| u.ends_with('s') && *u != "0s"))
    });

    assert_eq!(
        pane.format("#{alternate_on}"),
        "1",
        "the view is on the alternate screen"
    );
    assert_eq!(pane.format("#{cursor_flag}"), "0", "the cursor is hidden");

    pane.send("q");
    let screen = pane.wait_for("arbor's exit", |s| exit_code(s).is_some());
    assert_eq!(exit_code(&screen), Some("0"), "the pane:\n{screen}");
    pane.assert_restored(&screen);
    for gone in ["hello-from-a", "Healthy", "q / Ctrl-C", "RESTARTS"] {
        assert!(
            !screen.contains(gone),
            "the alternate screen was left, yet {gone:?} shows:\n{screen}"
        );
    }
    assert!(
        screen.contains("arbor | stopped after") && screen.contains("2 programs (2 Stopped)"),
        "the summary line:\n{screen}"
    );
    pane.assert_no_program_left();
}

#[test]
fn a_second_ctrl_c_kills_a_program_that_ignores_its_stop_signal() {
    let Some(pane) = Pane::start(
        "kill",
        r#"
[program.stubborn]
command = ["sh", "-c", "trap '' TERM; echo $$ > stubborn.pid; echo stubborn-up; exec sleep 1000"]
dir = '{dir}'
grace = "60s"
"#,
    ) else {
        return;
    };

    pane.wait_for("stubborn Healthy with its output", |s| {
        healthy(s, "stubborn") && s.contains("stubborn-up")
    });
    pane.send("C-c");
    pane.wait_for("the footer saying it stops, the tree still shown", |s| {
        s.contains("q / Ctrl-C again") && row(s, "stubborn").is_some()
    });
    pane.send("C-c");
    let screen = pane.wait_for("arbor's exit", |s| exit_code(s).is_some());
    assert_eq!(exit_code(&screen), Some("130"), "the pane:\n{screen}");
    pane.assert_restored(&screen);
    assert!(
        !screen.contains("stubborn-up"),
        "the view is gone:\n{screen}"
    );
    pane.assert_no_program_left();
}

/// The process whose parent is `parent` and whose command is `name`, if there is one.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // pid (comm) state ppid ...: the comm may hold spaces, so split after its ')'.
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent && comm == name).then_some(pid)
        })
}

/// Whether `pid` has exited (gone, or a zombie not reaped yet).
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

#[test]
fn a_closed_terminal_stops_the_run_in_order() {
    let Some(pane) = Pane::start(
        "hangup",
        r#"
[program.steady]
command = ["sh", "-c", "echo $$ > steady.pid; echo steady-up; exec sleep 1000"]
dir = '{dir}'
"#,
    ) else {
        return;
    };
    pane.wait_for("steady Healthy with its output", |s| {
        healthy(s, "steady") && s.contains("steady-up")
    });
    let shell: u32 = pane
        .format("#{pane_pid}")
        .parse()
        .expect("the pane's shell pid");
    let arbor = child_named(shell, "arbor").expect("arbor runs under the pane's shell");
    // The terminal goes away: its programs get SIGHUP, and the view can no longer read keys.
    let out = pane.tmux(&["kill-server"]);
    assert!(out.status.success(), "tmux kill-server: {out:?}");
    let mut gone = false;
    for _ in 0..POLLS {
        if exited(arbor) {
            gone = true;
            break;
        }
        pause();
    }
    assert!(gone, "arbor {arbor} still runs after its terminal closed");
    pane.assert_no_program_left();
}
