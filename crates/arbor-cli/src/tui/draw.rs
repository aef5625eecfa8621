//! How the live view looks: the tree on top, one row per node, the programs' output under
//! it, and a footer with the keys.
//!
//! ```text
//! ┌ arbor run arbor.toml ────────────────────────────────────────────────┐
//! │NAME     STATE     PID      UPTIME  RESTARTS  INFO                    │
//! │root     Healthy            1m02s   0                                 │
//! │  db     Healthy   4242     1m02s   0                                 │
//! │  worker New                0s      3         waiting for migrate     │
//! └──────────────────────────────────────────────────────────────────────┘
//! ─ output ──────────────────────────────────────────────────────────────
//! db     │ Serving HTTP on 127.0.0.1 port 8700
//!  q / Ctrl-C stop (twice: at once) · ↑↓ PgUp PgDn scroll · End follow
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use crate::app::NodeView;
use crate::control::client::uptime;
use crate::plain::short;

use super::model::{Model, Stopping};

/// The fewest lines of output shown, however big the tree.
const MIN_OUTPUT: u16 = 5;

/// Draws the view, and records in `model` how many output lines fit (the size of a page).
pub(crate) fn draw(frame: &mut Frame<'_>, model: &mut Model) {
    let area = frame.area();
    // Borders, header and rows; the output keeps at least a few lines.
    let rows = u16::try_from(model.nodes.len()).unwrap_or(u16::MAX);
    let tree_height = rows
        .saturating_add(3)
        .min(area.height.saturating_sub(MIN_OUTPUT + 2))
        .max(3.min(area.height));
    let [tree, output, footer] = Layout::vertical([
        Constraint::Length(tree_height),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tree(frame, tree, model);
    draw_output(frame, output, model);
    draw_footer(frame, footer, model);
}

fn draw_tree(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let name_width = model
        .nodes
        .iter()
        .map(|n| name_cell(n).chars().count())
        .max()
        .unwrap_or(0)
        .clamp("NAME".len(), 40);
    let header = Row::new(["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "INFO"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = model.nodes.iter().map(row);
    let widths = [
        Constraint::Length(u16::try_from(name_width).unwrap_or(40)),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(2)
        .block(Block::bordered().title(format!(" arbor run {} ", model.title)));
    frame.render_widget(table, area);
}

/// The node's own name, indented by its depth: the tree's shape without drawing its lines.
fn name_cell(node: &NodeView) -> String {
    let leaf = node.dn.rsplit('.').next().unwrap_or(&node.dn);
    format!("{}{leaf}", "  ".repeat(node.depth))
}

fn row(node: &NodeView) -> Row<'_> {
    let state_style = match node.state.as_str() {
        "Healthy" => Style::new().fg(Color::Green),
        "New" => Style::new().fg(Color::Yellow),
        "Dead" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        _ => Style::new().add_modifier(Modifier::DIM),
    };
    let pid = node.pid.map(|p| p.to_string()).unwrap_or_default();
    Row::new([
        Cell::from(name_cell(node)),
        Cell::from(node.state.as_str()).style(state_style),
        Cell::from(pid),
        Cell::from(uptime(node.in_state_ms)),
        Cell::from(node.restarts.to_string()),
        Cell::from(info(node)),
    ])
}

/// The last column: what the node is doing or waiting for, and why it last failed.
fn info(node: &NodeView) -> Line<'_> {
    let mut spans = Vec::new();
    let mut part = |text: String, style: Style| {
        if !spans.is_empty() {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(text, style));
    };
    if node.stopping {
        part("stopping".to_owned(), Style::new().fg(Color::Yellow));
    }
    if let Some(waiting) = node.waiting_for.as_deref().filter(|_| node.state == "New") {
        part(
            format!("waiting for {}", short(waiting)),
            Style::new().fg(Color::Yellow),
        );
    }
    if let Some(stage) = &node.stage {
        part(format!("stage {stage}"), Style::new());
    }
    if let Some(error) = &node.last_error {
        let style = if node.state == "Dead" {
            Style::new().fg(Color::Red)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        };
        part(error.clone(), style);
    }
    Line::from(spans)
}

fn draw_output(frame: &mut Frame<'_>, area: Rect, model: &mut Model) {
    let title = if model.scroll > 0 {
        format!(" output (scrolled up {}: End follows) ", model.scroll)
    } else {
        " output ".to_owned()
    };
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    model.page = usize::from(inner.height).max(1);
    let width = model.name_width;
    let lines: Vec<Line<'_>> = model
        .visible(usize::from(inner.height))
        .map(|line| {
            let name_style = Style::new().fg(colour_of(&line.name));
            let text_style = if line.stderr {
                Style::new().fg(Color::LightRed)
            } else {
                Style::new()
            };
            Line::from(vec![
                Span::styled(format!("{:width$} │ ", line.name), name_style),
                Span::styled(line.text.as_str(), text_style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_footer(frame: &mut Frame<'_>, area: Rect, model: &Model) {
    let text = match model.stopping {
        Stopping::No => " q / Ctrl-C stop (twice: at once) · ↑↓ PgUp PgDn scroll · End follow",
        Stopping::InOrder => " stopping… q / Ctrl-C again: kill every program at once",
        Stopping::AtOnce => " stopping at once: killing every program…",
    };
    let style = match model.stopping {
        Stopping::No => Style::new().add_modifier(Modifier::REVERSED),
        _ => Style::new()
            .fg(Color::Yellow)
            .add_modifier(Modifier::REVERSED),
    };
    frame.render_widget(Paragraph::new(text).style(style), area);
}

/// One of six colours, the same for a name every time, as in the plain view; arbor's own
/// notes are white.
fn colour_of(name: &str) -> Color {
    const PALETTE: [Color; 6] = [
        Color::Cyan,
        Color::Yellow,
        Color::Green,
        Color::Magenta,
        Color::Blue,
        Color::Red,
    ];
    if name == "arbor" {
        return Color::White;
    }
    let hash = name.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    PALETTE[hash % PALETTE.len()]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::logs::Line as LogLine;

    fn node(dn: &str, depth: usize, state: &str) -> NodeView {
        NodeView::sample(dn, depth, state)
    }

    fn screen(model: &mut Model, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, model)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn the_tree_the_output_and_the_keys_are_shown() {
        let mut model = Model::new("t.toml".into(), 6);
        let mut web = node("root.web", 1, "Healthy");
        web.pid = Some(4242);
        web.in_state_ms = 62_000;
        web.restarts = 2;
        web.last_error = Some("exited with code 3".into());
        let mut worker = node("root.worker", 1, "New");
        worker.waiting_for = Some("root.web".into());
        model.nodes = vec![node("root", 0, "Healthy"), web, worker];
        model.receive(&Arc::new(LogLine {
            dn: "root.web".into(),
            stream: "stdout",
            text: "listening".into(),
            at_ms: 0,
        }));
        let lines = screen(&mut model, 80, 14);
        let text = lines.join("\n");
        assert!(lines[0].contains("arbor run t.toml"), "{text}");
        assert!(lines[1].contains("NAME"), "{text}");
        assert!(lines[2].starts_with("│root      Healthy"), "{text}");
        let web = &lines[3];
        for part in [
            "  web",
            "Healthy",
            "4242",
            "1m02s",
            "2",
            "exited with code 3",
        ] {
            assert!(web.contains(part), "{part:?} in {web:?}");
        }
        assert!(lines[4].contains("waiting for web"), "{text}");
        assert!(text.contains("web    │ listening"), "{text}");
        assert!(lines[13].contains("q / Ctrl-C stop"), "{text}");
        assert_eq!(model.page, 14 - 6 - 1 - 1);

        model.stopping = Stopping::InOrder;
        let lines = screen(&mut model, 80, 14);
        assert!(lines[13].contains("stopping…"), "{}", lines.join("\n"));
    }

    #[test]
    fn a_tree_taller_than_the_screen_leaves_room_for_output() {
        let mut model = Model::new("t.toml".into(), 6);
        model.nodes = (0..50)
            .map(|i| node(&format!("root.p{i}"), 1, "Healthy"))
            .collect();
        let lines = screen(&mut model, 60, 20);
        // 20 lines: the footer, and the output's title and 5 lines under the tree's 13.
        assert!(lines[12].starts_with('└'), "{}", lines.join("\n"));
        assert!(lines[13].contains("output"), "{}", lines.join("\n"));
        // And a tiny screen does not panic.
        let _ = screen(&mut model, 10, 3);
        let _ = screen(&mut model, 1, 1);
    }
}
