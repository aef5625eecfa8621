//! Which node a name on the command line means: a DN (`root.web.server`), a DN without its
//! `root.` (`web.server`), or a leaf name (`server`) that only one node has.

use crate::check::closest;

/// The DN `name` means among `dns`, or a message saying why none, with close matches.
pub(crate) fn resolve(name: &str, dns: &[&str]) -> Result<String, String> {
    let full = if name == "root" || name.starts_with("root.") {
        name.to_owned()
    } else {
        format!("root.{name}")
    };
    if dns.contains(&full.as_str()) {
        return Ok(full);
    }
    let leaves: Vec<&str> = dns
        .iter()
        .copied()
        .filter(|dn| dn.rsplit('.').next() == Some(name))
        .collect();
    match leaves.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => {
            let short: Vec<&str> = dns
                .iter()
                .map(|d| d.strip_prefix("root.").unwrap_or(d))
                .collect();
            let mut close: Vec<&str> = short
                .iter()
                .copied()
                .filter(|s| {
                    let leaf = s.rsplit('.').next().unwrap_or(s);
                    closest(name, &[s]).is_some() || closest(name, &[leaf]).is_some()
                })
                .collect();
            close.truncate(5);
            if close.is_empty() {
                Err(format!(
                    "no node is called {name:?} (`arbor status` lists them)"
                ))
            } else {
                Err(format!(
                    "no node is called {name:?}; did you mean {}?",
                    close.join(", ")
                ))
            }
        }
        many => Err(format!(
            "{name:?} is ambiguous: {}; give its full name",
            many.iter()
                .map(|d| d.strip_prefix("root.").unwrap_or(d))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DNS: &[&str] = &[
        "root",
        "root.web",
        "root.web.server",
        "root.api",
        "root.api.server",
        "root.worker",
    ];

    #[test]
    fn full_and_short_dns_and_unique_leaves_resolve() {
        assert_eq!(resolve("root.web.server", DNS).unwrap(), "root.web.server");
        assert_eq!(resolve("web.server", DNS).unwrap(), "root.web.server");
        assert_eq!(resolve("worker", DNS).unwrap(), "root.worker");
        assert_eq!(resolve("root", DNS).unwrap(), "root");
    }

    #[test]
    fn an_ambiguous_leaf_lists_its_nodes() {
        let err = resolve("server", DNS).unwrap_err();
        assert!(err.contains("ambiguous: web.server, api.server"), "{err}");
    }

    #[test]
    fn a_wrong_name_lists_close_matches() {
        let err = resolve("wroker", DNS).unwrap_err();
        assert!(err.contains("did you mean worker?"), "{err}");
        let err = resolve("zzzzzzzz", DNS).unwrap_err();
        assert!(err.contains("`arbor status` lists them"), "{err}");
    }
}
