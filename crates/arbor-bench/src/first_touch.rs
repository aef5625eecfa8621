//! What the machine charges for memory a process touches for the first time: the part of every
//! cold start-up figure that is paid per byte, whatever the code does with the byte.
//!
//! - `first_touch_mib_per_s` (MiB/s): a fresh zeroed allocation of [`MIB`] MiB, which the
//!   allocator takes straight from the kernel, written one byte per page; the median of three
//!   rounds. Each write faults a page in: the kernel finds a frame, zeroes it and maps it, and
//!   on a VM the host may first have to back it. On the 2-core VM of `docs/benchmarks.md` this
//!   moves by a factor of two from run to run, which is why start-up figures at a million nodes
//!   (650 MB) do.
//! - `first_touch_ns_per_kib` (ns): the same as the time one KiB costs, to set beside a figure
//!   of bytes per node.

use std::time::Instant;

use crate::procstat::rss_bytes;
use crate::report::Metric;

/// How much is touched per round: about what a million-node tree takes.
pub const MIB: usize = 512;

/// The page size assumed for the writes; on a machine with bigger pages every page is still
/// written, some more than once.
const PAGE: usize = 4096;

/// Touches `mib` MiB three times over, each in a fresh allocation. The figures need an
/// allocator that maps an allocation this big afresh and leaves its pages alone, as glibc's
/// does from 32 MiB (below 64 MiB it may serve it from memory it already has). When the
/// process's RSS did not grow by at least half of what was touched, the pages were not
/// faulted in by the writes (mimalloc, for one, zeroes them itself), and the figures would
/// measure something else: there are none then, and a comment line says why. The machine's
/// figure is the same whatever the allocator; take it from a run with the system one.
///
/// # Errors
///
/// When the process's RSS cannot be read.
pub fn measure(mib: usize) -> anyhow::Result<Vec<Metric>> {
    let bytes = mib << 20;
    let mut rates = Vec::with_capacity(3);
    for _ in 0..3 {
        let rss0 = rss_bytes()?;
        // A zeroed allocation above glibc's largest mmap threshold (32 MiB) is a fresh
        // mapping: its pages are not faulted in yet.
        let mut memory = vec![0u8; bytes];
        let t0 = Instant::now();
        for i in (0..bytes).step_by(PAGE) {
            memory[i] = 1;
        }
        std::hint::black_box(&mut memory);
        let elapsed = t0.elapsed();
        let grown = rss_bytes()?.saturating_sub(rss0);
        if grown < (bytes / 2) as u64 {
            println!(
                "# first_touch: no figures: the RSS grew by {grown} bytes for {bytes} touched, \
                 so the allocator had faulted the pages in already"
            );
            return Ok(Vec::new());
        }
        rates.push(mib as f64 / elapsed.as_secs_f64());
        drop(memory);
    }
    rates.sort_by(f64::total_cmp);
    let rate = rates[1];
    Ok(vec![
        Metric::new("first_touch_mib_per_s", rate, "MiB/s"),
        Metric::new("first_touch_ns_per_kib", 1e9 / (rate * 1024.0), "ns"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_fresh_memory_grows_the_rss_and_gives_a_rate() {
        let metrics = measure(64).unwrap();
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["first_touch_mib_per_s", "first_touch_ns_per_kib"]);
        assert!(metrics.iter().all(|m| m.value > 0.0 && m.value.is_finite()));
    }
}
