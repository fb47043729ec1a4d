//! Entering and leaving the terminal. The terminal is restored on every way out: normal exit
//! (the guard's Drop), panic (ratatui's hook, installed after color-eyre's so the report is
//! printed on a restored screen), and SIGTERM/SIGHUP/SIGINT (turned into a clean quit by the
//! app loop).

use ratatui::DefaultTerminal;

pub struct Guard {
    pub terminal: DefaultTerminal,
}

impl Guard {
    /// Raw mode + alternate screen. Call only after every config file has been validated.
    pub fn enter() -> Guard {
        Guard { terminal: ratatui::init() }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // After SIGHUP the terminal may be gone: restoring can fail, and that is fine.
        ratatui::restore();
    }
}

/// Hand the terminal to a command (raw mode stays on: its bytes go through as typed): leave the
/// panel's alternate screen and show the cursor.
pub fn suspend(target: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(out, crossterm::terminal::LeaveAlternateScreen, crossterm::cursor::Show);
    let _ = write!(out, "stackdeck: a shell in {}; `exit` returns to the panel\r\n", crate::logtext::inert(target));
    let _ = out.flush();
}

/// Take the terminal back after [`suspend`]: the alternate screen, no cursor, a full redraw.
pub fn resume(guard: &mut Guard) -> std::io::Result<()> {
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen, crossterm::cursor::Hide)?;
    guard.terminal.clear()
}
