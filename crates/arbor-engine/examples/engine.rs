//! A database pool publishes its handle; an API server and a cache warmer depend on it. Every
//! few seconds the pool dies: watch everything that depends on it bounce, and start again on
//! the new pool.
//!
//! Run with `cargo run -p arbor-engine --example engine` (or `-- --seconds N`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Backoff, Context, Signal, Supervisor};
use arbor_engine::{Component, Engine, Io};
use tokio::time::sleep;

/// The handle the pool publishes.
#[derive(Debug)]
struct Pool {
    generation: u32,
}

fn pool() -> Component {
    let generations = Arc::new(AtomicU32::new(0));
    Component::new("pool", move |ctx: Context, io: Io| {
        let generation = generations.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            io.publish(Pool { generation });
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = sleep(Duration::from_secs(3)) => anyhow::bail!("lost the database connection"),
            }
        }
    })
}

/// A dependent that uses the pool until it is bounced.
fn dependent(name: &'static str) -> Component {
    Component::new(name, move |ctx: Context, io: Io| async move {
        let pool = io.input::<Pool>("pool")?;
        println!("{name:>11}: started on pool generation {}", pool.generation);
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        println!("{name:>11}: stopped (its pool went away)");
        Ok(())
    })
    .input("pool")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 10,
        [flag, n] if flag == "--seconds" => n.parse()?,
        _ => anyhow::bail!("usage: engine [--seconds N]"),
    };
    let engine = Engine::new();
    engine.install(pool())?;
    engine.install(dependent("api"))?;
    engine.install(dependent("warmer"))?;
    let backoff = Backoff::default()
        .initial(Duration::from_millis(300))
        .randomization(0.0);
    let sup = Supervisor::builder()
        .backoff(backoff)
        .spawn(engine.clone())?;
    sleep(Duration::from_secs(seconds)).await;
    println!("\n{}", sup.status().await);
    for component in engine.report().components {
        println!("{:>8}: started {} times", component.name, component.starts);
    }
    sup.shutdown().await.into_result()?;
    Ok(())
}
