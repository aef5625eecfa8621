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
        }))
    })
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

async fn scenario(spec: Vec<SpecNode>, kills_seq: Vec<(prop::sample::Index, Death)>) {
    let (kills, deaths, tracker) = (Kills::new(), Arc::new(Deaths::default()), Tracker::new());
    let all = runnables(&spec, &kills, &deaths, &tracker);
    let dns = dns(&spec);
    let sup = Supervisor::builder()
        .backoff(exact_backoff())
        .spawn({
            let root = all[0].clone();
            move |ctx: Context| root.run(ctx)
        })
        .unwrap();
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
