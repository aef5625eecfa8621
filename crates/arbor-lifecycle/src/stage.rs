//! The stages a task group passes through, as Nomad's task coordinator names them.

use std::fmt;

/// Where a [`TaskGroup`](crate::TaskGroup) is. Stages only move forward within one run of
/// the group; a restart of the group begins again at [`Init`](Stage::Init). A stage with no
/// tasks is skipped (no change is announced for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Stage {
    /// The run has begun; no task has started.
    Init,
    /// Prestart tasks run: main waits until every ephemeral one has succeeded and every
    /// sidecar is Healthy.
    Prestart,
    /// Main tasks start, prestart sidecars keep running; the stage lasts until every main
    /// task has run (Healthy, or already ended).
    Main,
    /// Poststart tasks start, once the main tasks run; it lasts until the ephemeral ones have
    /// ended.
    Poststart,
    /// Everything runs; the group waits for the leader to exit, every main task to end, or
    /// to be told to stop.
    Wait,
    /// The other tasks have stopped, in order; poststop tasks run.
    Poststop,
}

impl Stage {
    /// Its name, as in status notes and logs: `init`, `prestart`, `main`, `poststart`,
    /// `wait`, `poststop`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Init => "init",
            Stage::Prestart => "prestart",
            Stage::Main => "main",
            Stage::Poststart => "poststart",
            Stage::Wait => "wait",
            Stage::Poststop => "poststop",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group entered a stage: what [`TaskGroup::stages`](crate::TaskGroup::stages) delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageChange {
    /// The group's node, e.g. `root.web`.
    pub group: String,
    /// The stage it entered.
    pub stage: Stage,
}
