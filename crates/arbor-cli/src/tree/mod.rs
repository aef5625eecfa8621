//! A [`Plan`](crate::plan::Plan) as an arbor tree: each group is a [`Level`] node, each
//! program an `arbor-process` command under it, each lifecycle group an `arbor-lifecycle`
//! task group. This module maps; the layers below do the supervising.
//!
//! | the file says | the tree gets |
//! |---|---|
//! | `[program.NAME]` | a child `NAME` running an [`arbor_process::Command`], with its restart type, backoff and intensity (a restart limit on its group of one) |
//! | `[group.NAME]` | a child `NAME` whose run is a [`Level`]: its members as children, one group each (`one_for_one`) or one core [`arbor::Group`] with the strategy (`one_for_all`, `rest_for_one`) |
//! | `depends_on` | the member waits, New, until each sibling meets its condition, watched with the core's [`arbor::Watch`] |
//! | `hook`, `sidecar`, `leader` | the group's members become tasks of an [`arbor_lifecycle::TaskGroup`] |
//! | stopping | each level stops its members itself ([`arbor::Context::defer_children_stop`]): dependents before what they depend on |

mod deps;
mod level;
mod program;
pub(crate) mod reload;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

pub(crate) use level::Level;

use crate::logs::LogHub;
use crate::plan::GroupPlan;

/// What every node of the tree shares: the output, and the handles `reload` and the
/// `started` condition need.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) logs: LogHub,
    /// Each running level's plan and its reload channel, by DN.
    levels: Mutex<HashMap<String, LevelHandle>>,
    /// For each program, by DN: bumped each time its process is about to be spawned (its
    /// own dependencies met), reset to 0 when a run begins.
    started: Mutex<HashMap<String, watch::Sender<u64>>>,
}

#[derive(Debug, Clone)]
struct LevelHandle {
    plan: Arc<Mutex<Arc<GroupPlan>>>,
    reload: mpsc::UnboundedSender<Arc<GroupPlan>>,
}

impl Shared {
    pub(crate) fn new(logs: LogHub) -> Arc<Self> {
        Arc::new(Shared {
            logs,
            levels: Mutex::new(HashMap::new()),
            started: Mutex::new(HashMap::new()),
        })
    }

    fn started(&self, dn: &str) -> watch::Sender<u64> {
        self.started
            .lock()
            .entry(dn.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// Hands a new plan to the running level `dn`. False if no run of it takes orders now
    /// (its plan is still updated, for its next run).
    pub(crate) fn reload_level(&self, dn: &str, plan: Arc<GroupPlan>) -> bool {
        let Some(handle) = self.levels.lock().get(dn).cloned() else {
            return false;
        };
        *handle.plan.lock() = plan.clone();
        handle.reload.send(plan).is_ok()
    }
}

pub(crate) use deps::describe as describe_condition;
