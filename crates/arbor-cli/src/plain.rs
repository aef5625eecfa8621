//! The plain view, for a pipe, a log file or `--plain`: one line per state change, and each
//! line of a program's output prefixed with its name, as foreman does. Names are coloured
//! when the output is a terminal that takes colour (not `NO_COLOR`, not `TERM=dumb`).
//!
//! ```text
//! 14:02:11 arbor      | web.server: New -> Healthy (pid 4242)
//! 14:02:11 web.server | Serving HTTP on 127.0.0.1 port 8000
//! 14:02:13 arbor      | web.server: Healthy -> Dead: "python3" (pid 4242) killed by signal 9 (SIGKILL)
//! ```

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use arbor::{Event, NodeState, TreeStatus};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::app::App;
use crate::logs::Line;

/// Prints state changes and output until the supervisor's event stream ends; `lines` was
/// subscribed before the tree started.
pub(crate) async fn run(app: Arc<App>, mut lines: broadcast::Receiver<Arc<Line>>) {
    let colour = colour_wanted();
    let mut events = app.sup.events();
    let mut out = Printer {
        colour,
        width: name_width(&app),
        status: None,
    };
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => out.event(&app, &event).await,
                None => break,
            },
            line = lines.recv() => match line {
                Ok(line) => out.print(short(&line.dn), &line.text),
                Err(RecvError::Lagged(n)) => out.print("arbor", &format!("({n} lines of output not shown: too many at once)")),
                Err(RecvError::Closed) => {}
            },
        }
    }
    // What the programs wrote as they stopped.
    while let Ok(line) = lines.try_recv() {
        out.print(short(&line.dn), &line.text);
    }
}

struct Printer {
    colour: bool,
    width: usize,
    /// The last snapshot taken for a pid. A burst of programs becoming Healthy is served
    /// from one snapshot while it already shows each of them in that same run, instead of
    /// a snapshot of the whole tree per line.
    status: Option<TreeStatus>,
}

impl Printer {
    async fn event(&mut self, app: &App, event: &Event) {
        if event.resync || event.dn == "root" && event.from.is_none() {
            return;
        }
        let dn = event.dn.to_string();
        let name = short(&dn);
        let mut text = match event.from {
            _ if event.removed => format!("{name}: removed"),
            Some(from) => format!("{name}: {from:?} -> {:?}", event.to),
            None => format!("{name}: {:?}", event.to),
        };
        if event.to == NodeState::Healthy {
            let current = |status: &TreeStatus| {
                status
                    .get(&dn)
                    .is_some_and(|n| n.restarts == event.run && n.state == NodeState::Healthy)
            };
            if !self.status.as_ref().is_some_and(current) {
                self.status = Some(app.sup.status().await);
            }
            let node = self.status.as_ref().and_then(|s| s.get(&dn));
            if let Some(pid) = node
                .filter(|n| n.restarts == event.run)
                .and_then(|n| n.notes.get("pid"))
            {
                text.push_str(&format!(" (pid {pid})"));
            }
        }
        if let Some(delay) = event.delay.filter(|d| !d.is_zero()) {
            text.push_str(&format!(" after {delay:?}"));
        }
        if let Some(error) = &event.error {
            text.push_str(&format!(": {error}"));
        }
        self.print("arbor", &text);
    }

    fn print(&mut self, name: &str, text: &str) {
        let time = clock();
        let width = self.width.max(name.len());
        let mut stdout = std::io::stdout().lock();
        let _ = if self.colour {
            let colour = colour_of(name);
            writeln!(stdout, "{time} \x1b[{colour}m{name:width$} |\x1b[0m {text}")
        } else {
            writeln!(stdout, "{time} {name:width$} | {text}")
        };
    }
}

/// A DN without its `root.`: what the user wrote in the file.
pub(crate) fn short(dn: &str) -> &str {
    dn.strip_prefix("root.").unwrap_or(dn)
}

/// The widest program name, for aligned prefixes.
fn name_width(app: &App) -> usize {
    let plan = app.plan.lock();
    plan.root
        .programs("root")
        .iter()
        .map(|(dn, _)| short(dn).len())
        .max()
        .unwrap_or(0)
        .max("arbor".len())
}

fn colour_wanted() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// One of six ANSI colours, the same for a name every time; arbor's own lines are bold.
fn colour_of(name: &str) -> &'static str {
    const PALETTE: [&str; 6] = ["36", "33", "32", "35", "34", "31"];
    if name == "arbor" {
        return "1";
    }
    let hash = name.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    PALETTE[hash % PALETTE.len()]
}

/// The time of day, UTC, as `HH:MM:SS`.
pub(crate) fn clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}
