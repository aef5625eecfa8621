//! The `placed` node: New while this host waits to be placed, Healthy while it runs the work.
//!
//! arbor lets a node start children only while it is New, and stops them only when the node
//! itself ends. So the placement decides this node's life: it waits, New, until this host may
//! run the work; then it claims the work in etcd, starts the user's runnable as its child
//! `work`, and signals Healthy. When the placement moves away from this host, the node
//! bounces ([`arbor::Bounce`]): arbor cancels `work` with its whole subtree and restarts
//! `placed` at once, New again, waiting for the next placement, with no error logged. When this
//! host loses what it held the work under (its membership ended, or it could not renew its
//! lease in time), the node returns an error instead: the same, after a backoff, and logged. The user's runnable stays an ordinary node throughout.
//!
//! # Fencing
//!
//! The hold ends at the lease's `fresh_until`: the send time of the last renewal etcd
//! confirmed, plus the fencing delay (half the TTL by default). etcd cannot have expired the
//! lease before that send time plus the TTL, so the work has the rest of the TTL to stop before
//! any other host can be placed.

use std::sync::Arc;

use arbor::{Bounce, Context, RunFuture, Runnable, Signal};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::claim::claim;
use crate::scheduled::Shared;
use crate::{Error, View};

/// The `placed` node's runnable.
pub(crate) struct Gate {
    pub(crate) shared: Arc<Shared>,
}

/// What this host may start under.
struct Ready {
    lease: i64,
    /// The placement revision.
    revision: i64,
    /// The revision of the view that showed no claim to wait for.
    seen: i64,
}

impl Runnable for Gate {
    fn run(&self, ctx: Context) -> RunFuture {
        let shared = self.shared.clone();
        Box::pin(async move {
            let mut views = shared.view.subscribe();
            // The view revision a claim failed under: etcd has moved past it (the placement, or
            // a claim under this host's name), so only a newer view can tell what to do.
            let mut stale = None;
            let (ready, permit, token) = loop {
                let Some(ready) = wait_ready(&ctx, &mut views, stale).await else {
                    return Ok(()); // cancelled while waiting
                };
                // Armed before the claim is written, so that the member never releases it.
                let permit = shared.slot.arm();
                let claimed = claim(
                    &shared.client,
                    &shared.keys,
                    ready.lease,
                    ready.revision,
                    ready.seen,
                )
                .await?;
                match claimed {
                    Some(token) => break (ready, permit, token),
                    None => {
                        tracing::debug!(
                            revision = ready.revision,
                            seen = ready.seen,
                            "the placement or a claim under this name moved before the claim; \
                             waiting again"
                        );
                        stale = Some(ready.seen);
                    }
                }
            };
            shared.view.send_modify(|v| v.token = Some(token));
            let _clear = ClearToken(&shared.view);
            ctx.run("work", permit.work(shared.inner.clone()))?;
            ctx.signal(Signal::Healthy)?;
            tracing::info!(host = %shared.keys.host, token = token.revision, "this host runs the work");
            let stop = hold(&ctx, &mut views, ready.lease).await;
            drop(permit);
            match stop {
                None => Ok(()),
                // Not a failure: start over, at once, waiting to be placed again.
                Some(Stop::Moved(reason)) => Err(Bounce::new(reason).into()),
                Some(Stop::Lost(reason)) => {
                    tracing::info!(host = %shared.keys.host, %reason, "this host stops the work");
                    Err(Error::Unplaced {
                        host: shared.keys.host.clone(),
                        reason,
                    }
                    .into())
                }
            }
        })
    }
}

/// Waits until this host is placed, fresh, and sees no claim to wait for (no claim of a leaving
/// host, none of another process under this host's name) in a view newer than `stale`; `None`
/// if cancelled first.
async fn wait_ready(
    ctx: &Context,
    views: &mut watch::Receiver<View>,
    stale: Option<i64>,
) -> Option<Ready> {
    loop {
        {
            let v = views.borrow_and_update();
            // Readiness only ever begins with a change of the view (a renewal, a placement, a
            // claim released), never by time passing: no timer is needed here.
            if let Some(lease) = v.lease.filter(|l| Instant::now() < l.fresh_until) {
                let current = stale.is_none_or(|stale| v.revision > stale);
                if current && v.is_placed() && v.waits_for().next().is_none() {
                    return Some(Ready {
                        lease: lease.id,
                        revision: v.placement.revision,
                        seen: v.revision,
                    });
                }
            }
        }
        tokio::select! {
            () = ctx.cancelled() => return None,
            changed = views.changed() => if changed.is_err() { return None },
        }
    }
}

/// Why this host must stop the work.
enum Stop {
    /// The placement moved away from it: the ordinary course of a placement, so the node
    /// bounces (no error, no backoff) and waits to be placed again.
    Moved(String),
    /// It lost what it held the work under (its membership, a fresh lease, its view): a
    /// failure, so the node dies and is restarted after its backoff.
    Lost(String),
}

/// Waits while this host may keep running the work; returns why it may not, or `None` if
/// cancelled first.
async fn hold(ctx: &Context, views: &mut watch::Receiver<View>, lease: i64) -> Option<Stop> {
    loop {
        let deadline = {
            let v = views.borrow_and_update();
            let now = Instant::now();
            let Some(current) = v.lease.filter(|l| l.id == lease) else {
                return Some(Stop::Lost("its membership ended".to_owned()));
            };
            if now >= current.fresh_until {
                return Some(Stop::Lost(format!(
                    "fenced: no lease renewal confirmed in time (lease {lease:x})"
                )));
            }
            if !v.is_placed() {
                return Some(Stop::Moved(format!(
                    "the placement moved to [{}]",
                    v.placement.hosts.join(",")
                )));
            }
            current.fresh_until
        };
        tokio::select! {
            () = ctx.cancelled() => return None,
            changed = views.changed() => if changed.is_err() { return Some(Stop::Lost("its view closed".to_owned())) },
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Clears the fencing token from the view when the hold ends, however it ends.
struct ClearToken<'a>(&'a watch::Sender<View>);

impl Drop for ClearToken<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|v| v.token = None);
    }
}
