//! Healthy means ready: spawned, or past the readiness check when one is given.

mod common;

use std::time::Duration;

use arbor::NodeState;
use arbor_process::{Command, Regex};
use arbor_test_kit::*;
use common::*;

fn pattern(re: &str) -> Regex {
    Regex::new(re).expect("a valid pattern")
}

/// Waits (polling a file, within the deadline) until the test creates `go`.
const WAIT_FOR_GO: &str = "while [ ! -e go ]; do sleep 0.01; done";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_check_the_node_is_healthy_once_spawned() {
    let sup = supervisor_with(
        root_running("sleeper", Command::new("sleep").arg("1000")),
        fast_backoff(),
    );
    let mut events = sup.events();
    expect(&mut events, entered("root.sleeper", NodeState::Healthy)).await;
    // The pid is a note on the node (sent before Healthy, so already recorded).
    let status = sup.status().await;
    let pid: u32 = status.get("root.sleeper").expect("the node").notes["pid"]
        .parse()
        .expect("a pid");
    assert!(alive(pid), "the noted pid {pid} is the running child");
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_line_makes_the_node_healthy_only_once_it_is_printed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script =
        format!("echo starting; echo $$ > started; {WAIT_FOR_GO}; echo ready; exec sleep 1000");
    let cmd = sh(&script)
        .current_dir(dir.path())
        .ready_on_line(pattern("^ready$"));
    let sup = supervisor_with(root_running("web", cmd), fast_backoff());
    let mut events = sup.events();

    let pid = read_pid(&dir.path().join("started")).await;
    assert!(alive(pid));
    // Running, and it printed a line, but not the ready one: still New.
    let status = sup.status().await;
    let web = status.get("root.web").expect("the node exists");
    assert_eq!(web.state, NodeState::New, "{status}");

    std::fs::write(dir.path().join("go"), "").expect("create the go file");
    expect(&mut events, entered("root.web", NodeState::Healthy)).await;
    assert!(alive(pid), "the same process serves on");
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_line_may_come_on_stderr() {
    let cmd = sh("echo 'listening on 8080' >&2; exec sleep 1000")
        .ready_on_line(pattern(r"listening on \d+"));
    let sup = supervisor_with(root_running("web", cmd), fast_backoff());
    let mut events = sup.events();
    expect(&mut events, entered("root.web", NodeState::Healthy)).await;
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_port_makes_the_node_healthy_once_it_accepts_connections() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Held until the end: the script binds the port with SO_REUSEADDR, which a reservation
    // allows, and nobody else can take it meanwhile.
    let reserved = free_port();
    let port = reserved.port();
    let listener = format!(
        "import os, socket, time\n\
         open('started', 'w').write(str(os.getpid()) + '\\n')\n\
         while not os.path.exists('go'): time.sleep(0.01)\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {port}))\n\
         s.listen()\n\
         while True: s.accept()[0].close()\n"
    );
    let cmd = Command::new("python3")
        .args(["-c", &listener])
        .current_dir(dir.path())
        .ready_on_port(port);
    let sup = supervisor_with(root_running("api", cmd), fast_backoff());
    let mut events = sup.events();

    read_pid(&dir.path().join("started")).await;
    let status = sup.status().await;
    assert_eq!(
        status.get("root.api").expect("the node exists").state,
        NodeState::New,
        "not listening yet: {status}"
    );

    std::fs::write(dir.path().join("go"), "").expect("create the go file");
    expect(&mut events, entered("root.api", NodeState::Healthy)).await;
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the port accepts connections once Healthy");
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_timeout_is_a_death_that_says_what_was_awaited_and_stops_the_process() {
    let cmd = Command::new("sleep")
        .arg("1000")
        .ready_on_line(pattern("^never$"))
        .ready_timeout(Duration::from_millis(300))
        .grace_period(Duration::from_millis(300));
    let sup = supervisor_with(root_running("slow", cmd), fast_backoff());
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.slow", NodeState::Dead)).await;
    let error = error_of(&dead);
    assert!(error.contains("\"sleep\""), "{error}");
    assert!(error.contains("was not ready within 300ms"), "{error}");
    assert!(
        error.contains("waiting for a line matching /^never$/ on stdout or stderr"),
        "{error}"
    );
    // The run returned only after reaping it.
    assert!(!alive(pid_in(error)), "the unready process was stopped");
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_readiness_timeout_names_the_address() {
    // While reserved, nobody listens on the port: connections are refused.
    let reserved = free_port();
    let port = reserved.port();
    let cmd = Command::new("sleep")
        .arg("1000")
        .ready_on_port(port)
        .ready_timeout(Duration::from_millis(200))
        .grace_period(Duration::from_millis(300));
    let sup = supervisor_with(root_running("deaf", cmd), fast_backoff());
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.deaf", NodeState::Dead)).await;
    let error = error_of(&dead);
    let want = format!("waiting for a connection accepted on 127.0.0.1:{port}");
    assert!(error.contains(&want), "{error}");
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_before_readiness_is_a_death_that_says_so() {
    let cmd = sh("echo 'config error' >&2; exit 4").ready_on_line(pattern("^ready$"));
    let sup = supervisor_with(root_running("broken", cmd), fast_backoff());
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.broken", NodeState::Dead)).await;
    let error = error_of(&dead);
    assert!(
        error.contains("exited with code 4 before it was ready"),
        "{error}"
    );
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_and_working_directory_reach_the_program() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir_path = dir.path().canonicalize().expect("a canonical path");
    // The ready line shows what the program saw; only the expected view makes it Healthy.
    let cmd = Command::new("/bin/sh")
        .args([
            "-c",
            "echo \"seen ${GREETING:-unset} ${HOME:-unset} ${ARBOR_GONE:-unset} $(pwd)\"; exec /bin/sleep 1000",
        ])
        .env("ARBOR_GONE", "still here")
        .env_clear()
        .env("GREETING", "hello")
        .env("ARBOR_GONE", "back")
        .env_remove("ARBOR_GONE")
        .current_dir(&dir_path);
    let want = format!(
        "^seen hello unset unset {}$",
        regex::escape(&dir_path.to_string_lossy())
    );
    let sup = supervisor_with(
        root_running("envy", cmd.ready_on_line(pattern(&want))),
        fast_backoff(),
    );
    let mut events = sup.events();
    expect(&mut events, entered("root.envy", NodeState::Healthy)).await;
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_after_makes_a_program_that_stays_up_healthy() {
    let cmd = Command::new("sleep")
        .arg("1000")
        .ready_after(Duration::from_millis(100));
    let sup = supervisor_with(root_running("steady", cmd), fast_backoff());
    let mut events = sup.events();
    expect(&mut events, entered("root.steady", NodeState::Healthy)).await;
    shutdown(&sup).await;
}

/// This is what lets a crash loop back off: arbor resets a node's backoff only when it
/// becomes Healthy, and these runs never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_dies_before_its_uptime_never_becomes_healthy() {
    let cmd = sh("exit 3").ready_after(Duration::from_secs(600));
    let sup = supervisor_with(root_running("flappy", cmd), fast_backoff());
    let mut events = sup.events();
    for _ in 0..3 {
        let dead = expect(&mut events, entered("root.flappy", NodeState::Dead)).await;
        assert_eq!(
            dead.from,
            Some(NodeState::New),
            "died without being Healthy"
        );
        let error = error_of(&dead);
        assert!(
            error.contains("exited with code 3 before it was ready (waiting for 600s of uptime)"),
            "{error}"
        );
    }
    shutdown(&sup).await;
}
