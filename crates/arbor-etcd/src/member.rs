//! The `member` node: this host's membership of the namespace, and everything that talks to
//! etcd for it.
//!
//! It joins (grants a lease, writes the host key bound to it, reads the namespace), signals
//! Healthy, and then runs five loops side by side until it is cancelled or one of them fails:
//! lease renewal, the namespace watch, observing the election, campaigning and (while elected)
//! deciding the placement, and releasing stale claims. Whatever ends it, it leaves the same way:
//! it withdraws its membership from the view (so `placed` stops the work), waits until the work
//! has stopped, and only then revokes the lease, which deletes the host key, the claim and the
//! campaign at once. Revoking earlier would let another host start while this one still runs.

use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, RunFuture, Runnable, Signal};
use etcd_client::PutOptions;
use tokio::time::Instant;

use crate::lease::Session;
use crate::scheduled::Shared;
use crate::{claim, election, leader, lease, mirror, Error, Lease};

/// The `member` node's runnable.
pub(crate) struct Member {
    pub(crate) shared: Arc<Shared>,
}

impl Runnable for Member {
    fn run(&self, ctx: Context) -> RunFuture {
        let shared = self.shared.clone();
        Box::pin(async move {
            let (session, next) = join(&shared).await?;
            ctx.signal(Signal::Healthy)?;
            tracing::info!(host = %shared.keys.host, lease = format_args!("{:x}", session.id), ttl = ?session.ttl, "joined");
            let (client, keys, view) = (&shared.client, &shared.keys, &shared.view);
            let outcome: Result<(), Error> = tokio::select! {
                () = ctx.cancelled() => Ok(()),
                lost = lease::keep(client, &keys.host, session, view) => lost.map(|never| match never {}),
                failed = mirror::follow(client, keys, view, next) => failed.map(|never| match never {}),
                never = election::observe(client, keys, view) => match never {},
                never = leader::lead(client, keys, &*shared.options.strategy, session.id, view) => match never {},
                never = claim::release_stale(client, keys, session.id, view, &shared.slot) => match never {},
            };
            let revoke = !matches!(outcome, Err(Error::LeaseLost { .. }));
            leave(&shared, session.id, revoke).await;
            outcome.map_err(Into::into)
        })
    }
}

/// Grants the lease, writes the host key, reads the namespace; publishes the membership.
async fn join(shared: &Shared) -> Result<(Session, i64), Error> {
    let client = &shared.client;
    let asked = i64::try_from(shared.options.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let sent = Instant::now();
    let grant = client
        .call("grant lease", |mut c| async move {
            c.lease_grant(asked, None).await
        })
        .await?;
    let granted = Duration::from_secs(u64::try_from(grant.ttl()).unwrap_or(0).max(1));
    let session = Session {
        id: grant.id(),
        ttl: granted,
        fence: shared.options.fence_delay(granted),
        renew: shared.options.renew_delay(granted),
    };
    let joined = async {
        let key = shared.keys.host_key();
        let host = shared.keys.host.clone();
        client
            .call("join", |mut c| async move {
                c.put(key, host, Some(PutOptions::new().with_lease(session.id)))
                    .await
            })
            .await?;
        mirror::load(client, &shared.keys, &shared.view).await
    }
    .await;
    let next = match joined {
        Ok(next) => next,
        Err(err) => {
            revoke(shared, session.id).await;
            return Err(err);
        }
    };
    shared.view.send_modify(|v| {
        v.lease = Some(Lease {
            id: session.id,
            ttl_secs: grant.ttl(),
            fresh_until: sent + session.fence,
        });
        v.endpoint = client.endpoint().to_owned();
    });
    Ok((session, next))
}

/// Withdraws the membership, waits for the work to stop, then revokes the lease (unless etcd
/// already said it is gone).
async fn leave(shared: &Shared, lease: i64, revoke_lease: bool) {
    shared.view.send_modify(|v| {
        v.lease = None;
        v.decided = 0;
    });
    shared.slot.idle().await;
    if revoke_lease {
        revoke(shared, lease).await;
    }
    tracing::info!(host = %shared.keys.host, lease = format_args!("{lease:x}"), "left");
}

/// Revokes `lease`, best effort: if etcd cannot be reached, the lease expires after its TTL.
async fn revoke(shared: &Shared, lease: i64) {
    let revoked = shared
        .client
        .call("revoke lease", |mut c| async move {
            c.lease_revoke(lease).await
        })
        .await;
    if let Err(err) = revoked {
        tracing::warn!(error = %err, "could not revoke the lease; it expires after its TTL");
    }
}
