//! The mouse: a click focuses the pane under it and, in the Services pane, selects the row under
//! it; the wheel scrolls what is under the pointer (without moving the focus). A popup or the
//! help takes the mouse as it takes the keys: the wheel scrolls it, a click does nothing there.
//! Where the panes are comes from the last frame (`Msg::Screen`).

use super::keys::clamp_help;
use super::{Effect, focus, sync_log_target};
use crate::config::Keymap;
use crate::domain::{Pane, Zone};
use crate::state::services::Row;
use crate::state::{AppState, Popup};
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

/// Lines a wheel step scrolls in a text view.
const WHEEL_LINES: i64 = 3;

pub(super) fn on_mouse(state: &mut AppState, keymap: &Keymap, m: &MouseEvent, fx: &mut Vec<Effect>) {
    let step: i64 = match m.kind {
        MouseEventKind::ScrollUp => -1,
        MouseEventKind::ScrollDown => 1,
        MouseEventKind::Down(MouseButton::Left) => 0,
        _ => return,
    };
    if state.ui.search_input.is_some() {
        return;
    }
    if let Some(popup) = state.ui.popup.as_mut() {
        if let Popup::Inspect { scroll, .. } = popup {
            *scroll = scroll.saturating_add_signed((step * WHEEL_LINES) as isize);
            state.dirty = true;
        }
        return;
    }
    if state.ui.help {
        state.ui.help_scroll = state.ui.help_scroll.saturating_add_signed(step as isize);
        clamp_help(state, keymap);
        state.dirty = true;
        return;
    }
    let Some(zone) = state.ui.zones.iter().find(|z| z.contains(m.column, m.row)).copied() else { return };
    if step == 0 {
        if zone.pane != state.ui.focus {
            focus(state, zone.pane, fx);
        }
        if zone.pane == Pane::Services {
            select_row(state, zone, m.row, fx);
        }
        if zone.pane == Pane::Timeline {
            select_timeline_row(state, zone, m.row);
        }
    } else {
        wheel(state, zone.pane, step, fx);
    }
    state.dirty = true;
}

/// The Services table as drawn: a border, a header row, then the rows, scrolled just enough to
/// show the selection (ratatui's table with a fresh state each frame).
fn select_row(state: &mut AppState, zone: Zone, row: u16, fx: &mut Vec<Effect>) {
    let top = zone.y + 2;
    let visible = usize::from(zone.h.saturating_sub(3));
    if row < top || usize::from(row - top) >= visible {
        return;
    }
    let rows = state.services.rows();
    let selected = state.services.selected.as_ref();
    let sel = rows.iter().position(|r| matches!(r, Row::Container(id) if Some(id) == selected)).unwrap_or(0);
    let offset = sel.saturating_sub(visible.saturating_sub(1));
    if let Some(Row::Container(id)) = rows.get(offset + usize::from(row - top)) {
        state.services.selected = Some(id.clone());
        sync_log_target(state, fx);
    }
}

/// The Timeline table as drawn: a border, a header row, then the rows from
/// [`first_shown`](crate::state::timeline::first_shown).
fn select_timeline_row(state: &mut AppState, zone: Zone, row: u16) {
    let top = zone.y + 2;
    let visible = usize::from(zone.h.saturating_sub(3));
    if row < top || usize::from(row - top) >= visible {
        return;
    }
    let t = &mut state.timeline;
    let at = crate::state::timeline::first_shown(t.selected_index(), visible) + usize::from(row - top);
    if let Some(r) = t.rows.get(at) {
        t.selected = if at == 0 { None } else { Some(r.key.clone()) };
    }
}

fn wheel(state: &mut AppState, pane: Pane, step: i64, fx: &mut Vec<Effect>) {
    match pane {
        Pane::Services | Pane::Metrics => {
            state.services.move_selection(step as isize);
            sync_log_target(state, fx);
        }
        Pane::Logs => state.logs.scroll(step * WHEEL_LINES),
        Pane::History => {
            let h = &mut state.history;
            h.scroll = h.scroll.saturating_add_signed(step as isize).min(h.records.len().saturating_sub(1));
        }
        Pane::Charts => {
            let ob = &mut state.observe;
            ob.selected = ob.selected.saturating_add_signed(step as isize).min(ob.panels.len().saturating_sub(1));
        }
        Pane::Alerts => {
            let ob = &mut state.observe;
            ob.scroll = ob.scroll.saturating_add_signed(step as isize).min(500);
        }
        Pane::Timeline => state.timeline.move_selection(step as isize),
    }
}
