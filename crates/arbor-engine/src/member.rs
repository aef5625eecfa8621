//! The runnable of a component's node: wait for the inputs, run the worker with them, and turn
//! how it ended into what the engine promises.

use std::collections::HashMap;

use arbor::{Bounce, Context, RunFuture, Runnable};

use crate::{Engine, Io, Missing, Uninstall};

/// A component's node, inside its engine.
pub(crate) struct Member {
    pub(crate) engine: Engine,
    pub(crate) name: String,
}

impl Runnable for Member {
    fn run(&self, ctx: Context) -> RunFuture {
        let (engine, name) = (self.engine.clone(), self.name.clone());
        Box::pin(async move {
            let Some((io, worker)) = wait_for_inputs(&ctx, &engine, &name).await else {
                return Ok(()); // told to stop, or uninstalled, while waiting
            };
            let run = io.run;
            let result = worker.run(ctx.clone(), io).await;
            // The run is over: its output goes with it.
            {
                let mut state = engine.state();
                let mut withdrawn = false;
                if let Some(entry) = state.entries.get_mut(&name).filter(|e| e.starts == run) {
                    entry.active = false;
                    if entry.output.take().is_some() {
                        entry.generation += 1;
                        withdrawn = true;
                    }
                    if let Err(err) = &result {
                        entry.last_error = Some(format!("{err:#}"));
                    }
                }
                if withdrawn {
                    state.touch(&name);
                }
            }
            engine.changed();
            match result {
                _ if ctx.is_cancelled() => Ok(()),
                Err(err) if err.downcast_ref::<Uninstall>().is_some() => {
                    tracing::info!(component = %name, "uninstalls itself");
                    let _ = engine.uninstall(&name).await;
                    ctx.cancelled().await; // the removal stops this node
                    Ok(())
                }
                // A clean end, or an input not usable yet: stopped until an input changes.
                Ok(()) => until_inputs_change(&ctx, &engine, &name, "finished").await,
                Err(err) if err.downcast_ref::<Missing>().is_some() => {
                    until_inputs_change(&ctx, &engine, &name, "missing").await
                }
                Err(err) => {
                    engine.note_fatal(&name, &err); // then the engine ends with the worst
                    Err(err) // a death: restarted after backoff, unless the engine ends
                }
            }
        })
    }
}

/// Waits, New and quiet (no error, no backoff), until every input has an output; then begins
/// the run. `None` if told to stop first, or if the component is uninstalled.
async fn wait_for_inputs(
    ctx: &Context,
    engine: &Engine,
    name: &str,
) -> Option<(Io, std::sync::Arc<dyn crate::Worker>)> {
    let mut versions = engine.versions();
    loop {
        if !engine.state().entries.contains_key(name) {
            // Uninstalled: the order to remove its node follows; wait for it quietly.
            ctx.cancelled().await;
            return None;
        }
        {
            let mut state = engine.state();
            let Some(declared) = state.entries.get(name).map(|e| e.inputs.clone()) else {
                continue; // uninstalled just now: the check above waits for the removal
            };
            let missing = state.missing_input(name);
            let generations = state.generations(name);
            let inputs: HashMap<String, crate::io::Value> = match &missing {
                Some(_) => HashMap::new(),
                None => declared
                    .into_iter()
                    .filter_map(|i| {
                        let value = state.entries.get(&i)?.output.clone()?;
                        Some((i, value))
                    })
                    .collect(),
            };
            let entry = state.entries.get_mut(name)?;
            entry.bouncing = false;
            match missing {
                None => {
                    entry.starts += 1;
                    entry.active = true;
                    entry.seen = generations;
                    entry.waiting_for = None;
                    let io = Io {
                        name: name.to_owned(),
                        run: entry.starts,
                        inputs,
                        engine: engine.clone(),
                    };
                    let worker = entry.worker.clone();
                    drop(state);
                    ctx.remove_note("waiting_for");
                    if !io.inputs.is_empty() {
                        ctx.annotate("inputs", io.inputs_list());
                    }
                    return Some((io, worker));
                }
                Some(input) => {
                    ctx.annotate("waiting_for", &input);
                    entry.waiting_for = Some(input);
                }
            }
        }
        tokio::select! {
            () = ctx.cancelled() => return None,
            changed = versions.changed() => changed.ok()?,
        }
    }
}

/// Stays stopped (the node's run goes on, doing nothing) until one of the inputs changes, then
/// bounces to begin again with them.
async fn until_inputs_change(
    ctx: &Context,
    engine: &Engine,
    name: &str,
    why: &'static str,
) -> anyhow::Result<()> {
    let seen = engine.state().generations(name);
    ctx.annotate("stopped", why);
    let mut versions = engine.versions();
    loop {
        tokio::select! {
            () = ctx.cancelled() => return Ok(()),
            changed = versions.changed() => if changed.is_err() { return Ok(()) },
        }
        if engine.state().generations(name) != seen {
            return Err(Bounce::new("an input changed").into());
        }
    }
}
