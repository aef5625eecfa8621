//! Memory soak: `soak_<shape>_*`. Many restarts of one shape, with the process's RSS sampled
//! at regular marks; flat RSS means nothing is kept per restart.
//!
//! Three shapes, each under a root that starts it, signals Healthy and serves:
//!
//! - `leaf`: one leaf node (`root.leaf`) that dies;
//! - `group`: a group of [`WIDTH`] members (`root.m0` .. `root.m99`) of which `m0` dies, so
//!   the other 99 are cancelled and the whole group restarts;
//! - `parent`: a node (`root.parent`) with [`WIDTH`] children, each started as a group of its
//!   own, that dies itself: its children are cancelled and removed, and re-created by its
//!   next run.
//!
//! A **restart** is one death of the victim (`leaf`, `m0`, `parent`) followed by the whole
//! shape being entered again: 1, 100 or 101 runnable entries. Every runnable counts its own
//! entries in one `AtomicU64`; the entry that completes a round wakes the driver (a
//! [`Notify`]), which then tells the victim to die (another [`Notify`]). Nothing waits on the
//! supervisor's events (an unread subscriber would buffer every event) and nothing sleeps. The
//! backoff is [`tiny_backoff`] (1 µs), which the core waits by yielding rather than on tokio's
//! timer; after a death every member of the victim's group waits it out.
//!
//! At start (the shape entered once, nothing restarted yet) and after every `every`
//! restarts the driver reads `VmRSS`, the runtime's live task count and the supervisor's
//! [`StateCounts`](arbor::StateCounts) node count. The RSS is read while the tree is between two
//! restarts: the round is entered, the next kill not yet sent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor::{Context, Group, RunFuture, Runnable, Signal, Supervisor};
use tokio::sync::Notify;

use crate::procstat::rss_bytes;
use crate::report::{Line, Metric};
use crate::restart::tiny_backoff;

/// How many members the group has, and how many children the parent.
pub const WIDTH: usize = 100;

/// How long one restart may take before the soak fails.
const LIMIT: Duration = Duration::from_secs(60);

/// What restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One leaf node that dies.
    Leaf,
    /// A group of [`WIDTH`] members, one of which dies.
    Group,
    /// A node with [`WIDTH`] children that dies itself.
    Parent,
}

impl Shape {
    /// Every shape, in the order of the issue.
    pub const ALL: [Shape; 3] = [Shape::Leaf, Shape::Group, Shape::Parent];

    /// The name in figures and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Leaf => "leaf",
            Shape::Group => "group",
            Shape::Parent => "parent",
        }
    }

    /// A line that says what the shape is, for tables.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::Leaf => "single leaf node dies",
            Shape::Group => "group of 100, one member dies",
            Shape::Parent => "parent of 100 children dies",
        }
    }

    /// How many runnables are entered per restart.
    pub fn entries_per_restart(self) -> u64 {
        match self {
            Shape::Leaf => 1,
            Shape::Group => WIDTH as u64,
            Shape::Parent => WIDTH as u64 + 1,
        }
    }

    /// How many nodes the tree has, the root included.
    pub fn nodes(self) -> usize {
        1 + usize::try_from(self.entries_per_restart()).unwrap_or(usize::MAX)
    }
}

impl std::str::FromStr for Shape {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Shape::ALL
            .into_iter()
            .find(|shape| shape.name() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown shape {s:?}: expected leaf, group or parent"))
    }
}

/// Shared by the driver and every runnable of the shape.
#[derive(Debug, Default)]
struct Probe {
    /// Runnable entries so far, every node of the shape.
    entries: AtomicU64,
    /// The entry count that completes the current round; the entry that reaches it notifies.
    target: AtomicU64,
    round_entered: Notify,
    kill: Notify,
}

impl Probe {
    fn enter(&self) {
        let n = self.entries.fetch_add(1, Ordering::AcqRel) + 1;
        if n == self.target.load(Ordering::Acquire) {
            // notify_one keeps a permit if the driver is between its check and its await.
            self.round_entered.notify_one();
        }
    }

    /// Waits until `target` entries have been made. `target` must have been stored before
    /// any entry of the round could be made.
    async fn entered(&self, target: u64) -> anyhow::Result<()> {
        let wait = async {
            loop {
                let notified = self.round_entered.notified();
                if self.entries.load(Ordering::Acquire) >= target {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(LIMIT, wait).await.map_err(|_| {
            anyhow::anyhow!(
                "{} of {target} runnable entries after {LIMIT:?}",
                self.entries.load(Ordering::Acquire)
            )
        })
    }
}

/// Signals Healthy and serves until cancelled: the group's other members, the parent's
/// children.
#[derive(Debug)]
struct Bystander(Arc<Probe>);

impl Runnable for Bystander {
    fn run(&self, ctx: Context) -> RunFuture {
        let probe = self.0.clone();
        Box::pin(async move {
            probe.enter();
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        })
    }
}

/// Signals Healthy, then dies when the driver says so: the leaf and the group's `m0`.
#[derive(Debug)]
struct Victim(Arc<Probe>);

impl Runnable for Victim {
    fn run(&self, ctx: Context) -> RunFuture {
        let probe = self.0.clone();
        Box::pin(async move {
            probe.enter();
            ctx.signal(Signal::Healthy)?;
            die_on_command(&ctx, &probe).await
        })
    }
}

async fn die_on_command(ctx: &Context, probe: &Probe) -> anyhow::Result<()> {
    tokio::select! {
        () = ctx.cancelled() => Ok(()),
        () = probe.kill.notified() => Err(anyhow::anyhow!("killed on command")),
    }
}

/// Starts [`WIDTH`] children, each a group of its own, signals Healthy, then dies when the
/// driver says so.
struct Parent {
    probe: Arc<Probe>,
    child: Arc<dyn Runnable>,
    names: Arc<[&'static str]>,
}

impl Runnable for Parent {
    fn run(&self, ctx: Context) -> RunFuture {
        let (probe, child, names) = (self.probe.clone(), self.child.clone(), self.names.clone());
        Box::pin(async move {
            probe.enter();
            for &name in names.iter() {
                ctx.run_group(Group::new().add_shared(name, child.clone()))?;
            }
            ctx.signal(Signal::Healthy)?;
            die_on_command(&ctx, &probe).await
        })
    }
}

/// The supervisor's root: starts the shape once, signals Healthy, serves until cancelled.
struct Root {
    shape: Shape,
    probe: Arc<Probe>,
    names: Arc<[&'static str]>,
}

impl Runnable for Root {
    fn run(&self, ctx: Context) -> RunFuture {
        let (shape, probe, names) = (self.shape, self.probe.clone(), self.names.clone());
        Box::pin(async move {
            let bystander: Arc<dyn Runnable> = Arc::new(Bystander(probe.clone()));
            let victim: Arc<dyn Runnable> = Arc::new(Victim(probe.clone()));
            match shape {
                Shape::Leaf => ctx.run_group(Group::new().add_shared("leaf", victim))?,
                Shape::Group => {
                    let mut group = Group::new().add_shared(names[0], victim);
                    for &name in &names[1..] {
                        group = group.add_shared(name, bystander.clone());
                    }
                    ctx.run_group(group)?;
                }
                Shape::Parent => {
                    let parent = Parent {
                        probe,
                        child: bystander,
                        names,
                    };
                    ctx.run_group(Group::new().add("parent", parent))?;
                }
            }
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        })
    }
}

/// The DN of the node that dies.
fn victim_dn(shape: Shape) -> &'static str {
    match shape {
        Shape::Leaf => "root.leaf",
        Shape::Group => "root.m0",
        Shape::Parent => "root.parent",
    }
}

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Restarts done when it was taken.
    pub restarts: u64,
    /// `VmRSS`, bytes.
    pub rss: u64,
    /// Tasks alive in the runtime (arbor's runnables and processor, the harness's driver).
    pub tasks: usize,
    /// Nodes in the tree, from [`Supervisor::counts`].
    pub nodes: usize,
}

/// What a soak saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Soak {
    /// The shape.
    pub shape: Shape,
    /// At start, then after every `every` restarts.
    pub samples: Vec<Sample>,
    /// Runnable entries, all nodes of the shape, the first start included.
    pub entries: u64,
    /// The victim's restart count as the supervisor's status reports it.
    pub status_restarts: u64,
    /// From the first kill to the last round entered.
    pub wall: Duration,
}

/// Reads RSS, the runtime's live tasks and the tree's node count.
async fn sample(restarts: u64, sup: &Supervisor) -> anyhow::Result<Sample> {
    let rss = rss_bytes()?;
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    Ok(Sample {
        restarts,
        rss,
        tasks,
        nodes: sup.counts().await.nodes,
    })
}

/// Runs `restarts` restarts of `shape`, sampling at start and after every `every`.
///
/// # Errors
///
/// When the tree does not come up, a restart takes more than a minute, the supervisor's
/// restart count disagrees with the harness's, or the shutdown reports a stuck node.
pub async fn run(shape: Shape, restarts: u64, every: u64) -> anyhow::Result<Soak> {
    anyhow::ensure!(every > 0, "the sampling interval must be more than zero");
    // The names are made once, so that the harness allocates nothing per restart for them.
    let names: Arc<[&'static str]> = (0..WIDTH)
        .map(|i| &*Box::leak(format!("m{i}").into_boxed_str()))
        .collect();
    let probe = Arc::new(Probe::default());
    let per = shape.entries_per_restart();
    probe.target.store(per, Ordering::Release);
    let root = Root {
        shape,
        probe: probe.clone(),
        names,
    };
    let sup = Supervisor::builder().backoff(tiny_backoff()).spawn(root)?;
    probe.entered(per).await?;

    let mut samples = vec![sample(0, &sup).await?];
    let t0 = Instant::now();
    for done in 1..=restarts {
        let target = per * (done + 1);
        // Stored before the kill: no entry of this round can come before it.
        probe.target.store(target, Ordering::Release);
        probe.kill.notify_one();
        probe.entered(target).await?;
        if done.is_multiple_of(every) || done == restarts {
            samples.push(sample(done, &sup).await?);
        }
    }
    let wall = t0.elapsed();
    let status = sup.status().await;
    let status_restarts = status
        .get(victim_dn(shape))
        .map(|node| u64::from(node.restarts))
        .ok_or_else(|| anyhow::anyhow!("no node {} in the status", victim_dn(shape)))?;
    sup.shutdown().await.into_result()?;
    anyhow::ensure!(
        status_restarts == restarts,
        "the supervisor counts {status_restarts} restarts of {}, the harness {restarts}",
        victim_dn(shape)
    );
    Ok(Soak {
        shape,
        samples,
        entries: probe.entries.load(Ordering::Acquire),
        status_restarts,
        wall,
    })
}

/// [`run`], as figures: `soak_<shape>_rss_at_<n>` (bytes) for every sample, `_rss_growth`
/// (bytes: the last sample less the first after start, i.e. after `every` restarts),
/// `_tasks_at_<n>` and `_nodes_at_<n>` for the first and last sample, `_restarts`,
/// `_entries`, `_wall` (ms) and `_per_restart` (us).
///
/// # Errors
///
/// As [`run`].
pub async fn measure(shape: Shape, restarts: u64, every: u64) -> anyhow::Result<Vec<Metric>> {
    let soak = run(shape, restarts, every).await?;
    let name = |what: &str| format!("soak_{}_{what}", shape.name());
    let mut metrics = Vec::new();
    metrics.push(Metric::new(
        name("restarts"),
        soak.status_restarts as f64,
        "restarts",
    ));
    metrics.push(Metric::new(name("entries"), soak.entries as f64, "entries"));
    for s in &soak.samples {
        metrics.push(Metric::new(
            name(&format!("rss_at_{}", s.restarts)),
            s.rss as f64,
            "bytes",
        ));
    }
    let ends = [soak.samples.first(), soak.samples.last()];
    for s in ends.into_iter().flatten() {
        let at = s.restarts;
        metrics.push(Metric::new(
            name(&format!("tasks_at_{at}")),
            s.tasks as f64,
            "tasks",
        ));
        metrics.push(Metric::new(
            name(&format!("nodes_at_{at}")),
            s.nodes as f64,
            "nodes",
        ));
    }
    if let (Some(first), Some(last)) = (soak.samples.get(1), soak.samples.last()) {
        let growth = last.rss as f64 - first.rss as f64;
        metrics.push(Metric::new(name("rss_growth"), growth, "bytes"));
    }
    metrics.push(Metric::ms(name("wall"), soak.wall));
    let per = soak.wall.as_secs_f64() * 1e6 / soak.status_restarts.max(1) as f64;
    metrics.push(Metric::new(name("per_restart"), per, "us"));
    Ok(metrics)
}

/// Thousands separated, for tables: `1234567` as `1,234,567`.
fn thousands(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    if v < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The soak figures among `lines` as a Markdown table: a row per runtime and shape, RSS in KiB
/// at start and at every mark, and the growth from the first mark to the last.
pub fn table(lines: &[Line]) -> String {
    // (rt, shape) -> figure name (without the prefix) -> value, in the order first seen.
    let mut rows: Vec<((String, Shape), BTreeMap<String, f64>)> = Vec::new();
    let mut marks = BTreeSet::new();
    for line in lines {
        let Some(rest) = line.metric.name.strip_prefix("soak_") else {
            continue;
        };
        let Some((shape, what)) = rest.split_once('_') else {
            continue;
        };
        let Ok(shape) = shape.parse::<Shape>() else {
            continue;
        };
        if let Some(at) = what
            .strip_prefix("rss_at_")
            .and_then(|n| n.parse::<u64>().ok())
        {
            marks.insert(at);
        }
        let key = (line.tag("rt").unwrap_or("-").to_owned(), shape);
        let row = match rows.iter().position(|(k, _)| *k == key) {
            Some(i) => &mut rows[i].1,
            None => {
                rows.push((key, BTreeMap::new()));
                &mut rows.last_mut().expect("just pushed").1
            }
        };
        row.insert(what.to_owned(), line.metric.value);
    }
    let kib = |v: f64| thousands((v / 1024.0).round() as i64);
    let mut out = String::from("| rt | shape | restarts | entries |");
    for &at in &marks {
        if at == 0 {
            out += " RSS at start (KiB) |";
        } else {
            out += &format!(" at {} |", thousands(at as i64));
        }
    }
    out += " growth, first mark → last (KiB) | tasks, start → end | µs per restart |\n|---|---|";
    out += &"---:|".repeat(2 + marks.len() + 3);
    out.push('\n');
    for ((rt, shape), row) in &rows {
        let get = |what: &str| row.get(what).copied();
        let count = |what: &str| get(what).map_or("—".into(), |v| thousands(v as i64));
        out += &format!(
            "| {rt} | {} | {} | {} |",
            shape.describe(),
            count("restarts"),
            count("entries")
        );
        for at in &marks {
            out += &format!(
                " {} |",
                get(&format!("rss_at_{at}")).map_or("—".into(), kib)
            );
        }
        let growth = get("rss_growth").map_or("—".into(), |g| {
            let sign = if g > 0.0 { "+" } else { "" };
            format!("{sign}{}", kib(g))
        });
        let first = marks.first().and_then(|m| get(&format!("tasks_at_{m}")));
        let last = marks.last().and_then(|m| get(&format!("tasks_at_{m}")));
        let tasks = match (first, last) {
            (Some(a), Some(b)) => format!("{} → {}", a as i64, b as i64),
            _ => "—".into(),
        };
        let per = get("per_restart").map_or("—".into(), |v| format!("{v:.1}"));
        out += &format!(" {growth} | {tasks} | {per} |\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_the_soak_lines_and_ignores_the_rest() {
        let text = "RESULT rt=multi soak_leaf_restarts=20.000 restarts\n\
            RESULT rt=multi soak_leaf_entries=21.000 entries\n\
            RESULT rt=multi soak_leaf_rss_at_0=1048576.000 bytes\n\
            RESULT rt=multi soak_leaf_rss_at_10=2097152.000 bytes\n\
            RESULT rt=multi soak_leaf_rss_at_20=2101248.000 bytes\n\
            RESULT rt=multi soak_leaf_tasks_at_0=3.000 tasks\n\
            RESULT rt=multi soak_leaf_tasks_at_20=3.000 tasks\n\
            RESULT rt=multi soak_leaf_rss_growth=4096.000 bytes\n\
            RESULT rt=multi soak_leaf_per_restart=2.500 us\n\
            RESULT rt=multi spawn_d10_wall=1.000 ms\n\
            # a comment";
        let lines: Vec<Line> = text.lines().filter_map(Line::parse).collect();
        let table = table(&lines);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert!(
            rows[0].contains("| RSS at start (KiB) | at 10 | at 20 |"),
            "{table}"
        );
        assert_eq!(
            rows[2],
            "| multi | single leaf node dies | 20 | 21 | 1,024 | 2,048 | 2,052 | +4 | 3 → 3 | 2.5 |"
        );
        assert_eq!(thousands(-1_234_567), "-1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_shape_restarts_as_often_as_asked_and_samples_each_mark() {
        for shape in Shape::ALL {
            let soak = run(shape, 25, 10).await.unwrap();
            assert_eq!(soak.status_restarts, 25, "{shape:?}");
            assert_eq!(soak.entries, shape.entries_per_restart() * 26, "{shape:?}");
            let marks: Vec<u64> = soak.samples.iter().map(|s| s.restarts).collect();
            assert_eq!(marks, [0, 10, 20, 25], "{shape:?}");
            for s in &soak.samples {
                assert_eq!(s.nodes, shape.nodes(), "{shape:?} at {}", s.restarts);
            }
        }
    }

    #[tokio::test]
    async fn the_shapes_restart_on_a_current_thread_runtime_too() {
        for shape in Shape::ALL {
            let soak = run(shape, 5, 5).await.unwrap();
            assert_eq!(soak.status_restarts, 5, "{shape:?}");
        }
    }

    #[test]
    fn shapes_parse_from_their_names() {
        for shape in Shape::ALL {
            assert_eq!(shape.name().parse::<Shape>().unwrap(), shape);
        }
        assert!("tree".parse::<Shape>().is_err());
    }
}
