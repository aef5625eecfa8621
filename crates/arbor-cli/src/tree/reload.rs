//! What a reload changes: the difference between two plans of one group, member by member.
//! Only the difference is applied: a member whose plan is equal keeps running untouched.

use crate::plan::{GroupPlan, Member, Strategy};

/// One member's change, in the order they are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// In the old plan only: stopped and taken out of the tree.
    Removed(String),
    /// Different in the new plan: stopped, taken out, and started anew.
    Replaced(String),
    /// A group whose own settings are the same, and whose members changed: reloaded in place.
    Reloaded(String),
    /// In the new plan only: started.
    Added(String),
}

/// The changes that turn `old` into `new`: removals, then replacements and reloads, then
/// additions, each in the file's order.
pub(crate) fn changes(old: &GroupPlan, new: &GroupPlan) -> Vec<Change> {
    let mut out = Vec::new();
    for member in &old.members {
        if new.member(member.name()).is_none() {
            out.push(Change::Removed(member.name().to_owned()));
        }
    }
    for member in &new.members {
        let Some(before) = old.member(member.name()) else {
            continue;
        };
        if before == member {
            continue;
        }
        let name = member.name().to_owned();
        out.push(match (before, member) {
            (Member::Group(_, a), Member::Group(_, b)) if reloads_in_place(a, b) => {
                Change::Reloaded(name)
            }
            _ => Change::Replaced(name),
        });
    }
    for member in &new.members {
        if old.member(member.name()).is_none() {
            out.push(Change::Added(member.name().to_owned()));
        }
    }
    out
}

/// Whether a group can take `new` without restarting: the same settings of its own, and
/// members that are each their own child (`one_for_one`, no lifecycle), so that one can be
/// added or removed alone.
pub(crate) fn reloads_in_place(old: &GroupPlan, new: &GroupPlan) -> bool {
    old.strategy == Strategy::OneForOne
        && new.strategy == Strategy::OneForOne
        && !old.is_lifecycle()
        && !new.is_lifecycle()
        && old.intensity == new.intensity
        && old.restart == new.restart
        && old.backoff == new.backoff
        && old.depends_on == new.depends_on
}

/// Every change below `dn` (whose plans are `old` and `new`), with full DNs, for the report
/// a reload answers with.
pub(crate) fn describe(dn: &str, old: &GroupPlan, new: &GroupPlan) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for change in changes(old, new) {
        match change {
            Change::Removed(name) => out.push((format!("{dn}.{name}"), "removed")),
            Change::Replaced(name) => out.push((format!("{dn}.{name}"), "restarted")),
            Change::Added(name) => out.push((format!("{dn}.{name}"), "added")),
            Change::Reloaded(name) => {
                if let (Some(Member::Group(_, a)), Some(Member::Group(_, b))) =
                    (old.member(&name), new.member(&name))
                {
                    out.extend(describe(&format!("{dn}.{name}"), a, b));
                }
            }
        }
    }
    out
}
