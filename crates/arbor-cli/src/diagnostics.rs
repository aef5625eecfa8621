//! Where arbor's own diagnostics (its `tracing` lines, at `warn` unless `ARBOR_LOG` says
//! otherwise) go: to stderr, except while the live view owns the terminal, when each line goes
//! among the programs' output instead, as the program `arbor`. Written to stderr then, a line
//! would land on top of the view's screen and be lost with it.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// Takes one diagnostic line while the live view shows.
type Sink = Arc<dyn Fn(&str) + Send + Sync>;

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Sends diagnostics to `sink` until [`to_stderr`] is called.
pub(crate) fn to_sink(sink: impl Fn(&str) + Send + Sync + 'static) {
    *SINK.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(sink));
}

/// Sends diagnostics to stderr again.
pub(crate) fn to_stderr() {
    *SINK.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// The writer `tracing_subscriber::fmt` is given.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Diagnostics;

impl<'a> MakeWriter<'a> for Diagnostics {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::new())
    }
}

/// One event's text, sent where diagnostics go when it is dropped (`fmt` writes an event, then
/// drops its writer).
#[derive(Debug)]
pub(crate) struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let sink = SINK.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match sink {
            Some(sink) => {
                let text = String::from_utf8_lossy(&self.0);
                for line in text.lines() {
                    sink(line);
                }
            }
            None => {
                let _ = io::stderr().lock().write_all(&self.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_the_sink_while_one_is_set() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        to_sink(move |line| into.lock().unwrap().push(line.to_owned()));
        {
            let mut line = Diagnostics.make_writer();
            line.write_all(b"WARN something\nand more\n").unwrap();
        }
        to_stderr();
        {
            // To stderr now, not to the sink.
            let mut line = Diagnostics.make_writer();
            line.write_all(b"WARN on stderr\n").unwrap();
        }
        assert_eq!(*seen.lock().unwrap(), ["WARN something", "and more"]);
    }
}
