//! Turning a child's stdout and stderr into `tracing` events, one per line.
//!
//! # Invariants
//!
//! 1. A pipe is drained for as long as it is open, whatever it carries: a child that writes
//!    faster than we log, or never writes a newline, never blocks on a full pipe.
//! 2. Memory is bounded: a line longer than the limit is emitted in pieces of at most the
//!    limit, each marked `partial = true` (the line goes on in the next event), like the
//!    split lines of journald and Docker's log drivers. Only the last piece has no mark.
//! 3. Each event is emitted in the reader task's span, the node's span, so it carries `dn`.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use regex::Regex;

use crate::command::OutputSink;

/// Which of the child's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of a program's output, as [`Command::on_output`](crate::Command::on_output)'s
/// sink gets it: without its newline (or `\r\n`), invalid UTF-8 replaced with `U+FFFD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputLine<'a> {
    /// The stream it was written on.
    pub stream: Stream,
    /// The text.
    pub text: &'a str,
    /// A piece of a line longer than [`Command::max_line_len`](crate::Command::max_line_len)
    /// that goes on in the next one.
    pub partial: bool,
}

impl Stream {
    /// `"stdout"` or `"stderr"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A line-readiness check shared by the readers: the first matching line sends `()`.
#[derive(Debug, Clone)]
pub(crate) struct ReadyLine {
    pub(crate) pattern: Regex,
    pub(crate) tx: mpsc::Sender<()>,
}

/// Reads `pipe` to its end, emitting one event per line (or piece of a long line).
///
/// # Cancel safety
///
/// Dropping it (aborting its task) loses at most the piece of a line not yet emitted.
pub(crate) async fn pump(
    pipe: impl AsyncRead + Unpin,
    stream: Stream,
    mut ready: Option<ReadyLine>,
    max_line: usize,
    sink: Option<OutputSink>,
) {
    split_lines(pipe, max_line, |piece, partial| {
        emit(piece, stream, partial, &mut ready, sink.as_ref());
    })
    .await;
}

/// Reads `pipe` to its end and hands each line (without its newline) to `sink`, cut into
/// pieces of at most `max_line` bytes; `partial` is true for every piece but a line's last.
async fn split_lines(
    pipe: impl AsyncRead + Unpin,
    max_line: usize,
    mut sink: impl FnMut(&[u8], bool),
) {
    let max_line = max_line.max(1);
    let mut reader = BufReader::with_capacity(max_line.min(64 * 1024), pipe);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the process output");
                break;
            }
        };
        if buf.is_empty() {
            // End of the pipe: a last line without a newline is still a line.
            if !line.is_empty() {
                sink(&line, false);
            }
            break;
        }
        let room = max_line - line.len();
        // A newline right after `room` bytes still ends a line that fits exactly.
        let window = &buf[..buf.len().min(room + 1)];
        if let Some(end) = window.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..end]);
            reader.consume(end + 1);
            sink(&line, false);
            line.clear();
            continue;
        }
        let take = buf.len().min(room);
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if line.len() >= max_line {
            // Keep a multi-byte character cut by the limit whole, for the next piece.
            let keep = incomplete_char_tail(&line);
            let cut = line.len() - keep;
            sink(&line[..cut], true);
            line.drain(..cut);
        }
    }
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that is not complete yet.
fn incomplete_char_tail(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        // `error_len() == None`: the input ends in the middle of a character.
        Err(err) if err.error_len().is_none() && err.valid_up_to() > 0 => {
            bytes.len() - err.valid_up_to()
        }
        _ => 0,
    }
}

fn emit(
    bytes: &[u8],
    stream: Stream,
    partial: bool,
    ready: &mut Option<ReadyLine>,
    sink: Option<&OutputSink>,
) {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes);
    if partial {
        tracing::info!(stream = stream.as_str(), partial = true, "{text}");
    } else {
        tracing::info!(stream = stream.as_str(), "{text}");
    }
    if let Some(sink) = sink {
        (sink.0)(OutputLine {
            stream,
            text: &text,
            partial,
        });
    }
    if let Some(check) = ready {
        if check.pattern.is_match(&text) {
            // The channel holds one message; a second match (from the other stream) is moot.
            let _ = check.tx.try_send(());
            *ready = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_multibyte_character_is_kept_for_the_next_piece() {
        let euro = "€".as_bytes(); // 3 bytes
        let mut bytes = b"ab".to_vec();
        bytes.extend_from_slice(&euro[..2]);
        assert_eq!(incomplete_char_tail(&bytes), 2);
        assert_eq!(incomplete_char_tail(b"abc"), 0);
        // Invalid bytes are not a character to wait for: emitted as they are (lossily).
        assert_eq!(incomplete_char_tail(b"ab\xff"), 0);
    }

    async fn pieces(input: &[u8], max_line: usize) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        split_lines(input, max_line, |piece, partial| {
            out.push((String::from_utf8_lossy(piece).into_owned(), partial));
        })
        .await;
        out
    }

    fn owned(pieces: &[(&str, bool)]) -> Vec<(String, bool)> {
        pieces.iter().map(|&(s, p)| (s.to_owned(), p)).collect()
    }

    #[tokio::test]
    async fn lines_longer_than_the_limit_come_in_marked_pieces() {
        let got = pieces(b"0123456789abc\n12345\n\nend", 5).await;
        let want = owned(&[
            ("01234", true),
            ("56789", true),
            ("abc", false),
            ("12345", false),
            ("", false),
            ("end", false),
        ]);
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_multibyte_character_is_never_split_between_pieces() {
        let got = pieces("ab€cd\n".as_bytes(), 4).await;
        assert_eq!(got, owned(&[("ab", true), ("€c", true), ("d", false)]));
    }

    #[tokio::test]
    async fn the_first_matching_line_reports_ready_and_crlf_is_trimmed() {
        let input: &[u8] = b"starting\r\nready\r\nready again\n";
        let (tx, mut rx) = mpsc::channel(1);
        let ready = ReadyLine {
            pattern: Regex::new("^ready$").expect("a valid pattern"),
            tx,
        };
        pump(input, Stream::Stdout, Some(ready), 64, None).await;
        assert_eq!(rx.recv().await, Some(()));
        // The pump ended and dropped its sender after the one report.
        assert_eq!(rx.recv().await, None);
    }
}
