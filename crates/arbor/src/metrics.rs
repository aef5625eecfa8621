//! What the tree reports through the [`metrics`] facade: free when no recorder is installed,
//! and cheap when one is (the hot counts are kept by the processor and handed over once per
//! batch of messages).
//!
//! The names, kinds and labels are listed in the crate's docs (`lib.rs`, "Metrics").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use tokio::time::Instant;

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

/// How long handles registered with the recorder are used before they are registered again, so
/// that a recorder installed after the supervisor started gets the tree's metrics too.
const REREGISTER: Duration = Duration::from_secs(1);

/// The processor's side of the metrics.
///
/// Handles ([`Counter`], [`Gauge`], [`Histogram`]) are registered once and kept: building a
/// metric's key (its labels, their hash) on every batch cost a restart 11,000 of its 36,000
/// instructions, with no recorder installed at all. They are registered again after
/// [`REREGISTER`], since a handle belongs to the recorder that was installed when it was made.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Transitions since the last flush, by from (`None` last) and to.
    transitions: [[u64; 6]; 7],
    handles: Handles,
    /// When `handles` were registered; `None` before the first flush.
    registered: Option<Instant>,
    /// Counts the registrations, so that a node's own handles know when they are stale.
    generation: u32,
    /// The `dn` label of each DN given one so far.
    dns: HashMap<Dn, Arc<str>>,
    max_dns: usize,
    /// The label of every other DN, shared.
    other: Arc<str>,
}

/// The handles of the tree's own metrics.
#[derive(Debug)]
struct Handles {
    /// `arbor_transitions_total`, by from (`none` last) and to; registered when first needed.
    transitions: [[Option<Counter>; 6]; 7],
    /// `arbor_nodes`, by state.
    nodes: [Gauge; 6],
    queue: Gauge,
    backoff: Histogram,
}

impl Handles {
    fn register() -> Self {
        Handles {
            transitions: Default::default(),
            nodes: STATES
                .map(|state| metrics::gauge!("arbor_nodes", "state" => state.metric_label())),
            queue: metrics::gauge!("arbor_processor_queue"),
            backoff: metrics::histogram!("arbor_backoff_seconds"),
        }
    }
}

/// A node's handles, kept in its extras once it has restarted or died.
#[derive(Debug)]
pub(crate) struct NodeMetrics {
    /// Its `dn` label.
    label: Arc<str>,
    /// The [`Metrics::generation`] they were registered in.
    generation: u32,
    restarts: Counter,
    failures: Counter,
}

impl NodeMetrics {
    fn register(label: Arc<str>, generation: u32) -> Box<Self> {
        Box::new(NodeMetrics {
            restarts: metrics::counter!("arbor_restarts_total", "dn" => label.clone()),
            failures: metrics::counter!("arbor_failures_total", "dn" => label.clone()),
            label,
            generation,
        })
    }
}

impl Metrics {
    pub(crate) fn new(max_dns: usize) -> Self {
        Metrics {
            transitions: [[0; 6]; 7],
            handles: Handles::register(),
            registered: None,
            generation: 0,
            dns: HashMap::new(),
            max_dns,
            other: Arc::from(OTHER),
        }
    }

    pub(crate) fn transition(&mut self, from: Option<NodeState>, to: NodeState) {
        let row = from.map_or(6, index);
        self.transitions[row][index(to)] += 1;
    }

    pub(crate) fn restart(&mut self, node: &mut Node) {
        self.of(node).restarts.increment(1);
    }

    pub(crate) fn failure(&mut self, node: &mut Node, backoff: Duration) {
        self.of(node).failures.increment(1);
        self.handles.backoff.record(backoff.as_secs_f64());
    }

    /// Hands the batch's counts to the recorder; `now` is the batch's moment.
    pub(crate) fn flush(&mut self, counts: &StateCounts, queued: usize, now: Instant) {
        match self.registered {
            Some(at) if now.saturating_duration_since(at) < REREGISTER => {}
            Some(_) => {
                self.handles = Handles::register();
                self.generation = self.generation.wrapping_add(1);
                self.registered = Some(now);
            }
            // Registered in `new`, with the recorder of the moment; the clock starts now.
            None => self.registered = Some(now),
        }
        let handles = &mut self.handles;
        for (row, tos) in self.transitions.iter_mut().enumerate() {
            for (col, n) in tos.iter_mut().enumerate() {
                if *n > 0 {
                    handles.transitions[row][col]
                        .get_or_insert_with(|| {
                            let from = STATES.get(row).map_or("none", |&s| s.metric_label());
                            let to = STATES[col].metric_label();
                            metrics::counter!("arbor_transitions_total", "from" => from, "to" => to)
                        })
                        .increment(std::mem::take(n));
                }
            }
        }
        for (gauge, state) in handles.nodes.iter().zip(STATES) {
            gauge.set(counts.in_state(state) as f64);
        }
        handles.queue.set(queued as f64);
    }

    /// The node's handles, registered the first time it needs them (nothing is built for nodes
    /// that never restart) and again once stale.
    fn of<'n>(&mut self, node: &'n mut Node) -> &'n NodeMetrics {
        let generation = self.generation;
        let label = match node.extras.as_mut().and_then(|e| e.metrics.take()) {
            Some(handles) if handles.generation == generation => {
                return node.extras_mut().metrics.insert(handles);
            }
            Some(stale) => stale.label,
            None => self.dn_label(node),
        };
        node.extras_mut()
            .metrics
            .insert(NodeMetrics::register(label, generation))
    }

    /// The `dn` label of a node that has none yet: its DN, until [`Builder::metric_dns`]
    /// (crate::Builder::metric_dns) of them are taken, then `other`.
    fn dn_label(&mut self, node: &Node) -> Arc<str> {
        match self.dns.get(node.dn()) {
            Some(label) => label.clone(),
            None if self.dns.len() >= self.max_dns => self.other.clone(),
            None => {
                let label: Arc<str> = node.dn().to_string().into();
                self.dns.insert(node.dn().clone(), label.clone());
                label
            }
        }
    }
}
