//! An error in a file, as the user sees it: `arbor.toml:4:11: error: ...`, the line, a caret,
//! and a hint.

use std::fmt;
use std::ops::Range;

/// One error, at a place in a file.
#[derive(Debug)]
pub(crate) struct Diagnostic {
    pub(crate) path: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
    pub(crate) source_line: String,
    pub(crate) hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span` (byte offsets into `text`), or at the file's start without one.
    pub(crate) fn at(
        path: &str,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        let start = span.map_or(0, |s| s.start.min(text.len()));
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..start].chars().count() + 1;
        let source_line = text[line_start..]
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        Diagnostic {
            path: path.to_owned(),
            line,
            column,
            message: message.into(),
            source_line,
            hint,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: error: {}",
            self.path, self.line, self.column, self.message
        )?;
        writeln!(f, "  | {}", self.source_line)?;
        write!(f, "  | {}^", " ".repeat(self.column.saturating_sub(1)))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}
