//! The elected host's job: turn the live hosts into a placement and write it.
//!
//! Each host campaigns; the one elected runs the strategy on every change of its view and
//! writes the result with one compare-and-swap transaction that holds only if
//!
//! - the placement key is still at the revision the decision was based on, and
//! - this host's election key still exists with the creation revision it was elected with.
//!
//! So a decision made on a stale view, or by a host that lost the election without noticing
//! yet, is never written. A failed swap changes nothing: the watch brings the newer state, and
//! the next decision is made on it.

use std::convert::Infallible;

use etcd_client::{Compare, CompareOp, LeaderKey, Txn, TxnOp};
use tokio::sync::watch;

use crate::client::Client;
use crate::keys::{encode_hosts, Keys};
use crate::retry::Retry;
use crate::strategy::{decide, Strategy};
use crate::{Error, View};

/// What one decision did.
enum Decision {
    /// The placement already says what the strategy wants.
    Kept,
    /// A new placement was written.
    Wrote,
    /// The swap failed because the placement moved meanwhile; the watch will bring it.
    Stale,
    /// This host's election key is gone: it is not the leader any more.
    Deposed,
}

/// Campaigns, and while elected decides the placement; for ever.
///
/// # Cancel safety
///
/// Cancel safe.
pub(crate) async fn lead(
    client: &Client,
    keys: &Keys,
    strategy: &dyn Strategy,
    lease: i64,
    view: &watch::Sender<View>,
) -> Infallible {
    let mut retry = Retry::new();
    loop {
        let elected = crate::election::campaign(client, keys, lease).await;
        tracing::info!(host = %keys.host, "elected to place the work");
        let mut rx = view.subscribe();
        loop {
            let snapshot = rx.borrow_and_update().clone();
            match decide_once(client, keys, strategy, &elected, &snapshot).await {
                Ok(Decision::Deposed) => {
                    tracing::info!(host = %keys.host, "no longer elected");
                    view.send_modify(|v| v.decided = 0);
                    break;
                }
                Ok(decision) => {
                    retry.reset();
                    if matches!(decision, Decision::Kept | Decision::Wrote) {
                        view.send_if_modified(|v| {
                            let changed = v.decided != snapshot.revision;
                            v.decided = snapshot.revision;
                            changed
                        });
                    }
                    // A new view (a host came or went, the placement moved) wakes us.
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "writing the placement failed; retrying");
                    retry.pause().await;
                }
            }
        }
    }
}

async fn decide_once(
    client: &Client,
    keys: &Keys,
    strategy: &dyn Strategy,
    elected: &LeaderKey,
    view: &View,
) -> Result<Decision, Error> {
    if view.hosts.is_empty() {
        return Ok(Decision::Kept);
    }
    let want = decide(strategy, &view.hosts, &view.placement.hosts);
    let unchanged =
        want == view.placement.hosts && (view.placement.revision != 0 || want.is_empty());
    if unchanged {
        return Ok(Decision::Kept);
    }
    let txn = Txn::new()
        .when([
            Compare::mod_revision(
                keys.placement.clone(),
                CompareOp::Equal,
                view.placement.revision,
            ),
            Compare::create_revision(elected.key().to_vec(), CompareOp::Equal, elected.rev()),
        ])
        .and_then([TxnOp::put(
            keys.placement.clone(),
            encode_hosts(&want),
            None,
        )])
        .or_else([TxnOp::get(elected.key().to_vec(), None)]);
    let resp = client
        .call("write placement", |mut c| async move { c.txn(txn).await })
        .await?;
    if resp.succeeded() {
        tracing::info!(
            from = %view.placement.hosts.join(","),
            to = %want.join(","),
            live = %view.hosts.join(","),
            "placement written"
        );
        return Ok(Decision::Wrote);
    }
    let still_elected = resp.op_responses().iter().any(|op| match op {
        etcd_client::TxnOpResponse::Get(get) => !get.kvs().is_empty(),
        _ => false,
    });
    Ok(if still_elected {
        Decision::Stale
    } else {
        Decision::Deposed
    })
}
