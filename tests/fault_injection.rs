//! Properties of random trees under faults.
//!
//! 1. Killing any node (by error, panic, or returning without Done) re-runs exactly that
//!    node's subtree and its group siblings' subtrees, once, and the tree becomes all-Healthy
//!    again; no DN ever runs twice at once.
//! 2. Under simultaneous faults (several deaths in one instant, deaths during backoffs and
//!    during shutdown, runnables slow to stop, errors whose `Display` or `Drop` panic) the
//!    processor never dies, every required restart happens, no DN runs twice at once, and no
//!    DN starts sooner than one backoff after its previous start. The invariant walker checks
//!    the processor's books after every batch.
//! 3. Under random policies (restart types, group strategies, ordered groups, restart limits)
//!    and random deaths and orders (restart, stop, start by DN), the tree settles to exactly what a model of the policies requires:
//!    which nodes restart, which are removed or left Done, how often each was entered, and how
//!    many times a parent gave up on its limit; no DN ever runs twice at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, Group, Runnable, Signal, Supervisor};
use arbor_test_kit::*;
use parking_lot::Mutex;
use proptest::prelude::*;

/// A node of a generated tree: its children, as groups of indices into the tree.
#[derive(Debug, Clone)]
struct SpecNode {
    groups: Vec<Vec<usize>>,
}

/// Generates a tree of at most `depth` levels below the root, as a flat list (root first).
fn tree(depth: u32) -> impl Strategy<Value = Vec<SpecNode>> {
    // Each node: up to 2 groups of 1..=3 members, fewer further down.
    let shape = prop::collection::vec(prop::collection::vec(0u8..3, 1..=3), 0..=2);
    prop::collection::vec(shape, 1..=12).prop_map(move |shapes| {
        let mut nodes = vec![SpecNode { groups: vec![] }];
        let mut frontier = vec![(0usize, 0u32)];
        let mut shapes = shapes.into_iter();
        while let Some((parent, level)) = frontier.pop() {
            if level == depth {
                continue;
            }
            let Some(groups) = shapes.next() else { break };
            for group in groups {
                let mut members = Vec::new();
                for _ in group {
                    nodes.push(SpecNode { groups: vec![] });
                    let id = nodes.len() - 1;
                    members.push(id);
                    frontier.push((id, level + 1));
                }
                nodes[parent].groups.push(members);
            }
        }
        nodes
    })
}

#[derive(Debug, Clone, Copy)]
enum Death {
    Error,
    Panic,
    ReturnWithoutDone,
}

fn death() -> impl Strategy<Value = Death> {
    prop_oneof![
        Just(Death::Error),
        Just(Death::Panic),
        Just(Death::ReturnWithoutDone)
    ]
}

/// How each node is to die next, set by the test before it fires the kill.
#[derive(Default)]
struct Deaths(Mutex<HashMap<String, Death>>);

fn runnables(
    spec: &[SpecNode],
    kills: &Arc<Kills>,
    deaths: &Arc<Deaths>,
    tracker: &Arc<Tracker>,
) -> Vec<Arc<dyn Runnable>> {
    build(spec, |_, groups| {
        let (kills, deaths) = (kills.clone(), deaths.clone());
        Arc::new(tracker.track(move |ctx: Context| {
            let groups = groups.clone();
            let killed = kills.killed(&ctx.dn().to_string());
            let deaths = deaths.clone();
            async move {
                start(&ctx, groups)?;
                serve_until_killed(&ctx, killed, &deaths).await
            }
        }))
    })
}

/// Signals Healthy and serves until cancelled, or until `killed`: then dies as `deaths` says.
async fn serve_until_killed(
    ctx: &Context,
    killed: impl std::future::Future<Output = ()>,
    deaths: &Deaths,
) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    tokio::select! {
        () = ctx.cancelled() => return Ok(()),
        () = killed => {}
    }
    match deaths.0.lock().remove(&ctx.dn().to_string()).unwrap() {
        Death::Error => anyhow::bail!("injected error"),
        Death::Panic => panic!("injected panic"),
        Death::ReturnWithoutDone => Ok(()),
    }
}

/// A node's children, as groups of (name, runnable).
type ChildGroups = Vec<Vec<(String, Arc<dyn Runnable>)>>;

/// Builds the runnables of `spec`, each made by `node` from its index and its child groups.
fn build(
    spec: &[SpecNode],
    mut node: impl FnMut(usize, ChildGroups) -> Arc<dyn Runnable>,
) -> Vec<Arc<dyn Runnable>> {
    let mut built: Vec<Option<Arc<dyn Runnable>>> = vec![None; spec.len()];
    // Children have higher indices than their parents: build from the back.
    for i in (0..spec.len()).rev() {
        let groups = spec[i]
            .groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|&c| (format!("n{c}"), built[c].clone().unwrap()))
                    .collect()
            })
            .collect();
        built[i] = Some(node(i, groups));
    }
    built.into_iter().map(Option::unwrap).collect()
}

/// Starts a node's child groups.
fn start(ctx: &Context, groups: ChildGroups) -> Result<(), arbor::Error> {
    for group in groups {
        let mut g = Group::new();
        for (name, r) in group {
            g = g.add_shared(name, r);
        }
        ctx.run_group(g)?;
    }
    Ok(())
}

/// DNs of every node, by index.
fn dns(spec: &[SpecNode]) -> Vec<String> {
    let mut dns = vec![String::new(); spec.len()];
    dns[0] = "root".into();
    for (i, node) in spec.iter().enumerate() {
        for &c in node.groups.iter().flatten() {
            dns[c] = format!("{}.n{c}", dns[i]);
        }
    }
    dns
}

fn subtree(spec: &[SpecNode], i: usize, out: &mut Vec<usize>) {
    out.push(i);
    for &c in spec[i].groups.iter().flatten() {
        subtree(spec, c, out);
    }
}

/// What a death of `i` restarts: its subtree and its group siblings' subtrees.
fn affected(spec: &[SpecNode], i: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let group = spec
        .iter()
        .flat_map(|n| n.groups.iter())
        .find(|g| g.contains(&i));
    match group {
        Some(group) => group.iter().for_each(|&m| subtree(spec, m, &mut out)),
        None => subtree(spec, i, &mut out),
    }
    out
}

/// A supervisor with exact backoffs whose root runs `root`.
fn supervise(root: &Arc<dyn Runnable>) -> Supervisor {
    let root = root.clone();
    Supervisor::builder()
        .backoff(exact_backoff())
        .spawn(move |ctx: Context| root.run(ctx))
        .unwrap()
}

async fn scenario(spec: Vec<SpecNode>, kills_seq: Vec<(prop::sample::Index, Death)>) {
    let (kills, deaths, tracker) = (Kills::new(), Arc::new(Deaths::default()), Tracker::new());
    let all = runnables(&spec, &kills, &deaths, &tracker);
    let dns = dns(&spec);
    let sup = supervise(&all[0]);
    let n = spec.len();
    settled(&sup, |s| s.node_count() == n && all_healthy(s)).await;
    let mut expected: Vec<usize> = vec![1; n];

    for (pick, how) in kills_seq {
        let victim = pick.index(n);
        for i in affected(&spec, victim) {
            expected[i] += 1;
        }
        deaths.0.lock().insert(dns[victim].clone(), how);
        kills.kill(&dns[victim]);
        let (_, _) = settled(&sup, |s| {
            s.node_count() == n
                && all_healthy(s)
                && dns
                    .iter()
                    .zip(&expected)
                    .all(|(dn, &e)| tracker.entries(dn) == e)
        })
        .await;
        for (dn, &e) in dns.iter().zip(&expected) {
            assert_eq!(
                tracker.entries(dn),
                e,
                "{dn} after killing {} by {how:?}",
                dns[victim]
            );
        }
    }
    sup.shutdown().await.into_result().unwrap();
    assert_eq!(tracker.live(), 0);
    tracker.assert_never_two_at_once();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_death_restarts_exactly_what_it_should(
        spec in tree(3),
        kills in prop::collection::vec((any::<prop::sample::Index>(), death()), 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(scenario(spec, kills));
    }
}

// ---------------------------------------------------------------------------------------------
// Simultaneous faults: several deaths in one instant, deaths while others wait out backoffs,
// deaths during shutdown, runnables slow to honour cancellation, errors whose Display or Drop
// misbehave. The invariant walker runs after every processor batch (feature `invariants`).

/// How a node misbehaves when it is killed, beyond the plain deaths.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Plain(Death),
    /// An error whose `Display` panics.
    DisplayPanics,
    /// An error whose `Drop` panics.
    DropPanics,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        death().prop_map(Fault::Plain),
        Just(Fault::DisplayPanics),
        Just(Fault::DropPanics),
    ]
}

struct Nasty {
    panic_in_display: bool,
}

impl std::fmt::Display for Nasty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.panic_in_display {
            panic!("injected panic in Display");
        }
        f.write_str("nasty")
    }
}

impl std::fmt::Debug for Nasty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nasty")
    }
}

impl std::error::Error for Nasty {}

impl Drop for Nasty {
    fn drop(&mut self) {
        if !self.panic_in_display {
            panic!("injected panic in Drop");
        }
    }
}

/// One step of faults: these victims die in the same instant, then simulated time advances
/// by `then_ms` (often less than a backoff, so that later deaths land during backoffs).
#[derive(Debug, Clone)]
struct Step {
    victims: Vec<(prop::sample::Index, Fault)>,
    then_ms: u64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), fault()), 1..=3),
        0u64..300,
    )
        .prop_map(|(victims, then_ms)| Step { victims, then_ms })
}

/// The backoff of every node: exact, so the gap between two starts of a DN is checkable.
const INITIAL: Duration = Duration::from_millis(100);

/// Every start of every DN, at simulated time.
#[derive(Default)]
struct Starts(Mutex<Vec<(String, tokio::time::Instant)>>);

#[allow(clippy::too_many_arguments)]
fn hostile_runnables(
    spec: &[SpecNode],
    kills: &Arc<Kills>,
    faults: &Arc<Mutex<HashMap<String, Fault>>>,
    slow: &Arc<Vec<u64>>,
    tracker: &Arc<Tracker>,
    starts: &Arc<Starts>,
) -> Vec<Arc<dyn Runnable>> {
    build(spec, |i, groups| {
        let (kills, faults, starts) = (kills.clone(), faults.clone(), starts.clone());
        let slow_ms = slow[i];
        Arc::new(tracker.track(move |ctx: Context| {
            starts
                .0
                .lock()
                .push((ctx.dn().to_string(), tokio::time::Instant::now()));
            let groups = groups.clone();
            let killed = kills.killed(&ctx.dn().to_string());
            let faults = faults.clone();
            async move {
                start(&ctx, groups)?;
                ctx.signal(Signal::Healthy)?;
                tokio::select! {
                    () = ctx.cancelled() => {
                        // Slow to honour cancellation (still within the shutdown timeout).
                        tokio::time::sleep(Duration::from_millis(slow_ms)).await;
                        return Ok(());
                    }
                    () = killed => {}
                }
                let fault = faults.lock().remove(&ctx.dn().to_string());
                match fault.unwrap_or(Fault::Plain(Death::Error)) {
                    Fault::Plain(Death::Error) => anyhow::bail!("injected error"),
                    Fault::Plain(Death::Panic) => panic!("injected panic"),
                    Fault::Plain(Death::ReturnWithoutDone) => Ok(()),
                    Fault::DisplayPanics => Err(Nasty {
                        panic_in_display: true,
                    }
                    .into()),
                    Fault::DropPanics => Err(Nasty {
                        panic_in_display: false,
                    }
                    .into()),
                }
            }
        }))
    })
}

async fn hostile_scenario(
    spec: Vec<SpecNode>,
    slow: Vec<u64>,
    steps: Vec<Step>,
    during_shutdown: Vec<prop::sample::Index>,
) {
    let (kills, tracker) = (Kills::new(), Tracker::new());
    let faults: Arc<Mutex<HashMap<String, Fault>>> = Arc::default();
    let starts = Arc::new(Starts::default());
    let slow = Arc::new(slow);
    let all = hostile_runnables(&spec, &kills, &faults, &slow, &tracker, &starts);
    let dns = dns(&spec);
    let n = spec.len();
    let sup = Supervisor::builder()
        .backoff(exact_backoff().initial(INITIAL))
        .shutdown_timeout(Duration::from_secs(5))
        .spawn({
            let root = all[0].clone();
            move |ctx: Context| root.run(ctx)
        })
        .unwrap();
    settled(&sup, |s| s.node_count() == n && all_healthy(s)).await;

    for step in steps {
        for (pick, fault) in step.victims {
            let victim = &dns[pick.index(n)];
            faults.lock().insert(victim.clone(), fault);
            kills.kill(victim);
        }
        tokio::time::sleep(Duration::from_millis(step.then_ms)).await;
    }
    // Every required restart happens: the whole tree comes back (a kill aimed at a node that
    // was waiting out its backoff kills its next run, so this also waits those out), and
    // stays so for longer than any backoff or slow stop could hide a pending change.
    let quiet = INITIAL * 4 + Duration::from_millis(400);
    tokio::time::timeout(DEADLINE, async {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let before = sup.status().await;
            if before.node_count() != n || !all_healthy(&before) {
                continue;
            }
            tokio::time::sleep(quiet).await;
            if states(&sup.status().await) == states(&before) {
                break;
            }
        }
    })
    .await
    .expect("the tree came back, all Healthy, and stayed so");

    for pick in during_shutdown {
        kills.kill(&dns[pick.index(n)]);
    }
    let report = sup.shutdown().await;
    assert!(!report.interrupted, "the processor died: {report:?}");
    assert_eq!(report.stuck, Vec::<arbor::Dn>::new(), "{report:?}");
    assert_eq!(tracker.live(), 0);
    tracker.assert_never_two_at_once();

    // No start comes sooner than the backoff its death owed: two starts of one DN are at
    // least one initial backoff apart (randomization is off).
    let mut last: HashMap<String, tokio::time::Instant> = HashMap::new();
    for (dn, at) in starts.0.lock().iter() {
        if let Some(previous) = last.insert(dn.clone(), *at) {
            assert!(
                *at - previous >= INITIAL,
                "{dn} started again {:?} after its previous start",
                *at - previous
            );
        }
    }
}

/// What must not change while the tree is quiet: each node's state and restart count.
fn states(status: &arbor::TreeStatus) -> Vec<(String, arbor::NodeState, u32)> {
    status
        .iter()
        .map(|n| (n.dn.to_string(), n.state, n.restarts))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn simultaneous_faults_keep_every_invariant(
        (spec, slow) in tree(3).prop_flat_map(|spec| {
            let n = spec.len();
            (Just(spec), prop::collection::vec(prop_oneof![3 => Just(0u64), 1 => 1u64..400], n))
        }),
        steps in prop::collection::vec(step(), 1..6),
        during_shutdown in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(hostile_scenario(spec, slow, steps, during_shutdown));
    }
}

// ---------------------------------------------------------------------------------------------
// Random policies: restart types (on leaves), group strategies, ordered groups, and restart
// limits, under random deaths. A model says what each death must restart, remove, leave Done,
// or escalate; the tree must settle to exactly that, with no DN ever running twice at once.

/// The policy of every node of a generated tree.
#[derive(Debug, Clone)]
struct Policies {
    /// By node: its restart type (only leaves are not permanent, so that a Done or removed
    /// node never has children left running).
    restart: Vec<arbor::Restart>,
    /// By node: the limit it sets on its children's restarts, as a maximum within an hour.
    /// A node with a limit starts its children in groups of one: a sibling cancelled by a
    /// death would race with its parent's escalation, which no model can tell exactly.
    limit: Vec<Option<u32>>,
    /// By node, by group: the group's strategy and whether it is ordered.
    groups: Vec<Vec<(arbor::Strategy, bool)>>,
}

fn policies(spec: Vec<SpecNode>) -> impl Strategy<Value = (Vec<SpecNode>, Policies)> {
    use arbor::{Restart, Strategy as S};
    let n = spec.len();
    let restart = prop::collection::vec(
        prop_oneof![2 => Just(Restart::Permanent), 1 => Just(Restart::Transient), 1 => Just(Restart::Temporary)],
        n,
    );
    let limit = prop::collection::vec(
        prop_oneof![2 => Just(None), 1 => (0u32..3).prop_map(Some)],
        n,
    );
    let group = (
        prop_oneof![
            Just(S::Staggered),
            Just(S::AllTogether),
            Just(S::RestForOne)
        ],
        any::<bool>(),
    );
    let groups = prop::collection::vec(prop::collection::vec(group, 2), n);
    (Just(spec), restart, limit, groups).prop_map(|(mut spec, mut restart, limit, mut groups)| {
        for i in 0..spec.len() {
            if i == 0 || !spec[i].groups.is_empty() {
                restart[i] = Restart::Permanent;
            }
            if limit[i].is_some() {
                spec[i].groups = spec[i].groups.iter().flatten().map(|&c| vec![c]).collect();
            }
            groups[i].resize(spec[i].groups.len(), (S::Staggered, false));
        }
        (
            spec,
            Policies {
                restart,
                limit,
                groups,
            },
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Life {
    Alive,
    Done,
    Removed,
    /// Stopped by order (a leaf outside ordered groups, in this model).
    Stopped,
}

/// What the scenario does to a node.
#[derive(Debug, Clone, Copy)]
enum Action {
    Kill(Death),
    /// `Supervisor::restart_node`.
    Restart,
    /// `Supervisor::stop_node`, on a leaf outside ordered groups.
    Stop,
    /// `Supervisor::start_node`, on a stopped node.
    Start,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => death().prop_map(Action::Kill),
        1 => Just(Action::Restart),
        1 => Just(Action::Stop),
        1 => Just(Action::Start),
    ]
}

/// What the tree must look like: each node's life and how often it was entered, and how many
/// times a parent gave up on its restart limit.
struct Model<'a> {
    spec: &'a [SpecNode],
    policies: &'a Policies,
    parent: Vec<Option<usize>>,
    life: Vec<Life>,
    entries: Vec<usize>,
    /// Failed-children restarts counted by each node's current run.
    counted: Vec<u32>,
    escalations: usize,
}

impl<'a> Model<'a> {
    fn new(spec: &'a [SpecNode], policies: &'a Policies) -> Self {
        let mut parent = vec![None; spec.len()];
        for (i, node) in spec.iter().enumerate() {
            for &c in node.groups.iter().flatten() {
                parent[c] = Some(i);
            }
        }
        Model {
            spec,
            policies,
            parent,
            life: vec![Life::Alive; spec.len()],
            entries: vec![1; spec.len()],
            counted: vec![0; spec.len()],
            escalations: 0,
        }
    }

    /// `v`'s run ends by `how`.
    fn kill(&mut self, v: usize, how: Death) {
        use arbor::Restart;
        let clean = matches!(how, Death::ReturnWithoutDone);
        match (self.policies.restart[v], clean) {
            (Restart::Transient, true) => self.life[v] = Life::Done,
            (Restart::Temporary, _) => self.life[v] = Life::Removed,
            _ => self.fail(v),
        }
    }

    /// `Supervisor::restart_node(v)`: a bounce. Only `v`'s subtree starts over (a temporary
    /// `v` is never restarted: it leaves); its group, its backoff and its parent's limit are
    /// left alone.
    fn restart_by_order(&mut self, v: usize) {
        match self.policies.restart[v] {
            arbor::Restart::Temporary => self.life[v] = Life::Removed,
            _ => self.restart(v),
        }
    }

    /// `v` died: its group follows its strategy, and it restarts, unless that is one restart
    /// too many for its parent, which then dies in turn.
    fn fail(&mut self, v: usize) {
        let Some(p) = self.parent[v] else {
            return self.restart(v);
        };
        let (g, rank) = self.group_of(v);
        let (strategy, _) = self.policies.groups[p][g];
        let members = self.spec[p].groups[g].clone();
        for (r, &m) in members.iter().enumerate() {
            if m == v || (strategy == arbor::Strategy::RestForOne && r < rank) {
                continue;
            }
            match (self.life[m], self.policies.restart[m]) {
                (Life::Removed | Life::Stopped, _) => {}
                (Life::Alive, arbor::Restart::Temporary) => self.life[m] = Life::Removed,
                _ => self.restart(m),
            }
        }
        if let Some(max) = self.policies.limit[p] {
            self.counted[p] += 1;
            if self.counted[p] > max {
                self.escalations += 1;
                return self.fail(p); // its restart re-creates v
            }
        }
        self.restart(v);
    }

    /// A new run of `i`: its whole subtree starts anew.
    fn restart(&mut self, i: usize) {
        let mut nodes = Vec::new();
        subtree(self.spec, i, &mut nodes);
        for n in nodes {
            self.entries[n] += 1;
            self.life[n] = Life::Alive;
            self.counted[n] = 0;
        }
    }

    fn group_of(&self, v: usize) -> (usize, usize) {
        let p = self.parent[v].unwrap();
        self.spec[p]
            .groups
            .iter()
            .enumerate()
            .find_map(|(g, members)| members.iter().position(|&m| m == v).map(|r| (g, r)))
            .unwrap()
    }

    /// Whether `i` is in the tree: it and every ancestor not removed.
    fn present(&self, i: usize) -> bool {
        std::iter::successors(Some(i), |&n| self.parent[n]).all(|n| self.life[n] != Life::Removed)
    }

    fn matches(&self, dns: &[String], status: &arbor::TreeStatus, tracker: &Tracker) -> bool {
        let present = (0..dns.len()).filter(|&i| self.present(i)).count();
        status.node_count() == present
            && (0..dns.len()).all(|i| {
                let want = match (self.present(i), self.life[i]) {
                    (false, _) => None,
                    (true, Life::Done) => Some(arbor::NodeState::Done),
                    (true, Life::Stopped) => Some(arbor::NodeState::Stopped),
                    (true, _) => Some(arbor::NodeState::Healthy),
                };
                status.get(&dns[i]).map(|n| n.state) == want
                    && tracker.entries(&dns[i]) == self.entries[i]
            })
    }
}

fn policy_runnables(
    spec: &[SpecNode],
    policies: &Policies,
    kills: &Arc<Kills>,
    deaths: &Arc<Deaths>,
    tracker: &Arc<Tracker>,
) -> Vec<Arc<dyn Runnable>> {
    build(spec, |i, groups| {
        let (kills, deaths) = (kills.clone(), deaths.clone());
        let (limit, shapes) = (policies.limit[i], policies.groups[i].clone());
        let restarts: Vec<arbor::Restart> = spec[i]
            .groups
            .iter()
            .flatten()
            .map(|&c| policies.restart[c])
            .collect();
        Arc::new(tracker.track(move |ctx: Context| {
            let (groups, shapes, restarts) = (groups.clone(), shapes.clone(), restarts.clone());
            let killed = kills.killed(&ctx.dn().to_string());
            let deaths = deaths.clone();
            async move {
                if let Some(max) = limit {
                    ctx.limit_restarts(arbor::RestartLimit::new(max, Duration::from_secs(3600)))?;
                }
                let mut restarts = restarts.into_iter();
                for (group, (strategy, ordered)) in groups.into_iter().zip(shapes) {
                    let mut g = Group::new().strategy(strategy);
                    if ordered {
                        g = g.ordered();
                    }
                    for (name, r) in group {
                        let restart = restarts.next().unwrap();
                        g = g.child(arbor::Child::shared(name, r).restart(restart));
                    }
                    ctx.run_group(g)?;
                }
                serve_until_killed(&ctx, killed, &deaths).await
            }
        }))
    })
}

async fn policy_scenario(
    spec: Vec<SpecNode>,
    policies: Policies,
    actions: Vec<(prop::sample::Index, Action)>,
) {
    let (kills, deaths, tracker) = (Kills::new(), Arc::new(Deaths::default()), Tracker::new());
    let all = policy_runnables(&spec, &policies, &kills, &deaths, &tracker);
    let dns = dns(&spec);
    let sup = supervise(&all[0]);
    let mut events = sup.events();
    let mut model = Model::new(&spec, &policies);
    settled(&sup, |s| model.matches(&dns, s, &tracker)).await;

    for (pick, action) in actions {
        let candidates: Vec<usize> = (0..spec.len())
            .filter(|&i| model.present(i))
            .filter(|&i| match action {
                Action::Kill(_) | Action::Restart => model.life[i] == Life::Alive,
                Action::Stop => {
                    model.life[i] == Life::Alive
                        && spec[i].groups.is_empty()
                        && model.parent[i].is_some_and(|p| {
                            let (g, _) = model.group_of(i);
                            !policies.groups[p][g].1
                        })
                }
                Action::Start => model.life[i] == Life::Stopped,
            })
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let node = candidates[pick.index(candidates.len())];
        let dn = &dns[node];
        match action {
            Action::Kill(how) => {
                model.kill(node, how);
                deaths.0.lock().insert(dn.clone(), how);
                kills.kill(dn);
            }
            Action::Restart => {
                model.restart_by_order(node);
                sup.restart_node(dn).await.unwrap();
            }
            Action::Stop => {
                model.life[node] = Life::Stopped;
                sup.stop_node(dn).await.unwrap();
            }
            Action::Start => {
                model.restart(node);
                sup.start_node(dn).await.unwrap();
            }
        }
        let (status, _) = settled(&sup, |s| model.matches(&dns, s, &tracker)).await;
        assert!(
            model.matches(&dns, &status, &tracker),
            "after {action:?} of {dn}:\n{status}"
        );
    }
    sup.shutdown().await.into_result().unwrap();
    let mut escalations = 0;
    while let Some(event) = events.next().await {
        if event
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("restart limit exceeded"))
        {
            escalations += 1;
        }
    }
    assert_eq!(
        escalations, model.escalations,
        "escalations only when a limit is exceeded"
    );
    assert_eq!(tracker.live(), 0);
    tracker.assert_never_two_at_once();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_policies_restart_exactly_what_they_require(
        (spec, policies) in tree(3).prop_flat_map(policies),
        actions in prop::collection::vec((any::<prop::sample::Index>(), action()), 1..8),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(policy_scenario(spec, policies, actions));
    }
}
