//! What the tree reports through the [`metrics`] facade: free when no recorder is installed,
//! and cheap when one is (the hot counts are kept by the processor and handed over once per
//! batch of messages).
//!
//! The names, kinds and labels are listed in the crate's docs (`lib.rs`, "Metrics").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::node::Node;
use crate::{Dn, NodeState, StateCounts};

/// The label of the DNs beyond the bound.
const OTHER: &str = "other";

const STATES: [NodeState; 6] = [
    NodeState::New,
    NodeState::Healthy,
    NodeState::Done,
    NodeState::Dead,
    NodeState::Canceled,
    NodeState::Stopped,
];

fn index(state: NodeState) -> usize {
    match state {
        NodeState::New => 0,
        NodeState::Healthy => 1,
        NodeState::Done => 2,
        NodeState::Dead => 3,
        NodeState::Canceled => 4,
        NodeState::Stopped => 5,
    }
}

/// The processor's side of the metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Transitions since the last flush, by from (`None` last) and to.
    transitions: [[u64; 6]; 7],
    /// The `dn` label of each DN given one so far.
    dns: HashMap<Dn, Arc<str>>,
    max_dns: usize,
}

impl Metrics {
    pub(crate) fn new(max_dns: usize) -> Self {
        Metrics {
            transitions: [[0; 6]; 7],
            dns: HashMap::new(),
            max_dns,
        }
    }

    pub(crate) fn transition(&mut self, from: Option<NodeState>, to: NodeState) {
        let row = from.map_or(6, index);
        self.transitions[row][index(to)] += 1;
    }

    pub(crate) fn restart(&mut self, node: &mut Node) {
        let dn = self.dn_label(node);
        metrics::counter!("arbor_restarts_total", "dn" => dn).increment(1);
    }

    pub(crate) fn failure(&mut self, node: &mut Node, backoff: Duration) {
        let dn = self.dn_label(node);
        metrics::counter!("arbor_failures_total", "dn" => dn).increment(1);
        metrics::histogram!("arbor_backoff_seconds").record(backoff.as_secs_f64());
    }

    /// Hands the batch's counts to the recorder.
    pub(crate) fn flush(&mut self, counts: &StateCounts, queued: usize) {
        for (row, tos) in self.transitions.iter_mut().enumerate() {
            let from = STATES.get(row).map_or("none", |&s| s.metric_label());
            for (col, n) in tos.iter_mut().enumerate() {
                if *n > 0 {
                    let to = STATES[col].metric_label();
                    metrics::counter!("arbor_transitions_total", "from" => from, "to" => to)
                        .increment(std::mem::take(n));
                }
            }
        }
        for state in STATES {
            let n = counts.in_state(state);
            metrics::gauge!("arbor_nodes", "state" => state.metric_label()).set(n as f64);
        }
        metrics::gauge!("arbor_processor_queue").set(queued as f64);
    }

    /// The node's `dn` label, kept in the node after the first time, so that a node that
    /// restarts often costs no lookup (and nothing is built for nodes that never restart).
    fn dn_label(&mut self, node: &mut Node) -> Arc<str> {
        if let Some(label) = node.extras.as_ref().and_then(|e| e.metric_label.as_ref()) {
            return label.clone();
        }
        let label = match self.dns.get(node.dn()) {
            Some(label) => label.clone(),
            None if self.dns.len() >= self.max_dns => Arc::from(OTHER),
            None => {
                let label: Arc<str> = node.dn().to_string().into();
                self.dns.insert(node.dn().clone(), label.clone());
                label
            }
        };
        node.extras_mut().metric_label = Some(label.clone());
        label
    }
}
