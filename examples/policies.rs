//! Every restart policy at work in one tree, for ten seconds: watch the events.
//!
//! Run with `cargo run --example policies` (or `-- --seconds N`).
//!
//! ```text
//! root
//!   migrate   transient: fails twice, then succeeds once and stays Done
//!   probe     temporary: fails once and leaves the tree
//!   pool      gives up on its workers after 2 restarts a minute: dies, backs off, retries
//!     w0, w1
//!   store     ordered and all together: db starts first, cache once db is Healthy; when db
//!     db      dies, cache, which ignores cancellation, is aborted after its 1 s stop timeout,
//!     cache   and nobody restarts until it has stopped; then both start again, in order
//!   chain     rest for one: when feed dies, feed and api restart, config keeps running
//!     config, feed, api
//!   watcher   bounces (restarts at once, no error, no backoff) every 2.5 s
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{
    Backoff, Bounce, Child, Context, Group, Restart, RestartLimit, Signal, StopTimeout, Strategy,
    Supervisor,
};
use tokio::time::sleep;

/// Serves until told to stop.
async fn serve(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    ctx.cancelled().await;
    Ok(())
}

/// Serves for `after`, then fails (or until told to stop).
fn fails_after(after: Duration) -> impl Fn(Context) -> arbor::RunFuture + Send + Sync {
    move |ctx: Context| {
        Box::pin(async move {
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = sleep(after) => anyhow::bail!("failed after {after:?}"),
            }
        })
    }
}

/// Fails on its first two runs, then does its work and returns: a transient child is then Done.
fn migrate() -> impl Fn(Context) -> arbor::RunFuture + Send + Sync {
    let runs = Arc::new(AtomicU32::new(0));
    move |_ctx: Context| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            sleep(Duration::from_millis(200)).await;
            anyhow::ensure!(run >= 2, "database not reachable yet (attempt {})", run + 1);
            Ok(())
        })
    }
}

/// Ignores its cancellation: only its stop timeout ends it.
async fn stubborn(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    std::future::pending::<()>().await;
    Ok(())
}

async fn pool(ctx: Context) -> anyhow::Result<()> {
    ctx.limit_restarts(RestartLimit::new(2, Duration::from_secs(60)))?;
    ctx.run("w0", fails_after(Duration::from_millis(300)))?;
    ctx.run("w1", serve)?;
    serve(ctx).await
}

async fn store(ctx: Context) -> anyhow::Result<()> {
    ctx.run_group(
        Group::new()
            .ordered()
            .strategy(Strategy::AllTogether)
            .add("db", fails_after(Duration::from_secs(2)))
            .child(
                Child::new("cache", stubborn)
                    .stop_timeout(StopTimeout::After(Duration::from_secs(1))),
            ),
    )?;
    serve(ctx).await
}

async fn chain(ctx: Context) -> anyhow::Result<()> {
    ctx.run_group(
        Group::new()
            .strategy(Strategy::RestForOne)
            .add("config", serve)
            .add("feed", fails_after(Duration::from_secs(3)))
            .add("api", serve),
    )?;
    serve(ctx).await
}

async fn watcher(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    tokio::select! {
        () = ctx.cancelled() => Ok(()),
        () = sleep(Duration::from_millis(2_500)) => Err(Bounce::new("the watched file changed").into()),
    }
}

async fn root(ctx: Context) -> anyhow::Result<()> {
    ctx.run_child(Child::new("migrate", migrate()).restart(Restart::Transient))?;
    ctx.run_child(
        Child::new("probe", fails_after(Duration::from_millis(500))).restart(Restart::Temporary),
    )?;
    ctx.run("pool", pool)?;
    ctx.run("store", store)?;
    ctx.run("chain", chain)?;
    ctx.run("watcher", watcher)?;
    serve(ctx).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 10,
        [flag, n] if flag == "--seconds" => n.parse()?,
        _ => anyhow::bail!("usage: policies [--seconds N]"),
    };
    // Short delays, so that everything happens within seconds.
    let backoff = Backoff::default()
        .initial(Duration::from_millis(200))
        .max_interval(Duration::from_secs(2))
        .randomization(0.0);
    let sup = Supervisor::builder().backoff(backoff).spawn(root)?;
    let mut events = sup.events();
    let until = sleep(Duration::from_secs(seconds));
    tokio::pin!(until);
    loop {
        tokio::select! {
            () = &mut until => break,
            event = events.next() => match event {
                Some(event) if event.from.is_some() || event.removed => println!("{event}"),
                Some(_) => {} // the first snapshot
                None => break,
            },
        }
    }
    println!("\n{}", sup.status().await);
    let report = sup.shutdown().await;
    println!(
        "stopped in {:?}; aborted: {:?}",
        report.elapsed, report.stuck
    );
    Ok(())
}
