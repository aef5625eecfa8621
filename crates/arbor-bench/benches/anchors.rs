//! The anchor harness in a quick configuration, so that `cargo bench` also reports start-up,
//! memory per node, shutdown, restart latency and idle CPU on both runtimes, with the
//! anchors' names. The full run (up to 1,048,575 nodes, 200 repetitions, 10 s idle) is
//! `scripts/bench.sh`.
#![allow(missing_docs)]

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    // `cargo bench` passes its own flags (`--bench`, filters): this bench takes none.
    let status = Command::new(env!("CARGO_BIN_EXE_arbor-bench"))
        .args(["--depths", "10,14", "--reps", "100", "--idle-secs", "2"])
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("anchors: the harness failed: {status}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("anchors: cannot run the harness: {err}");
            ExitCode::FAILURE
        }
    }
}
