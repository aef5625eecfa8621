//! etcd's election API: campaigning to become the host that writes the placement, and
//! observing who holds that role.
//!
//! Both calls block by design: campaign until this host is elected, observe for as long as the
//! election goes on. So neither gets a request timeout (a client-wide timeout in `etcd-client`
//! would cut them, see `client.rs`); they are given up only when the endpoint switches.

use std::convert::Infallible;

use etcd_client::LeaderKey;
use tokio::sync::watch;

use crate::client::{blames_endpoint, Client};
use crate::keys::Keys;
use crate::retry::Retry;
use crate::View;

/// Campaigns with this host's lease until elected; returns the key that proves it.
///
/// etcd keeps one candidate key per lease, so campaigning again after a lost connection resumes
/// the same candidacy rather than queueing a second one.
///
/// # Cancel safety
///
/// Cancel safe; dropping an in-flight campaign makes etcd withdraw the candidacy.
pub(crate) async fn campaign(client: &Client, keys: &Keys, lease: i64) -> LeaderKey {
    let mut switches = client.switches();
    let mut retry = Retry::new();
    loop {
        let conn = client.conn_retrying(&mut retry).await;
        switches.borrow_and_update();
        let mut election = conn.client.election_client();
        tokio::select! {
            result = election.campaign(keys.election.clone(), keys.host.clone(), lease) => match result {
                Ok(resp) => match resp.leader() {
                    Some(key) => return key.clone(),
                    None => tracing::warn!("campaign answered without a leader key"),
                },
                Err(err) => {
                    if blames_endpoint(&err) {
                        client.failed(&conn, &err);
                    }
                    tracing::debug!(error = %err, "campaign failed");
                }
            },
            // Not a failure: campaign again at once on the new endpoint.
            _ = switches.changed() => continue,
        }
        retry.pause().await;
    }
}

/// Follows who holds the election into `view.leader`, for ever.
///
/// # Cancel safety
///
/// Cancel safe.
pub(crate) async fn observe(
    client: &Client,
    keys: &Keys,
    view: &watch::Sender<View>,
) -> Infallible {
    let mut switches = client.switches();
    let mut retry = Retry::new();
    loop {
        let conn = client.conn_retrying(&mut retry).await;
        switches.borrow_and_update();
        let mut election = conn.client.election_client();
        // etcd sends nothing, not even headers, until there is a leader: opening may block.
        let opened = tokio::select! {
            opened = election.observe(keys.election.clone()) => opened,
            _ = switches.changed() => continue,
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(err) => {
                if blames_endpoint(&err) {
                    client.failed(&conn, &err);
                }
                retry.pause().await;
                continue;
            }
        };
        loop {
            tokio::select! {
                msg = stream.message() => match msg {
                    Ok(Some(resp)) => {
                        retry.reset();
                        let leader = resp
                            .kv()
                            .and_then(|kv| kv.value_str().ok())
                            .map(str::to_owned);
                        view.send_if_modified(|v| {
                            let changed = v.leader != leader;
                            v.leader = leader;
                            changed
                        });
                    }
                    // The stream ends when etcd's election session does; open it again.
                    Ok(None) => break,
                    Err(err) => {
                        if blames_endpoint(&err) {
                            client.failed(&conn, &err);
                        }
                        break;
                    }
                },
                _ = switches.changed() => break,
            }
        }
        retry.pause().await;
    }
}
