//! `bounce_chain10_*` and `bounce_fanout1000_*`: how long a new output of a provider takes to
//! reach its dependents through `arbor-engine`, from `Io::publish` until the dependent's worker
//! is entered again with the new value.
//!
//! - chain of 10: `c0` publishes; each `ci` needs `c(i-1)`; timed until `c9` is re-entered
//!   (every bounce in between: stopped, restarted, published again);
//! - fan-out of 1,000: `p` publishes; 1,000 components need it; timed until the last of them
//!   is re-entered.

#![allow(clippy::disallowed_methods)] // Instant::now: this is a benchmark

use std::time::{Duration, Instant};

use anyhow::Context as _;
use arbor::{Context, Signal, Supervisor};
use arbor_engine::{Component, Engine, Io};
use tokio::sync::{mpsc, watch};

use crate::percentile::percentile;
use crate::report::Metric;

/// A provider that publishes whatever the harness sends it.
fn provider(name: &str, values: watch::Receiver<u64>) -> Component {
    Component::new(name, move |ctx: Context, io: Io| {
        let mut values = values.clone();
        async move {
            io.publish(*values.borrow_and_update());
            ctx.signal(Signal::Healthy)?;
            loop {
                tokio::select! {
                    () = ctx.cancelled() => return Ok(()),
                    changed = values.changed() => {
                        changed?;
                        io.publish(*values.borrow_and_update());
                    }
                }
            }
        }
    })
}

/// A component that needs `input`, republishes what it got, and reports each entry.
fn relay(name: &str, input: &str, entered: mpsc::UnboundedSender<u64>) -> Component {
    let input_name = input.to_owned();
    Component::new(name, move |ctx: Context, io: Io| {
        let (entered, input) = (entered.clone(), input_name.clone());
        async move {
            let value = *io.input::<u64>(&input)?;
            let _ = entered.send(value);
            io.publish(value);
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    })
    .input(input)
}

/// Waits until `want` is received.
async fn until(rx: &mut mpsc::UnboundedReceiver<u64>, want: u64) -> anyhow::Result<()> {
    while rx.recv().await.context("the engine stopped")? != want {}
    Ok(())
}

/// Measures both shapes, `reps` bounces each.
///
/// # Errors
///
/// If the engine does not come up or stops.
pub async fn measure(reps: usize) -> anyhow::Result<Vec<Metric>> {
    let mut metrics = chain(reps).await?;
    metrics.extend(fan_out(reps.min(50)).await?);
    Ok(metrics)
}

async fn chain(reps: usize) -> anyhow::Result<Vec<Metric>> {
    let (values, rx) = watch::channel(0u64);
    let (entered, mut tail) = mpsc::unbounded_channel();
    let (ignored, _keep) = mpsc::unbounded_channel();
    let engine = Engine::new();
    engine.install(provider("c0", rx))?;
    for i in 1..10 {
        let report = if i == 9 {
            entered.clone()
        } else {
            ignored.clone()
        };
        engine.install(relay(&format!("c{i}"), &format!("c{}", i - 1), report))?;
    }
    let sup = Supervisor::new(engine);
    until(&mut tail, 0).await?;
    let mut samples = Vec::with_capacity(reps);
    for n in 1..=reps as u64 {
        let began = Instant::now();
        values.send(n)?;
        until(&mut tail, n).await?;
        samples.push(began.elapsed());
    }
    sup.shutdown().await.into_result()?;
    Ok(figures("bounce_chain10", &samples))
}

/// Waits until `dependents` entries with the value `n` have been received.
async fn all_entered(
    each: &mut mpsc::UnboundedReceiver<u64>,
    dependents: usize,
    n: u64,
) -> anyhow::Result<()> {
    let mut got = 0;
    while got < dependents {
        if each.recv().await.context("the engine stopped")? == n {
            got += 1;
        }
    }
    Ok(())
}

async fn fan_out(reps: usize) -> anyhow::Result<Vec<Metric>> {
    const DEPENDENTS: usize = 1000;
    let (values, rx) = watch::channel(0u64);
    let (entered, mut each) = mpsc::unbounded_channel();
    let engine = Engine::new();
    engine.install(provider("p", rx))?;
    for i in 0..DEPENDENTS {
        engine.install(relay(&format!("d{i}"), "p", entered.clone()))?;
    }
    let sup = Supervisor::new(engine);
    all_entered(&mut each, DEPENDENTS, 0).await?;
    let mut samples = Vec::with_capacity(reps);
    for n in 1..=reps as u64 {
        let began = Instant::now();
        values.send(n)?;
        all_entered(&mut each, DEPENDENTS, n).await?;
        samples.push(began.elapsed());
    }
    sup.shutdown().await.into_result()?;
    Ok(figures("bounce_fanout1000", &samples))
}

fn figures(name: &str, samples: &[Duration]) -> Vec<Metric> {
    let p = |q| percentile(samples, q).unwrap_or_default();
    vec![
        Metric::us(format!("{name}_p50"), p(0.5)),
        Metric::us(format!("{name}_p99"), p(0.99)),
    ]
}
