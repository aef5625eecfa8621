//! How the elected host chooses which hosts run the work.

use std::fmt;

/// Chooses the hosts that run the work, from the live hosts and the previous choice.
///
/// Only the elected host calls it, each time its view of the namespace changes. Its answer is
/// cleaned before it is written: hosts that are not live are dropped, duplicates removed, and
/// the rest sorted. If the answer equals the current placement, nothing is written, so a
/// strategy that returns `previous` when it is still good moves nothing.
///
/// # Examples
///
/// A strategy that places the work on every live host:
///
/// ```
/// use arbor_etcd::Strategy;
///
/// #[derive(Debug)]
/// struct Everywhere;
///
/// impl Strategy for Everywhere {
///     fn place(&self, live: &[String], _previous: &[String]) -> Vec<String> {
///         live.to_vec()
///     }
/// }
///
/// let live = ["a".to_owned(), "b".to_owned()];
/// assert_eq!(Everywhere.place(&live, &[]), live);
/// ```
pub trait Strategy: fmt::Debug + Send + Sync + 'static {
    /// The hosts that should run the work. `live` is sorted and holds each joined host once;
    /// `previous` is the placement in force (sorted; it may name hosts that are gone).
    fn place(&self, live: &[String], previous: &[String]) -> Vec<String>;

    /// Checks the strategy's own settings; [`Scheduled::new`](crate::Scheduled::new) calls it
    /// and refuses the strategy with [`Error::InvalidStrategy`](crate::Error::InvalidStrategy)
    /// on `Err(reason)`. The default accepts everything.
    ///
    /// # Errors
    ///
    /// Why the strategy cannot work, in a few words.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// At most `n` hosts, and sticky: hosts of the previous placement that are still live keep the
/// work, and only free places are filled, in name order.
///
/// So a new host joining, or a new host being elected, moves nothing; the work moves only off a
/// host that has left. `MaxCount(1)` is a singleton. `MaxCount(0)` is refused.
///
/// ```
/// use arbor_etcd::{MaxCount, Strategy};
///
/// let hosts = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// // "c" keeps its place although "a" and "b" sort before it.
/// assert_eq!(MaxCount(2).place(&hosts(&["a", "b", "c"]), &hosts(&["c"])), hosts(&["a", "c"]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxCount(pub usize);

impl Strategy for MaxCount {
    fn place(&self, live: &[String], previous: &[String]) -> Vec<String> {
        let mut chosen: Vec<String> = previous
            .iter()
            .filter(|h| live.contains(h))
            .take(self.0)
            .cloned()
            .collect();
        for host in live {
            if chosen.len() >= self.0 {
                break;
            }
            if !chosen.contains(host) {
                chosen.push(host.clone());
            }
        }
        chosen.sort();
        chosen
    }

    fn validate(&self) -> Result<(), String> {
        if self.0 == 0 {
            return Err("MaxCount needs at least one host (n >= 1)".to_owned());
        }
        Ok(())
    }
}

/// The first `n` live hosts in name order, whatever ran before.
///
/// Not sticky: a host that joins with a name sorting before a placed host takes the work
/// from it (the handover waits until the old host has stopped; see the crate docs).
/// `Alphabetical(0)` is refused.
///
/// ```
/// use arbor_etcd::{Alphabetical, Strategy};
///
/// let hosts = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// assert_eq!(Alphabetical(1).place(&hosts(&["a", "b", "c"]), &hosts(&["c"])), hosts(&["a"]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alphabetical(pub usize);

impl Strategy for Alphabetical {
    fn place(&self, live: &[String], _previous: &[String]) -> Vec<String> {
        live.iter().take(self.0).cloned().collect()
    }

    fn validate(&self) -> Result<(), String> {
        if self.0 == 0 {
            return Err("Alphabetical needs at least one host (n >= 1)".to_owned());
        }
        Ok(())
    }
}

/// Applies `strategy` and cleans its answer: live hosts only, each once, sorted.
pub(crate) fn decide(strategy: &dyn Strategy, live: &[String], previous: &[String]) -> Vec<String> {
    let mut chosen: Vec<String> = strategy
        .place(live, previous)
        .into_iter()
        .filter(|h| live.contains(h))
        .collect();
    chosen.sort();
    chosen.dedup();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn max_count_keeps_live_previous_hosts() {
        let live = hosts(&["a", "b", "c", "d"]);
        assert_eq!(
            MaxCount(2).place(&live, &hosts(&["b", "d"])),
            hosts(&["b", "d"])
        );
        assert_eq!(MaxCount(1).place(&live, &hosts(&["c"])), hosts(&["c"]));
    }

    #[test]
    fn max_count_refills_places_of_gone_hosts_in_name_order() {
        let live = hosts(&["a", "b", "d"]);
        assert_eq!(
            MaxCount(2).place(&live, &hosts(&["c", "d"])),
            hosts(&["a", "d"])
        );
        assert_eq!(MaxCount(3).place(&live, &[]), hosts(&["a", "b", "d"]));
        assert_eq!(MaxCount(5).place(&live, &[]), live);
    }

    #[test]
    fn max_count_shrinks_an_oversized_previous_placement() {
        let live = hosts(&["a", "b", "c"]);
        assert_eq!(MaxCount(1).place(&live, &hosts(&["b", "c"])).len(), 1);
    }

    #[test]
    fn alphabetical_takes_the_first_names() {
        let live = hosts(&["a", "b", "c"]);
        assert_eq!(
            Alphabetical(2).place(&live, &hosts(&["c"])),
            hosts(&["a", "b"])
        );
    }

    #[test]
    fn zero_hosts_is_refused() {
        assert!(MaxCount(0).validate().is_err());
        assert!(Alphabetical(0).validate().is_err());
        assert!(MaxCount(1).validate().is_ok());
    }

    #[test]
    fn decide_drops_dead_and_duplicate_hosts() {
        #[derive(Debug)]
        struct Sloppy;
        impl Strategy for Sloppy {
            fn place(&self, _: &[String], _: &[String]) -> Vec<String> {
                hosts(&["b", "ghost", "a", "b"])
            }
        }
        assert_eq!(
            decide(&Sloppy, &hosts(&["a", "b"]), &[]),
            hosts(&["a", "b"])
        );
    }
}
