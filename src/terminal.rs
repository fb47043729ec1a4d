//! Entering and leaving the terminal. The terminal is restored on every way out: normal exit
//! (the guard's Drop), panic (our hook, installed after color-eyre's so the report is printed
//! on a restored screen), and SIGTERM/SIGHUP/SIGINT (turned into a clean quit by the app loop).
//!
//! Restoring never panics. ratatui's own `restore` reports a failure with `eprintln!`, which
//! panics when stderr is gone too: after an ssh connection drops (SIGHUP, then EIO on the
//! terminal), the guard's Drop panicked, the panic hook panicked again, and the process aborted
//! with operations still running. Here a terminal that is gone is simply left alone.

use ratatui::backend::CrosstermBackend;
use std::io::{BufWriter, Stdout};

/// The panel's terminal. Stdout's own buffer is 1 KB, so a frame left in 1 KB writes and a
/// terminal (tmux, an ssh client) could show it half-drawn; ratatui flushes once per frame, so
/// with this buffer a frame leaves in one write.
pub type Screen = ratatui::Terminal<CrosstermBackend<BufWriter<Stdout>>>;

fn backend() -> CrosstermBackend<BufWriter<Stdout>> {
    CrosstermBackend::new(BufWriter::with_capacity(64 * 1024, std::io::stdout()))
}

pub struct Guard {
    pub terminal: Screen,
    mouse: bool,
}

/// Mouse reporting: button presses and the wheel (1000), in SGR encoding (1006). Not 1002/1003
/// (drags, any motion): a pointer that moves over the panel sends nothing and wakes nothing.
const MOUSE_ON: &str = "\x1b[?1000h\x1b[?1006h";
const MOUSE_OFF: &str = "\x1b[?1006l\x1b[?1000l";

fn mouse(on: bool) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(if on { MOUSE_ON } else { MOUSE_OFF }.as_bytes());
    let _ = out.flush();
}

impl Guard {
    /// Raw mode + alternate screen (+ mouse reporting when `mouse`). Call only after every
    /// config file has been validated.
    pub fn enter(with_mouse: bool) -> std::io::Result<Guard> {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore(with_mouse);
            next(info);
        }));
        crossterm::terminal::enable_raw_mode()?;
        crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
        let terminal = ratatui::Terminal::new(backend())?;
        if with_mouse {
            mouse(true);
        }
        Ok(Guard { terminal, mouse: with_mouse })
    }
}

/// Leave raw mode and the alternate screen, show the cursor; every step is tried, and a step
/// that fails (the terminal is gone) is skipped without a word: there is nobody to tell.
fn restore(with_mouse: bool) {
    if with_mouse {
        mouse(false);
    }
    // Raw mode first: it has more side effects than the alternate screen.
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::LeaveAlternateScreen, crossterm::cursor::Show);
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore(self.mouse);
        // ratatui's Terminal shows the cursor when it is dropped and `eprintln!`s when it cannot,
        // which panics without a stderr. When the terminal is gone, it is forgotten instead (a
        // screen buffer, freed at exit) and an inert one that never hid the cursor takes its
        // place.
        if self.terminal.show_cursor().is_err() {
            let nothing =
                ratatui::TerminalOptions { viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::default()) };
            if let Ok(spare) = ratatui::Terminal::with_options(backend(), nothing) {
                std::mem::forget(std::mem::replace(&mut self.terminal, spare));
            }
        }
    }
}

/// Hand the terminal to a command (raw mode stays on: its bytes go through as typed): leave the
/// panel's alternate screen and show the cursor.
pub fn suspend(target: &str) {
    use std::io::Write;
    mouse(false);
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(out, crossterm::terminal::LeaveAlternateScreen, crossterm::cursor::Show);
    let _ = write!(out, "stackdeck: a shell in {}; `exit` returns to the panel\r\n", crate::logtext::inert(target));
    let _ = out.flush();
}

/// Take the terminal back after [`suspend`]: the alternate screen, no cursor, a full redraw.
pub fn resume(guard: &mut Guard) -> std::io::Result<()> {
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen, crossterm::cursor::Hide)?;
    if guard.mouse {
        mouse(true);
    }
    guard.terminal.clear()
}
