//! Nearest-rank percentiles, as the anchors compute them.

use std::time::Duration;

/// The `p` percentile (0.0..=1.0) of `samples` by nearest rank: `sorted[floor(p * (n - 1))]`,
/// the anchors' rule. `None` for no samples.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use arbor_bench::percentile::percentile;
///
/// let ms = |n| Duration::from_millis(n);
/// let samples: Vec<_> = (1..=200).rev().map(ms).collect();
/// assert_eq!(percentile(&samples, 0.50), Some(ms(100)));
/// assert_eq!(percentile(&samples, 0.99), Some(ms(198)));
/// ```
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let last = sorted.len().checked_sub(1)?;
    // Truncation is the rule: floor of a non-negative number.
    let rank = (p.clamp(0.0, 1.0) * last as f64) as usize;
    sorted.get(rank).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_anchors_rank_rule() {
        let us = Duration::from_micros;
        let samples: Vec<_> = [5, 1, 4, 2, 3].into_iter().map(us).collect();
        assert_eq!(percentile(&samples, 0.0), Some(us(1)));
        assert_eq!(percentile(&samples, 0.5), Some(us(3)));
        // floor(0.99 * 4) = 3: the second largest, not the largest.
        assert_eq!(percentile(&samples, 0.99), Some(us(4)));
        assert_eq!(percentile(&samples, 1.0), Some(us(5)));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
