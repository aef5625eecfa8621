//! Result files read back: one column per labelled source, for the plot and the table.
//!
//! A file holds `RESULT` lines (see [`report`](crate::report)) and optionally label lines,
//! `# label TAGS: TEXT`, which name the source with those tags. Sources that share a label are
//! one column (e.g. three runs of the same anchor); each of its figures keeps every value.

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::report::Line;

/// The figures of one labelled source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Column {
    /// The label, or a default made from the tags.
    pub label: String,
    /// Every value of each figure, in the order read.
    pub values: BTreeMap<String, Vec<f64>>,
}

impl Column {
    /// The values of figure `name` (empty if this source lacks it).
    pub fn get(&self, name: &str) -> &[f64] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// The median of figure `name` (the lower middle value for an even count).
    pub fn median(&self, name: &str) -> Option<f64> {
        let mut v = self.get(name).to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len().checked_sub(1)? / 2).copied()
    }
}

/// Every column and figure of some result files, in the order they first appear.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// The sources.
    pub columns: Vec<Column>,
    /// Each figure's name and unit.
    pub metrics: Vec<(String, String)>,
}

impl Dataset {
    /// Reads and merges `files`.
    ///
    /// # Errors
    ///
    /// When a file cannot be read.
    pub fn read(files: &[impl AsRef<std::path::Path>]) -> anyhow::Result<Dataset> {
        let mut text = String::new();
        for file in files {
            let file = file.as_ref();
            text += &std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            text.push('\n');
        }
        Ok(Dataset::parse(&text))
    }

    /// Parses result text. Labels apply to lines anywhere in the text.
    ///
    /// # Examples
    ///
    /// ```
    /// use arbor_bench::dataset::Dataset;
    ///
    /// let text = [
    ///     "# label peer=otp_1: Erlang/OTP",
    ///     "# label peer=otp_2: Erlang/OTP",
    ///     "RESULT peer=otp_1 spawn_d10_wall=9.0 ms",
    ///     "RESULT peer=otp_2 spawn_d10_wall=8.0 ms",
    ///     "RESULT rt=multi spawn_d10_wall=3.0 ms",
    /// ];
    /// let data = Dataset::parse(&text.join("\n"));
    /// assert_eq!(data.columns.len(), 2);
    /// assert_eq!(data.columns[0].get("spawn_d10_wall"), [9.0, 8.0]);
    /// assert_eq!(data.columns[1].label, "arbor, tokio multi-thread");
    /// ```
    pub fn parse(text: &str) -> Dataset {
        let labels: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# label ")?.split_once(':'))
            .map(|(tags, label)| (tags.trim(), label.trim()))
            .collect();
        let mut data = Dataset::default();
        for line in text.lines().filter_map(Line::parse) {
            let tags = line
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let label = labels
                .get(tags.as_str())
                .map_or_else(|| default_label(&tags), |l| (*l).to_owned());
            let column = match data.columns.iter().position(|c| c.label == label) {
                Some(i) => &mut data.columns[i],
                None => {
                    data.columns.push(Column {
                        label,
                        values: BTreeMap::new(),
                    });
                    data.columns.last_mut().expect("just pushed")
                }
            };
            let m = line.metric;
            column
                .values
                .entry(m.name.clone())
                .or_default()
                .push(m.value);
            if !data.metrics.iter().any(|(name, _)| *name == m.name) {
                data.metrics.push((m.name, m.unit));
            }
        }
        data
    }

    /// The column labelled `label`.
    pub fn column(&self, label: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.label == label)
    }
}

/// The label of a source without a label line.
pub fn default_label(tags: &str) -> String {
    match tags {
        "rt=multi" => "arbor, tokio multi-thread".into(),
        "rt=current" => "arbor, tokio current-thread".into(),
        "" => "untagged".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_three_runs_and_of_none() {
        let data = Dataset::parse(
            "RESULT peer=x a=3 ms\nRESULT peer=x a=1 ms\nRESULT peer=x a=2 ms\nRESULT peer=x b=4 ms\n",
        );
        let x = &data.columns[0];
        assert_eq!(x.median("a"), Some(2.0));
        assert_eq!(x.median("b"), Some(4.0));
        assert_eq!(x.median("c"), None);
        assert_eq!(
            data.metrics,
            [("a".to_owned(), "ms".to_owned()), ("b".into(), "ms".into())]
        );
    }
}
