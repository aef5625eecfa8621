//! Claims: the key a placed host writes before it starts the work, and deletes after it stopped.
//!
//! A placement can move the work between two live hosts (a strategy that is not sticky, or a
//! host leaving with `MaxCount`). The new host must not start while the old one still runs it.
//! So a host starts only after
//!
//! 1. it saw, in its view at or after placement revision `R`, no claim of a host that `R` does
//!    not name, and then
//! 2. it wrote its own claim in a transaction that holds only while the placement is still at
//!    `R`.
//!
//! Any claim not in that view was written later, so by a transaction that saw the placement at
//! `R` too, by a host that `R` names. A claim is bound to the host's lease: a host that vanishes
//! loses it when its lease ends, after it has fenced itself (see `gate.rs`).

use std::convert::Infallible;

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp};
use tokio::sync::watch;

use crate::client::Client;
use crate::keys::Keys;
use crate::retry::Retry;
use crate::slot::Slot;
use crate::{Error, FencingToken, View};

/// Writes this host's claim if the placement is still at `revision`. `None` if it moved.
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
) -> Result<Option<FencingToken>, Error> {
    let txn = Txn::new()
        .when([Compare::mod_revision(
            keys.placement.clone(),
            CompareOp::Equal,
            revision,
        )])
        .and_then([TxnOp::put(
            keys.running_key(),
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

/// Deletes this host's claim whenever etcd shows one and the slot is idle; for ever.
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
    view: &watch::Sender<View>,
    slot: &Slot,
) -> Infallible {
    let mut views = view.subscribe();
    let mut slots = slot.subscribe();
    let mut retry = Retry::new();
    let mut released: Option<i64> = None;
    loop {
        let claimed = views.borrow_and_update().running.get(&keys.host).copied();
        let idle = slots.borrow_and_update().is_idle();
        if let (Some(revision), true) = (claimed, idle) {
            if released != Some(revision) {
                let key = keys.running_key();
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
