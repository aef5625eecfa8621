//! `arbor reload` and SIGHUP end to end: the file is read again and only the difference is
//! applied to the running tree.

mod common;

use common::{alive, wait_gone, Dir, Run};
use nix::sys::signal::Signal;

/// A program that runs until stopped, with `extra` lines in its table.
fn program(name: &str, extra: &str) -> String {
    format!("[program.{name}]\ncommand = [\"sleep\", \"1000\"]\n{extra}\n")
}

fn file(programs: &[String]) -> String {
    programs.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_stops_what_is_gone_restarts_what_changed_and_starts_what_is_new() {
    let dir = Dir::new("reload-diff");
    let path = dir.write(
        "arbor.toml",
        &file(&[
            program("a", ""),
            program("b", ""),
            program("c", ""),
            program("d", ""),
        ]),
    );
    let mut run = Run::start(&dir, &path);
    let before = run
        .wait_status("a, b, c, d up", |s| {
            ["a", "b", "c", "d"].iter().all(|p| s.is(p, "Healthy"))
        })
        .await;
    let pid = |name| before.pid_of(name);

    dir.write(
        "arbor.toml",
        &file(&[
            program("a", ""),
            program("c", "env = { MODE = \"new\" }"),
            program("d", ""),
            program("e", ""),
        ]),
    );
    let out = run.ok(&["reload"]);
    let changes: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        changes,
        ["removed b", "restarted c", "added e"],
        "{out}\n{}",
        run.report()
    );
    let after = run
        .wait_status("e up, c restarted, b gone", |s| {
            s.is("e", "Healthy")
                && s.is("c", "Healthy")
                && s.pid("c") != Some(pid("c"))
                && s.node("b").is_none()
        })
        .await;
    assert_eq!(after.pid("a"), Some(pid("a")), "a is unchanged: {after}");
    assert_eq!(after.pid("d"), Some(pid("d")), "d is unchanged: {after}");
    assert!(!alive(pid("b")), "b's process is gone: {after}");
    assert!(!alive(pid("c")), "c's old process is gone: {after}");
    let c = after.pid_of("c");
    let environ = std::fs::read(format!("/proc/{c}/environ")).unwrap();
    assert!(
        environ.split(|b| *b == 0).any(|v| v == b"MODE=new"),
        "the new c runs with the new environment"
    );
    let dns: Vec<&str> = after.nodes.iter().map(|n| n.dn.as_str()).collect();
    assert_eq!(dns.len(), 5, "root, a, c, d, e: {after}");

    // The same file again: nothing to do.
    let out = run.ok(&["reload"]);
    assert_eq!(out.stdout.trim(), "reloaded: nothing changed", "{out}");
    let same = run.status();
    for name in ["a", "c", "d", "e"] {
        assert_eq!(same.pid(name), after.pid(name), "{name}: {same}");
    }

    let pids: Vec<u32> = run.seen_pids().into_iter().collect();
    run.signal(Signal::SIGINT);
    assert_eq!(run.wait_exit().await, 0, "{}", run.report());
    wait_gone(&pids, &run.report()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_of_a_bad_file_changes_nothing_and_sighup_reloads_too() {
    let dir = Dir::new("reload-bad");
    let path = dir.write("arbor.toml", &file(&[program("a", ""), program("b", "")]));
    let mut run = Run::start(&dir, &path);
    let before = run
        .wait_status("a, b up", |s| s.is("a", "Healthy") && s.is("b", "Healthy"))
        .await;

    // A bad file: refused with its error, at its place; the tree runs on untouched.
    dir.write(
        "arbor.toml",
        &file(&[program("a", ""), program("c", "grace = \"5 parsecs\"")]),
    );
    let out = run.client(&["reload"]);
    assert_eq!(out.code, 1, "{out}");
    let shown = path.display().to_string();
    assert!(
        out.stderr
            .contains(&format!("{shown}:6:9: error: bad duration \"5 parsecs\"")),
        "{out}"
    );
    assert!(
        out.stderr.contains("not reloaded; nothing was changed"),
        "{out}"
    );
    let same = run.status();
    assert_eq!(same.nodes.len(), 3, "root, a, b: {same}");
    assert_eq!(same.pid("a"), before.pid("a"), "{same}");
    assert_eq!(same.pid("b"), before.pid("b"), "{same}");
    assert!(same.node("c").is_none(), "{same}");

    // A new strategy for the file's own root cannot be applied in place.
    dir.write(
        "arbor.toml",
        &format!(
            "strategy = \"one_for_all\"\n{}",
            file(&[program("a", ""), program("b", "")])
        ),
    );
    let out = run.client(&["reload"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("strategy or intensity changed; restart arbor"),
        "{out}"
    );
    let same = run.status();
    assert_eq!(same.pid("a"), before.pid("a"), "{same}");
    assert_eq!(same.pid("b"), before.pid("b"), "{same}");

    // A file that cannot be read: refused the same way.
    std::fs::remove_file(&path).unwrap();
    let out = run.client(&["reload"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("cannot read it"), "{out}");

    // SIGHUP: the good file is applied.
    dir.write(
        "arbor.toml",
        &file(&[program("a", ""), program("b", ""), program("f", "")]),
    );
    run.signal(Signal::SIGHUP);
    let after = run
        .wait_status("f up after SIGHUP", |s| s.is("f", "Healthy"))
        .await;
    assert_eq!(after.pid("a"), before.pid("a"), "{after}");
    assert_eq!(after.pid("b"), before.pid("b"), "{after}");
    // What it did is said among the output, where a view shows it.
    run.wait_line("arbor | reload (SIGHUP): added f").await;

    // A bad file on SIGHUP: its errors said the same way, and the run goes on.
    dir.write("arbor.toml", "[program.a]\ncommand = []\n");
    run.signal(Signal::SIGHUP);
    run.wait_line(&format!(
        "arbor | {shown}:2:11: error: program \"a\" has an empty command"
    ))
    .await;
    run.wait_line(&format!(
        "arbor | {shown}: not reloaded; nothing was changed"
    ))
    .await;
    let still = run.status();
    for name in ["a", "b", "f"] {
        assert_eq!(still.pid(name), after.pid(name), "{name}: {still}");
    }

    let pids: Vec<u32> = run.seen_pids().into_iter().collect();
    run.signal(Signal::SIGTERM);
    assert_eq!(
        run.wait_exit().await,
        0,
        "SIGTERM stops in order\n{}",
        run.report()
    );
    wait_gone(&pids, &run.report()).await;
}
