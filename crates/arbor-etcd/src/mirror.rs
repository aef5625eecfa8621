//! The host's copy of its namespace: live hosts, placement and claims, kept by one watch.
//!
//! The copy starts from a read of the whole prefix and then follows a watch that starts at the
//! next revision. The `etcd-client` crate does not open a broken watch again, so [`follow`]
//! does: on the endpoint in use, from the revision after the last event it applied, so no
//! change is missed or applied twice. If etcd has compacted that revision away, the copy is read
//! again whole.
//!
//! # Invariants
//!
//! 1. `next` is one past the mod revision of the last event applied (or the snapshot's
//!    revision plus one): the watch always resumes exactly there.

use std::convert::Infallible;

use etcd_client::{EventType, GetOptions, KeyValue, WatchOptions};
use tokio::sync::watch;

use crate::client::{blames_endpoint, Client};
use crate::keys::{decode_hosts, KeyKind, Keys};
use crate::retry::Retry;
use crate::{Claim, Error, View};

/// Reads the whole namespace into `view`; returns the revision to watch from.
pub(crate) async fn load(
    client: &Client,
    keys: &Keys,
    view: &watch::Sender<View>,
) -> Result<i64, Error> {
    let prefix = keys.prefix.clone();
    let resp = client
        .call("read namespace", |mut c| async move {
            c.get(prefix, Some(GetOptions::new().with_prefix())).await
        })
        .await?;
    let revision = resp.header().map_or(0, |h| h.revision());
    view.send_modify(|v| {
        v.hosts.clear();
        v.running.clear();
        v.placement = Default::default();
        for kv in resp.kvs() {
            put(v, keys, kv);
        }
        v.revision = v.revision.max(revision);
        forget_gone_leader(v);
    });
    Ok(revision + 1)
}

/// Follows the namespace from revision `next` on, for ever, across endpoint failures.
///
/// # Cancel safety
///
/// Cancel safe: everything applied is in `view`; a new call needs the revision to resume from.
pub(crate) async fn follow(
    client: &Client,
    keys: &Keys,
    view: &watch::Sender<View>,
    mut next: i64,
) -> Result<Infallible, Error> {
    let mut switches = client.switches();
    let mut retry = Retry::new();
    loop {
        let conn = client.conn_retrying(&mut retry).await;
        switches.borrow_and_update();
        let options = WatchOptions::new().with_prefix().with_start_revision(next);
        let mut watcher = conn.client.watch_client();
        let open = tokio::time::timeout(
            client.request_timeout(),
            watcher.watch(keys.prefix.clone(), Some(options)),
        );
        // A switch means a new connection to try: waiting on this one would wait on a dial
        // that went out while the network was cut.
        let opened = tokio::select! {
            opened = open => opened,
            _ = switches.changed() => continue,
        };
        let mut stream = match opened {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                if blames_endpoint(&err) {
                    client.failed(&conn, &err);
                }
                tracing::debug!(error = %err, "watch did not open");
                retry.pause().await;
                continue;
            }
            Err(_) => {
                client.failed(&conn, &"watch did not open in time");
                retry.pause().await;
                continue;
            }
        };
        loop {
            tokio::select! {
                msg = stream.message() => match msg {
                    Ok(Some(resp)) => {
                        if resp.canceled() {
                            if resp.compact_revision() > 0 {
                                tracing::warn!(from = next, compacted = resp.compact_revision(), "watch fell behind a compaction; reading the namespace again");
                                match load(client, keys, view).await {
                                    Ok(from) => next = from,
                                    Err(err) => tracing::warn!(error = %err, "reading the namespace failed"),
                                }
                            } else {
                                client.failed(&conn, &format_args!("watch cancelled: {}", resp.cancel_reason()));
                            }
                            break;
                        }
                        retry.reset();
                        if let Some(last) = apply(view, keys, resp.events()) {
                            next = last + 1;
                        }
                    }
                    Ok(None) => {
                        client.failed(&conn, &"watch stream ended");
                        break;
                    }
                    Err(err) => {
                        client.failed(&conn, &err);
                        break;
                    }
                },
                _ = switches.changed() => break,
            }
        }
        retry.pause().await;
    }
}

/// Applies watch events; returns the revision of the last one.
fn apply(view: &watch::Sender<View>, keys: &Keys, events: &[etcd_client::Event]) -> Option<i64> {
    let last = events
        .iter()
        .filter_map(|e| e.kv())
        .map(KeyValue::mod_revision)
        .max()?;
    view.send_modify(|v| {
        for event in events {
            let Some(kv) = event.kv() else { continue };
            match event.event_type() {
                EventType::Put => put(v, keys, kv),
                EventType::Delete => delete(v, keys, kv),
            }
        }
        v.revision = v.revision.max(last);
        forget_gone_leader(v);
    });
    Some(last)
}

fn put(v: &mut View, keys: &Keys, kv: &KeyValue) {
    let Ok(key) = kv.key_str() else { return };
    match keys.kind(key) {
        KeyKind::Host(host) => {
            if let Err(at) = v.hosts.binary_search_by(|h| h.as_str().cmp(host)) {
                v.hosts.insert(at, host.to_owned());
            }
        }
        KeyKind::Running { host, lease } => {
            let claim = Claim {
                host: host.to_owned(),
                lease,
            };
            v.running.insert(claim, kv.mod_revision());
        }
        KeyKind::Placement => {
            v.placement.hosts = decode_hosts(kv.value());
            v.placement.revision = kv.mod_revision();
        }
        KeyKind::Other => {}
    }
}

fn delete(v: &mut View, keys: &Keys, kv: &KeyValue) {
    let Ok(key) = kv.key_str() else { return };
    match keys.kind(key) {
        KeyKind::Host(host) => v.hosts.retain(|h| h != host),
        KeyKind::Running { host, lease } => {
            v.running.remove(&Claim {
                host: host.to_owned(),
                lease,
            });
        }
        KeyKind::Placement => {
            v.placement.hosts.clear();
            v.placement.revision = 0;
        }
        KeyKind::Other => {}
    }
}

/// The leader's campaign key shares its lease with its membership key: once the host is gone,
/// so is its leadership, though observe only speaks again when a new leader is elected.
fn forget_gone_leader(v: &mut View) {
    if let Some(leader) = &v.leader {
        if !v.hosts.contains(leader) {
            v.leader = None;
        }
    }
}
