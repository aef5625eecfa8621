//! Claims: the key a placed host writes before it starts the work, and deletes after it stopped.
//!
//! A placement can move the work between two live hosts (a strategy that is not sticky, or a
//! host leaving with `MaxCount`). The new host must not start while the old one still runs it.
//! Nor may a host restarted under its old name start while its old process still runs it: the
//! placement names hosts, so it cannot tell the two processes apart, but their leases can.
//! A claim is therefore keyed by host *and lease* (`running/<host>/<lease>`), and a process
//! counts as its own only the claim of its current lease. So a host starts only after
//!
//! 1. it saw, in its view at revision `V`, at or after placement revision `R`, no claim of a
//!    host that `R` does not name, and no claim under its own name but of another lease; and
//!    then
//! 2. it wrote its own claim in a transaction that holds only while the placement is still at
//!    `R` and no claim under its own name was written after `V`.
//!
//! Any claim not in that view was written later, so by a transaction that saw the placement at
//! `R` too, by a host that `R` names; by the second condition, not under this host's name by
//! another process (two processes of one name waiting at once: the first to claim wins, the
//! other sees its claim and waits). A claim is bound to its writer's lease: a process that
//! vanishes, or is frozen past its lease, loses it when the lease ends, after it has fenced
//! itself (see `gate.rs`).

use std::convert::Infallible;

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};
use tokio::sync::watch;

use crate::client::Client;
use crate::keys::Keys;
use crate::retry::Retry;
use crate::slot::Slot;
use crate::{Claim, Error, FencingToken, View};

/// Writes this host's claim under `lease` if the placement is still at `revision` and no claim
/// under this host's name is newer than `seen`, the view revision the decision to claim was
/// made on. `None` if either changed: a newer view tells which.
///
/// # Cancel safety
///
/// Not cancel safe: if dropped, the claim may or may not have been written; a written one is
/// released by [`release_stale`] once the slot is idle.
pub(crate) async fn claim(
    client: &Client,
    keys: &Keys,
    lease: i64,
    revision: i64,
    seen: i64,
) -> Result<Option<FencingToken>, Error> {
    let txn = Txn::new()
        .when([
            Compare::mod_revision(keys.placement.clone(), CompareOp::Equal, revision),
            // Over every key of the prefix (and true when there is none).
            Compare::mod_revision(keys.running_host(), CompareOp::Less, seen.saturating_add(1))
                .with_prefix(),
        ])
        .and_then([TxnOp::put(
            keys.running_key(lease),
            revision.to_string(),
            Some(PutOptions::new().with_lease(lease)),
        )]);
    let resp = client
        .call("claim work", |mut c| async move { c.txn(txn).await })
        .await?;
    if !resp.succeeded() {
        return Ok(None);
    }
    Ok(Some(FencingToken {
        revision: resp.header().map_or(0, |h| h.revision()),
        lease,
    }))
}

/// Deletes this host's claim under `lease` whenever etcd shows one and the slot is idle; for
/// ever. Claims of other leases are left alone, even under this host's name: another process
/// may be running under them.
///
/// A claim outlives its work when the delete could not reach etcd (for example during an
/// outage: the lease may survive it). The delete holds only while the claim is at the revision
/// seen, so it never removes a newer claim written meanwhile.
///
/// # Cancel safety
///
/// Cancel safe.
pub(crate) async fn release_stale(
    client: &Client,
    keys: &Keys,
    lease: i64,
    view: &watch::Sender<View>,
    slot: &Slot,
) -> Infallible {
    let own = Claim {
        host: keys.host.clone(),
        lease,
    };
    let mut views = view.subscribe();
    let mut slots = slot.subscribe();
    let mut retry = Retry::new();
    let mut released: Option<i64> = None;
    loop {
        let claimed = views.borrow_and_update().running.get(&own).copied();
        let idle = slots.borrow_and_update().is_idle();
        if let (Some(revision), true) = (claimed, idle) {
            if released != Some(revision) {
                let key = keys.running_key(lease);
                let txn = Txn::new()
                    .when([Compare::mod_revision(
                        key.clone(),
                        CompareOp::Equal,
                        revision,
                    )])
                    .and_then([TxnOp::delete(key, None)]);
                match client
                    .call("release claim", |mut c| async move { c.txn(txn).await })
                    .await
                {
                    Ok(_) => {
                        retry.reset();
                        released = Some(revision);
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "releasing the claim failed; retrying");
                        retry.pause().await;
                        continue;
                    }
                }
            }
        }
        tokio::select! {
            _ = views.changed() => {}
            _ = slots.changed() => {}
        }
    }
}
