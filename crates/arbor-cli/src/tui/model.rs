//! What the live view shows, apart from how it is drawn: the nodes as last fetched, the
//! recent output, where the output is scrolled to, and whether the run is stopping. Kept free
//! of the terminal so that it can be tested without one.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::app::NodeView;
use crate::logs::Line;
use crate::plain::short;

/// How many lines of output the view keeps (all programs together): enough to scroll back
/// a few screens, bounded however much the programs write.
pub(crate) const OUTPUT_LINES: usize = 500;

/// One line of output as the view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputLine {
    /// The program's short name, or `arbor` for the view's own notes.
    pub(crate) name: Arc<str>,
    pub(crate) stderr: bool,
    /// The text without control characters or escape sequences, which would move the
    /// terminal's cursor behind the renderer's back.
    pub(crate) text: String,
}

/// How far the run is from its end, as the footer says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopping {
    No,
    /// An ordered stop is under way; a second request kills everything.
    InOrder,
    /// Everything is being killed.
    AtOnce,
}

/// The state of the live view.
#[derive(Debug)]
pub(crate) struct Model {
    /// The block title: the file being run.
    pub(crate) title: String,
    /// Every node, in preorder, as [`App::nodes`](crate::app::App::nodes) gave them last.
    pub(crate) nodes: Vec<NodeView>,
    /// The newest output last, at most [`OUTPUT_LINES`].
    pub(crate) output: VecDeque<OutputLine>,
    /// The width of the name column of the output, so that the text lines up.
    pub(crate) name_width: usize,
    /// How many lines above the newest the output is scrolled; 0 follows new lines.
    pub(crate) scroll: usize,
    /// How many output lines were visible at the last draw: the size of a page.
    pub(crate) page: usize,
    pub(crate) stopping: Stopping,
    /// Lines taken from the kept output at the start that the live follower may hand over
    /// again (those written between subscribing and reading the backlog): skipped once.
    overlap: Vec<Arc<Line>>,
}

impl Model {
    /// An empty view for the file `title`, whose programs' short names are at most
    /// `name_width` wide.
    pub(crate) fn new(title: String, name_width: usize) -> Self {
        Model {
            title,
            nodes: Vec::new(),
            output: VecDeque::with_capacity(OUTPUT_LINES),
            name_width: name_width.clamp("arbor".len(), 24),
            scroll: 0,
            page: 10,
            stopping: Stopping::No,
            overlap: Vec::new(),
        }
    }

    /// Shows the output written before the view subscribed: `lines` from every program,
    /// merged by time. The follower was subscribed before they were read, so it may repeat
    /// the newest of them; [`receive`](Model::receive) skips those.
    pub(crate) fn backlog(&mut self, mut lines: Vec<Arc<Line>>) {
        lines.sort_by_key(|l| l.at_ms);
        let skip = lines.len().saturating_sub(OUTPUT_LINES);
        for line in &lines[skip..] {
            self.push(line);
        }
        self.overlap = lines;
    }

    /// A new line from the follower.
    pub(crate) fn receive(&mut self, line: &Arc<Line>) {
        if !self.overlap.is_empty() {
            if self.overlap.iter().any(|seen| Arc::ptr_eq(seen, line)) {
                return;
            }
            // The follower hands lines over in the order they were written: once one is new,
            // every later one is too.
            self.overlap = Vec::new();
        }
        self.push(line);
    }

    fn push(&mut self, line: &Line) {
        self.add(OutputLine {
            name: short(&line.dn).into(),
            stderr: line.stream == "stderr",
            text: sanitize(&line.text),
        });
    }

    /// A note of the view's own, among the output.
    pub(crate) fn note(&mut self, text: &str) {
        self.add(OutputLine {
            name: "arbor".into(),
            stderr: false,
            text: text.to_owned(),
        });
    }

    fn add(&mut self, line: OutputLine) {
        if self.output.len() == OUTPUT_LINES {
            self.output.pop_front();
        } else if self.scroll > 0 {
            // Keep what the user scrolled to in place; once the buffer is full, the lines
            // under it shift up by themselves.
            self.scroll += 1;
        }
        self.output.push_back(line);
        self.clamp();
    }

    /// Scrolls the output `n` lines towards the oldest.
    pub(crate) fn scroll_up(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_add(n);
        self.clamp();
    }

    /// Scrolls the output `n` lines towards the newest.
    pub(crate) fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
    }

    /// Shows the oldest output kept.
    pub(crate) fn scroll_top(&mut self) {
        self.scroll = usize::MAX;
        self.clamp();
    }

    /// Follows new output again.
    pub(crate) fn follow(&mut self) {
        self.scroll = 0;
    }

    /// A scroll that leaves at least a page of lines on screen.
    fn clamp(&mut self) {
        self.scroll = self
            .scroll
            .min(self.output.len().saturating_sub(self.page.max(1)));
    }

    /// The `height` lines of output to show, oldest first: the newest unless scrolled.
    pub(crate) fn visible(&self, height: usize) -> impl Iterator<Item = &OutputLine> {
        let end = self.output.len().saturating_sub(self.scroll);
        let start = end.saturating_sub(height);
        self.output.range(start..end)
    }
}

/// `text` as plain text for a cell of the screen: escape sequences (colours, cursor moves)
/// removed, tabs expanded, other control characters dropped.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC (a title, a hyperlink): up to BEL or ST (ESC \).
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                // Any other escape is two characters.
                _ => {}
            },
            '\t' => {
                let width = out.chars().count();
                out.extend(std::iter::repeat_n(' ', 8 - width % 8));
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(dn: &str, text: &str, at_ms: u64) -> Arc<Line> {
        Arc::new(Line {
            dn: dn.into(),
            stream: "stdout",
            text: text.to_owned(),
            at_ms,
        })
    }

    fn texts(model: &Model, height: usize) -> Vec<&str> {
        model.visible(height).map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        assert_eq!(sanitize("\x1b[1;31mred\x1b[0m plain"), "red plain");
        assert_eq!(sanitize("\x1b]0;title\x07after"), "after");
        assert_eq!(sanitize("\x1b]8;;http://x\x1b\\link"), "link");
        assert_eq!(sanitize("a\tb\r"), "a       b");
        assert_eq!(sanitize("bell\x07 ok é"), "bell ok é");
    }

    #[test]
    fn the_backlog_is_merged_by_time_and_not_repeated_by_the_follower() {
        let mut model = Model::new("f".into(), 1);
        let (a1, b1, a2) = (
            line("root.a", "a1", 1),
            line("root.b", "b1", 2),
            line("root.a", "a2", 3),
        );
        model.backlog(vec![a1, a2.clone(), b1.clone()]);
        // The follower was subscribed before a2 and b1 were read as backlog.
        model.receive(&b1);
        model.receive(&a2);
        model.receive(&line("root.b", "b2", 4));
        assert_eq!(texts(&model, 10), ["a1", "b1", "a2", "b2"]);
        assert_eq!(model.output[0].name.as_ref(), "a");
    }

    #[test]
    fn the_output_is_bounded_and_a_scroll_stays_in_place() {
        let mut model = Model::new("f".into(), 1);
        model.page = 2;
        for i in 0..OUTPUT_LINES + 10 {
            model.receive(&line("root.a", &i.to_string(), 0));
        }
        assert_eq!(model.output.len(), OUTPUT_LINES);
        assert_eq!(texts(&model, 2), ["508", "509"]);
        model.scroll_up(3);
        assert_eq!(texts(&model, 2), ["505", "506"]);
        model.note("x");
        assert_eq!(texts(&model, 2), ["506", "507"], "full: the lines shift up");
        model.scroll_top();
        assert_eq!(texts(&model, 2), ["11", "12"]);
        model.follow();
        assert_eq!(texts(&model, 2), ["509", "x"]);
    }

    #[test]
    fn a_scroll_holds_while_the_buffer_fills() {
        let mut model = Model::new("f".into(), 1);
        model.page = 2;
        for i in 0..5 {
            model.receive(&line("root.a", &i.to_string(), 0));
        }
        model.scroll_up(1);
        assert_eq!(texts(&model, 2), ["2", "3"]);
        model.receive(&line("root.a", "5", 0));
        assert_eq!(texts(&model, 2), ["2", "3"]);
        model.scroll_up(100);
        assert_eq!(texts(&model, 2), ["0", "1"]);
        model.scroll_down(100);
        assert_eq!(texts(&model, 2), ["4", "5"]);
    }
}
