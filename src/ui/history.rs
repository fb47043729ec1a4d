//! The History pane: recorded operations, newest first, or an honest empty state.

use super::View;
use crate::config::Slot;
use crate::state::Pane;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let h = &v.state.history;
    let block = v.block(Pane::History, vec![]);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if h.records.is_empty() {
        let mut lines = vec![Line::styled("No operations recorded yet.", v.style(Slot::Text))];
        if !h.store_attached {
            lines.push(Line::styled(
                "No history store is attached in this version: deploys, rollbacks,",
                v.style(Slot::Dim),
            ));
            lines.push(Line::styled(
                "stops and backups will be listed here once they are recorded.",
                v.style(Slot::Dim),
            ));
        }
        f.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let rows = h.records.iter().skip(h.scroll).map(|r| {
        Row::new(vec![
            Cell::from(r.started_at.strftime("%m-%d %H:%M").to_string()),
            Cell::from(r.action.clone()),
            Cell::from(r.service.clone()),
            Cell::from(r.outcome.as_str()),
            Cell::from(r.to_image.clone().unwrap_or_default()),
            Cell::from(r.actor.clone()),
        ])
    });
    let header = Row::new(["WHEN", "ACTION", "SERVICE", "OUTCOME", "IMAGE", "BY"]).style(v.style(Slot::Header));
    let t = Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(9),
            Constraint::Min(12),
            Constraint::Length(11),
            Constraint::Min(10),
            Constraint::Length(10),
        ],
    )
    .header(header);
    f.render_widget(t, inner);
}
