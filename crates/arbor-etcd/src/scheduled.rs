//! The runnable users place in their tree: [`Scheduled`].

use std::fmt;
use std::sync::Arc;

use arbor::{Context, RunFuture, Runnable, Signal};
use tokio::sync::watch;

use crate::gate::Gate;
use crate::keys::Keys;
use crate::member::Member;
use crate::slot::Slot;
use crate::{Client, Error, Options, View};

/// Runs `inner` on the hosts that an etcd-backed scheduler places it on.
///
/// Put it in a tree like any runnable. Each run of it starts two children:
///
/// ```text
/// <name>               Scheduled: Healthy once this host has joined; logs every view change
/// ├── member           joins with a lease, renews it, watches, campaigns, writes the placement
/// └── placed           New while this host waits to be placed; Healthy while it runs the work
///     └── work         your runnable, an ordinary node (its own children work as usual)
/// ```
///
/// When the placement moves away from this host, or the host cannot renew its lease in time,
/// `placed` dies with [`Error::Unplaced`]: arbor cancels `work` and its subtree, then restarts
/// `placed`, which waits to be placed again. See the [crate docs](crate) for the whole story.
///
/// Run one `Scheduled` per host name and namespace: the placement cannot tell two with the
/// same pair (in one process or two) apart, so one of them may wait for the other for ever.
/// Their claims on the work are told apart by lease, though, so even then they never run it at
/// once: a host restarted under its name waits for the claim of its old process, which may be
/// frozen rather than dead. Namespaces must not be nested (`/a` and `/a/b`): the keys of one
/// would show up in the other.
///
/// # Examples
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> anyhow::Result<()> {
/// use arbor::{Context, Signal, Supervisor};
/// use arbor_etcd::{Client, MaxCount, Options, Scheduled};
///
/// async fn backup(ctx: Context) -> anyhow::Result<()> {
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await; // do the work until told to stop
///     Ok(())
/// }
///
/// let client = Client::connect(["http://127.0.0.1:2379"]).await?;
/// let job = Scheduled::new(client, "/arbor/backup", "host-a", Options::new().strategy(MaxCount(1)), backup)?;
/// let mut view = job.view();
/// let sup = Supervisor::new(move |ctx: Context| {
///     let job = job.clone();
///     async move {
///         ctx.run("backup", job)?;
///         ctx.signal(Signal::Healthy)?;
///         ctx.cancelled().await;
///         Ok(())
///     }
/// });
/// view.wait_for(|v| v.placement.revision > 0).await?;
/// println!("placed on {:?}", view.borrow().placement.hosts);
/// sup.shutdown().await.into_result()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Scheduled {
    shared: Arc<Shared>,
}

/// What the nodes of one `Scheduled` share.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) keys: Keys,
    pub(crate) options: Options,
    pub(crate) inner: Arc<dyn Runnable>,
    pub(crate) view: watch::Sender<View>,
    pub(crate) slot: Slot,
}

impl Scheduled {
    /// A runnable that runs `inner` on this `host` when the scheduler of `namespace` places it
    /// there. Nothing happens until it runs in a tree.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidNamespace`] unless the namespace looks like `/a/b` (segments of
    ///   `[A-Za-z0-9_.-]`, no trailing `/`);
    /// - [`Error::InvalidHost`] unless the host name is 1 to 253 bytes of `[A-Za-z0-9_.-]`;
    /// - [`Error::InvalidOption`] for a zero or fractional session TTL, or a fencing delay not
    ///   below it;
    /// - [`Error::InvalidStrategy`] when the strategy refuses its settings (`MaxCount(0)`).
    pub fn new(
        client: Client,
        namespace: &str,
        host: &str,
        options: Options,
        inner: impl Runnable,
    ) -> Result<Scheduled, Error> {
        let keys = Keys::new(namespace, host)?;
        options.validate()?;
        let view = watch::Sender::new(View::new(host, client.endpoint()));
        Ok(Scheduled {
            shared: Arc::new(Shared {
                client,
                keys,
                options,
                inner: Arc::new(inner),
                view,
                slot: Slot::new(),
            }),
        })
    }

    /// This host's view of the namespace, now and at every change: membership, leader, live
    /// hosts, placement, who runs the work, and this host's fencing token while it runs it.
    pub fn view(&self) -> watch::Receiver<View> {
        self.shared.view.subscribe()
    }

    /// This host's name.
    pub fn host(&self) -> &str {
        &self.shared.keys.host
    }
}

impl Runnable for Scheduled {
    fn run(&self, ctx: Context) -> RunFuture {
        let shared = self.shared.clone();
        Box::pin(async move {
            ctx.run(
                "member",
                Member {
                    shared: shared.clone(),
                },
            )?;
            ctx.run(
                "placed",
                Gate {
                    shared: shared.clone(),
                },
            )?;
            let mut views = shared.view.subscribe();
            tokio::select! {
                () = ctx.cancelled() => return Ok(()),
                joined = views.wait_for(|v| v.lease.is_some()) => { joined?; }
            }
            ctx.signal(Signal::Healthy)?;
            let mut logged = views.borrow_and_update().clone();
            tracing::info!(view = %logged, "view changed");
            show(&ctx, &logged);
            loop {
                tokio::select! {
                    () = ctx.cancelled() => return Ok(()),
                    changed = views.changed() => changed?,
                }
                let now = views.borrow_and_update().clone();
                if now.summary() != logged.summary() {
                    tracing::info!(view = %now, "view changed");
                    show(&ctx, &now);
                    logged = now;
                }
            }
        })
    }
}

/// Puts this host's view into the supervisor's status, as notes on the wrapper node.
fn show(ctx: &Context, view: &View) {
    ctx.annotate("leader", view.leader.as_deref().unwrap_or("-"));
    ctx.annotate(
        "placement",
        format!(
            "[{}]@{}",
            view.placement.hosts.join(","),
            view.placement.revision
        ),
    );
    ctx.annotate("live", format!("[{}]", view.hosts.join(",")));
    let running: Vec<&str> = view.running.keys().map(|c| c.host.as_str()).collect();
    ctx.annotate("running", format!("[{}]", running.join(",")));
}

impl fmt::Debug for Scheduled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduled")
            .field("namespace", &self.shared.keys.prefix.trim_end_matches('/'))
            .field("host", &self.shared.keys.host)
            .field("options", &self.shared.options)
            .field("client", &self.shared.client)
            .finish()
    }
}
