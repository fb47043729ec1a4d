//! A key press. A prompt or popup takes every key while it is open; otherwise the keymap finds
//! the action (the focused pane's table, then the global one), mutating actions go to
//! `popups::on_mutating`, and the rest goes to the focused pane's handler, which falls back to
//! the global handler for what it does not take. Adding a pane means one handler here.

use super::popups::{on_mutating, on_popup_key};
use super::{Effect, MAX_INPUT, focus, sync_log_target, typed_char};
use crate::config::{Action, Keymap, Mode};
use crate::domain::Pane;
use crate::state::AppState;
use crossterm::event::KeyEvent;

pub(super) fn on_key(state: &mut AppState, keymap: &Keymap, k: &KeyEvent, fx: &mut Vec<Effect>) {
    if state.ui.search_input.is_some() {
        on_search_key(state, keymap, k);
        return;
    }
    if on_popup_key(state, keymap, k, fx) {
        state.next_popup();
        return;
    }
    if state.ui.help && help_scroll_key(state, keymap, k) {
        return;
    }
    let Some(action) = keymap.action(Mode::Pane(state.ui.focus), k) else { return };
    // The help is modal too: only the emergency stop gets past it (and closes it).
    if state.ui.help && action.is_mutating() && action != Action::EmergencyStop {
        return;
    }
    if action.is_mutating() {
        on_mutating(state, action, fx);
        return;
    }
    // Esc closes a finished operation's popup first.
    if action == Action::Cancel && state.op_shown().is_some_and(|o| o.done.is_some()) && !state.ui.help {
        if let Some(op) = state.ops.last_mut() {
            op.dismissed = true;
        }
        return;
    }
    if state.ui.help && !matches!(action, Action::Help | Action::Cancel | Action::Quit) {
        return; // the help popup is modal
    }
    let taken = match state.ui.focus {
        Pane::Services | Pane::Metrics => services_key(state, action, fx),
        Pane::Logs => logs_key(state, action, fx),
        Pane::History => history_key(state, action),
        Pane::Charts => charts_key(state, action),
        Pane::Alerts => alerts_key(state, action),
        Pane::Timeline => super::timeline::key(state, action, fx),
    };
    if !taken {
        global_key(state, action, fx);
    }
}

/// Scrolling the help, by entry: the pane's own line and page keys, and the arrow and page keys
/// whatever they are bound to. Never past the last full screen.
fn help_scroll_key(state: &mut AppState, keymap: &Keymap, k: &KeyEvent) -> bool {
    use crossterm::event::KeyCode;
    let by: isize = match (k.code, keymap.action(Mode::Pane(state.ui.focus), k)) {
        (KeyCode::Down, _) | (_, Some(Action::ScrollDown | Action::SelectNext)) => 1,
        (KeyCode::Up, _) | (_, Some(Action::ScrollUp | Action::SelectPrev)) => -1,
        (KeyCode::PageDown, _) | (_, Some(Action::PageDown)) => 10,
        (KeyCode::PageUp, _) | (_, Some(Action::PageUp)) => -10,
        (KeyCode::Home, _) | (_, Some(Action::ScrollTop | Action::SelectFirst)) => isize::MIN,
        (KeyCode::End, _) | (_, Some(Action::Follow | Action::SelectLast)) => isize::MAX,
        _ => return false,
    };
    state.ui.help_scroll = state.ui.help_scroll.saturating_add_signed(by);
    clamp_help(state, keymap);
    state.dirty = true;
    true
}

/// Keep the help's first entry within what the screen can show.
pub(super) fn clamp_help(state: &mut AppState, keymap: &Keymap) {
    use crate::config::help;
    let all = help::entries(keymap, state.ui.focus, state.read_only);
    let (w, h) = help::geometry(state.ui.screen);
    let last = help::last_start(&all, w, h);
    if state.ui.help_scroll > last {
        state.ui.help_scroll = last;
        state.dirty = true;
    }
}

fn on_search_key(state: &mut AppState, keymap: &Keymap, k: &KeyEvent) {
    let Some(input) = state.ui.search_input.as_mut() else { return };
    match keymap.action(Mode::Search, k) {
        Some(Action::SearchConfirm) => {
            let q = state.ui.search_input.take().unwrap_or_default();
            // `@03:12` (any form `stackdeck logs --since` takes): jump there, not a search.
            if let Some(when) = q.strip_prefix('@') {
                state.ui.notice = match crate::timearg::parse(when, state.now, &state.tz) {
                    Ok(t) if state.logs.jump_to_time(t) => None,
                    Ok(_) => Some(format!("no line loaded at or after {}", when.trim())),
                    Err(e) => Some(e),
                };
                return;
            }
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
            if let Some(c) = typed_char(k)
                && input.len() < MAX_INPUT
            {
                input.push(c);
            }
        }
    }
}

/// Services, and Metrics (which lists the same services): move the selection.
fn services_key(state: &mut AppState, action: Action, fx: &mut Vec<Effect>) -> bool {
    match action {
        Action::SelectNext => state.services.move_selection(1),
        Action::SelectPrev => state.services.move_selection(-1),
        Action::SelectFirst => state.services.select_edge(false),
        Action::SelectLast => state.services.select_edge(true),
        Action::OpenLogs => {
            focus(state, Pane::Logs, fx);
            return true;
        }
        Action::Inspect => {
            match state.services.selected().map(|c| c.id.clone()) {
                Some(container) => {
                    state.ui.popup = Some(crate::state::Popup::Inspect { scroll: 0, view: None });
                    fx.push(Effect::Inspect { container });
                }
                None => state.ui.notice = Some("select a container first".into()),
            }
            return true;
        }
        _ => return false,
    }
    sync_log_target(state, fx);
    true
}

fn logs_key(state: &mut AppState, action: Action, fx: &mut Vec<Effect>) -> bool {
    // The operator moved on: a jump still waiting for its lines is dropped.
    state.logs.jump_at = None;
    if action == Action::ToggleMerged {
        if state.on_swarm_manager() {
            state.ui.notice = Some("on a Swarm manager a task row's logs are its service's merged logs".into());
            return true;
        }
        let logs = &mut state.logs;
        logs.merged = !logs.merged;
        logs.sources.clear();
        // Either way the follow starts again: merged from every tail, or the selected service's
        // own logs from theirs.
        logs.container = None;
        sync_log_target(state, fx);
        return true;
    }
    if matches!(action, Action::Export | Action::ExportJson) {
        export_logs(state, action == Action::ExportJson, fx);
        return true;
    }
    let logs = &mut state.logs;
    match action {
        Action::ScrollUp => logs.scroll(-1),
        Action::ScrollDown => logs.scroll(1),
        Action::PageUp => logs.scroll(-20),
        Action::PageDown => logs.scroll(20),
        Action::ScrollTop => logs.scroll_top(),
        Action::Follow => logs.follow(),
        Action::TogglePause => logs.toggle_pause(),
        Action::Search => state.ui.search_input = Some(String::new()),
        Action::SearchNext | Action::SearchPrev => {
            if logs.query.is_none() {
                state.ui.notice = Some("no search: press the search key first".into());
            } else if !logs.jump_match(action == Action::SearchPrev) {
                state.ui.notice =
                    Some(if action == Action::SearchPrev { "no older match" } else { "no newer match" }.into());
            }
        }
        Action::ToggleFilter => {
            if logs.query.is_some() {
                logs.filter = !logs.filter;
            } else {
                state.ui.notice = Some("filter needs a search: press the search key first".into());
            }
        }
        Action::ToggleWrap => logs.wrap = !logs.wrap,
        Action::ToggleTimestamps => logs.timestamps = !logs.timestamps,
        _ => return false,
    }
    true
}

/// Export what the Logs pane has loaded: written off the loop, the file named when done.
fn export_logs(state: &mut AppState, json: bool, fx: &mut Vec<Effect>) {
    let lines = state.logs.exported();
    if lines.is_empty() {
        state.ui.notice = Some("nothing to export: no lines are loaded".into());
        return;
    }
    let container = state.logs.container.as_ref().and_then(|id| state.services.containers.get(id));
    let service = match (&state.logs.service, state.logs.merged) {
        (_, true) => "merged".to_owned(),
        (Some(k), false) => k.to_string(),
        (None, false) => "-".to_owned(),
    };
    let container = container.map(|c| c.name.clone()).unwrap_or_default();
    state.ui.notice = Some(format!("exporting {} lines…", lines.len()));
    let merged = state.logs.merged;
    let container = if merged { String::new() } else { container };
    fx.push(Effect::Export(crate::logtext::export::Export { kind: "logs", service, container, lines, json, merged }));
}

fn history_key(state: &mut AppState, action: Action) -> bool {
    let h = &mut state.history;
    match action {
        Action::ScrollUp => h.scroll = h.scroll.saturating_sub(1),
        Action::ScrollDown => h.scroll = (h.scroll + 1).min(h.records.len().saturating_sub(1)),
        _ => return false,
    }
    true
}

fn charts_key(state: &mut AppState, action: Action) -> bool {
    let ob = &mut state.observe;
    let n = ob.panels.len().max(1);
    match action {
        Action::SelectNext => ob.selected = (ob.selected + 1).min(n - 1),
        Action::SelectPrev => ob.selected = ob.selected.saturating_sub(1),
        _ => return false,
    }
    true
}

fn alerts_key(state: &mut AppState, action: Action) -> bool {
    let ob = &mut state.observe;
    match action {
        Action::ScrollUp => ob.scroll = ob.scroll.saturating_sub(1),
        Action::ScrollDown => ob.scroll = (ob.scroll + 1).min(500),
        _ => return false,
    }
    true
}

/// What works the same in every pane.
fn global_key(state: &mut AppState, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Quit => state.quit = true,
        Action::Help => {
            state.ui.help = !state.ui.help;
            state.ui.help_scroll = 0;
        }
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
        Action::FocusLogs => focus(state, Pane::Logs, fx),
        Action::FocusMetrics => focus(state, Pane::Metrics, fx),
        Action::FocusHistory => focus(state, Pane::History, fx),
        Action::FocusCharts => focus(state, Pane::Charts, fx),
        Action::FocusAlerts => focus(state, Pane::Alerts, fx),
        Action::FocusTimeline => focus(state, Pane::Timeline, fx),
        Action::CycleWindow => {
            state.observe.window = state.observe.window.next();
            fx.push(Effect::SetWindow(state.observe.window));
        }
        Action::TogglePanelLog => state.ui.panel_log = !state.ui.panel_log,
        Action::Environments => super::environments::open(state, fx),
        // Pane keys of another pane, prompt and popup keys: nothing to do here.
        _ => {}
    }
}
