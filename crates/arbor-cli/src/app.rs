//! One `arbor run`: the supervisor, the output, the file and its current plan, and how the
//! run is asked to end. The views, the control socket and the metrics server all hold it.

use std::path::PathBuf;
use std::sync::Arc;

use arbor::Supervisor;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;

use crate::plan::Plan;
use crate::tree::Shared;

/// How the run is asked to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ending {
    /// Running.
    No,
    /// Stop everything in order, within the grace periods (a first Ctrl-C, SIGTERM,
    /// `arbor shutdown`, `q` in the live view).
    InOrder,
    /// Kill every program now and exit (a second Ctrl-C).
    AtOnce,
}

/// A running `arbor run`.
pub(crate) struct App {
    pub(crate) sup: Supervisor,
    pub(crate) shared: Arc<Shared>,
    /// The file, as given.
    pub(crate) path: PathBuf,
    /// The plan running now (replaced by a reload).
    pub(crate) plan: Mutex<Plan>,
    ending: watch::Sender<Ending>,
}

impl App {
    pub(crate) fn new(
        sup: Supervisor,
        shared: Arc<Shared>,
        path: PathBuf,
        plan: Plan,
    ) -> Arc<Self> {
        Arc::new(App {
            sup,
            shared,
            path,
            plan: Mutex::new(plan),
            ending: watch::channel(Ending::No).0,
        })
    }

    /// Asks the run to end: in order the first time, at once the second.
    pub(crate) fn request_stop(&self) {
        self.ending.send_modify(|e| {
            *e = match *e {
                Ending::No => Ending::InOrder,
                Ending::InOrder | Ending::AtOnce => Ending::AtOnce,
            }
        });
    }

    /// Asks for an ordered stop; a second request does not escalate.
    pub(crate) fn request_shutdown(&self) {
        self.ending.send_if_modified(|e| {
            let changed = *e == Ending::No;
            if changed {
                *e = Ending::InOrder;
            }
            changed
        });
    }

    /// Shows a line of arbor's own among the programs' output (as the program `arbor`), so
    /// that the live view shows it too instead of having it written over.
    pub(crate) fn say(&self, text: &str) {
        self.shared
            .logs
            .push(&Arc::from("arbor"), arbor_process::Stream::Stderr, text);
    }

    /// Completes once the run is asked to end in at least `how`.
    pub(crate) async fn ending(&self, how: Ending) {
        let mut rx = self.ending.subscribe();
        let _ = rx.wait_for(|e| *e >= how).await;
    }

    /// Every node now, in the flat form `arbor status --json` prints.
    pub(crate) async fn nodes(&self) -> Vec<NodeView> {
        let status = self.sup.status().await;
        status
            .iter()
            .map(|n| NodeView {
                dn: n.dn.to_string(),
                depth: n.dn.depth(),
                state: format!("{:?}", n.state),
                stopping: n.stopping,
                pid: n.notes.get("pid").and_then(|p| p.parse().ok()),
                in_state_ms: u64::try_from(n.in_state.as_millis()).unwrap_or(u64::MAX),
                restarts: n.restarts,
                last_error: n.last_error.as_deref().map(str::to_owned),
                waiting_for: n
                    .notes
                    .get("waiting_for")
                    .cloned()
                    .or_else(|| n.waiting_for.as_ref().map(|d| d.to_string())),
                stage: n.notes.get("stage").cloned(),
            })
            .collect()
    }
}

/// One node as `arbor status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub(crate) struct NodeView {
    pub(crate) dn: String,
    pub(crate) depth: usize,
    /// `New`, `Healthy`, `Done`, `Dead`, `Canceled` or `Stopped`.
    pub(crate) state: String,
    /// Told to stop, not stopped yet.
    pub(crate) stopping: bool,
    /// For a program: the process of its current run, or of its last one once that ended.
    pub(crate) pid: Option<u32>,
    /// How long it has been in its state.
    pub(crate) in_state_ms: u64,
    pub(crate) restarts: u32,
    pub(crate) last_error: Option<String>,
    /// What it waits for before it starts: a dependency, or a co-restarting member.
    pub(crate) waiting_for: Option<String>,
    /// A lifecycle group's stage.
    pub(crate) stage: Option<String>,
}

impl App {
    /// Reads the file again and applies the difference (`arbor reload`, SIGHUP): what is new
    /// starts, what is gone stops, what changed restarts, the rest runs on. Returns each node
    /// changed and how; a file that does not pass the check changes nothing.
    ///
    /// # Errors
    ///
    /// The file's errors, or why the difference cannot be applied in place.
    pub(crate) fn reload(&self) -> Result<Vec<(String, String)>, String> {
        let shown = self.path.display().to_string();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|err| format!("{shown}: error: cannot read it: {err}"))?;
        let new = crate::check::check(&shown, &text).map_err(|errors| {
            let mut message: Vec<String> = errors.iter().map(ToString::to_string).collect();
            message.push(format!("{shown}: not reloaded; nothing was changed"));
            message.join("\n")
        })?;
        let mut plan = self.plan.lock();
        if !crate::tree::reload::reloads_in_place(&plan.root, &new.root) {
            return Err(format!(
                "{shown}: the file's own strategy or intensity changed; restart arbor to apply it"
            ));
        }
        let changes = crate::tree::reload::describe("root", &plan.root, &new.root);
        if !changes.is_empty() {
            self.shared.reload_level("root", Arc::new(new.root.clone()));
        }
        *plan = new;
        Ok(changes
            .into_iter()
            .map(|(dn, how)| (dn, how.to_owned()))
            .collect())
    }
}

#[cfg(test)]
impl NodeView {
    /// A node for the views' tests: no pid, no error, in its state for 0 ms.
    pub(crate) fn sample(dn: &str, depth: usize, state: &str) -> Self {
        NodeView {
            dn: dn.to_owned(),
            depth,
            state: state.to_owned(),
            stopping: false,
            pid: None,
            in_state_ms: 0,
            restarts: 0,
            last_error: None,
            waiting_for: None,
            stage: None,
        }
    }
}
