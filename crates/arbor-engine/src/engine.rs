//! The engine: the installed components and their published outputs, shared by the engine's
//! node (which starts each component as a child and bounces the stale ones) and the
//! components' own nodes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Says whether a component's error is fatal to the whole engine, and how bad (the worst
/// fatal error is the engine's own).
type Fatal = dyn Fn(&anyhow::Error) -> Option<u32> + Send + Sync;

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    fatal: Mutex<Option<Arc<Fatal>>>,
    /// Bumped on every change a component may wait for: an install, an uninstall, an output
    /// published or withdrawn.
    version: watch::Sender<u64>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) entries: BTreeMap<String, Entry>,
    /// The engine node's current run, for the components installed while it runs.
    ctx: Option<Context>,
    /// The fatal errors of the current run: (how bad, which component, the error).
    fatal: Vec<(u32, String, String)>,
    /// For each component name, the installed components that need it: so that a change
    /// looks only at the dependents of what changed.
    needed_by: HashMap<String, Vec<String>>,
    /// Components whose output changed (or that came or went) since the engine last looked.
    touched: BTreeSet<String>,
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
    /// Marks `name`'s output as changed, for the engine's next look at its dependents.
    pub(crate) fn touch(&mut self, name: &str) {
        self.touched.insert(name.to_owned());
    }

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
        for input in &component.inputs {
            state
                .needed_by
                .entry(input.clone())
                .or_default()
                .push(component.name.clone());
        }
        state.touch(&component.name);
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
            let Some(entry) = state.entries.remove(name) else {
                return Err(InstallError::NotInstalled {
                    name: name.to_owned(),
                });
            };
            for input in &entry.inputs {
                if let Some(dependents) = state.needed_by.get_mut(input) {
                    dependents.retain(|d| d != name);
                }
            }
            state.touch(name);
            state.ctx.clone()
        };
        self.changed();
        if let Some(ctx) = ctx {
            ctx.remove_child(name).await?;
        }
        Ok(())
    }

    /// Makes some errors fatal to the whole engine (the seed's `IsFatal` and `WorstError`):
    /// `rank` returns how bad a component's error is, or `None` for an ordinary death
    /// (restarted after backoff). On a fatal error every component is stopped and the
    /// engine's run ends with the worst fatal error seen (the highest rank, the first among
    /// equals), so it escalates to the engine's parent like any death: its backoff, its
    /// restart limit.
    #[must_use]
    pub fn fatal_when(
        self,
        rank: impl Fn(&anyhow::Error) -> Option<u32> + Send + Sync + 'static,
    ) -> Self {
        *self.shared.fatal.lock() = Some(Arc::new(rank));
        self
    }

    /// Records `name`'s error if it is fatal; true if it was.
    pub(crate) fn note_fatal(&self, name: &str, err: &anyhow::Error) -> bool {
        let rank = self.shared.fatal.lock().clone();
        let Some(rank) = rank.and_then(|rank| rank(err)) else {
            return false;
        };
        self.shared
            .state
            .lock()
            .fatal
            .push((rank, name.to_owned(), format!("{err:#}")));
        self.changed();
        true
    }

    /// Stops `name` and every component that depends on it, transitively, dependents first
    /// (each is told once those that need it have stopped), and returns once all have; for
    /// taking a provider down safely. [`resume`](Engine::resume) starts them again. Returns the
    /// components stopped, in the order they stopped.
    ///
    /// # Errors
    ///
    /// [`InstallError::NotInstalled`], or [`InstallError::Tree`] if the engine is not running
    /// or an order was refused.
    pub async fn settle(&self, name: &str) -> Result<Vec<String>, InstallError> {
        let (ctx, order) = {
            let state = self.shared.state.lock();
            if !state.entries.contains_key(name) {
                return Err(InstallError::NotInstalled {
                    name: name.to_owned(),
                });
            }
            let ctx = state.ctx.clone().ok_or(arbor::Error::ShuttingDown)?;
            (ctx, dependents_first(&state, name))
        };
        for member in &order {
            match ctx.stop_child(member).await {
                Ok(()) | Err(arbor::Error::AlreadyStopped { .. }) => {}
                Err(err) => return Err(err.into()),
            }
            ctx.watch_child(member)
                .until_state(arbor::NodeState::Stopped)
                .await?;
        }
        Ok(order)
    }

    /// Starts again what [`settle`](Engine::settle) stopped, providers first.
    ///
    /// # Errors
    ///
    /// As `settle`.
    pub async fn resume(&self, settled: &[String]) -> Result<(), InstallError> {
        let ctx = self
            .shared
            .state
            .lock()
            .ctx
            .clone()
            .ok_or(arbor::Error::ShuttingDown)?;
        for member in settled.iter().rev() {
            match ctx.resume_child(member).await {
                Ok(()) | Err(arbor::Error::NotStopped { .. }) => {}
                Err(err) => return Err(err.into()),
            }
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
            state.touch(name);
        }
        self.changed();
    }

    /// The engine's own line in status: how many components it has (what each one waits for
    /// is in its own node's line).
    fn annotate(&self, ctx: &Context) {
        ctx.annotate("components", self.shared.state.lock().entries.len());
    }

    /// Bounces every running component whose inputs changed since its run began.
    async fn bounce_stale(&self, ctx: &Context) {
        let stale: Vec<String> = {
            let mut state = self.shared.state.lock();
            // Only the dependents of what changed can be stale.
            let touched = std::mem::take(&mut state.touched);
            let mut names: Vec<String> = touched
                .iter()
                .flat_map(|p| state.needed_by.get(p).into_iter().flatten())
                .filter(|n| state.is_stale(n))
                .cloned()
                .collect();
            names.sort_unstable();
            names.dedup();
            for name in &names {
                if let Some(entry) = state.entries.get_mut(name) {
                    entry.bouncing = true;
                }
            }
            names
        };
        // Every order is given before any is awaited: the tree takes them in one batch.
        let orders: Vec<_> = stale
            .iter()
            .map(|name| {
                tracing::info!(component = %name, "an input changed; bouncing");
                ctx.restart_child(name)
            })
            .collect();
        for order in orders {
            // Refused only if it is stopped or gone meanwhile: nothing to bounce then.
            let _ = order.await;
        }
    }
}

/// The worst of the fatal errors: the highest rank, the first among equals.
fn worst(fatal: Vec<(u32, String, String)>) -> Option<(u32, String, String)> {
    fatal.into_iter().fold(None, |worst, this| match worst {
        Some(w) if w.0 >= this.0 => Some(w),
        _ => Some(this),
    })
}

/// `name` and everything that depends on it, transitively, each after all that need it.
fn dependents_first(state: &State, name: &str) -> Vec<String> {
    // Depth-first post-order over "is needed by": a node comes after all its dependents.
    fn visit(state: &State, name: &str, done: &mut Vec<String>) {
        if done.iter().any(|d| d == name) {
            return;
        }
        let dependents: Vec<&String> = state
            .entries
            .iter()
            .filter(|(_, e)| e.inputs.iter().any(|i| i == name))
            .map(|(n, _)| n)
            .collect();
        for dependent in dependents {
            visit(state, dependent, done);
        }
        done.push(name.to_owned());
    }
    let mut done = Vec::new();
    visit(state, name, &mut done);
    done
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
                let names: Vec<String> = state.entries.keys().cloned().collect();
                state.touched.extend(names.iter().cloned());
                names
            };
            for name in names {
                let name = Name::new(name)?;
                ctx.run_child(Child::shared(name.clone(), engine.member(name.as_str())))?;
            }
            ctx.signal(Signal::Healthy)?;
            let mut versions = engine.versions();
            loop {
                if !engine.shared.state.lock().fatal.is_empty() {
                    break; // a fatal error ends the engine's run
                }
                engine.bounce_stale(&ctx).await;
                engine.annotate(&ctx);
                tokio::select! {
                    () = ctx.cancelled() => break,
                    changed = versions.changed() => if changed.is_err() { break },
                }
            }
            let worst = {
                let mut state = engine.shared.state.lock();
                state.ctx = None;
                worst(std::mem::take(&mut state.fatal))
            };
            match worst {
                // Every component is stopped with the engine's subtree as its run ends.
                Some((_, name, error)) => anyhow::bail!("component {name} failed fatally: {error}"),
                None => Ok(()),
            }
        })
    }
}

/// An engine is a worker too, so it can be a component of another engine (its inputs unused:
/// give it what it needs through its own components).
impl Worker for Engine {
    fn run(&self, ctx: Context, _io: crate::Io) -> RunFuture {
        Runnable::run(self, ctx)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_fatal_error_is_the_highest_ranked_and_the_first_among_equals() {
        let e = |rank, name: &str| (rank, name.to_owned(), format!("{name} failed"));
        assert_eq!(worst(vec![]), None);
        let got = worst(vec![e(1, "a"), e(3, "b"), e(2, "c"), e(3, "d")]).unwrap();
        assert_eq!(got.1, "b");
    }
}
