//! Random DAGs of components under random deaths: every death restarts the dead component and
//! bounces each of its transitive dependents exactly once, no bounce is lost, and no component
//! ever runs twice at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arbor::{Context, Signal};
use arbor_engine::{Component, Engine, Io};
use arbor_test_kit::*;
use parking_lot::Mutex;
use proptest::prelude::*;

/// Each component's inputs: indices lower than its own, so the graph is acyclic.
fn dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
    (1usize..9).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                prop::collection::btree_set(0..i.max(1), 0..=i.min(3)).prop_map(move |s| {
                    if i == 0 {
                        vec![]
                    } else {
                        s.into_iter().collect()
                    }
                })
            })
            .collect::<Vec<_>>()
    })
}

#[derive(Default)]
struct Runs {
    live: Mutex<HashMap<usize, usize>>,
    entries: Mutex<HashMap<usize, usize>>,
}

fn component(i: usize, inputs: &[usize], runs: &Arc<Runs>, kills: &Arc<Kills>) -> Component {
    let (runs, kills, names) = (runs.clone(), kills.clone(), inputs.to_vec());
    let worker = move |ctx: Context, io: Io| {
        let (runs, names) = (runs.clone(), names.clone());
        let killed = kills.killed(&ctx.dn().to_string());
        async move {
            for input in &names {
                io.input::<usize>(&format!("c{input}"))?; // every input has a value
            }
            *runs.entries.lock().entry(i).or_default() += 1;
            {
                let mut live = runs.live.lock();
                let n = live.entry(i).or_default();
                *n += 1;
                assert_eq!(*n, 1, "c{i} runs twice at once");
            }
            io.publish(i);
            let result = async {
                ctx.signal(Signal::Healthy)?;
                tokio::select! {
                    () = ctx.cancelled() => Ok(()),
                    () = killed => anyhow::bail!("killed"),
                }
            }
            .await;
            *runs.live.lock().get_mut(&i).unwrap() -= 1;
            result
        }
    };
    inputs
        .iter()
        .fold(Component::new(format!("c{i}"), worker), |c, input| {
            c.input(format!("c{input}"))
        })
}

/// `v` and everything that depends on it, transitively.
fn affected(graph: &[Vec<usize>], v: usize) -> BTreeSet<usize> {
    let mut out = BTreeSet::from([v]);
    let mut grew = true;
    while grew {
        grew = false;
        for (i, inputs) in graph.iter().enumerate() {
            if !out.contains(&i) && inputs.iter().any(|x| out.contains(x)) {
                out.insert(i);
                grew = true;
            }
        }
    }
    out
}

async fn scenario(graph: Vec<Vec<usize>>, kills_seq: Vec<prop::sample::Index>) {
    let (runs, kills, engine) = (Arc::new(Runs::default()), Kills::new(), Engine::new());
    // Installed in a shuffled order: dependents before their providers, too.
    for i in (0..graph.len()).rev() {
        engine
            .install(component(i, &graph[i], &runs, &kills))
            .unwrap();
    }
    let sup = supervisor(engine.clone());
    let n = graph.len();
    let mut expected = vec![1usize; n];
    let matches = |s: &arbor::TreeStatus, expected: &[usize]| {
        s.node_count() == n + 1
            && all_healthy(s)
            && (0..n).all(|i| runs.entries.lock().get(&i).copied().unwrap_or(0) == expected[i])
    };
    settled(&sup, |s| matches(s, &expected)).await;
    for pick in kills_seq {
        let v = pick.index(n);
        for i in affected(&graph, v) {
            expected[i] += 1;
        }
        kills.kill(&format!("root.c{v}"));
        let (status, _) = settled(&sup, |s| matches(s, &expected)).await;
        assert!(matches(&status, &expected), "after killing c{v}:\n{status}");
    }
    sup.shutdown().await.into_result().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_death_bounces_exactly_its_dependents_once(
        graph in dag(),
        kills in prop::collection::vec(any::<prop::sample::Index>(), 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(scenario(graph, kills));
    }
}
