//! The engine: the installed components and their published outputs, shared by the engine's
//! node (which starts each component as a child and bounces the stale ones) and the
//! components' own nodes.

use std::collections::BTreeMap;
use std::sync::Arc;

use arbor::{Child, Context, Name, RunFuture, Runnable, Signal};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::component::Worker;
use crate::io::Value;
use crate::member::Member;
use crate::report::{ComponentReport, EngineReport};
use crate::{graph, Component, InstallError};

/// A dependency engine: a runnable whose children are components, each started once its
/// inputs are available, and bounced whenever one of them changes.
///
/// Clone it to keep a handle: [`install`](Engine::install) and
/// [`uninstall`](Engine::uninstall) work before it runs and while it runs, and
/// [`report`](Engine::report) says what each component does. See the [crate docs](crate).
#[derive(Clone, Default)]
pub struct Engine {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Bumped on every change a component may wait for: an install, an uninstall, an output
    /// published or withdrawn.
    version: watch::Sender<u64>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) entries: BTreeMap<String, Entry>,
    /// The engine node's current run, for the components installed while it runs.
    ctx: Option<Context>,
}

/// One installed component.
pub(crate) struct Entry {
    pub(crate) inputs: Vec<String>,
    pub(crate) worker: Arc<dyn Worker>,
    /// Its current output, while a run of it has published one.
    pub(crate) output: Option<Value>,
    /// Bumped whenever `output` changes: what dependents compare.
    pub(crate) generation: u64,
    /// Runs begun with all inputs available.
    pub(crate) starts: u64,
    /// The inputs' generations when the current run began.
    pub(crate) seen: Vec<u64>,
    /// A run of it is under way with its inputs (not waiting for them).
    pub(crate) active: bool,
    /// It has been told to restart for stale inputs, and has not begun waiting again yet.
    pub(crate) bouncing: bool,
    /// The input it waits for, while it does.
    pub(crate) waiting_for: Option<String>,
    pub(crate) last_error: Option<String>,
}

impl Entry {
    fn new(component: &Component) -> Self {
        Entry {
            inputs: component.inputs.clone(),
            worker: component.worker.clone(),
            output: None,
            generation: 0,
            starts: 0,
            seen: Vec::new(),
            active: false,
            bouncing: false,
            waiting_for: None,
            last_error: None,
        }
    }
}

impl State {
    /// The first input of `name` that has no output now.
    pub(crate) fn missing_input(&self, name: &str) -> Option<String> {
        let entry = self.entries.get(name)?;
        entry
            .inputs
            .iter()
            .find(|i| self.entries.get(*i).is_none_or(|p| p.output.is_none()))
            .cloned()
    }

    /// The generations of `name`'s inputs now (0 for one not installed).
    pub(crate) fn generations(&self, name: &str) -> Vec<u64> {
        let Some(entry) = self.entries.get(name) else {
            return Vec::new();
        };
        entry
            .inputs
            .iter()
            .map(|i| self.entries.get(i).map_or(0, |p| p.generation))
            .collect()
    }

    /// Whether `name` runs on inputs that have changed since its run began.
    fn is_stale(&self, name: &str) -> bool {
        self.entries.get(name).is_some_and(|e| {
            e.active
                && !e.bouncing
                && (e.seen != self.generations(name) || self.missing_input(name).is_some())
        })
    }
}

impl Engine {
    /// An engine with no components.
    pub fn new() -> Self {
        Engine::default()
    }

    /// Installs `component`. While the engine runs it is started at once (and waits for its
    /// inputs); before, it starts with the engine. An input that names no installed component
    /// just waits: that component may be installed later.
    ///
    /// # Errors
    ///
    /// [`InstallError::InvalidName`], [`InstallError::Duplicate`], [`InstallError::Cycle`]
    /// naming the cycle its inputs would close, and [`InstallError::Tree`] if the tree refused
    /// its node.
    pub fn install(&self, component: Component) -> Result<(), InstallError> {
        let name = Name::new(component.name.clone())?;
        let mut state = self.shared.state.lock();
        if state.entries.contains_key(name.as_str()) {
            return Err(InstallError::Duplicate {
                name: component.name,
            });
        }
        let graph: BTreeMap<String, Vec<String>> = state
            .entries
            .iter()
            .map(|(n, e)| (n.clone(), e.inputs.clone()))
            .collect();
        if let Some(path) = graph::cycle(&graph, name.as_str(), &component.inputs) {
            return Err(InstallError::Cycle { path });
        }
        if let Some(ctx) = &state.ctx {
            ctx.run_child(Child::shared(name.clone(), self.member(name.as_str())))?;
        }
        state
            .entries
            .insert(component.name.clone(), Entry::new(&component));
        drop(state);
        self.changed();
        Ok(())
    }

    /// Uninstalls the component `name`: its node is told to stop and leaves the tree, and its
    /// dependents are bounced and wait for a provider again. Returns once the tree has taken
    /// the order.
    ///
    /// # Errors
    ///
    /// [`InstallError::NotInstalled`], or [`InstallError::Tree`].
    pub async fn uninstall(&self, name: &str) -> Result<(), InstallError> {
        let ctx = {
            let mut state = self.shared.state.lock();
            if state.entries.remove(name).is_none() {
                return Err(InstallError::NotInstalled {
                    name: name.to_owned(),
                });
            }
            state.ctx.clone()
        };
        self.changed();
        if let Some(ctx) = ctx {
            ctx.remove_child(name).await?;
        }
        Ok(())
    }

    /// What each component does now.
    pub fn report(&self) -> EngineReport {
        let state = self.shared.state.lock();
        let components = state
            .entries
            .iter()
            .map(|(name, e)| ComponentReport {
                name: name.clone(),
                inputs: e.inputs.clone(),
                running: e.active,
                published: e.output.is_some(),
                starts: e.starts,
                waiting_for: e.waiting_for.clone(),
                last_error: e.last_error.clone(),
            })
            .collect();
        EngineReport {
            running: state.ctx.is_some(),
            components,
        }
    }

    pub(crate) fn member(&self, name: &str) -> Arc<dyn Runnable> {
        Arc::new(Member {
            engine: self.clone(),
            name: name.to_owned(),
        })
    }

    pub(crate) fn state(&self) -> parking_lot::MutexGuard<'_, State> {
        self.shared.state.lock()
    }

    pub(crate) fn versions(&self) -> watch::Receiver<u64> {
        self.shared.version.subscribe()
    }

    /// Something a component may wait for has changed.
    pub(crate) fn changed(&self) {
        self.shared.version.send_modify(|v| *v += 1);
    }

    /// `Io::publish`: the output of `name`'s run `run`, if that is still its current run.
    pub(crate) fn publish(&self, name: &str, run: u64, value: Value) {
        {
            let mut state = self.shared.state.lock();
            let Some(entry) = state.entries.get_mut(name) else {
                return;
            };
            if !(entry.active && entry.starts == run) {
                return;
            }
            entry.output = Some(value);
            entry.generation += 1;
        }
        self.changed();
    }

    /// Bounces every running component whose inputs changed since its run began.
    async fn bounce_stale(&self, ctx: &Context) {
        let stale: Vec<String> = {
            let mut state = self.shared.state.lock();
            let names: Vec<String> = state
                .entries
                .keys()
                .filter(|n| state.is_stale(n))
                .cloned()
                .collect();
            for name in &names {
                if let Some(entry) = state.entries.get_mut(name) {
                    entry.bouncing = true;
                }
            }
            names
        };
        for name in stale {
            tracing::info!(component = %name, "an input changed; bouncing");
            // Refused only if it is stopped or gone meanwhile: nothing to bounce then.
            let _ = ctx.restart_child(&name).await;
        }
    }
}

impl Runnable for Engine {
    fn run(&self, ctx: Context) -> RunFuture {
        let engine = self.clone();
        Box::pin(async move {
            ctx.allow_late_children()?;
            let names: Vec<String> = {
                let mut state = engine.shared.state.lock();
                state.ctx = Some(ctx.clone());
                for entry in state.entries.values_mut() {
                    // A new run of the engine starts every component afresh.
                    (entry.output, entry.active, entry.bouncing) = (None, false, false);
                    entry.generation += 1;
                }
                state.entries.keys().cloned().collect()
            };
            for name in names {
                let name = Name::new(name)?;
                ctx.run_child(Child::shared(name.clone(), engine.member(name.as_str())))?;
            }
            ctx.signal(Signal::Healthy)?;
            let mut versions = engine.versions();
            loop {
                engine.bounce_stale(&ctx).await;
                tokio::select! {
                    () = ctx.cancelled() => break,
                    changed = versions.changed() => if changed.is_err() { break },
                }
            }
            engine.shared.state.lock().ctx = None;
            Ok(())
        })
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("Engine")
            .field("components", &state.entries.keys().collect::<Vec<_>>())
            .field("running", &state.ctx.is_some())
            .finish()
    }
}
