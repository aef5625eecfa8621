//! Supervises two real programs: a server that is Healthy once it prints its banner, and a
//! worker that crashes after a second, every time, and is restarted with a growing backoff
//! (it never stays up the 2 s that would make it Healthy and reset it). Their output lines are
//! logged with the node's `dn`; every state change is printed; the tree is shut down after a
//! while (or on Ctrl-C), the server getting SIGTERM and the time to say goodbye.
//!
//! Run with `cargo run -p arbor-process --example supervised_process` (needs `sh`).
//! Set `RUST_LOG=debug` for more, or `RUST_LOG=warn` to see only the state changes.

use std::time::Duration;

use arbor::{Backoff, Context, Signal, Supervisor};
use arbor_process::{Command, Regex};
use tracing_subscriber::EnvFilter;

/// Starts up, says it is ready, serves, and exits cleanly on SIGTERM.
const SERVER: &str = r#"
trap 'echo "server: got SIGTERM, closing"; exit 0' TERM
echo "server: loading config"
sleep 0.5
echo "server: listening on :8080"
while :; do sleep 1 & wait; echo "server: still serving"; done
"#;

/// Does a little work and then crashes with exit code 3.
const WORKER: &str = r#"
for i in 1 2 3; do echo "worker: job $i done"; sleep 0.3; done
echo "worker: out of memory!" >&2
exit 3
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .init();

    let server = Command::new("sh")
        .args(["-c", SERVER])
        .ready_on_line(Regex::new("listening on :\\d+")?)
        .ready_timeout(Duration::from_secs(5))
        .grace_period(Duration::from_secs(2));
    // Healthy only after 2 s up: it crashes before, so its restarts back off (0.5 s, 1 s, 2 s...).
    let worker = Command::new("sh")
        .args(["-c", WORKER])
        .ready_after(Duration::from_secs(2));

    let sup = Supervisor::builder()
        .backoff(
            Backoff::default()
                .initial(Duration::from_millis(500))
                .multiplier(2.0)
                .max_interval(Duration::from_secs(4))
                .randomization(0.0),
        )
        .spawn(move |ctx: Context| {
            let (server, worker) = (server.clone(), worker.clone());
            async move {
                ctx.run("server", server)?;
                ctx.run("worker", worker)?;
                ctx.signal(Signal::Healthy)?;
                ctx.signal(Signal::Done)?;
                Ok(())
            }
        })?;

    let mut events = sup.events();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            println!("### {event}");
        }
    });

    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("### Ctrl-C: shutting down"),
        () = tokio::time::sleep(Duration::from_secs(10)) => println!("### time is up: shutting down"),
    }
    let report = sup.shutdown().await;
    printer.await?;
    println!("### final status:\n{}", sup.status().await);
    report.into_result()?;
    Ok(())
}
