//! stdout and stderr reach `tracing` line by line, in the node's span (with its `dn`), and a
//! flood of output neither blocks the program nor loses what follows it.
//!
//! The lines are captured with the kit's [`Logs`], which sees the worker threads of a
//! multi-thread runtime too.

mod common;

use arbor::NodeState;
use arbor_process::Regex;
use arbor_test_kit::*;
use common::*;

/// The next output line of node `dn` that `want` accepts.
async fn expect_line(logs: &mut Logs, dn: &str, want: impl Fn(&LogLine) -> bool) -> LogLine {
    logs.expect(|line| {
        line.dn.as_deref() == Some(dn) && line.field("stream").is_some() && want(line)
    })
    .await
}

/// Whether the line is a piece of a longer one.
fn partial(line: &LogLine) -> bool {
    line.field("partial") == Some("true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_lines_are_events_in_the_node_span_with_their_stream() {
    let mut lines = Logs::capture();
    let cmd = sh("echo 'hello from stdout'; echo 'hello from stderr' >&2; exec sleep 1000");
    let sup = supervisor_with(root_running("talker", cmd), fast_backoff());

    // The two pipes are read by two tasks: the lines may come in either order.
    let (mut out, mut err) = (None, None);
    while out.is_none() || err.is_none() {
        let line = expect_line(&mut lines, "root.talker", |l| {
            l.message.starts_with("hello from")
        })
        .await;
        assert!(!partial(&line));
        let stream = line.field("stream").map(str::to_owned);
        match line.message.as_str() {
            "hello from stdout" => out = stream,
            "hello from stderr" => err = stream,
            other => panic!("unexpected line {other:?}"),
        }
    }
    assert_eq!(out.as_deref(), Some("stdout"));
    assert_eq!(err.as_deref(), Some("stderr"));
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_without_newlines_is_logged_in_bounded_pieces_and_what_follows_arrives() {
    const FLOOD: usize = 5_000_000;
    const MAX_LINE: usize = 8 * 1024;
    let mut lines = Logs::capture();
    let script = format!(
        "head -c {FLOOD} /dev/zero | tr '\\0' a; printf '\\nafter the flood\\n'; exec sleep 1000"
    );
    let cmd = sh(&script)
        .max_line_len(MAX_LINE)
        .ready_on_line(Regex::new("^after the flood$").expect("a valid pattern"));
    let sup = supervisor_with(root_running("flood", cmd), fast_backoff());
    let mut events = sup.events();

    // Collect every piece of the long line, up to the line that follows it.
    let mut flooded = 0;
    let mut pieces = 0;
    let mut last_partial = true;
    loop {
        let line = expect_line(&mut lines, "root.flood", |_| true).await;
        if line.message == "after the flood" {
            break;
        }
        assert!(line.message.len() <= MAX_LINE, "a piece within the limit");
        assert!(line.message.bytes().all(|b| b == b'a'), "only the flood");
        flooded += line.message.len();
        pieces += 1;
        last_partial = partial(&line);
    }
    assert_eq!(flooded, FLOOD, "nothing lost");
    assert_eq!(pieces, FLOOD.div_ceil(MAX_LINE));
    assert!(!last_partial, "the piece that ends the line is not partial");
    // The line after the flood was seen by the readiness check too.
    expect(&mut events, entered("root.flood", NodeState::Healthy)).await;
    shutdown(&sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_gets_every_line_of_every_run_with_its_stream() {
    use arbor_process::{OutputLine, Stream};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // A line of 10 bytes at a limit of 4 comes in three pieces; the exit restarts it.
    let cmd = sh("echo out; echo err >&2; echo 0123456789; sleep 0.2; exit 1")
        .max_line_len(4)
        .on_output(move |line: OutputLine<'_>| {
            let _ = tx.send((line.stream, line.text.to_owned(), line.partial));
        });
    let sup = supervisor_with(root_running("talker", cmd), fast_backoff());
    let mut seen = Vec::new();
    // Two runs' worth: five pieces each.
    while seen.len() < 10 {
        let line = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("lines within the deadline")
            .expect("the sink lives as long as the command");
        seen.push(line);
    }
    let run = |from: usize| {
        let mut run: Vec<_> = seen[from..from + 5].to_vec();
        // The two pipes are read by two tasks: only each stream's own order is kept.
        run.sort_by_key(|(stream, ..)| *stream == Stream::Stderr);
        run
    };
    let want = vec![
        (Stream::Stdout, "out".to_owned(), false),
        (Stream::Stdout, "0123".to_owned(), true),
        (Stream::Stdout, "4567".to_owned(), true),
        (Stream::Stdout, "89".to_owned(), false),
        (Stream::Stderr, "err".to_owned(), false),
    ];
    assert_eq!(run(0), want, "the first run");
    assert_eq!(run(5), want, "the restarted run");
    shutdown(&sup).await;
}
