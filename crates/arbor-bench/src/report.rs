//! `RESULT` lines: what the harness prints and the plot reads.
//!
//! The anchors print `RESULT name=value unit`. arbor's harness measures on more than one
//! runtime, so it puts tags between `RESULT` and the figure, keeping the name intact:
//!
//! ```text
//! RESULT rt=multi spawn_d14_wall=21.337 ms
//! RESULT peer=otp_local spawn_d14_wall=124.335 ms
//! ```
//!
//! The figure is the second-to-last field and the unit the last; every field before them is a
//! `key=value` tag.

use std::fmt;
use std::time::Duration;

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The anchors' name, e.g. `spawn_d14_wall`.
    pub name: String,
    /// The value, in `unit`.
    pub value: f64,
    /// `ms`, `us`, `bytes`, `nodes`.
    pub unit: String,
}

impl Metric {
    /// A figure in milliseconds.
    pub fn ms(name: impl Into<String>, d: Duration) -> Self {
        Metric {
            name: name.into(),
            value: d.as_secs_f64() * 1e3,
            unit: "ms".into(),
        }
    }

    /// A figure in microseconds.
    pub fn us(name: impl Into<String>, d: Duration) -> Self {
        Metric {
            name: name.into(),
            value: d.as_secs_f64() * 1e6,
            unit: "us".into(),
        }
    }

    /// A figure in another unit.
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Metric {
            name: name.into(),
            value,
            unit: unit.into(),
        }
    }
}

/// A parsed (or to be printed) `RESULT` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The tags in order, e.g. `[("rt", "multi")]`.
    pub tags: Vec<(String, String)>,
    /// The figure.
    pub metric: Metric,
}

impl Line {
    /// A line for `metric` on the runtime called `rt`.
    pub fn on_runtime(rt: &str, metric: Metric) -> Self {
        Line {
            tags: vec![("rt".into(), rt.into())],
            metric,
        }
    }

    /// The value of tag `key`, if the line has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parses one line; `None` for anything that is not a well-formed `RESULT` line (comments,
    /// other output).
    ///
    /// # Examples
    ///
    /// ```
    /// use arbor_bench::report::Line;
    ///
    /// let line = Line::parse("RESULT rt=multi spawn_d14_wall=21.337 ms").unwrap();
    /// assert_eq!(line.tag("rt"), Some("multi"));
    /// assert_eq!(line.metric.name, "spawn_d14_wall");
    /// assert_eq!(line.metric.value, 21.337);
    /// assert_eq!(line.to_string(), "RESULT rt=multi spawn_d14_wall=21.337 ms");
    /// assert!(Line::parse("# a comment").is_none());
    /// ```
    pub fn parse(line: &str) -> Option<Line> {
        let mut fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() != Some(&"RESULT") || fields.len() < 3 {
            return None;
        }
        let unit = fields.pop()?;
        let (name, value) = fields.pop()?.split_once('=')?;
        let tags = fields[1..]
            .iter()
            .map(|t| t.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect::<Option<Vec<_>>>()?;
        Some(Line {
            tags,
            metric: Metric::new(name, value.parse().ok()?, unit),
        })
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RESULT")?;
        for (k, v) in &self.tags {
            write!(f, " {k}={v}")?;
        }
        let m = &self.metric;
        // The anchors print three decimals; below 1 one more, so that microseconds in a
        // millisecond figure keep a significant digit or two.
        let decimals = if m.value.abs() < 1.0 { 4 } else { 3 };
        write!(f, " {}={:.*} {}", m.name, decimals, m.value, m.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_anchor_lines_without_tags() {
        let line = Line::parse("RESULT spawn_d10_rss_per_node=4234.067 bytes").unwrap();
        assert!(line.tags.is_empty());
        assert_eq!(
            line.metric,
            Metric::new("spawn_d10_rss_per_node", 4234.067, "bytes")
        );
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "RESULT",
            "RESULT x=1",
            "RESULT x=abc ms",
            "RESULT notatag x=1 ms",
            "FAILED error:x",
            "",
        ] {
            assert!(Line::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn prints_three_decimals_like_the_anchors_and_four_below_one() {
        let us = Duration::from_micros;
        let line = Line::on_runtime("current", Metric::ms("restart_a_p50", us(7)));
        assert_eq!(
            line.to_string(),
            "RESULT rt=current restart_a_p50=0.0070 ms"
        );
        let line = Line::on_runtime("multi", Metric::ms("spawn_d14_wall", us(86_939)));
        assert_eq!(line.to_string(), "RESULT rt=multi spawn_d14_wall=86.939 ms");
    }
}
