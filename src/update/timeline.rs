//! The Timeline pane's keys: move the selection, filter by group and service, export the rows,
//! and jump from a row to the merged logs at its moment.

use super::{Effect, focus};
use crate::config::Action;
use crate::domain::Pane;
use crate::state::AppState;

/// How far before a row's moment the merged logs are read when that moment is not loaded.
const LEAD_SECS: i64 = 60;

/// Rows changed: make the shown ones again, when the pane is on screen (else when it is).
pub(super) fn refresh_if_shown(state: &mut AppState) {
    if state.timeline.stale && state.ui.detail == Pane::Timeline {
        state.timeline.refresh(state.now);
        state.dirty = true;
    }
}

pub(super) fn key(state: &mut AppState, action: Action, fx: &mut Vec<Effect>) -> bool {
    let t = &mut state.timeline;
    match action {
        Action::SelectNext => t.move_selection(1),
        Action::SelectPrev => t.move_selection(-1),
        Action::SelectFirst => t.selected = None,
        Action::SelectLast => t.move_selection(isize::MAX),
        Action::FilterKind => {
            t.cycle_group();
            t.selected = None;
            state.ui.notice = Some(match t.group {
                Some(g) => format!("timeline: only {}", g.as_str()),
                None => "timeline: every row".into(),
            });
        }
        Action::FilterService => {
            let chosen = state.services.selected().map(|c| c.key.to_string());
            let t = &mut state.timeline;
            state.ui.notice = Some(if t.service.take().is_some() {
                "timeline: every service".into()
            } else {
                match chosen {
                    Some(s) => {
                        let said = format!("timeline: only {s}");
                        t.service = Some(s);
                        said
                    }
                    None => "timeline: select a service in Services first".into(),
                }
            });
            t.stale = true;
            t.selected = None;
        }
        Action::JumpToLogs => jump(state, fx),
        Action::Export | Action::ExportJson => export(state, action == Action::ExportJson, fx),
        _ => return false,
    }
    true
}

/// The selected row's moment in the merged logs: they are read from a minute before it (only the
/// logs on screen are followed, so nothing is loaded while the timeline is), and the view pauses
/// on the first line at or after the moment when it arrives.
fn jump(state: &mut AppState, fx: &mut Vec<Effect>) {
    let Some(row) = state.timeline.selected_row() else {
        state.ui.notice = Some("the timeline is empty".into());
        return;
    };
    let at = row.at;
    if state.on_swarm_manager() {
        state.ui.notice =
            Some("on a Swarm manager a task row's logs are its service's merged logs: no merged view".into());
        return;
    }
    if !state.logs.merged {
        state.logs.merged = true;
        state.logs.sources.clear();
        state.logs.container = None;
    }
    focus(state, Pane::Logs, fx);
    let t = at.as_second();
    let from = jiff::Timestamp::from_second(t - LEAD_SECS).unwrap_or(at);
    // One follow: from the moment, not from the tails the focus change just asked for.
    fx.retain(|e| !matches!(e, Effect::FollowMerged { .. }));
    super::merged_follow(state, fx, Some(from.to_string()));
    state.logs.jump_at = Some(t);
    state.ui.notice =
        Some(format!("reading the merged logs from {}…", from.to_zoned(state.tz.clone()).strftime("%H:%M:%S")));
}

/// Write the rows shown (after the filters), oldest first, like a log export.
fn export(state: &mut AppState, json: bool, fx: &mut Vec<Effect>) {
    let lines = state.timeline.export_lines();
    if lines.is_empty() {
        state.ui.notice = Some("nothing to export: the timeline shows no rows".into());
        return;
    }
    state.ui.notice = Some(format!("exporting {} rows…", lines.len()));
    let service = state.timeline.service.clone().unwrap_or_else(|| "stack".into());
    fx.push(Effect::Export(crate::logtext::export::Export {
        kind: "timeline",
        service,
        container: String::new(),
        lines,
        json,
        merged: true,
    }));
}
