//! The state machine: `update(state, msg) -> effects`. Pure: no I/O, no clocks, no ratatui.

use crate::config::{Action, Keymap, Mode};
use crate::logtext::LogLine;
use crate::msg::{Effect, EngineEvent, Msg};
use crate::state::logs::StreamState;
use crate::state::services::Probe;
use crate::state::{AppState, Conn, Pane};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Apply one message. Sets `state.dirty` when something visible changed.
pub fn update(state: &mut AppState, keymap: &Keymap, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(k) => {
            if k.kind != KeyEventKind::Release {
                state.ui.notice = None;
                on_key(state, keymap, &k, &mut fx);
                state.dirty = true;
            }
        }
        Msg::Resize => state.dirty = true,
        Msg::Tick(now) => {
            state.now = now;
            state.dirty = true;
        }
        Msg::Signal(name) => {
            tracing::info!("received {name}, restoring the terminal and exiting");
            state.quit = true;
            fx.push(Effect::Quit);
        }
        Msg::Probe(p) => {
            let new = Probe { ok: p.ok, detail: p.detail };
            if state.services.probes.get(&p.key) != Some(&new) {
                state.services.probes.insert(p.key, new);
                state.dirty = true;
            }
        }
        Msg::Engine(ev) => on_engine(state, ev, &mut fx),
    }
    fx
}

fn on_engine(state: &mut AppState, ev: EngineEvent, fx: &mut Vec<Effect>) {
    if !matches!(ev, EngineEvent::Unreachable { .. }) {
        state.engine.last_contact = Some(state.now);
    }
    match ev {
        EngineEvent::Connected(info) => {
            tracing::info!("connected to engine {} (API {}, {})", info.host, info.api_version, info.server_version);
            state.engine.info = Some(info);
            state.engine.conn = Conn::Connected;
            state.dirty = true;
            // Resume the log view where it was (or open it if none was open yet).
            if state.logs.container.is_some() {
                resume_logs(state, fx);
            } else {
                sync_log_target(state, fx);
            }
        }
        EngineEvent::Unreachable { reason, retry_in_secs } => {
            let since = match &state.engine.conn {
                Conn::Unreachable { since, .. } => *since,
                _ => state.now,
            };
            state.engine.conn = Conn::Unreachable { since, reason, retry_in_secs };
            state.dirty = true;
        }
        EngineEvent::Snapshot(list) => {
            let ids: std::collections::HashSet<_> = list.iter().map(|c| c.id.clone()).collect();
            let gone: Vec<_> = state.services.containers.keys().filter(|id| !ids.contains(*id)).cloned().collect();
            for id in &gone {
                state.metrics.forget(id);
            }
            state.services.replace_all(list);
            state.dirty = true;
            sync_log_target(state, fx);
        }
        EngineEvent::Upsert(c) => {
            let id = c.id.clone();
            let running = c.state == crate::domain::RunState::Running;
            state.services.upsert(c);
            state.dirty = true;
            if state.logs.container.as_ref() == Some(&id)
                && running
                && matches!(state.logs.stream, StreamState::Ended(_))
            {
                resume_logs(state, fx); // the container was restarted: keep following it
            } else {
                sync_log_target(state, fx);
            }
        }
        EngineEvent::Removed(id) => {
            state.metrics.forget(&id);
            state.services.remove(&id);
            state.dirty = true;
            sync_log_target(state, fx);
        }
        EngineEvent::Health(id, h) => {
            if state.services.set_health(&id, h) {
                state.dirty = true;
            }
        }
        EngineEvent::Stats(id, s) => {
            let shown = state.ui.detail == Pane::Metrics || state.ui.focus == Pane::Metrics;
            state.metrics.push(id, s);
            if shown {
                state.dirty = true;
            }
        }
        EngineEvent::Logs(batch) => {
            if batch.generation != state.logs.generation {
                return; // a stream the user already left
            }
            if batch.skipped > 0 {
                state.logs.skipped_total += batch.skipped;
                state.logs.push(std::iter::once(LogLine::marker(format!(
                    "··· {} lines skipped: the panel could not keep up (see `docker logs` for all of them) ···",
                    batch.skipped
                ))));
            }
            state.logs.push(batch.lines);
            state.logs.stream = match batch.ended {
                Some(reason) => {
                    state.logs.push(std::iter::once(LogLine::marker(format!("··· {reason} ···"))));
                    StreamState::Ended(reason)
                }
                None => StreamState::Live,
            };
            if state.ui.detail == Pane::Logs {
                state.dirty = true;
            }
        }
    }
}

/// The log view shows the selected container while the Logs pane is on screen, and nothing
/// (no stream) otherwise.
fn sync_log_target(state: &mut AppState, fx: &mut Vec<Effect>) {
    let want = if state.ui.detail == Pane::Logs && matches!(state.engine.conn, Conn::Connected) {
        state.services.selected.clone()
    } else {
        None
    };
    if want == state.logs.container {
        return;
    }
    let generation = state.logs.retarget(want.clone());
    match want {
        Some(container) => fx.push(Effect::FollowLogs { container, generation, tail: state.tail, since: None }),
        None => fx.push(Effect::StopLogs),
    }
}

fn resume_logs(state: &mut AppState, fx: &mut Vec<Effect>) {
    let Some(container) = state.logs.container.clone() else { return };
    state.logs.generation += 1;
    state.logs.stream = StreamState::Connecting;
    let since = state.logs.last_timestamp().map(str::to_owned);
    fx.push(Effect::FollowLogs { container, generation: state.logs.generation, tail: state.tail, since });
}

fn mode_for(p: Pane) -> Mode {
    match p {
        Pane::Services => Mode::Services,
        Pane::Logs => Mode::Logs,
        Pane::Metrics => Mode::Metrics,
        Pane::History => Mode::History,
    }
}

fn on_key(state: &mut AppState, keymap: &Keymap, k: &KeyEvent, fx: &mut Vec<Effect>) {
    if let Some(input) = state.ui.search_input.as_mut() {
        match keymap.action(Mode::Search, k) {
            Some(Action::SearchConfirm) => {
                let q = state.ui.search_input.take().unwrap_or_default();
                state.logs.set_query(if q.is_empty() { None } else { Some(q) });
                if state.logs.query.is_some() && state.logs.current_match.is_none() {
                    state.ui.notice = Some("no match".into());
                }
            }
            Some(Action::SearchCancel) => state.ui.search_input = None,
            Some(Action::SearchErase) => {
                input.pop();
            }
            _ => {
                if let KeyCode::Char(c) = k.code
                    && !k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && input.len() < 256
                {
                    input.push(c);
                }
            }
        }
        return;
    }
    let mode = mode_for(state.ui.focus);
    let Some(action) = keymap.action(mode, k) else { return };
    if state.ui.help && !matches!(action, Action::Help | Action::Cancel | Action::Quit) {
        return; // the help popup is modal
    }
    match action {
        Action::Quit => {
            state.quit = true;
            fx.push(Effect::Quit);
        }
        Action::Help => state.ui.help = !state.ui.help,
        Action::Cancel => {
            if state.ui.help {
                state.ui.help = false;
            } else if state.logs.query.is_some() {
                state.logs.set_query(None);
            }
        }
        Action::FocusNext | Action::FocusPrev => {
            let i = Pane::ORDER.iter().position(|p| *p == state.ui.focus).unwrap_or(0);
            let n = Pane::ORDER.len();
            let j = if action == Action::FocusNext { (i + 1) % n } else { (i + n - 1) % n };
            focus(state, Pane::ORDER[j], fx);
        }
        Action::FocusServices => focus(state, Pane::Services, fx),
        Action::FocusLogs | Action::OpenLogs => focus(state, Pane::Logs, fx),
        Action::FocusMetrics => focus(state, Pane::Metrics, fx),
        Action::FocusHistory => focus(state, Pane::History, fx),
        Action::TogglePanelLog => state.ui.panel_log = !state.ui.panel_log,
        Action::SelectNext | Action::SelectPrev | Action::SelectFirst | Action::SelectLast => {
            match action {
                Action::SelectNext => state.services.move_selection(1),
                Action::SelectPrev => state.services.move_selection(-1),
                Action::SelectFirst => state.services.select_edge(false),
                _ => state.services.select_edge(true),
            }
            sync_log_target(state, fx);
        }
        Action::ScrollUp | Action::ScrollDown if state.ui.focus == Pane::History => {
            let h = &mut state.history;
            h.scroll = if action == Action::ScrollUp {
                h.scroll.saturating_sub(1)
            } else {
                (h.scroll + 1).min(h.records.len().saturating_sub(1))
            };
        }
        Action::ScrollUp => state.logs.scroll(-1),
        Action::ScrollDown => state.logs.scroll(1),
        Action::PageUp => state.logs.scroll(-20),
        Action::PageDown => state.logs.scroll(20),
        Action::ScrollTop => state.logs.scroll_top(),
        Action::Follow => state.logs.follow(),
        Action::TogglePause => state.logs.toggle_pause(),
        Action::Search => state.ui.search_input = Some(String::new()),
        Action::SearchNext | Action::SearchPrev => {
            if state.logs.query.is_none() {
                state.ui.notice = Some("no search: press the search key first".into());
            } else if !state.logs.jump_match(action == Action::SearchPrev) {
                state.ui.notice =
                    Some(if action == Action::SearchPrev { "no older match" } else { "no newer match" }.into());
            }
        }
        Action::ToggleFilter => {
            if state.logs.query.is_some() {
                state.logs.filter = !state.logs.filter;
            } else {
                state.ui.notice = Some("filter needs a search: press the search key first".into());
            }
        }
        Action::ToggleWrap => state.logs.wrap = !state.logs.wrap,
        Action::ToggleTimestamps => state.logs.timestamps = !state.logs.timestamps,
        Action::SearchConfirm | Action::SearchCancel | Action::SearchErase => {}
    }
}

fn focus(state: &mut AppState, pane: Pane, fx: &mut Vec<Effect>) {
    state.ui.focus = pane;
    if pane != Pane::Services {
        state.ui.detail = pane;
    }
    sync_log_target(state, fx);
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
