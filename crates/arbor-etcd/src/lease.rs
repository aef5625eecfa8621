//! This host's lease: granted on joining, renewed for as long as the member runs.
//!
//! Renewals go over a keep-alive stream, one every `renew` (a tenth of the TTL unless set). The
//! send time of each
//! renewal that etcd confirms moves `fresh_until` (send time plus the fencing delay) forward:
//! the send time, not the answer's, because etcd restarted the TTL somewhere in between and the
//! earlier bound is the safe one. The `etcd-client` crate does not open a broken keep-alive
//! stream again, so [`keep`] does, on the next endpoint; a renewal left unanswered for a whole
//! interval counts as a broken stream, and so does a stream that does not open within one. Each
//! such failure drops the channel (see `client.rs`), and the attempts go on every interval and a
//! half at most, each on a new connection: once etcd can be reached again, a renewal is
//! confirmed within about 1.5 intervals. That bound, against the fencing delay, is the outage
//! a host tolerates without stopping the work (`Options::tolerated_outage`).
//!
//! # Invariants
//!
//! 1. `pending` holds the send times of unanswered renewals, oldest first; etcd answers them in
//!    order on one stream, and a new stream starts with an empty queue.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::{blames_endpoint, Client};
use crate::retry::Retry;
use crate::{Error, View};

/// One granted lease and how to renew it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session {
    pub(crate) id: i64,
    pub(crate) ttl: Duration,
    /// How long after a confirmed renewal's send time this host may act on its membership.
    pub(crate) fence: Duration,
    /// How often a renewal is sent, and how long one may go unanswered.
    pub(crate) renew: Duration,
}

/// Renews `session` for ever, across endpoint failures.
///
/// # Errors
///
/// [`Error::LeaseLost`] when etcd says the lease no longer exists.
///
/// # Cancel safety
///
/// Cancel safe: dropping it stops the renewals (etcd expires the lease after its TTL).
pub(crate) async fn keep(
    client: &Client,
    host: &str,
    session: Session,
    view: &watch::Sender<View>,
) -> Result<Infallible, Error> {
    let lost = || Error::LeaseLost {
        host: host.to_owned(),
        lease: session.id,
    };
    let interval = session.renew;
    let mut switches = client.switches();
    let mut retry = Retry::up_to(interval / 2);
    loop {
        let conn = client.conn_retrying(&mut retry).await;
        switches.borrow_and_update();
        let sent = Instant::now();
        // Opening the stream sends the first renewal and waits for its answer.
        let opened =
            tokio::time::timeout(interval, conn.client.lease_client().keep_alive(session.id)).await;
        let (mut keeper, mut stream) = match opened {
            Ok(Ok(pair)) => pair,
            Ok(Err(err)) if is_lease_not_found(&err) => return Err(lost()),
            Ok(Err(err)) => {
                if blames_endpoint(&err) {
                    client.failed(&conn, &err);
                }
                tracing::debug!(error = %err, "lease keep-alive did not open");
                retry.pause().await;
                continue;
            }
            Err(_) => {
                client.failed(&conn, &"lease keep-alive got no answer in time");
                retry.pause().await;
                continue;
            }
        };
        retry.reset();
        renewed(view, &session, sent, &conn.url);
        let mut pending: VecDeque<Instant> = VecDeque::new();
        let mut next_send = sent + interval;
        loop {
            let stalled_at = pending.front().map(|sent| *sent + interval);
            tokio::select! {
                () = tokio::time::sleep_until(next_send) => {
                    let now = Instant::now();
                    if let Err(err) = keeper.keep_alive().await {
                        client.failed(&conn, &err);
                        break;
                    }
                    pending.push_back(now);
                    next_send = now + interval;
                }
                msg = stream.message() => match msg {
                    Ok(Some(resp)) if resp.ttl() <= 0 => return Err(lost()),
                    Ok(Some(_)) => {
                        if let Some(sent) = pending.pop_front() {
                            renewed(view, &session, sent, &conn.url);
                        }
                    }
                    Ok(None) => {
                        client.failed(&conn, &"lease keep-alive stream ended");
                        break;
                    }
                    Err(err) => {
                        client.failed(&conn, &err);
                        break;
                    }
                },
                () = sleep_until_some(stalled_at) => {
                    client.failed(&conn, &"lease keep-alive unanswered for a whole interval");
                    break;
                }
                _ = switches.changed() => break,
            }
        }
        retry.pause().await;
    }
}

/// Moves `fresh_until` forward after a renewal sent at `sent` was confirmed.
fn renewed(view: &watch::Sender<View>, session: &Session, sent: Instant, endpoint: &str) {
    let until = sent + session.fence;
    view.send_if_modified(|v| {
        let mut changed = false;
        if let Some(lease) = v.lease.as_mut() {
            if lease.id == session.id && until > lease.fresh_until {
                lease.fresh_until = until;
                changed = true;
            }
        }
        if v.endpoint != endpoint {
            v.endpoint = endpoint.to_owned();
            changed = true;
        }
        changed
    });
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// etcd answers a renewal of an unknown lease with a TTL of zero, which the etcd client turns
/// into this error when it opens the stream; other calls get a `NotFound` status.
pub(crate) fn is_lease_not_found(err: &etcd_client::Error) -> bool {
    match err {
        etcd_client::Error::LeaseKeepAliveError(msg) => msg.contains("lease not found"),
        etcd_client::Error::GRpcStatus(status) => {
            status.code() == tonic::Code::NotFound && status.message().contains("lease not found")
        }
        _ => false,
    }
}
