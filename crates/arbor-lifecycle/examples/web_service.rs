//! A web service deployed as a task group: watch its stages pass, its server crash and
//! restart alone, and its shutdown run the stop order and the deregistration.
//!
//! Run with `cargo run -p arbor-lifecycle --example web_service` (or `-- --seconds N`; 8 by
//! default).
//!
//! ```text
//! root.web                       a TaskGroup
//!   migrate      prestart job    fails once (database not up yet), retried, then succeeds
//!   log_shipper  prestart sidecar  Healthy before the server starts, stopped after it
//!   server       main            serves; crashes after 3 s and is restarted alone
//!   warmup       poststart job   fills the cache once the server runs
//!   deregister   poststop job    runs once everything else has stopped
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, Signal, Supervisor};
use arbor_lifecycle::{Hook, RestartPolicy, Task, TaskGroup};
use tokio::time::sleep;

/// A job that says what it does, takes `took`, and fails its first `failures` runs.
fn job(what: &'static str, took: Duration, failures: u32) -> impl arbor::Runnable {
    let runs = Arc::new(AtomicU32::new(0));
    move |ctx: Context| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        async move {
            println!("  {}: {what} (run {})", ctx.dn(), run + 1);
            sleep(took).await;
            anyhow::ensure!(run >= failures, "{what}: the database is not up yet");
            println!("  {}: done", ctx.dn());
            Ok(())
        }
    }
}

/// A long-running task, Healthy after `ready`; with `crash_after`, its first run fails then.
fn service(ready: Duration, crash_after: Option<Duration>) -> impl arbor::Runnable {
    let runs = Arc::new(AtomicU32::new(0));
    move |ctx: Context| {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        async move {
            sleep(ready).await;
            println!("  {}: up (run {})", ctx.dn(), run + 1);
            ctx.signal(Signal::Healthy)?;
            let crash = async {
                match crash_after {
                    Some(after) if run == 0 => sleep(after).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                () = ctx.cancelled() => {
                    println!("  {}: stopping", ctx.dn());
                    Ok(())
                }
                () = crash => anyhow::bail!("connection pool exhausted"),
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = seconds_from_args()?;
    let retry = RestartPolicy::default()
        .attempts(3)
        .interval(Duration::from_secs(60))
        .delay(Duration::from_millis(500));
    let web = TaskGroup::new([
        Task::new(
            "migrate",
            job("migrating the schema", Duration::from_millis(300), 1),
        )
        .hook(Hook::Prestart)
        .restart(retry),
        Task::new("log_shipper", service(Duration::from_millis(200), None))
            .hook(Hook::Prestart)
            .sidecar(),
        Task::new(
            "server",
            service(Duration::from_millis(300), Some(Duration::from_secs(3))),
        )
        .restart(retry),
        Task::new(
            "warmup",
            job("warming the cache", Duration::from_millis(400), 0),
        )
        .hook(Hook::Poststart),
        Task::new(
            "deregister",
            job("leaving the load balancer", Duration::from_millis(200), 0),
        )
        .hook(Hook::Poststop)
        .kill_timeout(Duration::from_secs(2)),
    ])?;

    let mut stages = web.stages();
    tokio::spawn(async move {
        while let Ok(change) = stages.recv().await {
            println!("{}: stage {}", change.group, change.stage);
        }
    });
    let sup = Supervisor::new(move |ctx: Context| {
        let web = web.clone();
        async move {
            ctx.run("web", web)?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    let mut events = sup.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Some(error) = &event.error {
                println!("  {} is {:?}: {error}", event.dn, event.to);
            }
        }
    });

    tokio::select! {
        () = sleep(Duration::from_secs(seconds)) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("shutting down");
    let report = sup.shutdown().await;
    println!("stopped in {:?}", report.elapsed);
    report.into_result()?;
    Ok(())
}

fn seconds_from_args() -> anyhow::Result<u64> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(8),
        [flag, n] if flag == "--seconds" => Ok(n.parse()?),
        _ => anyhow::bail!("usage: web_service [--seconds N]"),
    }
}
