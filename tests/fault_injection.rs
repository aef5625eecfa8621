//! Property: in random trees, killing any node (by error, panic, or returning without Done)
//! re-runs exactly that node's subtree and its group siblings' subtrees, once, and the tree
//! becomes all-Healthy again; no DN ever runs twice at once.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use arbor::{Context, Group, Runnable, Signal, Supervisor};
use common::*;
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
    let mut built: Vec<Option<Arc<dyn Runnable>>> = vec![None; spec.len()];
    // Children have higher indices than their parents: build from the back.
    for i in (0..spec.len()).rev() {
        let groups: Vec<Vec<(String, Arc<dyn Runnable>)>> = spec[i]
            .groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|&c| (format!("n{c}"), built[c].clone().unwrap()))
                    .collect()
            })
            .collect();
        let (kills, deaths) = (kills.clone(), deaths.clone());
        built[i] = Some(Arc::new(tracker.track(move |ctx: Context| {
            let groups = groups.clone();
            let killed = kills.killed(ctx.dn().as_str());
            let deaths = deaths.clone();
            async move {
                for group in groups {
                    let mut g = Group::new();
                    for (name, r) in group {
                        g = g.add_shared(name, r);
                    }
                    ctx.run_group(g)?;
                }
                ctx.signal(Signal::Healthy)?;
                tokio::select! {
                    () = ctx.cancelled() => return Ok(()),
                    () = killed => {}
                }
                match deaths.0.lock().remove(ctx.dn().as_str()).unwrap() {
                    Death::Error => anyhow::bail!("injected error"),
                    Death::Panic => panic!("injected panic"),
                    Death::ReturnWithoutDone => Ok(()),
                }
            }
        })));
    }
    built.into_iter().map(Option::unwrap).collect()
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
    settled(&sup, |s| s.len() == n && all_healthy(s)).await;
    let mut expected: Vec<usize> = vec![1; n];

    for (pick, how) in kills_seq {
        let victim = pick.index(n);
        for i in affected(&spec, victim) {
            expected[i] += 1;
        }
        deaths.0.lock().insert(dns[victim].clone(), how);
        kills.kill(&dns[victim]);
        let (_, _) = settled(&sup, |s| {
            s.len() == n
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
