//! Waiting for a member's dependencies: each sibling it names must meet its condition before
//! the member's process is spawned. While it waits the member is New, with the status note
//! `waiting_for` naming what it waits for.

use arbor::{Context, NodeState};

use super::Shared;
use crate::plan::Condition;

/// How the condition reads in status and messages.
pub(crate) fn describe(condition: Condition) -> &'static str {
    match condition {
        Condition::Started => "started",
        Condition::Healthy => "healthy",
        Condition::CompletedSuccessfully => "completed_successfully",
    }
}

/// Waits until every dependency of the member `ctx` runs (children of `parent`, the level's
/// run) meets its condition, one after another. False if the member was told to stop first,
/// or the tree is shutting down.
pub(crate) async fn wait_for(
    ctx: &Context,
    parent: &Context,
    shared: &Shared,
    deps: &[(String, Condition)],
) -> bool {
    for (dep, condition) in deps {
        ctx.annotate("waiting_for", format!("{dep} ({})", describe(*condition)));
        let met = async {
            match condition {
                Condition::Started => {
                    let dn = format!("{}.{dep}", parent.dn());
                    let mut started = shared.started(&dn).subscribe();
                    let met = started.wait_for(|n| *n > 0).await.is_ok();
                    met
                }
                Condition::Healthy => parent
                    .watch_child(dep)
                    .until(|e| !e.removed && matches!(e.to, NodeState::Healthy | NodeState::Done))
                    .await
                    .is_ok(),
                Condition::CompletedSuccessfully => parent
                    .watch_child(dep)
                    .until(|e| !e.removed && e.to == NodeState::Done)
                    .await
                    .is_ok(),
            }
        };
        let met = tokio::select! {
            () = ctx.cancelled() => false,
            met = met => met,
        };
        if !met {
            return false;
        }
    }
    ctx.remove_note("waiting_for");
    true
}

/// Marks the member `dn` as started (its dependencies met), for `started` conditions.
pub(crate) fn mark_started(shared: &Shared, dn: &str) {
    shared.started(dn).send_modify(|n| *n += 1);
}

/// Marks the member `dn` as not started, at the beginning of each of its runs.
pub(crate) fn mark_waiting(shared: &Shared, dn: &str) {
    shared.started(dn).send_replace(0);
}
