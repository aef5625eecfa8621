//! Log lines in tests: printed when `RUST_LOG` asks for them, captured when a test asserts on
//! them.
//!
//! Both go through one global subscriber, installed by the first call to [`init_tracing`] or
//! [`Logs::capture`] in a test binary. Global, because the runnables of a multi-thread runtime
//! log on its worker threads, which a thread-local subscriber does not see.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::DEADLINE;

type Listeners = Arc<Mutex<Vec<mpsc::UnboundedSender<LogLine>>>>;

/// The listeners of the global subscriber, or `None` if another one was installed first.
static GLOBAL: OnceLock<Option<Listeners>> = OnceLock::new();

fn install() -> Option<&'static Listeners> {
    GLOBAL
        .get_or_init(|| {
            let listeners = Listeners::default();
            let listening = listeners.clone();
            // Spans always (an event finds its node's `dn` in them), events only while a test
            // listens.
            let capture = Capture {
                listeners: listeners.clone(),
            }
            .with_filter(filter_fn(move |meta| {
                meta.is_span() || !listening.lock().is_empty()
            }));
            let print = tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(EnvFilter::from_default_env());
            let subscriber = tracing_subscriber::registry().with(print).with(capture);
            tracing::subscriber::set_global_default(subscriber)
                .ok()
                .map(|()| listeners)
        })
        .as_ref()
}

/// Prints log lines to the test output, as many as `RUST_LOG` selects (errors only when it is
/// unset), so that a failing test can be read again with `RUST_LOG=debug`. Call it first in a
/// test; calling it again, or in every test of a binary, is harmless.
///
/// Does nothing if the binary installed a global subscriber of its own before.
pub fn init_tracing() {
    let _ = install();
}

/// One log event, as a test sees it.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Its target, usually the module that logged it.
    pub target: String,
    /// The `dn` field of the event itself, else that of the innermost span that has one: the
    /// node it belongs to.
    pub dn: Option<String>,
    /// The message.
    pub message: String,
    /// The other fields of the event, formatted (`true` for a bool, the text for a string).
    pub fields: BTreeMap<String, String>,
}

impl LogLine {
    /// The field called `name`, if the event has one.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.level, self.target)?;
        if let Some(dn) = &self.dn {
            write!(f, "{{dn={dn}}}")?;
        }
        write!(f, ": {}", self.message)?;
        for (name, value) in &self.fields {
            write!(f, " {name}={value}")?;
        }
        Ok(())
    }
}

/// The log lines of the whole test binary from the moment of [`capture`](Logs::capture), from
/// every thread.
///
/// Tests of one binary run at once and all their lines arrive here: pick a test's own by
/// something only it has, such as the DNs of its nodes.
#[derive(Debug)]
pub struct Logs {
    lines: mpsc::UnboundedReceiver<LogLine>,
}

impl Logs {
    /// Starts capturing every log line, at every level.
    ///
    /// # Panics
    ///
    /// If the test binary installed a global subscriber of its own before (then no line would
    /// arrive here); use [`init_tracing`] instead.
    pub fn capture() -> Logs {
        let listeners = install().expect(
            "another global subscriber was installed before: \
             use arbor_test_kit::init_tracing, not one of its own",
        );
        let (tx, lines) = mpsc::unbounded_channel();
        listeners.lock().push(tx);
        Logs { lines }
    }

    /// Starts capturing the log lines of this thread only, at every level, for as long as the
    /// returned guard lives (and prints them as `RUST_LOG` asks, as [`init_tracing`] does).
    ///
    /// On a current-thread runtime (what `#[tokio::test]` makes) every runnable of the test
    /// runs on this thread, so this is exactly the test's own lines, whatever other tests of
    /// the binary log meanwhile. On a multi-thread runtime use [`Logs::capture`].
    pub fn capture_local() -> (Logs, tracing::subscriber::DefaultGuard) {
        let listeners = Listeners::default();
        let (tx, lines) = mpsc::unbounded_channel();
        listeners.lock().push(tx);
        let print = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(EnvFilter::from_default_env());
        let subscriber = tracing_subscriber::registry()
            .with(print)
            .with(Capture { listeners });
        let guard = tracing::subscriber::set_default(subscriber);
        (Logs { lines }, guard)
    }

    /// Waits for the next line that `want` accepts, skipping others.
    ///
    /// # Panics
    ///
    /// At the [`DEADLINE`].
    pub async fn expect(&mut self, want: impl Fn(&LogLine) -> bool) -> LogLine {
        let hit = async {
            loop {
                let line = self
                    .lines
                    .recv()
                    .await
                    .expect("the capture is global and lives on");
                if want(&line) {
                    break line;
                }
            }
        };
        tokio::time::timeout(DEADLINE, hit)
            .await
            .expect("no matching log line before the deadline")
    }

    /// Every line captured so far and not yet taken, without waiting. A line is captured while
    /// it is logged, so once a runnable has returned, all it logged is here.
    pub fn received(&mut self) -> Vec<LogLine> {
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            lines.push(line);
        }
        lines
    }
}

/// Copies each event, with the `dn` of its node, to every listener.
struct Capture {
    listeners: Listeners,
}

/// A span's `dn`, kept in its extensions.
struct SpanDn(String);

#[derive(Default)]
struct Fields {
    dn: Option<String>,
    message: String,
    others: BTreeMap<String, String>,
}

impl Fields {
    fn record(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            "dn" => self.dn = Some(value),
            name => {
                self.others.insert(name.to_owned(), value);
            }
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `dn = %dn` and a formatted message arrive here, as their text.
        self.record(field, format!("{value:?}"));
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(dn), Some(span)) = (fields.dn, ctx.span(id)) {
            span.extensions_mut().insert(SpanDn(dn));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let dn = fields.dn.or_else(|| {
            ctx.event_scope(event).and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|span| span.extensions().get::<SpanDn>().map(|dn| dn.0.clone()))
            })
        });
        let meta = event.metadata();
        let line = LogLine {
            level: *meta.level(),
            target: meta.target().to_owned(),
            dn,
            message: fields.message,
            fields: fields.others,
        };
        self.listeners
            .lock()
            .retain(|tx| tx.send(line.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_capture_sees_lines_with_their_fields_and_the_dn_of_their_span() {
        let mut logs = Logs::capture();
        let span = tracing::info_span!("node", dn = "root.kit");
        span.in_scope(|| tracing::debug!(stream = "stdout", partial = true, "hello {}", 42));
        tracing::warn!(dn = "root.own", "its own dn");
        let line = logs.expect(|l| l.message == "hello 42").await;
        assert_eq!(line.dn.as_deref(), Some("root.kit"));
        assert_eq!(line.level, Level::DEBUG);
        assert_eq!(line.field("stream"), Some("stdout"));
        assert_eq!(line.field("partial"), Some("true"));
        let rest = logs.received();
        assert!(
            rest.iter().any(
                |l| l.dn.as_deref() == Some("root.own") && l.to_string().contains("its own dn")
            ),
            "{rest:?}"
        );
    }
}
