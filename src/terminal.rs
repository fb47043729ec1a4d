//! Entering and leaving the terminal. The terminal is restored on every way out: normal exit
//! (the guard's Drop), panic (ratatui's hook, installed after color-eyre's so the report is
//! printed on a restored screen), and SIGTERM/SIGHUP/SIGINT (turned into a clean quit by the
//! app loop).

use ratatui::DefaultTerminal;

pub struct Guard {
    pub terminal: DefaultTerminal,
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
    pub fn enter(with_mouse: bool) -> Guard {
        let terminal = ratatui::init();
        if with_mouse {
            // A panic restores the terminal through ratatui's hook: mouse reporting goes first.
            let next = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                mouse(false);
                next(info);
            }));
            mouse(true);
        }
        Guard { terminal, mouse: with_mouse }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // After SIGHUP the terminal may be gone: restoring can fail, and that is fine.
        if self.mouse {
            mouse(false);
        }
        ratatui::restore();
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
