//! Namespace and host names, and the etcd keys built from them.
//!
//! [`Keys::new`] is the only place that decides whether a namespace and a host name are valid,
//! so that no key can be built from a name that would collide with another key's layout.
//!
//! # Layout
//!
//! Under a namespace `/ns`:
//!
//! | key | value | lease | written by |
//! |---|---|---|---|
//! | `/ns/hosts/<host>` | the host name | the host's | each host, when it joins |
//! | `/ns/election/<lease>` | the host name | the host's | etcd's election service (campaign) |
//! | `/ns/placement` | chosen hosts, joined by `,` | none | the elected host, by compare-and-swap |
//! | `/ns/running/<host>/<lease>` | placement revision it claimed under | the host's (`<lease>`, in hex) | a placed host, before it starts the work |
//!
//! A claim's key names the lease that wrote it, not only the host: two processes under one host
//! name (a host restarted while its old process, frozen, lives on) hold two leases, and so two
//! different claims, which must not be taken for one another.

use crate::Error;

/// The longest host name, in bytes (as for a DNS name).
const MAX_HOST_LEN: usize = 253;
/// The longest namespace, in bytes.
const MAX_NAMESPACE_LEN: usize = 512;

/// Separates host names in the placement value; a host name cannot contain it.
pub(crate) const HOST_SEPARATOR: char = ',';

/// Every key of one host in one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `/ns/`: the prefix this host watches.
    pub(crate) prefix: String,
    /// `/ns/hosts/`.
    pub(crate) hosts: String,
    /// `/ns/running/`.
    pub(crate) running: String,
    /// `/ns/placement`.
    pub(crate) placement: String,
    /// `/ns/election`: the election's name (etcd adds `/<lease>` for each candidate).
    pub(crate) election: String,
    /// This host.
    pub(crate) host: String,
}

/// What a key under the namespace is, as the mirror sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyKind<'a> {
    Host(&'a str),
    /// A claim: the host that wrote it and the lease it is bound to.
    Running {
        host: &'a str,
        lease: i64,
    },
    Placement,
    /// Election candidates and anything else: not part of the mirror.
    Other,
}

impl Keys {
    /// Checks `namespace` and `host`, and builds the keys.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNamespace`] or [`Error::InvalidHost`], saying which rule is broken.
    pub(crate) fn new(namespace: &str, host: &str) -> Result<Keys, Error> {
        check_namespace(namespace).map_err(|reason| Error::InvalidNamespace {
            namespace: namespace.to_owned(),
            reason,
        })?;
        check_host(host).map_err(|reason| Error::InvalidHost {
            host: host.to_owned(),
            reason,
        })?;
        Ok(Keys {
            prefix: format!("{namespace}/"),
            hosts: format!("{namespace}/hosts/"),
            running: format!("{namespace}/running/"),
            placement: format!("{namespace}/placement"),
            election: format!("{namespace}/election"),
            host: host.to_owned(),
        })
    }

    pub(crate) fn host_key(&self) -> String {
        format!("{}{}", self.hosts, self.host)
    }

    /// This host's claim under `lease`.
    pub(crate) fn running_key(&self, lease: i64) -> String {
        format!("{}{lease:x}", self.running_host())
    }

    /// `/ns/running/<host>/`: the prefix of every claim under this host's name, whatever lease.
    pub(crate) fn running_host(&self) -> String {
        format!("{}{}/", self.running, self.host)
    }

    /// Classifies a key of this namespace. Names that fail the host rule are ignored rather
    /// than trusted: they were not written by this crate.
    pub(crate) fn kind<'a>(&self, key: &'a str) -> KeyKind<'a> {
        if key == self.placement {
            return KeyKind::Placement;
        }
        if let Some(host) = key.strip_prefix(self.hosts.as_str()) {
            if check_host(host).is_ok() {
                return KeyKind::Host(host);
            }
        }
        if let Some(claim) = key.strip_prefix(self.running.as_str()) {
            if let Some((host, lease)) = claim.split_once('/') {
                if let (Ok(()), Some(lease)) = (check_host(host), parse_lease(lease)) {
                    return KeyKind::Running { host, lease };
                }
            }
        }
        KeyKind::Other
    }
}

/// A lease ID as [`Keys::running_key`] writes it: lower-case hex, no sign, no leading zeros.
fn parse_lease(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let lease = i64::from_str_radix(text, 16).ok()?;
    (format!("{lease:x}") == text).then_some(lease)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'
}

fn check_namespace(namespace: &str) -> Result<(), &'static str> {
    if namespace.is_empty() {
        return Err("a namespace must not be empty");
    }
    if namespace.len() > MAX_NAMESPACE_LEN {
        return Err("a namespace must be at most 512 bytes long");
    }
    let Some(rest) = namespace.strip_prefix('/') else {
        return Err("a namespace must start with '/'");
    };
    if rest.ends_with('/') || rest.is_empty() {
        return Err("a namespace must not end with '/'");
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err("a namespace must not contain an empty segment ('//')");
        }
        if !segment.bytes().all(is_name_byte) {
            return Err(
                "a namespace segment may only hold ASCII letters, digits, '_', '.' and '-'",
            );
        }
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("a host name must not be empty");
    }
    if host.len() > MAX_HOST_LEN {
        return Err("a host name must be at most 253 bytes long");
    }
    if !host.bytes().all(is_name_byte) {
        return Err("a host name may only hold ASCII letters, digits, '_', '.' and '-'");
    }
    Ok(())
}

/// Encodes a placement value.
pub(crate) fn encode_hosts(hosts: &[String]) -> String {
    hosts.join(&HOST_SEPARATOR.to_string())
}

/// Decodes a placement value; names that fail the host rule are dropped.
pub(crate) fn decode_hosts(value: &[u8]) -> Vec<String> {
    let Ok(value) = std::str::from_utf8(value) else {
        return Vec::new();
    };
    let mut hosts: Vec<String> = value
        .split(HOST_SEPARATOR)
        .filter(|h| check_host(h).is_ok())
        .map(str::to_owned)
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_follow_the_path_rule() {
        for ok in ["/a", "/a/b", "/arbor/jobs.v1/backup-2"] {
            assert!(check_namespace(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a/b", "/", "/a/", "//a", "/a//b", "/a b", "/a,b", "/é",
        ] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_names_cannot_hold_separators() {
        for ok in ["a", "host-1", "node_2.example.com", "UPPER"] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(254);
        for bad in ["", "a,b", "a/b", "a b", "a\nb", long.as_str()] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_classified_by_their_place_in_the_layout() {
        let keys = Keys::new("/ns", "h1").unwrap();
        assert_eq!(keys.kind("/ns/hosts/h2"), KeyKind::Host("h2"));
        assert_eq!(
            keys.kind("/ns/running/h1/694d7"),
            KeyKind::Running {
                host: "h1",
                lease: 0x694d7
            }
        );
        for foreign in [
            "/ns/running/h1",
            "/ns/running/h1/",
            "/ns/running/h1/0694d7",
            "/ns/running/h1/694D7",
            "/ns/running/h1/+694d7",
            "/ns/running/h1/694d7/x",
            "/ns/running/bad,name/694d7",
            "/ns/running/h1/ffffffffffffffffff",
        ] {
            assert_eq!(keys.kind(foreign), KeyKind::Other, "{foreign}");
        }
        assert_eq!(keys.kind("/ns/placement"), KeyKind::Placement);
        assert_eq!(keys.kind("/ns/election/694d7"), KeyKind::Other);
        assert_eq!(keys.kind("/ns/hosts/bad,name"), KeyKind::Other);
        assert_eq!(keys.host_key(), "/ns/hosts/h1");
        assert_eq!(keys.running_key(0x694d7), "/ns/running/h1/694d7");
        assert_eq!(keys.running_host(), "/ns/running/h1/");
    }

    #[test]
    fn placement_values_round_trip_sorted() {
        let hosts = vec!["b".to_owned(), "a".to_owned()];
        assert_eq!(
            decode_hosts(encode_hosts(&hosts).as_bytes()),
            vec!["a", "b"]
        );
        assert!(decode_hosts(b"").is_empty());
        assert_eq!(decode_hosts(b"a,,bad host,a"), vec!["a"]);
    }
}
