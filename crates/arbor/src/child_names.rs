//! The names a run has given its children, so that a duplicate is refused in linear time
//! however many children a node starts.

use std::collections::HashSet;

use crate::Dn;

/// The children started in this run, to refuse duplicates. All are children of one node, so
/// only their own names are compared. Most nodes have a few children, where a scan beats
/// hashing; a node that starts many switches to a set. The first two are kept inline, with no
/// allocation: in the same 24 bytes as the `Vec`, they spare a binary tree's every inner node
/// a heap block.
pub(crate) enum ChildNames {
    Two([Option<Dn>; 2]),
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
    /// No names yet.
    pub(crate) fn new() -> Self {
        ChildNames::Two([None, None])
    }

    pub(crate) fn contains(&self, dn: &Dn) -> bool {
        match self {
            ChildNames::Two(dns) => dns.iter().flatten().any(|d| d.name() == dn.name()),
            ChildNames::Few(dns) => dns.iter().any(|d| d.name() == dn.name()),
            ChildNames::Many(dns) => dns.contains(&ByName(dn.clone())),
        }
    }

    /// Frees `dn`'s name, whose node has left the tree.
    pub(crate) fn remove(&mut self, dn: &Dn) {
        match self {
            ChildNames::Two(dns) => {
                for slot in dns.iter_mut() {
                    if slot.as_ref().is_some_and(|d| d.name() == dn.name()) {
                        *slot = None;
                    }
                }
            }
            ChildNames::Few(dns) => dns.retain(|d| d.name() != dn.name()),
            ChildNames::Many(dns) => {
                dns.remove(&ByName(dn.clone()));
            }
        }
    }

    pub(crate) fn insert(&mut self, dn: Dn) {
        match self {
            ChildNames::Two(dns) => match dns.iter_mut().find(|slot| slot.is_none()) {
                Some(free) => *free = Some(dn),
                None => {
                    let mut few: Vec<Dn> = dns.iter_mut().filter_map(Option::take).collect();
                    few.push(dn);
                    *self = ChildNames::Few(few);
                }
            },
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

const _: () = assert!(std::mem::size_of::<ChildNames>() <= 24);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Name;

    fn dn(parent: &Dn, name: &str) -> Dn {
        parent.child(Name::new(name.to_owned()).expect("a valid name"))
    }

    #[test]
    fn names_are_kept_inline_then_in_a_list_then_in_a_set() {
        let root = Dn::root();
        let mut names = ChildNames::new();
        let all: Vec<Dn> = (0..40).map(|i| dn(&root, &format!("c{i}"))).collect();
        for (i, child) in all.iter().enumerate() {
            assert!(!names.contains(child), "{i} not in yet");
            names.insert(child.clone());
            assert!(names.contains(child), "{i} in");
            match i {
                0 | 1 => assert!(matches!(names, ChildNames::Two(_)), "{i}: inline"),
                2..=15 => assert!(matches!(names, ChildNames::Few(_)), "{i}: a list"),
                _ => assert!(matches!(names, ChildNames::Many(_)), "{i}: a set"),
            }
        }
        assert!(all.iter().all(|c| names.contains(c)));
        names.remove(&all[7]);
        assert!(!names.contains(&all[7]) && names.contains(&all[8]));
    }

    #[test]
    fn a_freed_inline_name_can_be_given_again() {
        let root = Dn::root();
        let (a, b) = (dn(&root, "a"), dn(&root, "b"));
        let mut names = ChildNames::new();
        names.insert(a.clone());
        names.insert(b.clone());
        names.remove(&a);
        assert!(!names.contains(&a) && names.contains(&b));
        names.insert(a.clone());
        assert!(names.contains(&a) && matches!(names, ChildNames::Two(_)));
    }
}
