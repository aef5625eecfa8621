//! stdout and stderr reach `tracing` line by line, in the node's span (with its `dn`), and a
//! flood of output neither blocks the program nor loses what follows it.
//!
//! This binary installs a global subscriber (a worker thread of a multi-thread runtime does not
//! see a thread-local one) that copies every event to the tests that asked for them.

mod common;

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use arbor::NodeState;
use arbor_process::Regex;
use common::*;
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One event as a test sees it.
#[derive(Debug, Clone, Default)]
struct Line {
    /// The `dn` of the innermost span that has one.
    dn: Option<String>,
    stream: Option<String>,
    partial: bool,
    message: String,
}

type Listeners = Arc<Mutex<Vec<mpsc::UnboundedSender<Line>>>>;

/// Copies each event, with the `dn` of its span, to every listener.
struct Capture {
    listeners: Listeners,
}

/// A span's `dn`, kept in its extensions.
struct SpanDn(String);

#[derive(Default)]
struct Fields(Line);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "stream" => self.0.stream = Some(value.to_owned()),
            "dn" => self.0.dn = Some(value.to_owned()),
            "message" => self.0.message = value.to_owned(),
            _ => {}
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "partial" {
            self.0.partial = value;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            // `dn = %dn` and `"{text}"` arrive here, formatted.
            "message" => self.0.message = format!("{value:?}"),
            "dn" => self.0.dn = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(dn), Some(span)) = (fields.0.dn, ctx.span(id)) {
            span.extensions_mut().insert(SpanDn(dn));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = fields.0;
        line.dn = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<SpanDn>().map(|d| d.0.clone()))
        });
        let mut listeners = self.listeners.lock().expect("not poisoned");
        listeners.retain(|tx| tx.send(line.clone()).is_ok());
    }
}

/// Every event from now on, from any thread.
fn capture() -> mpsc::UnboundedReceiver<Line> {
    static LISTENERS: OnceLock<Listeners> = OnceLock::new();
    let listeners = LISTENERS.get_or_init(|| {
        let listeners = Listeners::default();
        let subscriber = tracing_subscriber::registry().with(Capture {
            listeners: listeners.clone(),
        });
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        listeners
    });
    let (tx, rx) = mpsc::unbounded_channel();
    listeners.lock().expect("not poisoned").push(tx);
    rx
}

/// The next output line of node `dn` that `want` accepts.
async fn expect_line(
    lines: &mut mpsc::UnboundedReceiver<Line>,
    dn: &str,
    want: impl Fn(&Line) -> bool,
) -> Line {
    let hit = async {
        loop {
            let line = lines
                .recv()
                .await
                .expect("the capture is global and lives on");
            if line.dn.as_deref() == Some(dn) && line.stream.is_some() && want(&line) {
                break line;
            }
        }
    };
    tokio::time::timeout(DEADLINE, hit)
        .await
        .unwrap_or_else(|_| panic!("no such output line of {dn} before the deadline"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_lines_are_events_in_the_node_span_with_their_stream() {
    let mut lines = capture();
    let cmd = sh("echo 'hello from stdout'; echo 'hello from stderr' >&2; exec sleep 1000");
    let sup = supervise(root_with("talker", cmd), fast_backoff());

    // The two pipes are read by two tasks: the lines may come in either order.
    let (mut out, mut err) = (None, None);
    while out.is_none() || err.is_none() {
        let line = expect_line(&mut lines, "root.talker", |l| {
            l.message.starts_with("hello from")
        })
        .await;
        assert!(!line.partial);
        match line.message.as_str() {
            "hello from stdout" => out = line.stream,
            "hello from stderr" => err = line.stream,
            other => panic!("unexpected line {other:?}"),
        }
    }
    assert_eq!(out.as_deref(), Some("stdout"));
    assert_eq!(err.as_deref(), Some("stderr"));
    shutdown(sup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_without_newlines_is_logged_in_bounded_pieces_and_what_follows_arrives() {
    const FLOOD: usize = 5_000_000;
    const MAX_LINE: usize = 8 * 1024;
    let mut lines = capture();
    let script = format!(
        "head -c {FLOOD} /dev/zero | tr '\\0' a; printf '\\nafter the flood\\n'; exec sleep 1000"
    );
    let cmd = sh(&script)
        .max_line_len(MAX_LINE)
        .ready_on_line(Regex::new("^after the flood$").expect("a valid pattern"));
    let sup = supervise(root_with("flood", cmd), fast_backoff());
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
        last_partial = line.partial;
    }
    assert_eq!(flooded, FLOOD, "nothing lost");
    assert_eq!(pieces, FLOOD.div_ceil(MAX_LINE));
    assert!(!last_partial, "the piece that ends the line is not partial");
    // The line after the flood was seen by the readiness check too.
    expect_state(&mut events, "root.flood", NodeState::Healthy).await;
    shutdown(sup).await;
}
