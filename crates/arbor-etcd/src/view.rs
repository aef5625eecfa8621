//! What one host knows about its namespace, published for the user and for the host's nodes.

use std::collections::BTreeMap;
use std::fmt;

use tokio::time::Instant;

/// One host's view of its namespace: membership, leader, placement and who runs the work.
///
/// Published by [`Scheduled::view`](crate::Scheduled::view) through a `tokio::sync::watch`
/// channel: borrow it for the latest state, or await `changed()` for the next one. Every change
/// is also logged (target `arbor_etcd`) with the host's DN.
///
/// arbor's `Status` shows node states only; the nodes under a [`Scheduled`](crate::Scheduled)
/// say part of this too (`member` Healthy: joined; `placed` Healthy: this host runs the work).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct View {
    /// This host's name.
    pub host: String,
    /// This host's membership, while it has one.
    pub lease: Option<Lease>,
    /// The host that holds the election (and so writes the placement), as last observed.
    pub leader: Option<String>,
    /// The live hosts: those whose membership key exists, sorted.
    pub hosts: Vec<String>,
    /// The placement in force.
    pub placement: Placement,
    /// The claims on the work (their hosts run it, or are about to, or have just stopped),
    /// with the etcd revision of each. A claim is told apart by its lease, not only by its
    /// host's name: a host restarted while its old process lives on has two.
    pub running: BTreeMap<Claim, i64>,
    /// While this host runs the work: its claim, usable as a fencing token.
    pub token: Option<FencingToken>,
    /// The etcd revision this view reflects (the last one seen by its watch).
    pub revision: i64,
    /// As the elected host: the revision of the view its strategy last decided on. Zero when
    /// this host has not decided anything in the current election.
    pub decided: i64,
    /// The etcd endpoint in use.
    pub endpoint: String,
}

/// A host's membership: its etcd lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The lease ID.
    pub id: i64,
    /// The TTL etcd granted, in seconds.
    pub ttl_secs: i64,
    /// Until when this host may act on its membership: the send time of its last lease renewal
    /// that etcd confirmed, plus the fencing delay. Past it, the host stops the work.
    pub fresh_until: Instant,
}

/// The hosts chosen to run the work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The chosen hosts, sorted.
    pub hosts: Vec<String>,
    /// The etcd mod revision of the placement key; 0 when no placement was ever written.
    pub revision: i64,
}

/// One claim on the work: the host that wrote it, and the lease it is bound to.
///
/// etcd deletes the claim when that lease ends. Claims are told apart by lease because a host
/// name does not tell processes apart: a host restarted under its name while its old process is
/// frozen (SIGSTOP, a long pause) rather than dead joins with a new lease. The old process's
/// claim is not the new process's own: the new one waits for it to go, as for any other claim,
/// since the old process may wake up and run on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Claim {
    /// The host that claimed the work.
    pub host: String,
    /// The lease of that host's process; the claim lives no longer than it.
    pub lease: i64,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:x}", self.host, self.lease)
    }
}

/// Proof that this host claimed the work under a placement, to hand to outside resources.
///
/// `revision` grows with every claim of every host of the namespace: a resource that remembers
/// the highest revision it has accepted, and refuses lower ones, cannot be written by a host
/// that lost the work without noticing (for example after a long pause). See `docs/etcd.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FencingToken {
    /// The etcd revision at which this host's claim was written.
    pub revision: i64,
    /// The lease the claim is bound to; etcd deletes the claim when the lease ends.
    pub lease: i64,
}

impl View {
    pub(crate) fn new(host: &str, endpoint: &str) -> View {
        View {
            host: host.to_owned(),
            lease: None,
            leader: None,
            hosts: Vec::new(),
            placement: Placement::default(),
            running: BTreeMap::new(),
            token: None,
            revision: 0,
            decided: 0,
            endpoint: endpoint.to_owned(),
        }
    }

    /// Whether the placement names this host.
    pub fn is_placed(&self) -> bool {
        self.placement.hosts.contains(&self.host)
    }

    /// Whether this host holds the election.
    pub fn is_leader(&self) -> bool {
        self.leader.as_deref() == Some(self.host.as_str())
    }

    /// Whether this host runs the work (it holds a fencing token).
    pub fn is_running(&self) -> bool {
        self.token.is_some()
    }

    /// Whether this host has a membership it could renew recently enough to act on at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.lease.is_some_and(|l| now < l.fresh_until)
    }

    /// Whether `claim` was written by this host under its current lease.
    pub fn is_own(&self, claim: &Claim) -> bool {
        claim.host == self.host && self.lease.is_some_and(|l| l.id == claim.lease)
    }

    /// The claims a newly placed host waits for before it starts, so that it never runs the
    /// work alongside another run: the claims of hosts that the placement does not name (they
    /// are leaving), and the claims under this host's own name but of another lease (an earlier
    /// process of this host, which may still run it).
    pub fn waits_for(&self) -> impl Iterator<Item = &Claim> {
        self.running.keys().filter(|c| {
            if c.host == self.host {
                !self.is_own(c)
            } else {
                !self.placement.hosts.contains(&c.host)
            }
        })
    }

    /// The part of the view that is worth a log line when it changes.
    pub(crate) fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

/// The log line of a [`View`]: leader, placement, live and running hosts.
pub(crate) struct Summary<'a>(&'a View);

impl PartialEq for Summary<'_> {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0, other.0);
        a.leader == b.leader
            && a.placement == b.placement
            && a.hosts == b.hosts
            && a.running.keys().eq(b.running.keys())
            && a.lease.map(|l| l.id) == b.lease.map(|l| l.id)
            && a.token == b.token
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "host={} member={} leader={} placement=[{}]@{} live=[{}] running=[{}]",
            v.host,
            v.lease.map_or("no".to_owned(), |l| format!("{:x}", l.id)),
            v.leader.as_deref().unwrap_or("-"),
            v.placement.hosts.join(","),
            v.placement.revision,
            v.hosts.join(","),
            v.running
                .keys()
                .map(Claim::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )?;
        if let Some(token) = v.token {
            write!(f, " token={}", token.revision)?;
        }
        Ok(())
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.summary().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(host: &str, lease: i64) -> Claim {
        Claim {
            host: host.to_owned(),
            lease,
        }
    }

    #[test]
    fn a_host_waits_for_claims_of_leaving_hosts_and_of_its_name_under_other_leases() {
        let mut view = View::new("alpha", "http://etcd");
        view.placement.hosts = vec!["alpha".to_owned(), "beta".to_owned()];
        for c in [
            claim("alpha", 1),
            claim("alpha", 2),
            claim("beta", 3),
            claim("gamma", 4),
        ] {
            view.running.insert(c, 10);
        }
        let waits = |v: &View| v.waits_for().cloned().collect::<Vec<_>>();
        // Without a lease, no claim under this name is its own.
        assert_eq!(
            waits(&view),
            [claim("alpha", 1), claim("alpha", 2), claim("gamma", 4)]
        );
        view.lease = Some(Lease {
            id: 1,
            ttl_secs: 2,
            fresh_until: Instant::now(),
        });
        assert!(view.is_own(&claim("alpha", 1)));
        assert!(!view.is_own(&claim("alpha", 2)));
        assert!(!view.is_own(&claim("beta", 1)));
        assert_eq!(waits(&view), [claim("alpha", 2), claim("gamma", 4)]);
    }
}
