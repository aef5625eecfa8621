//! A small service supervising itself: watch it fail, restart and recover.
//!
//! Run with `cargo run --example quickstart` (stops at Ctrl-C), or
//! `cargo run --example quickstart -- --seconds 10`. Set `RUST_LOG=info` for more log lines.
//!
//! ```text
//! root
//!   ingest    ┐ one group: when ingest fails (every few seconds),
//!   publish   ┘ publish is cancelled and both restart
//!   migrate     a one-shot job: runs once, then Done
//!   api         a deeper subtree: api → http → {listener, conns}
//! ```

use std::time::Duration;

use arbor::{Context, Group, Signal, Supervisor};
use tokio::time::{sleep, timeout};
use tracing_subscriber::EnvFilter;

/// Pulls work in; fails every few seconds, as real dependencies do.
async fn ingest(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    let lifetime = Duration::from_millis(2_000 + fastrand_ms(2_000));
    tokio::select! {
        () = ctx.cancelled() => Ok(()),
        () = sleep(lifetime) => anyhow::bail!("upstream connection reset after {lifetime:?}"),
    }
}

/// Serves until told to stop.
async fn serve(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    ctx.cancelled().await;
    Ok(())
}

/// Runs once to completion.
async fn migrate(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    sleep(Duration::from_millis(300)).await; // the migration's work
    tracing::info!("schema migrated");
    ctx.signal(Signal::Done)?;
    Ok(())
}

async fn http(ctx: Context) -> anyhow::Result<()> {
    ctx.run_group(Group::new().add("listener", serve).add("conns", serve))?;
    ctx.signal(Signal::Healthy)?;
    ctx.cancelled().await;
    Ok(())
}

async fn api(ctx: Context) -> anyhow::Result<()> {
    ctx.run("http", http)?;
    ctx.signal(Signal::Healthy)?;
    ctx.cancelled().await;
    Ok(())
}

async fn root(ctx: Context) -> anyhow::Result<()> {
    ctx.run_group(Group::new().add("ingest", ingest).add("publish", serve))?;
    ctx.run("migrate", migrate)?;
    ctx.run("api", api)?;
    ctx.signal(Signal::Healthy)?;
    ctx.cancelled().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_target(false)
        .init();
    let seconds = seconds_from_args()?;

    let sup = Supervisor::new(root);
    let mut events = sup.events();
    let run_for = async {
        match seconds {
            Some(s) => sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(run_for);

    loop {
        tokio::select! {
            () = &mut run_for => break,
            event = events.next() => {
                let Some(event) = event else { break };
                println!("event  {event}");
                // Changes come in bursts (a death cancels a group); print the tree once after.
                while let Ok(Some(more)) = timeout(Duration::from_millis(30), events.next()).await {
                    println!("event  {more}");
                }
                println!("\n{}", sup.status().await);
            }
        }
    }

    println!("shutting down");
    let report = sup.shutdown().await;
    println!("{}", sup.status().await);
    println!("stopped in {:?}", report.elapsed);
    report.into_result()?;
    Ok(())
}

fn seconds_from_args() -> anyhow::Result<Option<u64>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--seconds"), Some(n)) => Ok(Some(n.parse()?)),
        _ => anyhow::bail!("usage: quickstart [--seconds N]"),
    }
}

/// A little randomness, so that failures do not line up.
fn fastrand_ms(below: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish() % below
}
