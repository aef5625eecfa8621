//! Benchmarks of arbor, measured the way the peer anchors (Erlang/OTP, Go) measure themselves.
//!
//! Three things live here:
//!
//! - the `arbor-bench` binary: the anchor harness. It prints `RESULT rt=<runtime> name=value
//!   unit` lines whose names are the anchors' (`spawn_d14_wall`, `restart_a_p50`, ...), each
//!   measurement in a fresh process so that memory figures start clean;
//! - criterion micro-benchmarks of hot paths (`cargo bench -p arbor-bench`);
//! - the `plot` binary, which turns result files into `docs/benchmarks-startup.png`.
//!
//! # What is measured
//!
//! - **Spawn** ([`spawn`]): a full binary tree of depth D (2^(D+1) - 1 nodes) whose every node
//!   starts its two children as one group, signals Healthy and serves until cancelled. Wall
//!   time from creating the supervisor until every node has signalled and the processor has
//!   recorded it (one [`Supervisor::status`](arbor::Supervisor::status) round trip); RSS growth
//!   per node; then the wall time of [`Supervisor::shutdown`](arbor::Supervisor::shutdown);
//!   then the same start-up again under a second supervisor, in the memory the first freed
//!   (the *warm* figures, with most first touches of memory left out).
//! - **Restart** ([`restart`]): the root runs the group {a, b}; b dies on command; the time from
//!   b's death until a (cancelled, so restarted at once) and b (dead, so restarted after a 1 µs
//!   backoff) are entered again; optionally beside a healthy 32,767-node subtree.
//! - **Idle** ([`idle`]): the CPU time the whole process uses while a 32,767-node tree idles.
//! - **Floor** ([`floor`]): what the same hops cost in bare tokio, without arbor: the lower
//!   bound for restart latency.
//! - **Tree floor** ([`tree_floor`]): the spawn benchmark's tree from bare tokio tasks, each
//!   reporting to one central task: the least a tree on tokio costs per node. Beside it,
//!   [`first_touch`]: what the machine charges per byte of memory touched for the first time,
//!   the part of a cold start-up that no code can avoid but by using fewer bytes.
//! - **Storm** ([`storm`]): N leaves under one parent die at once; the time until all run
//!   again, the restart latency of an unrelated group meanwhile, and the event stream's
//!   throughput and memory during it.
//! - **Layers** ([`layers`]): a watch's wake-up and a task lifecycle's stage change.
//! - **Status** ([`status`]): the snapshot and JSON of a big tree, and `counts` beside it.
//! - **Soak** ([`soak`]): 10^6 restarts of a leaf, of a 100-member group and of a parent of
//!   100 children, with the process's RSS sampled every 10^5: it should stay flat.
//!
//! The harness may read `std::time::Instant`: it is not library code, and the workspace's
//! ban on it exists for paused-clock tests.
#![allow(clippy::disallowed_methods)]

pub mod dataset;
pub mod engine;
pub mod first_touch;
pub mod floor;
pub mod idle;
pub mod layers;
pub mod percentile;
pub mod procstat;
pub mod report;
pub mod restart;
pub mod runtime;
pub mod soak;
pub mod spawn;
pub mod status;
pub mod storm;
pub mod tree;
pub mod tree_floor;
