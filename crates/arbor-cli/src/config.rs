//! The file's format: what `arbor.toml` may say, as serde reads it. Unknown keys are refused;
//! values whose place a later check must name keep their span. [`check`](crate::check) turns
//! it into a [`Plan`](crate::plan::Plan).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

/// A whole `arbor.toml`: the root group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    pub(crate) strategy: Option<Spanned<Strategy>>,
    pub(crate) intensity: Option<Spanned<Intensity>>,
    /// The programs, by name.
    #[serde(default)]
    pub(crate) program: BTreeMap<Spanned<String>, Program>,
    /// The nested groups, by name.
    #[serde(default)]
    pub(crate) group: BTreeMap<Spanned<String>, Group>,
}

/// One `[group.NAME]` table: a node whose children are its programs and groups.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Group {
    pub(crate) strategy: Option<Spanned<Strategy>>,
    pub(crate) intensity: Option<Spanned<Intensity>>,
    pub(crate) restart: Option<Spanned<RestartType>>,
    pub(crate) backoff: Option<Backoff>,
    #[serde(default)]
    pub(crate) depends_on: BTreeMap<Spanned<String>, Condition>,
    #[serde(default)]
    pub(crate) program: BTreeMap<Spanned<String>, Program>,
    #[serde(default)]
    pub(crate) group: BTreeMap<Spanned<String>, Group>,
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
    /// How long a readiness check may take.
    pub(crate) ready_timeout: Option<Spanned<String>>,
    /// What it is sent to stop (`"TERM"`, `"SIGINT"`, ...).
    pub(crate) stop_signal: Option<Spanned<String>>,
    /// How long it may take to stop after the stop signal, before SIGKILL.
    pub(crate) grace: Option<Spanned<String>>,
    pub(crate) restart: Option<Spanned<RestartType>>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) intensity: Option<Spanned<Intensity>>,
    /// Programs this one waits for, with the condition each must meet.
    #[serde(default)]
    pub(crate) depends_on: BTreeMap<Spanned<String>, Condition>,
    /// Its place in its group's lifecycle.
    pub(crate) hook: Option<Spanned<Hook>>,
    pub(crate) sidecar: Option<Spanned<bool>>,
    pub(crate) leader: Option<Spanned<bool>>,
}

/// When a program counts as running.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) enum Ready {
    /// A line of its output matches this regex.
    Line(Spanned<String>),
    /// A TCP port on loopback accepts a connection.
    Port(Spanned<u16>),
    /// It has stayed up this long.
    After(Spanned<String>),
}

/// OTP's restart types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RestartType {
    Permanent,
    Transient,
    Temporary,
}

/// What a dependency must have reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Condition {
    Started,
    Healthy,
    CompletedSuccessfully,
}

/// How a group's members restart when one dies (OTP's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Strategy {
    OneForOne,
    OneForAll,
    RestForOne,
}

/// A program's place in its group's lifecycle (Nomad's task lifecycle hooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Hook {
    Prestart,
    Main,
    Poststart,
    Poststop,
}

/// The delays between restarts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backoff {
    pub(crate) initial: Option<Spanned<String>>,
    pub(crate) max: Option<Spanned<String>>,
    pub(crate) multiplier: Option<Spanned<f64>>,
    pub(crate) reset_after: Option<Spanned<String>>,
}

/// How many restarts are allowed in a period (OTP's intensity and period).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Intensity {
    pub(crate) max: u32,
    pub(crate) period: Spanned<String>,
    /// What happens when one more restart would exceed it.
    #[serde(default)]
    pub(crate) exceeded: Exceeded,
}

/// What a restart beyond the intensity does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Exceeded {
    /// The node above fails (OTP's escalation).
    #[default]
    Fail,
    /// The restart waits until the oldest restart leaves the period.
    Wait,
}
