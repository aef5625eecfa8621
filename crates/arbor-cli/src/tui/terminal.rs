//! The terminal in the live view's mode (raw, on the alternate screen, cursor hidden), and
//! its restoration on every way out: the end of the run, an error, and a panic anywhere in
//! the process, so that the user's shell is never left in raw mode.

use std::io::{self, BufWriter, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::{Frame, Terminal};

/// Whether the terminal is in the view's mode now. Whoever restores it first (the screen's
/// drop, or the panic hook) clears it, so that it is restored once.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Room for a whole frame of a big terminal, so that each frame is written at once: stdout's
/// own buffer (a kilobyte) would send it in pieces, and a reader of the terminal (a person,
/// or tmux in the tests) could see half of one.
const FRAME_BUFFER: usize = 256 * 1024;

/// The terminal while the live view owns it; dropping it restores the terminal.
pub(crate) struct Screen {
    terminal: Terminal<CrosstermBackend<BufWriter<Stdout>>>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen").finish_non_exhaustive()
    }
}

impl Screen {
    /// Puts the terminal in the view's mode.
    ///
    /// # Errors
    ///
    /// The terminal refused a mode; it is restored before this returns.
    pub(crate) fn enter() -> io::Result<Self> {
        install_panic_hook();
        ACTIVE.store(true, Ordering::SeqCst);
        let entered = terminal::enable_raw_mode()
            .and_then(|()| execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide))
            .and_then(|()| {
                let out = BufWriter::with_capacity(FRAME_BUFFER, io::stdout());
                Terminal::new(CrosstermBackend::new(out))
            });
        match entered {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(err) => {
                restore();
                Err(err)
            }
        }
    }

    /// Draws a frame (only the cells that changed are written).
    ///
    /// # Errors
    ///
    /// Writing to the terminal failed, or the terminal was restored meanwhile by the panic
    /// hook (a panic elsewhere in the process): drawing on it would write over the shell.
    pub(crate) fn draw(&mut self, render: impl FnOnce(&mut Frame<'_>)) -> io::Result<()> {
        if !ACTIVE.load(Ordering::SeqCst) {
            return Err(io::Error::other("the terminal was restored"));
        }
        self.terminal.draw(render).map(drop)
    }

    /// Forgets what is on the screen and draws everything anew at the next draw: for what
    /// another writer (a diagnostic on stderr) left on it.
    ///
    /// # Errors
    ///
    /// Writing to the terminal failed.
    pub(crate) fn clear(&mut self) -> io::Result<()> {
        self.terminal.clear()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the view's mode, if the terminal is in it: back to the main screen, cooked mode,
/// cursor shown. Errors are ignored: there is nothing better to do on the way out.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
        let _ = terminal::disable_raw_mode();
    }
}

/// Restores the terminal before the panic message is printed, which would otherwise go to
/// the alternate screen and vanish with it. Installed once; it does nothing while the view
/// is not shown.
fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
