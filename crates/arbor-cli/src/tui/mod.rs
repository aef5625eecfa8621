//! The live view, on a terminal: the tree with each node's state, pid, uptime, restarts,
//! last error and what it waits for, redrawn on every change, with the programs' output
//! under it.
//!
//! - [`model`] is what is shown, [`draw`] how;
//! - [`terminal`] owns the terminal's mode and restores it on every way out (a panic too);
//! - [`input`] reads the keys on a thread of its own.
//!
//! The view redraws after each supervisor event and each line of output, at most every
//! [`COALESCE`] (a burst of either is one frame), and once a second for the uptimes. In raw
//! mode Ctrl-C is a key, not SIGINT: the view turns it (and `q`) into the same request a
//! signal makes, so a second one stops everything at once. The view ends when the
//! supervisor's event stream does, that is once the tree has stopped.

mod draw;
mod input;
mod model;
mod terminal;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::Event as TermEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{sleep_until, Instant, MissedTickBehavior};

use crate::app::{App, Ending, NodeView};
use crate::logs::Line;
use crate::plain::short;

use self::input::{Action, Input};
use self::model::{Model, Stopping, OUTPUT_LINES};
use self::terminal::Screen;

/// The least time between two frames: what a burst of events or output is folded into.
const COALESCE: Duration = Duration::from_millis(50);

/// How often the view redraws with nothing new, for the uptimes.
const TICK: Duration = Duration::from_secs(1);

/// Whether the live view can be shown: stdin and stdout are a terminal that can address its
/// cursor.
pub(crate) fn available() -> bool {
    std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb")
}

/// Shows the live view until the supervisor has stopped, then restores the terminal and
/// prints a one-line summary. Falls back to the plain view if the terminal cannot be used.
pub(crate) async fn run(app: Arc<App>) {
    let started = Instant::now();
    // Subscribed before anything is read, so that no event or line falls between.
    let mut events = app.sup.events();
    let mut lines = app.shared.logs.follow();
    let (title, name_width, backlog) = startup(&app);
    let mut model = Model::new(title, name_width);
    model.backlog(backlog);

    // arbor's own warnings among the output while the screen is ours, not on top of it. Set
    // before the screen is entered: a line written to the terminal after that would land on
    // the view's first rows, where the frames, which redraw only the cells they change, never
    // paint over it (seen on a fresh machine: a program's "started" line under the title).
    let hub = app.clone();
    crate::diagnostics::to_sink(move |line| hub.say(line));
    let mut screen = match Screen::enter() {
        Ok(screen) => screen,
        Err(err) => {
            crate::diagnostics::to_stderr();
            eprintln!("arbor: cannot use the terminal ({err}); showing the plain view");
            drop(events);
            return crate::plain::run(app, lines).await;
        }
    };
    let mut input = Input::start();
    let mut keys_open = true;
    let mut lines_open = true;

    // The ending as the watch says it, whoever asked (a signal, `arbor shutdown`, a key).
    let watched = app.clone();
    let ordered = watched.ending(Ending::InOrder);
    let at_once = watched.ending(Ending::AtOnce);
    tokio::pin!(ordered, at_once);

    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut frames = Frames::default();
    let mut fetch = true;
    let mut broken = false;

    loop {
        let draw_at = frames.due;
        tokio::select! {
            event = events.next() => match event {
                Some(_) => {
                    fetch = true;
                    frames.want(Instant::now());
                }
                None => break,
            },
            line = lines.recv(), if lines_open => {
                match line {
                    Ok(line) => model.receive(&line),
                    Err(RecvError::Lagged(n)) => {
                        model.note(&format!("({n} lines of output not shown: too many at once)"));
                    }
                    Err(RecvError::Closed) => lines_open = false,
                }
                frames.want(Instant::now());
            }
            key = input.events.recv(), if keys_open => match key {
                Some(TermEvent::Key(key)) => {
                    match input::action(key) {
                        Some(Action::Stop) => {
                            app.request_stop();
                            // The ending watch says so too; this shows it without a wait.
                            model.stopping = match model.stopping {
                                Stopping::No => Stopping::InOrder,
                                Stopping::InOrder | Stopping::AtOnce => Stopping::AtOnce,
                            };
                        }
                        Some(Action::Up) => model.scroll_up(1),
                        Some(Action::Down) => model.scroll_down(1),
                        Some(Action::PageUp) => model.scroll_up(model.page),
                        Some(Action::PageDown) => model.scroll_down(model.page),
                        Some(Action::Top) => model.scroll_top(),
                        Some(Action::Follow) => model.follow(),
                        Some(Action::Redraw) => {
                            let _ = screen.clear();
                        }
                        None => {}
                    }
                    frames.want(Instant::now());
                }
                Some(TermEvent::Resize(..)) => frames.want(Instant::now()),
                Some(_) => {}
                None => {
                    // The terminal is gone (closed, hung up): nobody sees or steers this run
                    // any more, so it ends, in order, as a job of a closed terminal does.
                    keys_open = false;
                    app.request_shutdown();
                }
            },
            () = &mut ordered, if model.stopping == Stopping::No => {
                model.stopping = Stopping::InOrder;
                frames.want(Instant::now());
            }
            () = &mut at_once, if model.stopping != Stopping::AtOnce => {
                model.stopping = Stopping::AtOnce;
                frames.want(Instant::now());
            }
            _ = tick.tick() => {
                fetch = true;
                frames.want(Instant::now());
            }
            () = sleep_until(draw_at.unwrap_or_else(Instant::now)), if draw_at.is_some() => {
                if fetch {
                    model.nodes = app.nodes().await;
                    fetch = false;
                }
                if screen.draw(|frame| draw::draw(frame, &mut model)).is_err() {
                    broken = true;
                    break;
                }
                frames.drawn(Instant::now());
            }
        }
    }

    drop(screen);
    crate::diagnostics::to_stderr();
    input.stop().await;
    if broken {
        // The terminal went away or was restored by a panic elsewhere: the rest as lines.
        drop(events);
        return crate::plain::run(app, lines).await;
    }
    println!("{}", summary(&app.nodes().await, started.elapsed()));
}

/// When the next frame is due: at once if the last one is older than [`COALESCE`], else
/// when it will be.
#[derive(Debug, Default)]
struct Frames {
    due: Option<Instant>,
    last: Option<Instant>,
}

impl Frames {
    /// Something changed, at `now`.
    fn want(&mut self, now: Instant) {
        if self.due.is_none() {
            self.due = Some(self.last.map_or(now, |last| (last + COALESCE).max(now)));
        }
    }

    /// A frame was drawn at `now`.
    fn drawn(&mut self, now: Instant) {
        self.due = None;
        self.last = Some(now);
    }
}

/// The title, the width of the programs' names, and the output they wrote before the view
/// subscribed.
fn startup(app: &App) -> (String, usize, Vec<Arc<Line>>) {
    let plan = app.plan.lock();
    let programs = plan.root.programs("root");
    let width = programs
        .iter()
        .map(|(dn, _)| short(dn).len())
        .max()
        .unwrap_or(0);
    let backlog = programs
        .iter()
        .flat_map(|(dn, _)| app.shared.logs.tail(dn, OUTPUT_LINES))
        .collect();
    (app.path.display().to_string(), width, backlog)
}

/// The line left on the terminal once the view is gone: how the programs ended.
fn summary(nodes: &[NodeView], ran: Duration) -> String {
    let programs: Vec<&NodeView> = nodes
        .iter()
        .filter(|n| {
            !nodes
                .iter()
                .any(|m| m.dn.starts_with(&format!("{}.", n.dn)))
        })
        .filter(|n| n.depth > 0)
        .collect();
    let mut states: Vec<(&str, usize)> = Vec::new();
    for node in &programs {
        match states.iter_mut().find(|(s, _)| *s == node.state) {
            Some((_, count)) => *count += 1,
            None => states.push((&node.state, 1)),
        }
    }
    let states: Vec<String> = states
        .iter()
        .map(|(state, count)| format!("{count} {state}"))
        .collect();
    let restarts: u32 = programs.iter().map(|n| n.restarts).sum();
    let ms = u64::try_from(ran.as_millis()).unwrap_or(u64::MAX);
    format!(
        "{} arbor | stopped after {}: {} program{} ({}), {restarts} restart{}",
        crate::plain::clock(),
        crate::control::client::uptime(ms),
        programs.len(),
        if programs.len() == 1 { "" } else { "s" },
        states.join(", "),
        if restarts == 1 { "" } else { "s" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dn: &str, depth: usize, state: &str, restarts: u32) -> NodeView {
        NodeView {
            restarts,
            ..NodeView::sample(dn, depth, state)
        }
    }

    #[test]
    fn the_summary_counts_the_programs_by_state() {
        let nodes = [
            node("root", 0, "Canceled", 0),
            node("root.a", 1, "Stopped", 0),
            node("root.g", 1, "Stopped", 0),
            node("root.g.b", 2, "Dead", 3),
            node("root.g.c", 2, "Stopped", 1),
        ];
        let line = summary(&nodes, Duration::from_secs(61));
        assert!(
            line.ends_with(
                "arbor | stopped after 1m01s: 3 programs (2 Stopped, 1 Dead), 4 restarts"
            ),
            "{line}"
        );
    }

    #[test]
    fn frames_are_at_least_the_coalescing_time_apart() {
        let start = Instant::now();
        let mut frames = Frames::default();
        frames.want(start);
        assert_eq!(frames.due, Some(start), "the first frame is drawn at once");
        frames.drawn(start);
        frames.want(start + COALESCE / 5);
        frames.want(start + COALESCE / 2);
        assert_eq!(frames.due, Some(start + COALESCE));
        frames.drawn(start + COALESCE);
        let later = start + COALESCE * 5;
        frames.want(later);
        assert_eq!(frames.due, Some(later), "after a pause, at once");
    }
}
