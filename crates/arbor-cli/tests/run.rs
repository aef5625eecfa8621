//! `arbor run` end to end: the built binary on real files, supervising real programs (`sh`,
//! `sleep`, `python3`), steered with the client commands over its socket.

mod common;

use common::{alive, group, wait_gone, Dir, Run, Status};
use nix::sys::signal::Signal;

/// A lifecycle group `web` (a migration, a server that leads the group, a log shipper beside
/// it) and a `worker` that waits for `web` to be healthy. The migration, the server and the
/// worker each append their name to `order` as they start.
fn web_and_worker(dir: &Dir, port: u16) -> std::path::PathBuf {
    let order = dir.show("order");
    dir.write(
        "arbor.toml",
        &format!(
            r#"
[group.web.program.migrate]
command = ["sh", "-c", "echo migrate >> {order}"]
hook = "prestart"

[group.web.program.server]
command = ["sh", "-c", "echo server >> {order} && exec python3 -m http.server {port} --bind 127.0.0.1"]
ready = {{ port = {port} }}
leader = true

[group.web.program.shipper]
command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo shipped $i; sleep 0.05; done"]
hook = "prestart"
sidecar = true

[program.worker]
command = ["sh", "-c", "echo worker >> {order}; exec sleep 1000"]
depends_on = {{ web = "healthy" }}
"#
        ),
    )
}

/// The index of arbor's first line saying that `name` reached `to` (`web.server: New ->
/// Healthy (pid 42)`, or `web.server: Healthy` for a node first seen in that state).
fn event_at(lines: &[String], name: &str, to: &str) -> Option<usize> {
    let about = format!(" | {name}: ");
    lines.iter().position(|l| {
        l.split_once(&about)
            .is_some_and(|(_, event)| event.starts_with(to) || event.contains(&format!("-> {to}")))
    })
}

/// Every program up: the lifecycle group's job done, the rest healthy.
fn all_up(s: &Status) -> bool {
    s.is("web.migrate", "Done")
        && s.is("web.shipper", "Healthy")
        && s.is("web.server", "Healthy")
        && s.is("worker", "Healthy")
        && s.state("web") == Some("Healthy")
        && s.state("root") == Some("Healthy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifecycle_group_and_a_dependent_start_in_order_restart_alone_and_stop_on_ctrl_c() {
    let dir = Dir::new("run-main");
    let port = common::free_port();
    let file = web_and_worker(&dir, port);
    let mut run = Run::start(&dir, &file);

    // Started in order: the prestart job, then the leader, then what waits for the group.
    let up = run.wait_status("every program up", all_up).await;
    assert_eq!(
        dir.lines("order"),
        ["migrate", "server", "worker"],
        "{}",
        run.report()
    );
    run.wait_output("the worker's Healthy event", |out| {
        event_at(out, "worker", "Healthy").is_some()
    })
    .await;
    let out = run.stdout.get();
    let at = |name, to| {
        event_at(&out, name, to)
            .unwrap_or_else(|| panic!("no event {name} -> {to}:\n{}", out.join("\n")))
    };
    let (migrated, server_up) = (at("web.migrate", "Done"), at("web.server", "Healthy"));
    let (web_up, worker_up) = (at("web", "Healthy"), at("worker", "Healthy"));
    assert!(
        migrated < server_up && server_up < web_up && web_up < worker_up,
        "start order in the plain output:\n{}",
        out.join("\n")
    );
    assert!(
        out.iter().any(|l| l.contains("web.shipper | shipped ")),
        "the shipper's output, prefixed with its name:\n{}",
        out.join("\n")
    );

    // The status's shape: every key of every node, groups without pids, programs with.
    let raw: serde_json::Value = serde_json::from_str(&up.raw).unwrap();
    for node in raw["nodes"].as_array().unwrap() {
        let mut keys: Vec<&str> = node
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "depth",
                "dn",
                "in_state_ms",
                "last_error",
                "pid",
                "restarts",
                "stage",
                "state",
                "stopping",
                "waiting_for"
            ],
            "{node}"
        );
    }
    let dns: Vec<(&str, usize)> = up.nodes.iter().map(|n| (n.dn.as_str(), n.depth)).collect();
    for expected in [
        ("root", 0),
        ("root.web", 1),
        ("root.web.migrate", 2),
        ("root.web.server", 2),
        ("root.web.shipper", 2),
        ("root.worker", 1),
    ] {
        assert!(dns.contains(&expected), "{expected:?} in {dns:?}");
    }
    assert_eq!(up.nodes.len(), 6, "{up}");
    assert!(up.pid("root").is_none() && up.pid("web").is_none(), "{up}");
    for node in &up.nodes {
        assert!(!node.stopping && node.restarts == 0, "{up}");
    }
    let server = up.pid_of("web.server");
    let worker = up.pid_of("worker");
    let shipper = up.pid_of("web.shipper");
    assert!(alive(server) && alive(worker) && alive(shipper), "{up}");
    assert!(!alive(up.pid_of("web.migrate")), "the job has exited: {up}");

    // The leader dies: the whole group restarts, its migration first; the worker, beside
    // the group, runs on.
    common::signal(server, Signal::SIGKILL);
    let again = run
        .wait_status("web restarted after its leader died", |s| {
            all_up(s)
                && s.get("web").restarts >= 1
                && s.pid("web.server") != Some(server)
                && s.pid("web.shipper") != Some(shipper)
        })
        .await;
    assert_eq!(
        dir.lines("order"),
        ["migrate", "server", "worker", "migrate", "server"],
        "{}",
        run.report()
    );
    assert_eq!(
        again.pid("worker"),
        Some(worker),
        "worker untouched: {again}"
    );
    assert_eq!(again.get("worker").restarts, 0, "{again}");
    assert!(!alive(server) && !alive(shipper), "the old group is gone");
    run.wait_line("leader \"server\" failed").await;

    // restart, stop, start.
    let out = run.ok(&["restart", "worker"]);
    assert_eq!(out.stdout.trim(), "restarting worker");
    let restarted = run
        .wait_status("worker restarted", |s| {
            s.is("worker", "Healthy") && s.pid("worker") != Some(worker)
        })
        .await;
    assert!(!alive(worker), "the old worker is gone");
    let worker = restarted.pid_of("worker");
    assert_eq!(restarted.get("worker").restarts, 1, "{restarted}");
    assert_eq!(restarted.pid("web.server"), again.pid("web.server"));

    let out = run.ok(&["stop", "worker"]);
    assert_eq!(out.stdout.trim(), "stopping worker");
    let stopped = run
        .wait_status("worker stopped", |s| s.state("worker") == Some("Stopped"))
        .await;
    assert!(!alive(worker) && group(worker).is_empty(), "{stopped}");
    assert_eq!(
        stopped.pid("web.server"),
        again.pid("web.server"),
        "only the worker stopped"
    );

    let out = run.ok(&["start", "worker"]);
    assert_eq!(out.stdout.trim(), "starting worker");
    let started = run
        .wait_status("worker started again", |s| {
            s.is("worker", "Healthy") && s.pid("worker") != Some(worker)
        })
        .await;
    assert!(alive(started.pid_of("worker")), "{started}");
    assert_eq!(
        dir.lines("order").iter().filter(|l| *l == "worker").count(),
        3,
        "the worker ran three times: {:?}",
        dir.lines("order")
    );

    // Ctrl-C: everything stops in order, and arbor exits 0 having left nothing behind.
    let last = run.status();
    let pids: Vec<u32> = run.seen_pids().into_iter().collect();
    let mark = run.stdout.get().len();
    run.signal(Signal::SIGINT);
    let code = run.wait_exit().await;
    assert_eq!(code, 0, "{}", run.report());
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} outlived arbor\n{last}");
    }
    wait_gone(&pids, &run.report()).await;
    let out = run.stdout.get()[mark..].to_vec();
    let at = |name, to| {
        event_at(&out, name, to)
            .unwrap_or_else(|| panic!("no event {name} -> {to}:\n{}", out.join("\n")))
    };
    let (worker_stopped, server_stopping) = (at("worker", "Stopped"), at("web.server", "Canceled"));
    assert!(
        worker_stopped < server_stopping,
        "the dependent stops before what it depends on:\n{}",
        out.join("\n")
    );
    assert!(!dir.socket().exists(), "the socket is removed at the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_print_a_programs_last_lines_and_names_resolve_or_say_why_not() {
    let dir = Dir::new("run-logs");
    let file = dir.write(
        "arbor.toml",
        r#"
[group.web.program.shipper]
command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo shipped $i; sleep 0.05; done"]
hook = "prestart"
sidecar = true

[group.web.program.server]
command = ["sleep", "1000"]

[group.api.program.server]
command = ["sleep", "1000"]

[program.worker]
command = ["sleep", "1000"]
"#,
    );
    let mut run = Run::start(&dir, &file);
    run.wait_status("every program up", |s| {
        ["web.shipper", "web.server", "api.server", "worker"]
            .iter()
            .all(|p| s.is(p, "Healthy"))
    })
    .await;
    run.wait_line("shipped 20").await;

    // The last 5 lines, oldest first, each one line of the program's output.
    let out = run.ok(&["logs", "shipper", "-n", "5"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    let numbers: Vec<u32> = lines
        .iter()
        .map(|l| {
            l.strip_prefix("shipped ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a shipper's line: {l:?}\n{out}"))
        })
        .collect();
    assert!(numbers[0] >= 16, "the last lines, not the first: {out}");
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "consecutive, in order: {out}");
    }
    // A full DN names it too.
    let out = run.ok(&["logs", "root.web.shipper", "-n", "1"]);
    assert!(out.stdout.starts_with("shipped "), "{out}");

    // Following: the kept lines, then new ones as they come.
    let mut follow = common::client(&run.socket, &["logs", "shipper", "-n", "1", "-f"]);
    let mut follower = follow
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn arbor logs -f");
    let followed = common::Lines::capture(follower.stdout.take().unwrap());
    let mut seen = false;
    for _ in 0..600 {
        if followed.get().len() >= 4 {
            seen = true;
            break;
        }
        if let Ok(Some(status)) = follower.try_wait() {
            let mut err = String::new();
            use std::io::Read;
            let _ = follower.stderr.take().unwrap().read_to_string(&mut err);
            panic!("`arbor logs -f` exited ({status}): {err}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let followed = followed.get();
    assert!(seen, "`arbor logs -f` printed new lines: {followed:?}");
    let numbers: Vec<u32> = followed
        .iter()
        .map(|l| l.strip_prefix("shipped ").unwrap().parse().unwrap())
        .collect();
    for pair in numbers.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "followed in order, none lost: {followed:?}"
        );
    }

    // A wrong name: exit 1, with the close matches.
    let out = run.client(&["logs", "wroker"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("no node is called \"wroker\"; did you mean worker?"),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
    let out = run.client(&["logs", "nosuch"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("no node is called \"nosuch\"")
            && out.stderr.contains("`arbor status` lists them"),
        "{out}"
    );
    let out = run.client(&["restart", "wroker"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("did you mean worker?"), "{out}");

    // A leaf name two nodes have: exit 1, naming both; their full names work.
    for command in ["logs", "restart", "stop"] {
        let out = run.client(&[command, "server"]);
        assert_eq!(out.code, 1, "{command}: {out}");
        assert!(
            out.stderr.contains("\"server\" is ambiguous")
                && out.stderr.contains("web.server")
                && out.stderr.contains("api.server")
                && out.stderr.contains("give its full name"),
            "{command}: {out}"
        );
    }
    let before = run.status();
    assert!(
        before.is("web.server", "Healthy") && before.is("api.server", "Healthy"),
        "a refused name changed nothing: {before}"
    );
    run.ok(&["restart", "api.server"]);
    let after = run
        .wait_status("api.server restarted", |s| {
            s.is("api.server", "Healthy") && s.pid("api.server") != before.pid("api.server")
        })
        .await;
    assert_eq!(after.pid("web.server"), before.pid("web.server"), "{after}");

    run.ok(&["shutdown"]);
    assert_eq!(run.wait_exit().await, 0, "{}", run.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_traps_its_stop_signal_gets_its_grace_period() {
    let dir = Dir::new("run-grace");
    let said = dir.show("said");
    let file = dir.write(
        "arbor.toml",
        &format!(
            r#"
[program.slow]
command = ["sh", "-c", "trap 'echo stopping; sleep 1; echo slow stopped >> {said}; exit 0' TERM; echo up; while true; do sleep 0.1; done"]
ready = {{ line = "^up$" }}
grace = "20s"

[program.usr1]
command = ["sh", "-c", "trap 'echo usr1 stopped >> {said}; exit 0' USR1; echo up; while true; do sleep 0.1; done"]
ready = {{ line = "^up$" }}
stop_signal = "USR1"
grace = "20s"
"#
        ),
    );
    let mut run = Run::start(&dir, &file);
    let up = run
        .wait_status("both up, their traps set", |s| {
            s.is("slow", "Healthy") && s.is("usr1", "Healthy")
        })
        .await;
    let pids = up.pids();
    run.signal(Signal::SIGINT);
    let code = run.wait_exit().await;
    assert_eq!(code, 0, "{}", run.report());
    let mut said = dir.lines("said");
    said.sort();
    assert_eq!(
        said,
        ["slow stopped", "usr1 stopped"],
        "each got its own stop signal and finished its trap\n{}",
        run.report()
    );
    assert!(
        run.stdout
            .get()
            .iter()
            .any(|l| l.contains(" slow ") && l.ends_with("| stopping")),
        "what it wrote as it stopped is shown\n{}",
        run.report()
    );
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} outlived arbor");
    }
    wait_gone(&pids, &run.report()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_kills_at_once_a_program_that_ignores_its_stop_signal() {
    let dir = Dir::new("run-twice");
    let file = dir.write(
        "arbor.toml",
        r#"
[program.stubborn]
command = ["sh", "-c", "trap '' TERM; echo up; while true; do sleep 0.1; done"]
ready = { line = "^up$" }
grace = "600s"
"#,
    );
    let mut run = Run::start(&dir, &file);
    let up = run
        .wait_status("stubborn up, TERM ignored", |s| s.is("stubborn", "Healthy"))
        .await;
    let stubborn = up.pid_of("stubborn");
    run.signal(Signal::SIGINT);
    // The first Ctrl-C is being served: the program is told to stop, and ignores it.
    let stopping = run
        .wait_status("stubborn stopping", |s| s.get("stubborn").stopping)
        .await;
    assert!(alive(stubborn), "TERM is ignored: {stopping}");
    assert_eq!(run.exited(), None, "still in the grace period");
    run.signal(Signal::SIGINT);
    let code = run.wait_exit().await;
    assert_eq!(code, 130, "{}", run.report());
    wait_gone(&[stubborn], &run.report()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_restart_what_they_say_and_conditions_hold_a_program_back() {
    let dir = Dir::new("run-strategies");
    let order = dir.show("order");
    let file = dir.write(
        "arbor.toml",
        &format!(
            r#"
[group.all]
strategy = "one_for_all"
[group.all.program.x]
command = ["sleep", "1000"]
[group.all.program.y]
command = ["sleep", "1000"]

[group.rest]
strategy = "rest_for_one"
[group.rest.program.a]
command = ["sleep", "1000"]
[group.rest.program.b]
command = ["sleep", "1000"]
[group.rest.program.c]
command = ["sleep", "1000"]

[program.migrate]
command = ["sh", "-c", "echo migrate >> {order}"]
restart = "transient"

[program.api]
command = ["sh", "-c", "echo api >> {order}; exec sleep 1000"]
depends_on = {{ migrate = "completed_successfully", all = "started", rest = "healthy" }}
"#
        ),
    );
    let mut run = Run::start(&dir, &file);
    let up = run
        .wait_status("every program up", |s| {
            ["all.x", "all.y", "rest.a", "rest.b", "rest.c", "api"]
                .iter()
                .all(|p| s.is(p, "Healthy"))
                && s.is("migrate", "Done")
        })
        .await;
    assert_eq!(dir.lines("order"), ["migrate", "api"], "{}", run.report());

    // one_for_all: one dies, both restart.
    common::signal(up.pid_of("all.x"), Signal::SIGKILL);
    let after = run
        .wait_status("all.x and all.y restarted", |s| {
            s.is("all.x", "Healthy")
                && s.is("all.y", "Healthy")
                && s.pid("all.x") != up.pid("all.x")
                && s.pid("all.y") != up.pid("all.y")
        })
        .await;
    for p in ["rest.a", "rest.b", "rest.c", "api"] {
        assert_eq!(after.pid(p), up.pid(p), "{p} untouched: {after}");
    }

    // rest_for_one: b dies, b and what comes after it restart; a runs on.
    common::signal(up.pid_of("rest.b"), Signal::SIGKILL);
    let after = run
        .wait_status("rest.b and rest.c restarted", |s| {
            s.is("rest.b", "Healthy")
                && s.is("rest.c", "Healthy")
                && s.pid("rest.b") != up.pid("rest.b")
                && s.pid("rest.c") != up.pid("rest.c")
        })
        .await;
    assert_eq!(after.pid("rest.a"), up.pid("rest.a"), "{after}");
    assert_eq!(after.pid("api"), up.pid("api"), "{after}");
    assert_eq!(after.get("rest.b").restarts, 1, "{after}");
    assert!(
        after
            .get("rest.b")
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("SIGKILL")),
        "{after}"
    );
    assert_eq!(dir.lines("order"), ["migrate", "api"], "the job ran once");

    let pids: Vec<u32> = run.seen_pids().into_iter().collect();
    run.ok(&["shutdown"]);
    assert_eq!(run.wait_exit().await, 0, "{}", run.report());
    wait_gone(&pids, &run.report()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_whose_intensity_is_exceeded_ends_the_run_with_its_reason() {
    let dir = Dir::new("run-root-fails");
    let file = dir.write(
        "arbor.toml",
        r#"
intensity = { max = 2, period = "60s" }

[program.steady]
command = ["sh", "-c", "echo $$ >> steady.pids; exec sleep 1000"]
dir = "DIR"

[program.crashing]
command = ["sh", "-c", "sleep 0.05; exit 3"]
"#
        .replace("DIR", &dir.show(""))
        .as_str(),
    );
    let mut run = Run::start(&dir, &file);
    // The third failure within the period is one too many for the root: OTP's top supervisor
    // gives up, and so does the run, having stopped everything.
    let code = run.wait_exit().await;
    assert_eq!(code, 1, "{}", run.report());
    run.wait_stderr("arbor: the tree failed, so everything was stopped")
        .await;
    run.wait_stderr("restart limit exceeded: root.crashing restarted 3 times within 60s")
        .await;
    let steady: Vec<u32> = dir
        .lines("steady.pids")
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(!steady.is_empty(), "{}", run.report());
    wait_gone(&steady, &run.report()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_dependents_before_what_they_depend_on() {
    let dir = Dir::new("run-stop-order");
    let stops = dir.show("stops");
    // Each writes its name when its stop signal comes, and takes a moment to stop: a program
    // told too early would write before the one that depends on it.
    let program = |name: &str, deps: &str| {
        format!(
            "[program.{name}]\ncommand = [\"sh\", \"-c\", \"trap 'echo {name} >> {stops}; sleep 0.2; exit 0' TERM; echo up; while true; do sleep 0.05; done\"]\nready = {{ line = \"^up$\" }}\ndepends_on = {{ {deps} }}\n"
        )
    };
    let file = dir.write(
        "arbor.toml",
        &[
            program("db", ""),
            program("cache", ""),
            program("api", "db = \"healthy\", cache = \"healthy\""),
            program("web", "api = \"healthy\""),
        ]
        .join("\n"),
    );
    let mut run = Run::start(&dir, &file);
    let up = run
        .wait_status("all four up", |s| {
            ["db", "cache", "api", "web"]
                .iter()
                .all(|n| s.is(n, "Healthy"))
        })
        .await;
    run.signal(Signal::SIGINT);
    let code = run.wait_exit().await;
    assert_eq!(code, 0, "{}", run.report());
    let order = dir.lines("stops");
    // web, then api, then db and cache together (in either order): reverse start layers.
    assert_eq!(order.len(), 4, "{order:?}\n{}", run.report());
    assert_eq!(&order[..2], ["web", "api"], "{order:?}");
    let mut last: Vec<&str> = order[2..].iter().map(String::as_str).collect();
    last.sort_unstable();
    assert_eq!(last, ["cache", "db"], "{order:?}");
    wait_gone(&up.pids(), &run.report()).await;
}
