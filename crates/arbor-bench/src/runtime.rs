//! The tokio runtimes the harness measures on.

use std::fmt;
use std::str::FromStr;

/// A tokio runtime flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// The multi-thread runtime with its default worker count (one per core).
    Multi,
    /// The current-thread runtime: everything on the thread that calls `block_on`.
    Current,
}

impl RuntimeKind {
    /// Both flavours, multi-thread first.
    pub const ALL: [RuntimeKind; 2] = [RuntimeKind::Multi, RuntimeKind::Current];

    /// The name used in `rt=` tags and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Multi => "multi",
            RuntimeKind::Current => "current",
        }
    }

    /// Builds a runtime of this flavour, with time enabled (backoff sleeps need it).
    ///
    /// # Errors
    ///
    /// When the operating system refuses the runtime's threads or its I/O driver.
    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self {
            RuntimeKind::Multi => tokio::runtime::Builder::new_multi_thread(),
            RuntimeKind::Current => tokio::runtime::Builder::new_current_thread(),
        };
        builder.enable_all().build()
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RuntimeKind {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "multi" => Ok(RuntimeKind::Multi),
            "current" => Ok(RuntimeKind::Current),
            other => anyhow::bail!("unknown runtime {other:?}: expected multi or current"),
        }
    }
}
