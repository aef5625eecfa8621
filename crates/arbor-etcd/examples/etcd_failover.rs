//! Three hosts share a singleton job through etcd; the holder goes away and the job moves.
//!
//! Run with `cargo run -p arbor-etcd --example etcd_failover`.
//!
//! The three "hosts" are three supervisors in this one process, each with its own etcd client,
//! as three machines would have. With `ETCD_ENDPOINTS` unset (comma-separated URLs), the example
//! starts its own `etcd` on loopback in a temporary directory (Debian: `apt-get install
//! etcd-server`) and stops it at the end. `RUST_LOG=arbor_etcd=info` shows the scheduler at work.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use arbor::{Context, NodeState, Signal, Supervisor};
use arbor_etcd::{Client, MaxCount, Options, Scheduled, View};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

const HOSTS: [&str; 3] = ["alpha", "bravo", "charlie"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let (endpoints, local) = match std::env::var("ETCD_ENDPOINTS") {
        Ok(list) => (list.split(',').map(str::to_owned).collect(), None),
        Err(_) => {
            let local = LocalEtcd::start().await?;
            println!(
                "started etcd on {} (data in {})",
                local.endpoint,
                local.dir.display()
            );
            (vec![local.endpoint.clone()], Some(local))
        }
    };
    // A fresh namespace per run, so that runs against a shared etcd do not meet.
    let namespace = format!("/arbor-example/failover-{}", std::process::id());
    let options = Options::new()
        .session_ttl(Duration::from_secs(2))
        .strategy(MaxCount(1));

    let mut hosts = Vec::new();
    for name in HOSTS {
        let client = Client::connect(endpoints.clone()).await?;
        let job = Scheduled::new(client, &namespace, name, options.clone(), singleton(name))?;
        let view = job.view();
        let sup = Supervisor::new(move |ctx: Context| {
            let job = job.clone();
            async move {
                ctx.run("singleton", job)?;
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            }
        });
        hosts.push((name, sup, view));
    }

    let holder = wait_for_holder(&hosts, None).await?;
    let at = hosts
        .iter()
        .position(|(name, _, _)| *name == holder)
        .context("holder")?;
    work_healthy(&hosts[at].1).await?;
    println!("\n{holder} runs the job. Every host's view:");
    for (_, _, view) in &hosts {
        println!("  {}", *view.borrow());
    }
    let at = hosts
        .iter()
        .position(|(name, _, _)| *name == holder)
        .context("holder")?;
    println!("\n{holder}'s tree:\n{}", hosts[at].1.status().await);

    println!("shutting {holder} down...");
    let (_, sup, _) = hosts.remove(at);
    sup.shutdown().await.into_result()?;

    let next = wait_for_holder(&hosts, Some(holder)).await?;
    let at = hosts
        .iter()
        .position(|(name, _, _)| *name == next)
        .context("holder")?;
    work_healthy(&hosts[at].1).await?;
    println!("\nthe job moved from {holder} to {next}. Every remaining host's view:");
    for (_, _, view) in &hosts {
        println!("  {}", *view.borrow());
    }
    let at = hosts
        .iter()
        .position(|(name, _, _)| *name == next)
        .context("holder")?;
    println!("\n{next}'s tree:\n{}", hosts[at].1.status().await);

    for (_, sup, _) in hosts {
        sup.shutdown().await.into_result()?;
    }
    if let Some(local) = local {
        local.stop().await;
    }
    Ok(())
}

/// The job: says when it starts and stops, and works until told to stop.
fn singleton(host: &'static str) -> impl arbor::Runnable {
    move |ctx: Context| async move {
        println!("[{host}] job started");
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        println!("[{host}] job stopping");
        Ok(())
    }
}

/// Waits until some host other than `not` runs the job (holds a fencing token).
async fn wait_for_holder(
    hosts: &[(&'static str, Supervisor, watch::Receiver<View>)],
    not: Option<&str>,
) -> anyhow::Result<&'static str> {
    let waits = hosts.iter().map(|(name, _, view)| {
        let mut view = view.clone();
        Box::pin(async move {
            view.wait_for(|v| v.is_running() && Some(v.host.as_str()) != not)
                .await
                .map(|_| *name)
        })
    });
    let (found, _, _) = tokio::time::timeout(Duration::from_secs(30), futures_select_all(waits))
        .await
        .context("no host took the job within 30 s")?;
    Ok(found?)
}

/// Waits until the job's node in `sup`'s tree is Healthy.
async fn work_healthy(sup: &Supervisor) -> anyhow::Result<()> {
    let mut events = sup.events(); // a snapshot of every node first, then each transition
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            if event.dn == "root.singleton.placed.work" && event.to == NodeState::Healthy {
                return Ok(());
            }
        }
        bail!("the supervisor stopped")
    })
    .await
    .context("the job did not become Healthy within 30 s")?
}

/// The first of several futures to finish (a tiny `select_all`, to need no extra crate).
async fn futures_select_all<F: std::future::Future + Unpin>(
    futures: impl IntoIterator<Item = F>,
) -> (F::Output, usize, Vec<F>) {
    let mut futures: Vec<F> = futures.into_iter().collect();
    std::future::poll_fn(move |cx| {
        for (i, fut) in futures.iter_mut().enumerate() {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(fut).poll(cx) {
                let rest = std::mem::take(&mut futures);
                return std::task::Poll::Ready((out, i, rest));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// An etcd started by this example on loopback, in its own directory.
struct LocalEtcd {
    endpoint: String,
    dir: std::path::PathBuf,
    child: Child,
}

impl LocalEtcd {
    async fn start() -> anyhow::Result<LocalEtcd> {
        let port = || -> anyhow::Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let (client_port, peer_port) = (port()?, port()?);
        let endpoint = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let dir = std::env::temp_dir().join(format!("arbor-etcd-example-{}", std::process::id()));
        let mut child = Command::new("etcd")
            .arg("--name=example")
            .arg(format!("--data-dir={}", dir.display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=example={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("could not start `etcd`: install it (Debian: `apt-get install etcd-server`) or set ETCD_ENDPOINTS")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let mut lines = BufReader::new(stderr).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if line.contains("serving insecure client requests") {
                    return Ok(true);
                }
            }
            Ok::<_, std::io::Error>(false)
        })
        .await;
        match ready {
            Ok(Ok(true)) => {}
            _ => bail!("etcd did not start serving on {endpoint}"),
        }
        // Keep draining its log, or a full pipe would stall it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(LocalEtcd {
            endpoint,
            dir,
            child,
        })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
