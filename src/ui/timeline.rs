//! The Timeline pane: what happened to the stack, newest first. Engine events, stackdeck's
//! operations, alerts firing and resolving, latches; the selected row opens the merged logs at
//! its moment.

use super::{View, fit};
use crate::config::{Action, Mode, Slot};
use crate::domain::{Happen, Happening, Pane, Tone};
use crate::state::timeline::first_shown;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

pub(super) fn tone_slot(t: Tone) -> Slot {
    match t {
        Tone::Bad => Slot::Unhealthy,
        Tone::Warn => Slot::Restarting,
        Tone::Good => Slot::Healthy,
        Tone::Plain => Slot::Text,
    }
}

/// The WHAT column: a pull names its image (it has no service), a repeat its count.
fn what(h: &Happening) -> String {
    let mut s = if h.kind == Happen::Pulled { format!("{} {}", h.what, h.subject) } else { h.what.clone() };
    if h.times > 1 {
        s.push_str(&format!(" (×{})", h.times));
    }
    s
}

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let t = &v.state.timeline;
    let mut title = vec![Span::styled(format!("{} of {} ", t.rows.len(), t.len()), v.style(Slot::Dim))];
    if let Some(g) = t.group {
        title.push(Span::styled(format!("· only {} ", g.as_str()), v.style(Slot::Badge)));
    }
    if let Some(s) = &t.service {
        title.push(Span::styled(format!("· only {s} "), v.style(Slot::Badge)));
    }
    let block = v.block(Pane::Timeline, title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if t.rows.is_empty() {
        let key = |a| v.keymap.key_label(Mode::Pane(Pane::Timeline), a);
        let lines = if t.is_empty() {
            vec![
                Line::styled("Nothing has happened yet.", v.style(Slot::Text)),
                Line::styled(
                    "Containers that die, run out of memory, are killed, restart, start, stop or change health; image pulls; stackdeck's operations; alerts; latches.",
                    v.style(Slot::Dim),
                ),
                Line::styled(
                    "Before this panel started: what `stackdeck guard` kept, else only the engine's last 256 events (a minute or less).",
                    v.style(Slot::Dim),
                ),
            ]
        } else {
            vec![Line::styled(
                format!(
                    "No row matches the filters ({}: kinds, {}: service).",
                    key(Action::FilterKind),
                    key(Action::FilterService)
                ),
                v.style(Slot::Text),
            )]
        };
        f.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }), inner);
        return;
    }
    let wide = inner.width >= 100;
    let when_w: u16 = if wide { 14 } else { 8 };
    let svc_w: u16 = if wide { 20 } else { 12 };
    let kind_w: u16 = 7;
    // Wide: the container's name too (a service with replicas has several).
    let subj_w: u16 = if wide { 28 } else { 0 };
    let what_w = inner.width.saturating_sub(when_w + svc_w + kind_w + subj_w + 3 + u16::from(wide));
    let visible = usize::from(inner.height.saturating_sub(1));
    let sel = t.selected_index();
    let first = first_shown(sel, visible);
    let focused = v.state.ui.focus == Pane::Timeline;
    let fmt = if wide { "%m-%d %H:%M:%S" } else { "%H:%M:%S" };
    let rows = t.rows.iter().enumerate().skip(first).take(visible).map(|(i, h)| {
        let when = h.at.to_zoned(v.state.tz.clone()).strftime(fmt).to_string();
        let svc = h.service_name();
        let svc_style = if svc.is_empty() { v.style(Slot::Dim) } else { v.style(super::logs::tag_slot(svc)) };
        let mut cells = vec![
            Cell::from(Span::styled(when, v.style(Slot::Dim))),
            Cell::from(Span::styled(h.kind.as_str(), v.style(tone_slot(h.tone)))),
            Cell::from(Span::styled(fit(if svc.is_empty() { "-" } else { svc }, usize::from(svc_w)), svc_style)),
        ];
        if wide {
            let subj = if h.kind == Happen::Pulled { "" } else { h.subject.as_str() };
            cells.push(Cell::from(Span::styled(fit(subj, usize::from(subj_w)), v.style(Slot::Dim))));
        }
        cells.push(Cell::from(Span::styled(fit(&what(h), usize::from(what_w)), v.style(Slot::Text))));
        let row = Row::new(cells);
        if i == sel && focused { row.style(v.style(Slot::Selected)) } else { row }
    });
    let (header, widths) = if wide {
        (Row::new(["WHEN", "KIND", "SERVICE", "CONTAINER", "WHAT"]), vec![when_w, kind_w, svc_w, subj_w, what_w])
    } else {
        (Row::new(["WHEN", "KIND", "SERVICE", "WHAT"]), vec![when_w, kind_w, svc_w, what_w])
    };
    let table =
        Table::new(rows, widths.into_iter().map(Constraint::Length)).header(header.style(v.style(Slot::Header)));
    f.render_widget(table, inner);
}
