//! The file's format: what `arbor.toml` may say, as serde reads it. Unknown keys are refused;
//! values whose place a later check must name keep their span.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

/// A whole `arbor.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    /// The programs, by name.
    #[serde(default)]
    pub(crate) program: BTreeMap<Spanned<String>, Program>,
}

/// One `[program.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Program {
    /// The program and its arguments, as a list: never split by a shell.
    pub(crate) command: Spanned<Vec<String>>,
    #[serde(default)]
    pub(crate) env: BTreeMap<Spanned<String>, String>,
    /// Its working directory; must exist.
    pub(crate) dir: Option<Spanned<String>>,
    pub(crate) ready: Option<Ready>,
    /// How long it may take to stop after SIGTERM, before SIGKILL.
    pub(crate) grace: Option<Spanned<String>>,
    pub(crate) restart: Option<RestartType>,
    /// Programs this one waits for, with the condition each must meet.
    #[serde(default)]
    pub(crate) depends_on: BTreeMap<Spanned<String>, Condition>,
}

/// When a program counts as running.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) enum Ready {
    /// A line of its output matches this regex.
    Line(Spanned<String>),
    /// A TCP port on loopback accepts a connection.
    Port(u16),
    /// It has stayed up this long.
    After(Spanned<String>),
}

/// OTP's restart types.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RestartType {
    Permanent,
    Transient,
    Temporary,
}

/// What a dependency must have reached.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Condition {
    Started,
    Healthy,
    CompletedSuccessfully,
}
