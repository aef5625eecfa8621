//! The names a run has given its children, so that a duplicate is refused in linear time
//! however many children a node starts.

use std::collections::HashSet;

use crate::Dn;

/// The children started in this run, to refuse duplicates. All are children of one node, so
/// only their own names are compared. Most nodes have a few children, where a scan beats
/// hashing; a node that starts many switches to a set.
pub(crate) enum ChildNames {
    Few(Vec<Dn>),
    // Boxed so that every context pays for a Vec, not for the rare set.
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<ByName>>),
}

const FEW_CHILDREN: usize = 16;

/// A sibling's DN, compared and hashed by its own name only.
pub(crate) struct ByName(Dn);

impl PartialEq for ByName {
    fn eq(&self, other: &ByName) -> bool {
        self.0.name() == other.0.name()
    }
}

impl Eq for ByName {}

impl std::hash::Hash for ByName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.name().hash(state);
    }
}

impl ChildNames {
    pub(crate) fn contains(&self, dn: &Dn) -> bool {
        match self {
            ChildNames::Few(dns) => dns.iter().any(|d| d.name() == dn.name()),
            ChildNames::Many(dns) => dns.contains(&ByName(dn.clone())),
        }
    }

    /// Frees `dn`'s name, whose node has left the tree.
    pub(crate) fn remove(&mut self, dn: &Dn) {
        match self {
            ChildNames::Few(dns) => dns.retain(|d| d.name() != dn.name()),
            ChildNames::Many(dns) => {
                dns.remove(&ByName(dn.clone()));
            }
        }
    }

    pub(crate) fn insert(&mut self, dn: Dn) {
        match self {
            ChildNames::Few(dns) if dns.len() < FEW_CHILDREN => dns.push(dn),
            ChildNames::Few(dns) => {
                let mut set: HashSet<ByName> = dns.drain(..).map(ByName).collect();
                set.insert(ByName(dn));
                *self = ChildNames::Many(Box::new(set));
            }
            ChildNames::Many(dns) => {
                dns.insert(ByName(dn));
            }
        }
    }
}
