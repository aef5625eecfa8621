//! Deep trees: a chain of 100,000 levels starts, is snapshotted, rendered as JSON and as text,
//! shuts down and is dropped, with no walk that recurses once per level and with memory linear
//! in the node count (each node stores its own name, not its whole DN).

use std::sync::Arc;

use arbor::{Context, NodeState, Runnable, Signal};
use arbor_test_kit::*;

const LEVELS: usize = 100_000;

/// Each node starts one child until the chain is `LEVELS` deep.
fn chain() -> Arc<dyn Runnable> {
    let link: Arc<std::sync::OnceLock<Arc<dyn Runnable>>> = Arc::default();
    let runnable: Arc<dyn Runnable> = Arc::new({
        let link = link.clone();
        move |ctx: Context| {
            let next = link
                .get()
                .expect("set before the supervisor starts")
                .clone();
            async move {
                if ctx.dn().depth() + 1 < LEVELS {
                    ctx.run("n", next)?;
                }
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            }
        }
    });
    let _ = link.set(runnable.clone());
    runnable
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_a_hundred_thousand_levels_works_end_to_end() {
    let root = chain();
    // Room for every transition: this test reads them all.
    let sup = arbor::Supervisor::builder()
        .propagate_panics(true)
        .event_capacity(4 * LEVELS)
        .spawn(move |ctx: Context| root.run(ctx))
        .unwrap();
    let mut events = sup.events();
    let mut healthy = 0;
    while healthy < LEVELS {
        let e = expect(&mut events, |e| e.to == NodeState::Healthy).await;
        healthy += usize::from(e.from.is_some());
    }
    assert_eq!(sup.counts().await.healthy, LEVELS);

    let status = sup.status().await;
    assert_eq!(status.node_count(), LEVELS);
    let leaf = status.iter().last().unwrap();
    assert_eq!(leaf.dn.depth(), LEVELS - 1);
    assert_eq!(status.parent(leaf).unwrap().dn.depth(), LEVELS - 2);
    assert!(
        status.clone() == status,
        "clone and compare without recursion"
    );

    let json = serde_json::to_string(&status).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["nodes"].as_array().unwrap().len(), LEVELS);
    assert_eq!(value["nodes"][LEVELS - 1]["parent"], LEVELS - 2);
    // Linear, not quadratic: no node carries its whole DN.
    assert!(json.len() < 250 * LEVELS, "{} bytes of JSON", json.len());

    let text = status.to_string();
    assert_eq!(text.lines().count(), LEVELS);
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains(&format!("[depth {}] n Healthy", LEVELS - 1)),
        "{}",
        text.lines().last().unwrap()
    );
    assert!(text.len() < 150 * LEVELS, "{} bytes of text", text.len());

    // The leaf's DN is still a string when asked for.
    assert_eq!(leaf.dn.to_string().len(), "root".len() + 2 * (LEVELS - 1));
    drop(status);

    sup.shutdown().await.into_result().unwrap();
    assert_eq!(sup.counts().await.canceled, LEVELS);
    drop(sup);
}
