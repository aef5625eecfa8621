//! Fair service of a backlog: one queue per parent, served in turns.
//!
//! The processor is one task, and every node's news reaches it through one channel. While it
//! keeps up, it handles messages as they come. In a restart storm it does not: ten thousand
//! leaves under one parent die at once, their messages queue up, and a group elsewhere in the
//! tree that fails meanwhile would wait behind all of them. Erlang/OTP does not have this
//! problem because every supervisor is a process of its own and the scheduler takes turns
//! among them. This is the same idea inside the one task: once a backlog forms, a node's news
//! waits in the queue of its parent (its supervisor), and the queues are served in turns of a
//! few messages each, so a failure elsewhere is handled after at most a turn of every busy
//! parent, not after the whole storm.
//!
//! Only messages about one node's run are queued (the processor's `take` says which);
//! within a parent's queue they keep their order, so each run's news, and each group's, is
//! handled in the order it was sent. News of different parents' children may be handled out of
//! their arrival order, which is an order they could have arrived in: they come from different
//! tasks, and nothing one of them knows of another goes around the processor.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use slab::Slab;

/// How many messages a parent's queue gives in one turn.
const TURN: usize = 16;

/// How many emptied queues are kept for the next backlog; the rest are freed when it ends.
const SPARE_QUEUES: usize = 64;

/// The room a queue keeps once its backlog is gone (a storm can grow one to megabytes).
const SPARE_ROOM: usize = 64;

pub(crate) struct Lanes<T> {
    /// The slot of each parent whose queue holds messages, by the parent's raw node id.
    slot_of: HashMap<u32, usize, BuildHasherDefault<IdHasher>>,
    /// Queues, with the parent each serves.
    slots: Slab<(u32, VecDeque<T>)>,
    /// The slots that hold messages, in the order of their turns: the front one is served.
    turns: VecDeque<usize>,
    /// Messages the front slot has given in its current turn.
    given: usize,
    /// Messages waiting, over all queues.
    len: usize,
    /// Emptied queues, whose room the next parents reuse.
    spare: Vec<VecDeque<T>>,
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            slot_of: HashMap::default(),
            slots: Slab::new(),
            turns: VecDeque::new(),
            given: 0,
            len: 0,
            spare: Vec::new(),
        }
    }
}

impl<T> Lanes<T> {
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queues `msg` behind the messages already waiting for `lane` (a parent's raw id). A
    /// parent that had none takes its turn after every parent already waiting.
    pub(crate) fn push(&mut self, lane: u32, msg: T) {
        self.len += 1;
        if let Some(&slot) = self.slot_of.get(&lane) {
            self.slots[slot].1.push_back(msg);
            return;
        }
        let mut queue = self.spare.pop().unwrap_or_default();
        queue.push_back(msg);
        let slot = self.slots.insert((lane, queue));
        self.slot_of.insert(lane, slot);
        self.turns.push_back(slot);
    }

    /// The next message to handle: the front queue's, until its turn is over or it is empty.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let &slot = self.turns.front()?;
        let (lane, queue) = &mut self.slots[slot];
        let msg = queue
            .pop_front()
            .expect("a queue with a turn holds a message");
        self.len -= 1;
        self.given += 1;
        if queue.is_empty() {
            let lane = *lane;
            self.turns.pop_front();
            self.given = 0;
            self.slot_of.remove(&lane);
            let (_, mut queue) = self.slots.remove(slot);
            if self.spare.len() < SPARE_QUEUES {
                queue.shrink_to(SPARE_ROOM);
                self.spare.push(queue);
            }
            if self.turns.is_empty() {
                self.slots.shrink_to_fit();
                self.slot_of.shrink_to(SPARE_QUEUES);
            }
        } else if self.given == TURN {
            self.turns.rotate_left(1);
            self.given = 0;
        }
        Some(msg)
    }
}

/// A backlog: news in its parents' queues ([`Lanes`]), and the messages that must wait for
/// everything sent before them.
///
/// A snapshot, a count, an order or a shutdown is a *barrier*: whoever sent it may know that
/// some news was sent before it (a run that signalled, then a caller that asks for the counts),
/// and must find it handled. A barrier waits until every message queued before it has been
/// handled; news that comes after it goes on being served meanwhile, as it could have been
/// sent a moment before.
///
/// A big tree starting in a storm can queue one barrier per new child (see the processor's
/// `take`), so each barrier counts only the news between it and the barrier before it: a
/// handled message finds its barrier by a binary search, and the front barrier is ready when
/// its count is zero. Handling a message costs `O(log barriers)`, not a walk over all of them.
pub(crate) struct Backlog<T> {
    lanes: Lanes<(u64, T)>,
    /// Barriers in the order they came, which is the order of their numbers.
    barriers: VecDeque<Barrier<T>>,
    /// News queued after the last barrier and not handled yet.
    after_barriers: usize,
    /// The number the next news is given: a barrier's own number tells which came before it.
    next: u64,
}

struct Barrier<T> {
    /// News numbered below this came before it.
    seq: u64,
    /// News queued between the barrier before this one (or the start) and this one, not
    /// handled yet. The front barrier is ready when it is zero.
    between: usize,
    msg: T,
}

impl<T> Default for Backlog<T> {
    fn default() -> Self {
        Backlog {
            lanes: Lanes::default(),
            barriers: VecDeque::new(),
            after_barriers: 0,
            next: 0,
        }
    }
}

impl<T> Backlog<T> {
    pub(crate) fn is_empty(&self) -> bool {
        self.lanes.is_empty() && self.barriers.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.lanes.len() + self.barriers.len()
    }

    /// Queues news of a child of the parent `lane` (its raw node id).
    pub(crate) fn push_news(&mut self, lane: u32, msg: T) {
        self.lanes.push(lane, (self.next, msg));
        self.next += 1;
        self.after_barriers += 1;
    }

    /// Queues a barrier behind everything waiting, or gives it back if nothing is: then it is
    /// to be handled at once.
    pub(crate) fn push_barrier(&mut self, msg: T) -> Option<T> {
        if self.is_empty() {
            return Some(msg);
        }
        self.barriers.push_back(Barrier {
            seq: self.next,
            between: std::mem::take(&mut self.after_barriers),
            msg,
        });
        None
    }

    /// The next message to handle: a barrier once nothing before it is left, else the news
    /// whose turn it is.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.barriers.front().is_some_and(|b| b.between == 0) {
            return self.barriers.pop_front().map(|b| b.msg);
        }
        let (seq, msg) = self.lanes.pop()?;
        // The first barrier numbered above it is the one it came before.
        let at = self.barriers.partition_point(|b| b.seq <= seq);
        match self.barriers.get_mut(at) {
            Some(barrier) => barrier.between -= 1,
            None => self.after_barriers -= 1,
        }
        Some(msg)
    }
}

/// Whether some lane in `lanes` is `heavy`. Only the lanes that could hold a quarter of them
/// or more are asked: a Misra–Gries summary with four counters keeps every lane of more than a
/// fifth, in one pass and no memory, so at most four are asked.
pub(crate) fn has_heavy(lanes: impl Iterator<Item = u32>, heavy: impl Fn(u32) -> bool) -> bool {
    let mut counters: [(u32, usize); 4] = [(0, 0); 4];
    for lane in lanes {
        if let Some(c) = counters.iter_mut().find(|c| c.1 > 0 && c.0 == lane) {
            c.1 += 1;
        } else if let Some(c) = counters.iter_mut().find(|c| c.1 == 0) {
            *c = (lane, 1);
        } else {
            for c in &mut counters {
                c.1 -= 1;
            }
        }
    }
    counters.iter().any(|&(lane, n)| n > 0 && heavy(lane))
}

/// Node ids are small distinct integers: a multiplication spreads them well enough, at a
/// fraction of SipHash's cost, and no outsider chooses them.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages are numbers that name their lane and place, to show the order of service.
    fn msg(tag: u64) -> u64 {
        tag
    }

    fn drain(lanes: &mut Lanes<u64>) -> Vec<u64> {
        std::iter::from_fn(|| lanes.pop()).collect()
    }

    #[test]
    fn one_lane_keeps_its_order() {
        let mut lanes = Lanes::default();
        for i in 0..100 {
            lanes.push(7, msg(i));
        }
        assert_eq!(lanes.len(), 100);
        assert_eq!(drain(&mut lanes), (0..100).collect::<Vec<_>>());
        assert!(lanes.is_empty());
    }

    #[test]
    fn a_lane_behind_a_flood_waits_one_turn_only() {
        let mut lanes = Lanes::default();
        for i in 0..10_000 {
            lanes.push(1, msg(i));
        }
        lanes.push(2, msg(1_000_000));
        let order = drain(&mut lanes);
        let at = order.iter().position(|&t| t == 1_000_000).unwrap();
        assert_eq!(at, TURN, "after one turn of the flooded lane");
        let flood: Vec<u64> = order.into_iter().filter(|&t| t < 1_000_000).collect();
        assert_eq!(flood, (0..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn lanes_take_turns_and_each_keeps_its_order() {
        let mut lanes = Lanes::default();
        for i in 0..(3 * TURN as u64) {
            for lane in 0..3u32 {
                lanes.push(lane, msg(u64::from(lane) * 1000 + i));
            }
        }
        let order = drain(&mut lanes);
        let turn = TURN as u64;
        // Turns of TURN messages, lane 0, 1, 2, then again.
        for (k, chunk) in order.chunks(TURN).enumerate() {
            let lane = k as u64 % 3;
            let round = k as u64 / 3;
            let want: Vec<u64> = (0..turn).map(|i| lane * 1000 + round * turn + i).collect();
            assert_eq!(chunk, want.as_slice(), "turn {k}");
        }
    }

    #[test]
    fn a_lane_emptied_and_refilled_goes_to_the_back() {
        let mut lanes = Lanes::default();
        lanes.push(1, msg(10));
        lanes.push(2, msg(20));
        assert_eq!(lanes.pop(), Some(10));
        lanes.push(1, msg(11)); // lane 1 is empty again: it waits behind lane 2
        assert_eq!(drain(&mut lanes), vec![20, 11]);
    }

    #[test]
    fn queues_are_reused_and_their_room_given_back() {
        let mut lanes = Lanes::default();
        for i in 0..100_000 {
            lanes.push(1, msg(i));
        }
        drain(&mut lanes);
        assert_eq!(lanes.spare.len(), 1);
        assert!(
            lanes.spare[0].capacity() < 1024,
            "a storm's room is not kept"
        );
        lanes.push(5, msg(0));
        assert!(
            lanes.spare.is_empty(),
            "the emptied queue serves the next lane"
        );
    }

    /// Backlog tests: news is a positive number (its lane in the thousands), a barrier negative.
    fn drain_backlog(backlog: &mut Backlog<i64>) -> Vec<i64> {
        std::iter::from_fn(|| backlog.pop()).collect()
    }

    #[test]
    fn a_barrier_with_nothing_queued_is_handled_at_once() {
        let mut backlog = Backlog::default();
        assert_eq!(backlog.push_barrier(-1), Some(-1));
        assert!(backlog.is_empty());
    }

    #[test]
    fn a_barrier_waits_for_everything_before_it_and_news_after_it_goes_on() {
        let mut backlog = Backlog::default();
        for i in 0..40 {
            backlog.push_news(1, 1000 + i);
        }
        backlog.push_news(2, 2000);
        assert_eq!(backlog.push_barrier(-1), None);
        backlog.push_news(3, 3000); // after the barrier: served while it waits
        for i in 40..60 {
            backlog.push_news(1, 1000 + i);
        }
        assert_eq!(backlog.len(), 63);
        let order = drain_backlog(&mut backlog);
        let at = |x: i64| order.iter().position(|&t| t == x).unwrap();
        let barrier = at(-1);
        for i in 0..40 {
            assert!(
                at(1000 + i) < barrier,
                "news before the barrier is handled first"
            );
        }
        assert!(at(2000) < barrier);
        assert!(
            at(3000) < barrier,
            "news after it need not wait behind the flood"
        );
        assert_eq!(order.len(), 63, "every message, the barrier too");
        assert!(backlog.is_empty());
    }

    #[test]
    fn barriers_keep_their_order() {
        let mut backlog = Backlog::default();
        backlog.push_news(1, 1000);
        assert_eq!(backlog.push_barrier(-1), None);
        assert_eq!(
            backlog.push_barrier(-2),
            None,
            "behind the first, though nothing is between"
        );
        backlog.push_news(1, 1001);
        assert_eq!(drain_backlog(&mut backlog), vec![1000, -1, -2, 1001]);
    }

    /// The rule, written the slow way: a barrier is ready once no news numbered before it is
    /// left; news is served in the lanes' turns.
    #[derive(Default)]
    struct Model {
        lanes: Lanes<(u64, i64)>,
        barriers: VecDeque<(u64, i64)>,
        next: u64,
    }

    impl Model {
        fn push_news(&mut self, lane: u32, msg: i64) {
            self.lanes.push(lane, (self.next, msg));
            self.next += 1;
        }

        fn push_barrier(&mut self, msg: i64) -> Option<i64> {
            if self.lanes.is_empty() && self.barriers.is_empty() {
                return Some(msg);
            }
            self.barriers.push_back((self.next, msg));
            None
        }

        fn pop(&mut self) -> Option<i64> {
            let left_before = |seq: u64, lanes: &Lanes<(u64, i64)>| {
                lanes
                    .slots
                    .iter()
                    .any(|(_, (_, queue))| queue.iter().any(|&(s, _)| s < seq))
            };
            if let Some(&(seq, msg)) = self.barriers.front() {
                if !left_before(seq, &self.lanes) {
                    self.barriers.pop_front();
                    return Some(msg);
                }
            }
            self.lanes.pop().map(|(_, msg)| msg)
        }
    }

    proptest::proptest! {
        /// Any interleaving of news on a few lanes, barriers and pops is served as the slow
        /// rule says.
        #[test]
        fn barriers_are_served_as_the_rule_says(
            ops in proptest::collection::vec(0u8..8, 0..300)
        ) {
            let (mut backlog, mut model) = (Backlog::default(), Model::default());
            let mut tag = 0;
            for op in ops {
                tag += 1;
                match op {
                    0..=3 => {
                        backlog.push_news(u32::from(op), tag);
                        model.push_news(u32::from(op), tag);
                    }
                    4 => proptest::prop_assert_eq!(
                        backlog.push_barrier(-tag),
                        model.push_barrier(-tag)
                    ),
                    _ => proptest::prop_assert_eq!(backlog.pop(), model.pop()),
                }
            }
            loop {
                let (got, want) = (backlog.pop(), model.pop());
                proptest::prop_assert_eq!(got, want);
                if got.is_none() {
                    break;
                }
            }
            proptest::prop_assert!(backlog.is_empty());
        }
    }

    fn heavy_of(lanes: &[u32]) -> bool {
        has_heavy(lanes.iter().copied(), |lane| {
            lanes.iter().filter(|&&l| l == lane).count() * 4 >= lanes.len()
        })
    }

    #[test]
    fn a_lane_with_a_quarter_is_found_wherever_it_is() {
        // 1 in 4 of the batch, spread among all-distinct others, early or late.
        let spread: Vec<u32> = (0..400)
            .map(|i| if i % 4 == 0 { 7 } else { 1000 + i })
            .collect();
        assert!(heavy_of(&spread));
        let mut late: Vec<u32> = (1000..1300).collect();
        late.extend(std::iter::repeat_n(7, 100));
        assert!(heavy_of(&late));
    }

    #[test]
    fn news_spread_over_many_lanes_has_no_heavy_one() {
        // A binary tree starting: two children per parent.
        let start: Vec<u32> = (0..1024).map(|i| i / 2).collect();
        assert!(!heavy_of(&start));
        assert!(!heavy_of(&[]));
    }
}
