//! The panel's keys, read on a thread of its own that can be paused: while `e` hands the
//! terminal to a shell in a container, nothing of stackdeck reads the terminal (crossterm's
//! event stream would keep a read pending and swallow the first key typed into the shell).
//! The thread sleeps in `poll(2)` on the terminal and a wake-up pipe: no timer, no CPU while
//! idle. Resizes come from SIGWINCH (`app`), not from here.

use crate::msg::Msg;
use crossterm::event::{Event, MouseButton, MouseEventKind};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Reading,
    PauseAsked,
    Paused,
    /// The panel is done with it (quit, or switching environment): the thread ends.
    Stop,
}

/// The handle the panel keeps: pause and resume the key thread.
#[derive(Debug)]
pub struct Input {
    mode: Arc<(Mutex<Mode>, Condvar)>,
    wake: OwnedFd,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A byte through a pipe: makes a `poll` on its read end return.
pub fn ring(fd: &OwnedFd) {
    let _ = nix::unistd::write(fd, &[1]);
}

/// What woke [`wait_readable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// The terminal has bytes.
    Terminal,
    /// The wake-up pipe (or a signal): look at what changed.
    Woken,
    /// The terminal is gone (hang-up, error).
    Gone,
    /// Hung up, with bytes still readable: a pipe has data before its end, but a terminal that
    /// hung up is gone (reading it again returns at once, for ever: found as orphaned panels
    /// spinning at 40 % CPU after their tmux session ended).
    Closing,
}

/// Wait until `fd` (the terminal) or `wake` is readable.
pub fn wait_readable(fd: impl AsFd, wake: &OwnedFd) -> Ready {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN), PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => return Ready::Woken,
        Err(_) => return Ready::Gone,
    }
    let term = fds[0].revents().unwrap_or(PollFlags::empty());
    if fds[1].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
        let mut b = [0u8; 64];
        let _ = nix::unistd::read(wake.as_fd(), &mut b);
    }
    let hung_up = term.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL);
    match (term.contains(PollFlags::POLLIN), hung_up) {
        (false, true) => Ready::Gone,
        (true, true) => Ready::Closing,
        (true, false) => Ready::Terminal,
        (false, false) => Ready::Woken,
    }
}

pub fn spawn(tx: tokio::sync::mpsc::Sender<Msg>) -> std::io::Result<Input> {
    let (wake_rx, wake_tx) = nix::unistd::pipe().map_err(std::io::Error::from)?;
    let mode = Arc::new((Mutex::new(Mode::Reading), Condvar::new()));
    let m = mode.clone();
    let thread = std::thread::Builder::new().name("stackdeck-keys".into()).spawn(move || {
        // Like blocking_send, but a panel that is ending (Stop) is never waited for.
        let stopping = {
            let m = m.clone();
            move || *m.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) == Mode::Stop
        };
        let send = |mut msg: Msg| loop {
            match tx.try_send(msg) {
                Ok(()) => return true,
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return false,
                Err(tokio::sync::mpsc::error::TrySendError::Full(back)) => {
                    if stopping() {
                        return false;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        loop {
            {
                let (lock, cv) = &*m;
                let mut g = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if *g == Mode::PauseAsked {
                    *g = Mode::Paused;
                    cv.notify_all();
                }
                while *g == Mode::Paused {
                    g = cv.wait(g).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                if *g == Mode::Stop {
                    return;
                }
            }
            // Events crossterm already holds first (one read can bring several).
            while matches!(crossterm::event::poll(Duration::ZERO), Ok(true)) {
                if !forward(crossterm::event::read(), &send) {
                    return;
                }
            }
            match wait_readable(std::io::stdin(), &wake_rx) {
                Ready::Terminal => {
                    if !forward(crossterm::event::read(), &send) {
                        return;
                    }
                }
                Ready::Woken => {}
                Ready::Gone | Ready::Closing => {
                    send(Msg::Signal("terminal closed"));
                    return;
                }
            }
        }
    })?;
    Ok(Input { mode, wake: wake_tx, thread: Some(thread) })
}

/// Send one event on; false when the thread should end.
fn forward(ev: std::io::Result<Event>, send: &impl Fn(Msg) -> bool) -> bool {
    match ev {
        Ok(Event::Key(k)) => send(Msg::Key(k)),
        Ok(Event::Resize(..)) => send(Msg::Resize),
        // Clicks and the wheel only; releases (and anything else) wake nothing.
        Ok(Event::Mouse(m))
            if matches!(
                m.kind,
                MouseEventKind::Down(MouseButton::Left) | MouseEventKind::ScrollUp | MouseEventKind::ScrollDown
            ) =>
        {
            send(Msg::Mouse(m))
        }
        Ok(_) => true,
        Err(_) => {
            send(Msg::Signal("terminal closed"));
            false
        }
    }
}

impl Input {
    /// Stop reading the terminal; returns once the thread is parked (no read pending).
    pub fn pause(&self) {
        let (lock, cv) = &*self.mode;
        let mut g = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = Mode::PauseAsked;
        ring(&self.wake);
        while *g != Mode::Paused {
            let (next, timeout) =
                cv.wait_timeout(g, Duration::from_secs(2)).unwrap_or_else(std::sync::PoisonError::into_inner);
            g = next;
            if timeout.timed_out() {
                // The thread is gone (terminal closed): nothing reads the terminal.
                break;
            }
        }
    }

    pub fn resume(&self) {
        let (lock, cv) = &*self.mode;
        let mut g = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *g != Mode::Stop {
            *g = Mode::Reading;
        }
        cv.notify_all();
    }
}

/// A panel that ends (quit, an environment switch that starts the next panel) leaves no reader
/// of the terminal behind: a second one would take keys meant for the next.
impl Drop for Input {
    fn drop(&mut self) {
        {
            let (lock, cv) = &*self.mode;
            *lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Mode::Stop;
            cv.notify_all();
        }
        ring(&self.wake);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
