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
