//! The environment picker: every environment's summary side by side; choosing one ends this
//! panel and opens that one (the terminal stays with stackdeck).

use super::Effect;
use crate::config::{Action, Keymap, Mode};
use crate::domain::EnvSummary;
use crate::state::{AppState, Popup};
use crossterm::event::KeyEvent;

/// The picker key: open it and read every environment's summary.
pub(super) fn open(state: &mut AppState, fx: &mut Vec<Effect>) {
    if state.environments.is_empty() {
        state.ui.notice = Some("no environments: add [environments.NAME] tables to the config".into());
        return;
    }
    let current = state.environment.as_ref().map(|e| e.name.clone());
    let selected = state.environments.iter().position(|e| Some(&e.name) == current.as_ref()).unwrap_or(0);
    for e in &mut state.environments {
        *e = EnvSummary { name: e.name.clone(), kind: e.kind.clone(), engine: None, alerts: None, latched: None };
    }
    state.ui.popup = Some(Popup::Environments { selected });
    fx.push(Effect::SummarizeEnvironments);
}

/// A summary arrived.
pub(super) fn summary(state: &mut AppState, s: EnvSummary) {
    if let Some(e) = state.environments.iter_mut().find(|e| e.name == s.name) {
        *e = s;
        state.dirty = true;
    }
}

/// Keys while the picker is open.
pub(super) fn on_key(state: &mut AppState, keymap: &Keymap, k: &KeyEvent, mut selected: usize) {
    let n = state.environments.len();
    match keymap.action(Mode::Picker, k) {
        Some(Action::PickerNext) => selected = (selected + 1).min(n.saturating_sub(1)),
        Some(Action::PickerPrev) => selected = selected.saturating_sub(1),
        Some(Action::PickerCancel) => return,
        Some(Action::PickerAccept) => {
            let Some(chosen) = state.environments.get(selected).map(|e| e.name.clone()) else { return };
            if state.environment.as_ref().is_some_and(|e| e.name == chosen) {
                return;
            }
            if state.op_running() {
                state.ui.notice = Some("an operation is running: wait for it before switching".into());
            } else {
                state.switch_to = Some(chosen);
                state.quit = true;
                return;
            }
        }
        _ => {}
    }
    state.ui.popup = Some(Popup::Environments { selected });
}
