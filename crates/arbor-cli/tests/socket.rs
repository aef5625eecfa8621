//! The control socket end to end: who may use it, a stale one left by a killed run, a live
//! one another run must not steal, and clients with no run to talk to.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;

use common::{alive, wait_gone, Dir, Run};

/// One program that runs until stopped.
const ONE: &str = "[program.one]\ncommand = [\"sleep\", \"1000\"]\n";

/// The user and group `nobody` has on Debian.
const NOBODY: u32 = 65534;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_owner_only_and_another_user_is_refused() {
    let dir = Dir::new("socket-owner");
    let file = dir.write("arbor.toml", ONE);
    let mut run = Run::start(&dir, &file);
    run.wait_status("one up", |s| s.is("one", "Healthy")).await;

    let meta = std::fs::metadata(&run.socket).unwrap();
    assert!(meta.file_type().is_socket(), "{meta:?}");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "srw------- for {}",
        run.socket.display()
    );

    if common::uid() != 0 {
        println!(
            "SKIPPED: refusing another user needs root to run a client as uid {NOBODY}; \
             this test runs as uid {}",
            common::uid()
        );
    } else {
        // The directory lets anyone in, so that only the socket's own mode stands between
        // another user and the run.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let as_nobody = || {
            let mut cmd = common::client(&run.socket, &["status"]);
            cmd.uid(NOBODY).gid(NOBODY);
            common::outcome(&mut cmd)
        };
        let out = as_nobody();
        assert_eq!(out.code, 3, "{out}");
        assert!(
            out.stderr.contains("cannot reach a running arbor")
                && out.stderr.contains("Permission denied"),
            "{out}"
        );
        assert!(out.stdout.is_empty(), "{out}");

        // With the mode opened, the run itself still refuses a peer that is not its user.
        std::fs::set_permissions(&run.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        // It reads the request and answers with a refusal, obeying nothing.
        let out = as_nobody();
        assert_eq!(out.code, 1, "{out}");
        assert!(
            out.stderr
                .contains("refused: this arbor takes orders from its own user (uid 0) only"),
            "{out}"
        );
        assert!(out.stdout.is_empty(), "{out}");
        let out = {
            let mut cmd = common::client(&run.socket, &["shutdown"]);
            cmd.uid(NOBODY).gid(NOBODY);
            common::outcome(&mut cmd)
        };
        assert_eq!(out.code, 1, "{out}");
        assert_eq!(run.exited(), None, "another user's shutdown was not obeyed");
    }

    // Its owner is served.
    let status = run.status();
    assert!(status.is("one", "Healthy"), "{status}");
    let pids: Vec<u32> = run.seen_pids().into_iter().collect();
    let out = run.ok(&["shutdown"]);
    assert_eq!(out.stdout.trim(), "shutting down");
    assert_eq!(run.wait_exit().await, 0, "{}", run.report());
    wait_gone(&pids, &run.report()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_left_by_a_killed_run_is_replaced() {
    let dir = Dir::new("socket-stale");
    let file = dir.write("arbor.toml", ONE);
    let mut first = Run::start(&dir, &file);
    let up = first
        .wait_status("one up", |s| s.is("one", "Healthy"))
        .await;
    let one = up.pid_of("one");

    // Killed: its socket stays behind, and its program, in a process group of its own,
    // runs on until it is killed too.
    first.crash().await;
    assert!(dir.socket().exists(), "the killed run left its socket");
    assert!(alive(one), "its program outlives it");
    common::kill_group(one);
    wait_gone(&[one], &first.report()).await;
    let out = common::outcome(&mut common::client(&dir.socket(), &["status"]));
    assert_eq!(out.code, 3, "nobody answers on a stale socket: {out}");

    let mut second = Run::start(&dir, &file);
    let up = second
        .wait_status("one up in the second run", |s| s.is("one", "Healthy"))
        .await;
    assert_ne!(up.pid_of("one"), one, "{up}");
    let meta = std::fs::metadata(&second.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let pids: Vec<u32> = second.seen_pids().into_iter().collect();
    second.ok(&["shutdown"]);
    assert_eq!(second.wait_exit().await, 0, "{}", second.report());
    wait_gone(&pids, &second.report()).await;
    assert!(!dir.socket().exists(), "removed at the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_live_socket_is_refused_and_starts_nothing() {
    let dir = Dir::new("socket-live");
    let file = dir.write("arbor.toml", ONE);
    let mut first = Run::start(&dir, &file);
    let up = first
        .wait_status("one up", |s| s.is("one", "Healthy"))
        .await;

    let marker = dir.show("marker");
    let other = dir.write(
        "other.toml",
        &format!("[program.two]\ncommand = [\"sh\", \"-c\", \"echo started > {marker}; exec sleep 1000\"]\n"),
    );
    let mut second = Run::start(&dir, &other);
    let code = second.wait_exit().await;
    assert_eq!(code, 1, "{}", second.report());
    let stderr = second.stderr.text();
    assert!(
        stderr.contains("another arbor is running with this socket")
            && stderr.contains("nothing was started"),
        "{}",
        second.report()
    );
    assert!(
        !dir.join("marker").exists(),
        "the second run started nothing"
    );

    // The first run is untouched, and still answers on its socket.
    let status = first.status();
    assert_eq!(status.pid("one"), up.pid("one"), "{status}");
    assert!(status.node("two").is_none(), "{status}");
    let pids: Vec<u32> = first.seen_pids().into_iter().collect();
    first.ok(&["shutdown"]);
    assert_eq!(first.wait_exit().await, 0, "{}", first.report());
    wait_gone(&pids, &first.report()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_with_no_run_exit_3_and_the_default_socket_is_beside_the_file() {
    let dir = Dir::new("socket-none");
    let file = dir.write("arbor.toml", ONE);
    let nowhere = dir.join("none.sock");
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["restart", "one"],
        &["shutdown"],
    ] {
        let out = common::outcome(&mut common::client(&nowhere, args));
        assert_eq!(out.code, 3, "{args:?}: {out}");
        assert!(
            out.stderr.contains(&format!(
                "cannot reach a running arbor at {}",
                nowhere.display()
            )),
            "{args:?}: {out}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: {out}");
    }

    // Without --socket, on both sides: `.arbor.toml.sock` beside the file.
    let beside = dir.join(".arbor.toml.sock");
    let file_arg = file.to_str().unwrap();
    let out = common::arbor(&["status", "--config", file_arg]);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains(&beside.display().to_string()), "{out}");
    let mut run = Run::start_default(&file);
    run.wait_status("one up", |s| s.is("one", "Healthy")).await;
    assert!(beside.exists());
    let out = common::arbor(&["status", "--config", file_arg]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("NAME"), "{out}");
    assert!(out.stdout.contains("one"), "{out}");
    let pids: Vec<u32> = run.seen_pids().into_iter().collect();
    let out = common::arbor(&["shutdown", "--config", file_arg]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(run.wait_exit().await, 0, "{}", run.report());
    wait_gone(&pids, &run.report()).await;
    assert!(!beside.exists(), "removed at the end");
}
