//! The programs' output, kept for the views and `arbor logs`: the last lines of each program
//! in a bounded buffer, and every new line on a broadcast channel.
//!
//! Lines come from `arbor-process`'s output sink, on the readers' tasks, so keeping one is a
//! short lock and a push: a program never waits on a slow reader of its output. A follower
//! that falls more than [`FOLLOW_BACKLOG`] lines behind loses the oldest (and is told how
//! many); memory stays bounded however slowly anyone reads.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arbor_process::Stream;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::broadcast;

/// How many lines a follower may fall behind.
pub(crate) const FOLLOW_BACKLOG: usize = 4096;

/// One line of one program's output.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Line {
    /// The program's DN.
    pub(crate) dn: Arc<str>,
    /// `"stdout"` or `"stderr"`.
    pub(crate) stream: &'static str,
    pub(crate) text: String,
    /// Milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
}

/// Every program's recent output.
#[derive(Debug)]
pub(crate) struct LogHub {
    per_program: usize,
    kept: Mutex<HashMap<Arc<str>, VecDeque<Arc<Line>>>>,
    new: broadcast::Sender<Arc<Line>>,
}

impl LogHub {
    /// Keeps the last `per_program` lines of each program.
    pub(crate) fn new(per_program: usize) -> Self {
        LogHub {
            per_program: per_program.max(1),
            kept: Mutex::new(HashMap::new()),
            new: broadcast::channel(FOLLOW_BACKLOG).0,
        }
    }

    /// Keeps a line of `dn`'s output and hands it to the followers.
    pub(crate) fn push(&self, dn: &Arc<str>, stream: Stream, text: &str) {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let line = Arc::new(Line {
            dn: dn.clone(),
            stream: stream.as_str(),
            text: text.to_owned(),
            at_ms,
        });
        {
            let mut kept = self.kept.lock();
            let lines = kept.entry(dn.clone()).or_default();
            if lines.len() == self.per_program {
                lines.pop_front();
            }
            lines.push_back(line.clone());
        }
        // No follower is fine.
        let _ = self.new.send(line);
    }

    /// The last `n` lines kept for `dn` and the programs below it (for a group), oldest
    /// first.
    pub(crate) fn tail(&self, dn: &str, n: usize) -> Vec<Arc<Line>> {
        let below = format!("{dn}.");
        let kept = self.kept.lock();
        let mut lines: Vec<Arc<Line>> = kept
            .iter()
            .filter(|(program, _)| &***program == dn || program.starts_with(&below))
            .flat_map(|(_, lines)| lines.iter().skip(lines.len().saturating_sub(n)).cloned())
            .collect();
        // Stable: a program's own lines keep their order among equal times.
        lines.sort_by_key(|line| line.at_ms);
        lines.split_off(lines.len().saturating_sub(n))
    }

    /// Every line from now on, of every program.
    pub(crate) fn follow(&self) -> broadcast::Receiver<Arc<Line>> {
        self.new.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_program_keeps_only_its_last_lines() {
        let hub = LogHub::new(2);
        let (a, b): (Arc<str>, Arc<str>) = ("root.a".into(), "root.b".into());
        for text in ["1", "2", "3"] {
            hub.push(&a, Stream::Stdout, text);
        }
        hub.push(&b, Stream::Stderr, "x");
        let texts = |dn: &str, n| -> Vec<String> {
            hub.tail(dn, n).iter().map(|l| l.text.clone()).collect()
        };
        assert_eq!(texts("root.a", 10), ["2", "3"]);
        assert_eq!(texts("root.a", 1), ["3"]);
        assert_eq!(texts("root.b", 10), ["x"]);
        assert!(texts("root.c", 10).is_empty());
        // A group's tail is its programs' lines together (those of one millisecond in any
        // order between programs, each program's in its own order).
        let mut group = texts("root", 10);
        assert_eq!(
            group.iter().filter(|t| *t != "x").collect::<Vec<_>>(),
            ["2", "3"]
        );
        group.sort();
        assert_eq!(group, ["2", "3", "x"]);
    }

    #[tokio::test]
    async fn followers_get_new_lines_in_order() {
        let hub = LogHub::new(10);
        let dn: Arc<str> = "root.a".into();
        hub.push(&dn, Stream::Stdout, "before");
        let mut follower = hub.follow();
        hub.push(&dn, Stream::Stdout, "after");
        hub.push(&dn, Stream::Stderr, "again");
        assert_eq!(follower.recv().await.unwrap().text, "after");
        let line = follower.recv().await.unwrap();
        assert_eq!((line.text.as_str(), line.stream), ("again", "stderr"));
    }
}
