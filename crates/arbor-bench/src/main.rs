//! The anchor harness: arbor measured exactly as the Erlang/OTP and Go anchors measure
//! themselves, on tokio's multi-thread and current-thread runtimes.
//!
//! Run with `cargo run --release -p arbor-bench -- [options]`:
//!
//! ```text
//! --runtime multi|current|both   runtimes to measure on (default both)
//! --tests spawn,restart,idle     what to measure (default all three; floor, treefloor, storm,
//!                                status, layers, soak and engine also accepted; treefloor
//!                                also measures the machine's first-touch cost of memory)
//! --floor                        also measure the bare-tokio floor under restart latency
//! --depths 10,14,17,19           tree depths for spawn (default 10,14,17,19)
//! --reps 200                     restart repetitions (default 200)
//! --big 14                       depth of the healthy subtree beside the restart group
//! --idle-secs 10                 idle window (default 10)
//! --idle-depth 14                depth of the idle tree (default 14: 32,767 nodes)
//! --storm-sizes 100,1000,10000,100000  leaves of each restart storm (tests storm)
//! --status-depths 14,19          tree depths for the status benchmark (tests status)
//! --soak-restarts 1000000        restarts per soak shape (default 10^6; tests soak, not default)
//! --soak-every 100000            RSS sample interval (default a tenth of --soak-restarts)
//! --soak-shapes leaf,group,parent  soak shapes (default all three)
//! ```
//!
//! `--tests soak` runs the memory soak (see `arbor_bench::soak`): after its `RESULT` lines it
//! prints a Markdown table of RSS per shape and mark.
//!
//! Output: `RESULT rt=<runtime> <anchor name>=<value> <unit>`, three decimals. Every
//! measurement runs in a fresh process (this binary re-executed with `--child`), as the
//! anchors run each in a fresh VM, so that memory figures start from a clean process.
#![allow(clippy::disallowed_methods)]

use std::process::{Command, ExitCode};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use arbor_bench::report::{Line, Metric};
use arbor_bench::runtime::RuntimeKind;
use arbor_bench::soak::{self, Shape};
use arbor_bench::{first_touch, floor, idle, restart, spawn, status, storm, tree_floor};

/// One measurement, run in a process of its own.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Job {
    Spawn {
        depth: u32,
    },
    /// Start-up alone, then exit at once: for profilers (`--child multi spawn_only 17`).
    SpawnOnly {
        depth: u32,
    },
    Restart {
        reps: usize,
        big: Option<u32>,
    },
    Idle {
        depth: u32,
        secs: u64,
    },
    Floor {
        reps: usize,
    },
    Soak {
        shape: Shape,
        restarts: u64,
        every: u64,
    },
    /// Bounce latency through `arbor-engine`.
    Engine {
        reps: usize,
    },
    /// The same tree from bare tokio tasks.
    TreeFloor {
        depth: u32,
    },
    /// The floor tree's start-up alone, then exit at once: for profilers, beside `SpawnOnly`.
    TreeFloorOnly {
        depth: u32,
    },
    /// The machine's cost of memory touched the first time.
    FirstTouch {
        mib: usize,
    },
    /// N leaves die at once.
    Storm {
        leaves: usize,
    },
    /// The status of a big tree.
    Status {
        depth: u32,
    },
    /// The layers' hot paths: a watch's wake-up, a lifecycle stage change.
    Layers {
        reps: usize,
    },
}

impl Job {
    fn to_args(self) -> Vec<String> {
        let s = |v: &dyn ToString| v.to_string();
        match self {
            Job::Spawn { depth } => vec!["spawn".into(), s(&depth)],
            Job::SpawnOnly { depth } => vec!["spawn_only".into(), s(&depth)],
            Job::Restart { reps, big: None } => vec!["restart".into(), s(&reps)],
            Job::Restart {
                reps,
                big: Some(big),
            } => vec!["restart_big".into(), s(&reps), s(&big)],
            Job::Idle { depth, secs } => vec!["idle".into(), s(&depth), s(&secs)],
            Job::Floor { reps } => vec!["floor".into(), s(&reps)],
            Job::Soak {
                shape,
                restarts,
                every,
            } => vec!["soak".into(), shape.name().into(), s(&restarts), s(&every)],
            Job::Engine { reps } => vec!["engine".into(), s(&reps)],
            Job::TreeFloor { depth } => vec!["tree_floor".into(), s(&depth)],
            Job::TreeFloorOnly { depth } => vec!["tree_floor_only".into(), s(&depth)],
            Job::FirstTouch { mib } => vec!["first_touch".into(), s(&mib)],
            Job::Storm { leaves } => vec!["storm".into(), s(&leaves)],
            Job::Status { depth } => vec!["status".into(), s(&depth)],
            Job::Layers { reps } => vec!["layers".into(), s(&reps)],
        }
    }

    fn from_args(args: &[String]) -> anyhow::Result<Job> {
        let num = |i: usize| -> anyhow::Result<u64> {
            args.get(i)
                .with_context(|| format!("job {args:?}: argument {i} missing"))?
                .parse()
                .with_context(|| format!("job {args:?}: argument {i} is not a number"))
        };
        Ok(match args.first().map(String::as_str) {
            Some("spawn") => Job::Spawn {
                depth: u32::try_from(num(1)?)?,
            },
            Some("spawn_only") => Job::SpawnOnly {
                depth: u32::try_from(num(1)?)?,
            },
            Some("restart") => Job::Restart {
                reps: usize::try_from(num(1)?)?,
                big: None,
            },
            Some("restart_big") => Job::Restart {
                reps: usize::try_from(num(1)?)?,
                big: Some(u32::try_from(num(2)?)?),
            },
            Some("idle") => Job::Idle {
                depth: u32::try_from(num(1)?)?,
                secs: num(2)?,
            },
            Some("floor") => Job::Floor {
                reps: usize::try_from(num(1)?)?,
            },
            Some("soak") => Job::Soak {
                shape: args
                    .get(1)
                    .with_context(|| format!("job {args:?}: shape missing"))?
                    .parse()?,
                restarts: num(2)?,
                every: num(3)?,
            },
            Some("engine") => Job::Engine {
                reps: usize::try_from(num(1)?)?,
            },
            Some("tree_floor") => Job::TreeFloor {
                depth: u32::try_from(num(1)?)?,
            },
            Some("tree_floor_only") => Job::TreeFloorOnly {
                depth: u32::try_from(num(1)?)?,
            },
            Some("first_touch") => Job::FirstTouch {
                mib: usize::try_from(num(1)?)?,
            },
            Some("storm") => Job::Storm {
                leaves: usize::try_from(num(1)?)?,
            },
            Some("status") => Job::Status {
                depth: u32::try_from(num(1)?)?,
            },
            Some("layers") => Job::Layers {
                reps: usize::try_from(num(1)?)?,
            },
            _ => bail!("unknown job {args:?}"),
        })
    }

    async fn measure(self) -> anyhow::Result<Vec<Metric>> {
        match self {
            Job::Spawn { depth } => spawn::measure(depth).await,
            Job::SpawnOnly { depth } => start_only(spawn::start_only(depth).await?),
            Job::TreeFloorOnly { depth } => start_only(tree_floor::start_only(depth).await?),
            Job::Restart { reps, big } => restart::measure(reps, big).await,
            Job::Idle { depth, secs } => idle::measure(depth, Duration::from_secs(secs)).await,
            Job::Floor { reps } => floor::measure(reps).await,
            Job::Soak {
                shape,
                restarts,
                every,
            } => soak::measure(shape, restarts, every).await,
            Job::Engine { reps } => arbor_bench::engine::measure(reps).await,
            Job::TreeFloor { depth } => tree_floor::measure(depth).await,
            Job::FirstTouch { mib } => first_touch::measure(mib),
            Job::Storm { leaves } => storm::measure(leaves).await,
            Job::Status { depth } => status::measure(depth).await,
            Job::Layers { reps } => arbor_bench::layers::measure(reps).await,
        }
    }
}

#[derive(Debug)]
struct Options {
    runtimes: Vec<RuntimeKind>,
    jobs: Vec<Job>,
}

const USAGE: &str = "usage: arbor-bench [--runtime multi|current|both] \
[--tests spawn,restart,idle,floor,treefloor,storm,status,layers,soak,engine] \
[--floor] [--depths 10,14,17,19] [--reps 200] [--big 14] [--idle-secs 10] [--idle-depth 14] \
[--storm-sizes 100,1000,10000,100000] [--status-depths 14,19] \
[--soak-restarts 1000000] [--soak-every 100000] [--soak-shapes leaf,group,parent]";

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let mut runtimes = RuntimeKind::ALL.to_vec();
    let mut tests = vec!["spawn".to_owned(), "restart".into(), "idle".into()];
    let mut depths = vec![10, 14, 17, 19];
    let (mut reps, mut big, mut idle_secs, mut idle_depth) = (200, 14, 10, 14);
    let (mut soak_restarts, mut soak_every) = (1_000_000u64, None);
    let mut soak_shapes = Shape::ALL.to_vec();
    let mut storm_sizes: Vec<usize> = vec![100, 1000, 10_000, 100_000];
    let mut status_depths: Vec<u32> = vec![14, 19];
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--floor" {
            tests.push("floor".into());
            continue;
        }
        if flag == "--help" || flag == "-h" {
            bail!("{USAGE}");
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let list = || value.split(',').map(str::trim).filter(|s| !s.is_empty());
        match flag.as_str() {
            "--runtime" => {
                runtimes = match value.as_str() {
                    "both" => RuntimeKind::ALL.to_vec(),
                    one => vec![one.parse()?],
                }
            }
            "--tests" => tests = list().map(str::to_owned).collect(),
            "--depths" => {
                depths = list()
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--depths takes numbers")?
            }
            "--reps" => reps = value.parse().context("--reps takes a number")?,
            "--big" => big = value.parse().context("--big takes a number")?,
            "--idle-secs" => idle_secs = value.parse().context("--idle-secs takes a number")?,
            "--idle-depth" => idle_depth = value.parse().context("--idle-depth takes a number")?,
            "--soak-restarts" => {
                soak_restarts = value.parse().context("--soak-restarts takes a number")?
            }
            "--soak-every" => {
                soak_every = Some(value.parse().context("--soak-every takes a number")?)
            }
            "--storm-sizes" => {
                storm_sizes = list()
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--storm-sizes takes numbers")?
            }
            "--status-depths" => {
                status_depths = list()
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--status-depths takes numbers")?
            }
            "--soak-shapes" => {
                soak_shapes = list().map(str::parse).collect::<Result<_, _>>()?;
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    let mut jobs = Vec::new();
    for test in &tests {
        match test.as_str() {
            "spawn" => jobs.extend(depths.iter().map(|&depth| Job::Spawn { depth })),
            "restart" => {
                jobs.push(Job::Restart { reps, big: None });
                jobs.push(Job::Restart {
                    reps,
                    big: Some(big),
                });
            }
            "idle" => jobs.push(Job::Idle {
                depth: idle_depth,
                secs: idle_secs,
            }),
            "floor" => jobs.push(Job::Floor { reps }),
            "engine" => jobs.push(Job::Engine { reps }),
            "treefloor" => {
                jobs.extend(depths.iter().map(|&depth| Job::TreeFloor { depth }));
                jobs.push(Job::FirstTouch {
                    mib: first_touch::MIB,
                });
            }
            "storm" => jobs.extend(storm_sizes.iter().map(|&leaves| Job::Storm { leaves })),
            "status" => jobs.extend(status_depths.iter().map(|&depth| Job::Status { depth })),
            "layers" => jobs.push(Job::Layers { reps }),
            "soak" => {
                let every = soak_every.unwrap_or(soak_restarts / 10).max(1);
                jobs.extend(soak_shapes.iter().map(|&shape| Job::Soak {
                    shape,
                    restarts: soak_restarts,
                    every,
                }));
            }
            other => {
                bail!("unknown test {other}: expected spawn, restart, idle, floor, treefloor, storm, status, layers, soak or engine")
            }
        }
    }
    Ok(Options { runtimes, jobs })
}

/// Runs one job on `rt` in this process and prints its lines.
fn run_child(rt: RuntimeKind, job: Job) -> anyhow::Result<()> {
    let runtime = rt.build()?;
    // The harness runs as a task, as the anchors' harnesses run as processes/goroutines among
    // the ones they measure, rather than on a thread of its own.
    let metrics = runtime.block_on(async { tokio::spawn(job.measure()).await? })?;
    for metric in metrics {
        println!("{}", Line::on_runtime(rt.name(), metric));
    }
    Ok(())
}

/// Runs every job on every runtime, each in a fresh process, and forwards their lines.
fn run_parent(options: &Options) -> anyhow::Result<bool> {
    let exe = std::env::current_exe().context("finding this binary to re-run it")?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# arbor-bench: multi = tokio multi-thread runtime ({workers} workers), current = current-thread runtime");
    if cfg!(feature = "mimalloc") {
        println!("# allocator: mimalloc (feature mimalloc), not the system allocator");
    }
    let mut ok = true;
    let mut soaked = Vec::new();
    for &job in &options.jobs {
        if let Job::Idle { depth, secs } = job {
            println!(
                "# idle: a depth-{depth} tree, window {secs} s after {:?} settling",
                idle::SETTLE
            );
        }
        if let Job::Soak {
            shape,
            restarts,
            every,
        } = job
        {
            println!(
                "# soak: {}, {restarts} restarts, RSS every {every}",
                shape.describe()
            );
        }
        for &rt in &options.runtimes {
            let output = Command::new(&exe)
                // With RUST_BACKTRACE=1 in the environment, every anyhow error a benchmark's
                // runnable makes would capture a backtrace (~10 µs): user code's cost, not
                // arbor's. Panics keep their backtraces.
                .env("RUST_LIB_BACKTRACE", "0")
                .arg("--child")
                .arg(rt.name())
                .args(job.to_args())
                .stderr(std::process::Stdio::inherit())
                .output()
                .with_context(|| format!("running {}", exe.display()))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            print!("{stdout}");
            if matches!(job, Job::Soak { .. }) {
                soaked.extend(stdout.lines().filter_map(Line::parse));
            }
            if !output.status.success() {
                ok = false;
                println!("# FAILED rt={rt} {job:?}: {}", output.status);
            }
        }
    }
    if !soaked.is_empty() {
        println!("\n{}", soak::table(&soaked));
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("--child") {
        args.get(1)
            .context("--child needs a runtime")
            .and_then(|rt| rt.parse())
            .and_then(|rt| Ok((rt, Job::from_args(&args[2..])?)))
            .and_then(|(rt, job)| run_child(rt, job))
            .map(|()| true)
    } else {
        parse_options(&args).and_then(|options| run_parent(&options))
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("arbor-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a start-up's figures and exits at once, skipping the tree's teardown: the profile of a
/// `*_only` job holds the start-up alone.
fn start_only(metrics: Vec<Metric>) -> ! {
    for metric in metrics {
        println!("{metric:?}");
    }
    std::process::exit(0)
}
