//! The status line (engine, connection, badges) and the hint line (from the live keymap).

use super::View;
use crate::config::{Action, Mode, Slot};
use crate::domain::Pane;
use crate::state::Conn;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn status(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let st = v.state;
    let bar = if v.production() { v.style(Slot::Production) } else { v.style(Slot::StatusBar) };
    let mut spans = vec![Span::styled(" stackdeck ", v.style(Slot::TitleFocused).patch(bar))];
    // Where this is, always first: the environment and its kind.
    if let Some(e) = &st.environment {
        let slot = if e.is_production() { Slot::Production } else { Slot::Badge };
        spans.push(Span::styled(
            format!(" {} · {} ", crate::logtext::inert(&e.name), e.kind.to_uppercase()),
            v.style(slot),
        ));
        spans.push(Span::styled(" ", bar));
    }
    // The connection state first: at 80 columns it must never be the part that is cut off.
    match &st.engine.conn {
        Conn::Connecting => spans.push(Span::styled("◌ connecting… ", v.style(Slot::StatusBar))),
        Conn::Connected => spans.push(Span::styled("● connected ", v.style(Slot::StatusOk))),
        Conn::Unreachable { since, reason, retry_in_secs } => {
            let last = st
                .engine
                .last_contact
                .map(|t| format!("last contact {}", clock(t, &st.tz)))
                .unwrap_or_else(|| "never reached".into());
            spans.push(Span::styled(
                format!(
                    "✗ UNREACHABLE since {} ({last}), retrying every ≤{retry_in_secs}s: {reason} ",
                    clock(*since, &st.tz)
                ),
                v.style(Slot::StatusError),
            ));
        }
    }
    // A kill-switch config that does not name exactly one service: seen at once, not in an incident.
    for problem in st.kill_switch_plan().problems {
        spans.push(Span::styled(format!("⚠ {problem} "), v.style(Slot::StatusError)));
    }
    let recover = v.keymap.key_label(Mode::Pane(Pane::Services), Action::Recover);
    for key in st.needs_recovery() {
        let how = if st.read_only || recover.is_empty() {
            format!("stackdeck recover {key}")
        } else {
            format!("{recover} on it recovers")
        };
        spans.push(Span::styled(
            format!("⚠ {key}: an interrupted deploy left a container aside ({how}) "),
            v.style(Slot::StatusError),
        ));
    }
    if st.read_only {
        spans.push(Span::styled(" READ-ONLY ", v.style(Slot::Badge)));
        spans.push(Span::styled(" ", bar));
    }
    // A remote engine's other operators keep their own history and locks (no shared store).
    if crate::domain::is_remote(&st.engine.host) && st.shared_store.is_none() {
        spans.push(Span::styled(" history: this machine only ", v.style(Slot::Badge)));
        spans.push(Span::styled(" ", bar));
    }
    // The answer to the operator's last key comes before the engine's address: at 80 columns
    // it must not be the part that is cut off.
    if let Some(n) = &st.ui.notice {
        spans.push(Span::styled(format!("· {n} · "), v.style(Slot::StatusBar)));
    }
    if st.observe.configured {
        let slot = match st.observe.source {
            crate::domain::Source::Scrape { fallback: Some(_) } => Slot::StatusError,
            _ => Slot::StatusBar,
        };
        spans.push(Span::styled(format!("{} ", st.observe.source.label()), v.style(slot)));
    }
    let api = st.engine.info.as_ref().map(|i| format!(" API {}", i.api_version)).unwrap_or_default();
    // Where the engine came from, then where it is: "context prod-eu · ssh://deploy@host".
    let from = match st.engine.source.trim_start_matches('-') {
        "default" | "" => String::new(),
        s => format!("{} · ", crate::logtext::inert(s)),
    };
    spans.push(Span::styled(format!("{from}{}{}", st.engine.host, api), bar));
    if let Some(p) = &st.project {
        spans.push(Span::styled(format!(" · project {p}"), bar));
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}

fn clock(t: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%H:%M:%S").to_string()
}

/// The actions worth a hint in each pane, in order, with their short labels.
fn hint_actions(pane: Pane) -> &'static [(Mode, Action, &'static str)] {
    match pane {
        Pane::Services => &[
            (Mode::Global, Action::EmergencyStop, "STOP"),
            (Mode::Pane(Pane::Services), Action::SelectNext, "next"),
            (Mode::Pane(Pane::Services), Action::SelectPrev, "prev"),
            (Mode::Pane(Pane::Services), Action::OpenLogs, "logs"),
            (Mode::Pane(Pane::Services), Action::Deploy, "deploy"),
            (Mode::Pane(Pane::Services), Action::Rollback, "rollback"),
            (Mode::Pane(Pane::Services), Action::StartService, "start"),
            (Mode::Global, Action::FocusNext, "pane"),
            (Mode::Global, Action::TogglePanelLog, "panel log"),
            (Mode::Global, Action::Help, "help"),
            (Mode::Global, Action::Quit, "quit"),
        ],
        Pane::Logs => &[
            (Mode::Global, Action::EmergencyStop, "STOP"),
            (Mode::Pane(Pane::Logs), Action::Search, "search"),
            (Mode::Pane(Pane::Logs), Action::SearchNext, "next"),
            (Mode::Pane(Pane::Logs), Action::SearchPrev, "prev"),
            (Mode::Pane(Pane::Logs), Action::ToggleFilter, "filter"),
            (Mode::Pane(Pane::Logs), Action::TogglePause, "pause"),
            (Mode::Pane(Pane::Logs), Action::Export, "save"),
            (Mode::Pane(Pane::Logs), Action::ToggleWrap, "wrap"),
            (Mode::Pane(Pane::Logs), Action::ToggleTimestamps, "time"),
            (Mode::Global, Action::Help, "help"),
            (Mode::Global, Action::Quit, "quit"),
        ],
        Pane::Metrics => &[
            (Mode::Global, Action::EmergencyStop, "STOP"),
            (Mode::Pane(Pane::Metrics), Action::SelectNext, "next svc"),
            (Mode::Pane(Pane::Metrics), Action::SelectPrev, "prev svc"),
            (Mode::Global, Action::FocusNext, "pane"),
            (Mode::Global, Action::Help, "help"),
            (Mode::Global, Action::Quit, "quit"),
        ],
        Pane::Charts => &[
            (Mode::Global, Action::EmergencyStop, "STOP"),
            (Mode::Pane(Pane::Charts), Action::SelectNext, "next panel"),
            (Mode::Pane(Pane::Charts), Action::SelectPrev, "prev panel"),
            (Mode::Pane(Pane::Charts), Action::CycleWindow, "window"),
            (Mode::Global, Action::FocusNext, "pane"),
            (Mode::Global, Action::Help, "help"),
            (Mode::Global, Action::Quit, "quit"),
        ],
        Pane::Alerts => &[
            (Mode::Global, Action::EmergencyStop, "STOP"),
            (Mode::Pane(Pane::Alerts), Action::ScrollDown, "scroll"),
            (Mode::Pane(Pane::Alerts), Action::CycleWindow, "window"),
            (Mode::Global, Action::FocusNext, "pane"),
            (Mode::Global, Action::Help, "help"),
            (Mode::Global, Action::Quit, "quit"),
        ],
        Pane::Timeline => &[
            (Mode::Global, Action::EmergencyStop, "STOP"),
            (Mode::Pane(Pane::Timeline), Action::JumpToLogs, "logs here"),
            (Mode::Pane(Pane::Timeline), Action::FilterKind, "kinds"),
            (Mode::Pane(Pane::Timeline), Action::FilterService, "service"),
            (Mode::Pane(Pane::Timeline), Action::Export, "save"),
            (Mode::Global, Action::FocusNext, "pane"),
            (Mode::Global, Action::Help, "help"),
            (Mode::Global, Action::Quit, "quit"),
        ],
        Pane::History => &[
            (Mode::Global, Action::EmergencyStop, "STOP"),
            (Mode::Pane(Pane::History), Action::ScrollDown, "older"),
            (Mode::Pane(Pane::History), Action::ScrollUp, "newer"),
            (Mode::Global, Action::FocusNext, "pane"),
            (Mode::Global, Action::Help, "help"),
            (Mode::Global, Action::Quit, "quit"),
        ],
    }
}

pub fn hints(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let bar = v.style(Slot::StatusBar);
    if let Some(input) = &v.state.ui.search_input {
        let confirm = v.keymap.key_label(Mode::Search, Action::SearchConfirm);
        let cancel = v.keymap.key_label(Mode::Search, Action::SearchCancel);
        let line = Line::from(vec![
            Span::styled(" search: ", v.style(Slot::HintKey)),
            Span::styled(format!("{input}█"), bar),
            Span::styled(format!("   {confirm} run · {cancel} cancel"), v.style(Slot::HintText)),
        ]);
        f.render_widget(Paragraph::new(line).style(bar), area);
        return;
    }
    let actions = if v.state.ui.help {
        &[(Mode::Global, Action::Help, "close help"), (Mode::Global, Action::Quit, "quit")][..]
    } else {
        hint_actions(v.state.ui.focus)
    };
    let mut items: Vec<(String, &str, bool)> = Vec::new();
    for (mode, action, label) in actions {
        if v.state.read_only && action.is_mutating() {
            continue; // --read-only removes them from the screen too
        }
        let key = v.keymap.key_label(*mode, *action);
        if key.is_empty() {
            continue; // unbound by the user: no hint
        }
        let essential = matches!(action, Action::EmergencyStop | Action::Help | Action::Quit);
        items.push((key, label, essential));
    }
    // Too wide: drop the least important hints (the last non-essential ones) first.
    let width = |items: &[(String, &str, bool)]| {
        items.iter().map(|(k, l, _)| k.chars().count() + l.chars().count() + 3).sum::<usize>()
    };
    // Popups hidden behind the open one are counted first: they are not lost.
    let waiting = match v.state.popups_waiting() {
        0 => None,
        n => Some(format!(" {n} more waiting ")),
    };
    let room = (area.width as usize).saturating_sub(waiting.as_ref().map_or(0, |w| w.chars().count()));
    while width(&items) > room {
        match items.iter().rposition(|(_, _, e)| !e) {
            Some(i) => {
                items.remove(i);
            }
            None => break,
        }
    }
    let mut spans = Vec::new();
    if let Some(w) = &waiting {
        spans.push(Span::styled(w.clone(), v.style(Slot::Badge)));
    }
    for (key, label, _) in &items {
        let slot = if label == &"STOP" { Slot::Badge } else { Slot::HintKey };
        spans.push(Span::styled(format!(" {key}"), v.style(slot)));
        spans.push(Span::styled(format!(" {label} "), v.style(Slot::HintText)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}
