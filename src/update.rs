//! The state machine: `update(state, msg) -> effects`. Pure: no I/O, no clocks, no ratatui.

use crate::config::{Action, Keymap, Mode};
use crate::logtext::LogLine;
use crate::msg::{Effect, EngineEvent, Msg, OpEvent};
use crate::state::logs::StreamState;
use crate::state::services::Probe;
use crate::domain::{OpRequest, Pane};
use crate::state::{AppState, Conn, OpView, Popup};
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
            sample_availability(state, now);
            state.dirty = true;
        }
        Msg::Observed(o) => {
            let ob = &mut state.observe;
            let visible = ob.source != o.source
                || ob.alerts != o.alerts
                || (matches!(state.ui.detail, Pane::Charts) && ob.panels != o.panels);
            ob.source = o.source;
            ob.panels = o.panels;
            ob.alerts = o.alerts;
            ob.last_round = Some(state.now);
            ob.selected = ob.selected.min(ob.panels.len().saturating_sub(1));
            if visible {
                state.dirty = true;
            }
        }
        Msg::Host(r) => {
            let ob = &mut state.observe;
            let visible = ob.host_alerts != r.alerts || matches!(state.ui.detail, Pane::Alerts);
            ob.host = Some(r.sample);
            ob.host_alerts = r.alerts;
            if visible {
                state.dirty = true;
            }
        }
        Msg::Signal(_) => state.quit = true,
        Msg::Probe(p) => {
            let new = Probe { ok: p.ok, detail: p.detail };
            if state.services.probes.get(&p.key) != Some(&new) {
                state.services.probes.insert(p.key, new);
                state.dirty = true;
            }
        }
        Msg::Engine(ev) => on_engine(state, ev, &mut fx),
        Msg::Op(OpEvent::Progress { id, line }) => {
            if let Some(op) = state.ops.iter_mut().find(|o| o.id == id) {
                if op.lines.len() >= 500 {
                    op.lines.remove(0);
                }
                op.lines.push(line);
                state.dirty = true;
            }
        }
        Msg::Op(OpEvent::Committed { id }) => {
            if let Some(op) = state.ops.iter_mut().find(|o| o.id == id) {
                op.cancellable = false;
                state.dirty = true;
            }
        }
        Msg::Op(OpEvent::Done { id, result }) => {
            if let Some(op) = state.ops.iter_mut().find(|o| o.id == id) {
                state.ui.notice = Some(match &result {
                    Ok(s) => s.clone(),
                    Err(e) => format!("FAILED: {e}"),
                });
                op.done = Some(result);
                op.cancellable = false;
                op.dismissed = false;
                state.dirty = true;
            }
        }
        Msg::History { records, kill_switches, backups } => {
            let h = &mut state.history;
            if !h.store_attached || h.records != records || h.kill_switches != kill_switches || h.backups != backups {
                h.records = records;
                h.kill_switches = kill_switches;
                h.backups = backups;
                h.store_attached = true;
                h.scroll = h.scroll.min(h.records.len().saturating_sub(1));
                state.dirty = true;
            }
        }
        Msg::Tags { target, tags } => {
            if let Some(Popup::Picker { target: t, tags: slot, .. }) = state.ui.popup.as_mut()
                && *t == target
            {
                *slot = Some(tags);
                state.dirty = true;
            }
        }
    }
    fx
}

/// One health sample per service (all its containers running and not unhealthy/starting).
fn sample_availability(state: &mut AppState, now: jiff::Timestamp) {
    use crate::domain::{Health, RunState};
    let mut per: std::collections::BTreeMap<crate::domain::ServiceKey, bool> = std::collections::BTreeMap::new();
    for c in state.services.ordered() {
        let ok = c.state == RunState::Running && matches!(state.services.health(c), Health::Healthy | Health::None);
        *per.entry(c.key.clone()).or_insert(true) &= ok;
    }
    for (k, ok) in per {
        state.observe.availability.sample(&k, ok, now);
    }
}

/// Tags shown by the picker: those containing what was typed.
pub fn picker_choices<'a>(tags: &'a [String], input: &str) -> Vec<&'a str> {
    tags.iter().map(String::as_str).filter(|t| input.is_empty() || t.contains(input)).collect()
}

fn start_op(state: &mut AppState, request: OpRequest, fx: &mut Vec<Effect>) {
    let id = state.next_op;
    state.next_op += 1;
    let cancellable = request.cancellable();
    state.ops.push(OpView { id, title: request.title(), lines: Vec::new(), done: None, cancellable, dismissed: false });
    if state.ops.len() > 20 {
        state.ops.remove(0);
    }
    fx.push(Effect::RunOp { id, request });
}

/// Keys while a popup of the actions is open. Returns true when the key was taken.
fn on_popup_key(state: &mut AppState, keymap: &Keymap, k: &KeyEvent, fx: &mut Vec<Effect>) -> bool {
    match state.ui.popup.take() {
        None => false,
        Some(Popup::Confirm(request)) => {
            match keymap.action(Mode::Confirm, k) {
                Some(Action::Confirm) => start_op(state, request, fx),
                Some(Action::Deny) => state.ui.notice = Some("cancelled: nothing was done".into()),
                _ => state.ui.popup = Some(Popup::Confirm(request)),
            }
            true
        }
        Some(Popup::Picker { target, current, tags, mut input, mut selected }) => {
            let choices: Vec<String> = match &tags {
                Some(Ok(t)) => picker_choices(t, &input).into_iter().map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            match keymap.action(Mode::Picker, k) {
                Some(Action::PickerNext) => selected = (selected + 1).min(choices.len().saturating_sub(1)),
                Some(Action::PickerPrev) => selected = selected.saturating_sub(1),
                Some(Action::PickerCancel) => return true,
                Some(Action::PickerErase) => {
                    input.pop();
                    selected = 0;
                }
                Some(Action::PickerAccept) => {
                    let image = choices.get(selected).cloned().or_else(|| (!input.is_empty()).then(|| input.clone()));
                    match image {
                        Some(image) => state.ui.popup = Some(Popup::Confirm(OpRequest::Deploy { target, image })),
                        None => {
                            state.ui.notice = Some("type an image reference or pick a tag".into());
                            state.ui.popup = Some(Popup::Picker { target, current, tags, input, selected });
                        }
                    }
                    return true;
                }
                _ => {
                    if let KeyCode::Char(c) = k.code
                        && !k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                        && input.len() < 256
                    {
                        input.push(c);
                        selected = 0;
                    }
                }
            }
            state.ui.popup = Some(Popup::Picker { target, current, tags, input, selected });
            true
        }
    }
}

fn on_mutating(state: &mut AppState, action: Action, fx: &mut Vec<Effect>) {
    if state.read_only {
        state.ui.notice = Some(format!("read-only: {} is disabled", action.name()));
        return;
    }
    let selected = state.services.selected().map(|c| (c.key.to_string(), c.image.clone()));
    if action != Action::EmergencyStop && action != Action::CancelOperation && state.op_running() {
        state.ui.notice = Some("an operation is running: wait for it or cancel it".into());
        return;
    }
    match action {
        Action::EmergencyStop => {
            let targets = if state.kill_switch_targets.is_empty() {
                selected.map(|(k, _)| vec![k]).unwrap_or_default()
            } else {
                state.kill_switch_targets.clone()
            };
            if targets.is_empty() {
                state.ui.notice = Some("emergency stop: no kill-switch service configured and none selected".into());
                return;
            }
            state.ui.help = false;
            state.ui.search_input = None;
            state.ui.popup =
                Some(Popup::Confirm(OpRequest::Stop { targets, reason: Some("emergency stop from the panel".into()) }));
        }
        Action::Backup => state.ui.popup = Some(Popup::Confirm(OpRequest::Backup { jobs: Vec::new() })),
        Action::CancelOperation => match state.ops.iter().find(|o| o.done.is_none() && o.cancellable) {
            Some(op) => {
                fx.push(Effect::CancelOp { id: op.id });
                state.ui.notice = Some(format!("cancelling: {}", op.title));
            }
            None => state.ui.notice = Some("no cancellable operation is running".into()),
        },
        Action::StartService | Action::Deploy | Action::Rollback => {
            let Some((target, image)) = selected else {
                state.ui.notice = Some("select a service first".into());
                return;
            };
            state.ui.popup = Some(match action {
                Action::StartService => Popup::Confirm(OpRequest::Start { target }),
                Action::Rollback => Popup::Confirm(OpRequest::Rollback { target }),
                _ => {
                    fx.push(Effect::LoadTags { target: target.clone(), image: image.clone() });
                    Popup::Picker { target, current: image, tags: None, input: String::new(), selected: 0 }
                }
            });
        }
        _ => {}
    }
}

fn on_engine(state: &mut AppState, ev: EngineEvent, fx: &mut Vec<Effect>) {
    if !matches!(ev, EngineEvent::Unreachable { .. }) {
        state.engine.last_contact = Some(state.now);
    }
    match ev {
        EngineEvent::Connected(info) => {
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
        Pane::Charts => Mode::Charts,
        Pane::Alerts => Mode::Alerts,
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
    if on_popup_key(state, keymap, k, fx) {
        return;
    }
    let mode = mode_for(state.ui.focus);
    let Some(action) = keymap.action(mode, k) else { return };
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
    match action {
        Action::Quit => state.quit = true,
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
        Action::FocusCharts => focus(state, Pane::Charts, fx),
        Action::FocusAlerts => focus(state, Pane::Alerts, fx),
        Action::CycleWindow => {
            state.observe.window = state.observe.window.next();
            fx.push(Effect::SetWindow(state.observe.window));
        }
        Action::SelectNext | Action::SelectPrev if state.ui.focus == Pane::Charts => {
            let ob = &mut state.observe;
            let n = ob.panels.len().max(1);
            ob.selected =
                if action == Action::SelectNext { (ob.selected + 1).min(n - 1) } else { ob.selected.saturating_sub(1) };
        }
        Action::ScrollUp | Action::ScrollDown if state.ui.focus == Pane::Alerts => {
            let ob = &mut state.observe;
            ob.scroll = if action == Action::ScrollUp { ob.scroll.saturating_sub(1) } else { (ob.scroll + 1).min(500) };
        }
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
        // Handled above (mutating) or only inside their popups.
        Action::EmergencyStop
        | Action::Backup
        | Action::CancelOperation
        | Action::StartService
        | Action::Deploy
        | Action::Rollback
        | Action::Confirm
        | Action::Deny
        | Action::PickerNext
        | Action::PickerPrev
        | Action::PickerAccept
        | Action::PickerCancel
        | Action::PickerErase => {}
    }
}

fn focus(state: &mut AppState, pane: Pane, fx: &mut Vec<Effect>) {
    state.ui.focus = pane;
    if pane != Pane::Services {
        state.ui.detail = pane;
    }
    sync_log_target(state, fx);
    let want = state.ui.detail == Pane::Metrics;
    if want != state.metrics.streaming {
        state.metrics.streaming = want;
        fx.push(Effect::Stats(want));
    }
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
