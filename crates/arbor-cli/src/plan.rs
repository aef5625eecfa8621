//! What a checked file asks for, in the types the tree is built from: every value parsed,
//! every default filled in, members in the order the file declares them. Two plans compare
//! equal exactly when running either would start the same thing, which is what `reload`
//! diffs.

use std::time::Duration;

use arbor_process::UnixSignal;

pub(crate) use crate::config::{Condition, Exceeded, Hook, RestartType, Strategy};

/// A checked file: the root group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) root: GroupPlan,
}

/// A group: a node whose children are its members.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupPlan {
    pub(crate) strategy: Strategy,
    pub(crate) intensity: Option<Intensity>,
    pub(crate) restart: RestartType,
    pub(crate) backoff: BackoffPlan,
    pub(crate) depends_on: Vec<(String, Condition)>,
    /// In the file's order, which is the start order.
    pub(crate) members: Vec<Member>,
}

/// One child of a group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Member {
    Program(ProgramPlan),
    Group(String, GroupPlan),
}

/// One program.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProgramPlan {
    pub(crate) name: String,
    pub(crate) command: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) dir: Option<String>,
    pub(crate) ready: Option<ReadyPlan>,
    pub(crate) ready_timeout: Duration,
    pub(crate) stop_signal: UnixSignal,
    pub(crate) grace: Duration,
    pub(crate) restart: RestartType,
    pub(crate) backoff: BackoffPlan,
    pub(crate) intensity: Option<Intensity>,
    pub(crate) depends_on: Vec<(String, Condition)>,
    pub(crate) hook: Hook,
    pub(crate) sidecar: bool,
    pub(crate) leader: bool,
}

/// When a program counts as running. The regex is kept as text, so that plans compare.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReadyPlan {
    Line(String),
    Port(u16),
    After(Duration),
}

/// The delays between restarts, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BackoffPlan {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
    pub(crate) multiplier: f64,
    pub(crate) reset_after: Duration,
}

impl Default for BackoffPlan {
    /// At once for a program that ran a while and then died (0.1 ms), growing for one that keeps
    /// dying within a second of starting, up to 30 s.
    fn default() -> Self {
        BackoffPlan {
            initial: Duration::from_micros(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            reset_after: Duration::from_secs(1),
        }
    }
}

impl BackoffPlan {
    pub(crate) fn to_backoff(self) -> arbor::Backoff {
        arbor::Backoff::default()
            .initial(self.initial)
            .max_interval(self.max)
            .multiplier(self.multiplier)
            .randomization(0.25)
            .reset_after(self.reset_after)
    }
}

/// How many restarts a period allows, and what one more does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Intensity {
    pub(crate) max: u32,
    pub(crate) period: Duration,
    pub(crate) exceeded: Exceeded,
}

impl Intensity {
    pub(crate) fn to_limit(self) -> arbor::RestartLimit {
        let limit = arbor::RestartLimit::new(self.max, self.period);
        match self.exceeded {
            Exceeded::Fail => limit,
            Exceeded::Wait => limit.or_wait(),
        }
    }
}

/// Grace period when the file gives none.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Readiness timeout when the file gives none.
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

impl GroupPlan {
    /// Whether its members are a task group (some have lifecycle hooks, or are sidecars or
    /// leaders), run by `arbor-lifecycle`.
    pub(crate) fn is_lifecycle(&self) -> bool {
        self.members.iter().any(|m| match m {
            Member::Program(p) => p.hook != Hook::Main || p.sidecar || p.leader,
            Member::Group(..) => false,
        })
    }

    pub(crate) fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name() == name)
    }

    /// Every program, with its DN, below this group (whose DN is `dn`), in start order.
    pub(crate) fn programs(&self, dn: &str) -> Vec<(String, &ProgramPlan)> {
        let mut out = Vec::new();
        for member in &self.members {
            match member {
                Member::Program(p) => out.push((format!("{dn}.{}", p.name), p)),
                Member::Group(name, g) => out.extend(g.programs(&format!("{dn}.{name}"))),
            }
        }
        out
    }

    /// The members in start layers: each member's layer is one more than the highest layer
    /// of the siblings it depends on, so a layer needs only the layers before it. Members
    /// keep the file's order within a layer. Stopping goes through the layers in reverse.
    pub(crate) fn layers(&self) -> Vec<Vec<&Member>> {
        let mut depth: Vec<Option<usize>> = vec![None; self.members.len()];
        let index = |name: &str| self.members.iter().position(|m| m.name() == name);
        // Checked files have no cycles, so this settles within `members.len()` passes.
        for _ in 0..=self.members.len() {
            for (i, member) in self.members.iter().enumerate() {
                let deps: Option<Vec<usize>> = member
                    .depends_on()
                    .iter()
                    .filter_map(|(dep, _)| index(dep))
                    .map(|d| depth[d])
                    .collect();
                if let Some(deps) = deps {
                    depth[i] = Some(deps.into_iter().map(|d| d + 1).max().unwrap_or(0));
                }
            }
        }
        let mut layers: Vec<Vec<&Member>> = Vec::new();
        for (member, depth) in self.members.iter().zip(depth) {
            let depth = depth.unwrap_or(0);
            if layers.len() <= depth {
                layers.resize_with(depth + 1, Vec::new);
            }
            layers[depth].push(member);
        }
        layers
    }

    /// How long stopping it may take if every program uses its whole grace period: the
    /// layers stop one after another, the members of one layer together.
    pub(crate) fn stop_bound(&self) -> Duration {
        self.layers()
            .iter()
            .map(|layer| {
                layer
                    .iter()
                    .map(|member| match member {
                        Member::Program(p) => p.grace,
                        Member::Group(_, g) => g.stop_bound(),
                    })
                    .max()
                    .unwrap_or_default()
            })
            .sum()
    }
}

impl Member {
    pub(crate) fn name(&self) -> &str {
        match self {
            Member::Program(p) => &p.name,
            Member::Group(name, _) => name,
        }
    }

    pub(crate) fn depends_on(&self) -> &[(String, Condition)] {
        match self {
            Member::Program(p) => &p.depends_on,
            Member::Group(_, g) => &g.depends_on,
        }
    }
}
