//! The keyboard. ratatui's crossterm is built without its async event stream, so a thread
//! of its own polls the terminal and hands the events to the view over a channel. It polls
//! with a timeout so that it notices promptly when the view no longer wants them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc;

/// How long the reader waits for an event before it checks whether to end.
const POLL: Duration = Duration::from_millis(100);

/// The terminal's events, read on a thread.
#[derive(Debug)]
pub(crate) struct Input {
    /// Ends (gives `None`) if the terminal cannot be read.
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Input {
    /// Starts reading. If no thread can be made, the view goes on without keys (a signal
    /// still stops the run).
    pub(crate) fn start() -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::Builder::new()
            .name("arbor-keys".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match event::poll(POLL) {
                        Ok(false) => {}
                        Ok(true) => match event::read() {
                            Ok(event) => {
                                if tx.send(event).is_err() {
                                    return;
                                }
                            }
                            Err(_) => return,
                        },
                        Err(_) => return,
                    }
                }
            })
            .ok();
        Input {
            events,
            done,
            thread,
        }
    }

    /// Stops reading, and waits for the thread so that it takes no key meant for the shell.
    pub(crate) async fn stop(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Input {
    /// Ends the thread even when the view ends by a panic: it would otherwise go on reading
    /// the terminal, from under the shell once arbor is gone.
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// What a key asks of the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// `q` or Ctrl-C: stop the run (again: at once).
    Stop,
    /// Up or `k`.
    Up,
    /// Down or `j`.
    Down,
    PageUp,
    PageDown,
    /// Home or `g`: the oldest output kept.
    Top,
    /// End or `G`: follow new output.
    Follow,
    /// Ctrl-L: draw the whole screen anew.
    Redraw,
}

/// The action of a key, if it has one.
pub(crate) fn action(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Stop,
        KeyCode::Char('l') if ctrl => Action::Redraw,
        _ if ctrl => return None,
        KeyCode::Char('q' | 'Q') => Action::Stop,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Follow,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Action> {
        action(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn q_and_ctrl_c_stop_and_plain_c_does_not() {
        assert_eq!(
            key(KeyCode::Char('q'), KeyModifiers::NONE),
            Some(Action::Stop)
        );
        assert_eq!(
            key(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Action::Stop)
        );
        assert_eq!(key(KeyCode::Char('c'), KeyModifiers::NONE), None);
        assert_eq!(key(KeyCode::Char('q'), KeyModifiers::CONTROL), None);
        assert_eq!(
            key(KeyCode::Char('l'), KeyModifiers::CONTROL),
            Some(Action::Redraw)
        );
        assert_eq!(key(KeyCode::End, KeyModifiers::NONE), Some(Action::Follow));
    }
}
