//! The History pane: recorded operations (newest first, from the shared store) and, below,
//! the backups on disk with size, age and status.

use super::{View, human_age, human_bytes};
use crate::config::Slot;
use crate::domain::Outcome;
use crate::domain::Pane;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

fn outcome_slot(o: Outcome) -> Slot {
    match o {
        // Running is the starting colour here (the row is still moving), plain text elsewhere.
        Outcome::Running => Slot::Starting,
        o => super::timeline::tone_slot(o.tone()),
    }
}

/// The action as the pane names it: a release by its id (its rows under it say what it did).
fn action_text(r: &crate::domain::OpRecord, child: bool) -> String {
    match (r.action.as_str(), r.parent) {
        ("release", _) => format!("release #{}", r.id),
        ("release-rollback", _) => format!("undo #{}", r.id),
        (a, Some(_)) if child => format!("└ {a}"),
        (a, Some(p)) => format!("#{p} {a}"),
        (a, None) => a.to_owned(),
    }
}

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let h = &v.state.history;
    let block = v.block(Pane::History, vec![]);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let backups_h = if h.backups.is_empty() { 0 } else { (h.backups.len() as u16 + 2).min(inner.height / 2) };
    let chain_h = u16::from(h.chain_broken.is_some());
    let [chain_area, ops_area, bk_area] =
        Layout::vertical([Constraint::Length(chain_h), Constraint::Min(2), Constraint::Length(backups_h)]).areas(inner);
    if let Some(what) = &h.chain_broken {
        let line = Line::styled(
            format!("⚠ AUDIT CHAIN BROKEN at {what} (stackdeck history --verify)"),
            v.style(Slot::Unhealthy),
        );
        f.render_widget(Paragraph::new(line), chain_area);
    }
    if h.records.is_empty() {
        let mut lines = vec![Line::styled("No operations recorded yet.", v.style(Slot::Text))];
        if !h.store_attached {
            lines.push(Line::styled("Reading the history store…", v.style(Slot::Dim)));
        } else {
            lines.push(Line::styled(
                "Deploys, rollbacks, stops, starts, backups and restores appear here, from every operator.",
                v.style(Slot::Dim),
            ));
        }
        f.render_widget(Paragraph::new(lines), ops_area);
    } else {
        let rows = h.order.iter().skip(h.scroll).filter_map(|&(i, child)| Some((h.records.get(i)?, child))).map(
            |(r, child)| {
                let image = match (&r.from_image, &r.to_image) {
                    (Some(a), Some(b)) if r.action == "deploy" || r.action == "rollback" => format!("{a} → {b}"),
                    (_, Some(b)) => b.clone(),
                    (Some(a), None) => a.clone(),
                    _ => String::new(),
                };
                Row::new(vec![
                    Cell::from(r.started_at.to_zoned(v.state.tz.clone()).strftime("%m-%d %H:%M:%S").to_string()),
                    Cell::from(action_text(r, child)),
                    Cell::from(r.service.clone()),
                    Cell::from(Span::styled(r.outcome.as_str(), v.style(outcome_slot(r.outcome)))),
                    Cell::from(image),
                    Cell::from(r.actor.clone()),
                    Cell::from(r.reason.clone().unwrap_or_default()),
                ])
                .style(v.style(Slot::Text))
            },
        );
        let header =
            Row::new(["WHEN", "ACTION", "SERVICE", "OUTCOME", "IMAGE", "BY", "REASON"]).style(v.style(Slot::Header));
        // Exact widths: fixed columns first, the rest shared by service, image and reason.
        let fixed = 14 + 12 + 11 + 10 + 6;
        let rest = ops_area.width.saturating_sub(fixed);
        let (svc, img) = (rest * 3 / 10, rest * 4 / 10);
        let t = Table::new(
            rows,
            [
                Constraint::Length(14),
                Constraint::Length(12),
                Constraint::Length(svc),
                Constraint::Length(11),
                Constraint::Length(img),
                Constraint::Length(10),
                Constraint::Length(rest - svc - img),
            ],
        )
        .header(header);
        f.render_widget(t, ops_area);
    }
    if backups_h > 0 {
        let now = v.state.now.as_second();
        let rows = h.backups.iter().map(|m| {
            let age = m
                .created
                .parse::<jiff::Timestamp>()
                .map_or_else(|_| "?".into(), |t| format!("{} ago", human_age(now - t.as_second())));
            let slot = if m.status == crate::domain::BackupStatus::Good { Slot::Healthy } else { Slot::Unhealthy };
            let jobs: Vec<String> = m
                .jobs
                .iter()
                .map(|j| if j.error.is_some() { format!("{}✗", j.name) } else { j.name.clone() })
                .collect();
            Row::new(vec![
                Cell::from(m.id.clone()),
                Cell::from(Span::styled(m.status.as_str(), v.style(slot))),
                Cell::from(human_bytes(m.total_bytes())),
                Cell::from(age),
                Cell::from(jobs.join(" ")),
            ])
            .style(v.style(Slot::Text))
        });
        let header = Row::new(["BACKUP", "STATUS", "SIZE", "AGE", "JOBS"]).style(v.style(Slot::Header));
        let t = Table::new(
            rows,
            [
                Constraint::Length(17),
                Constraint::Length(7),
                Constraint::Length(10),
                Constraint::Length(9),
                Constraint::Length(40),
            ],
        )
        .header(header);
        f.render_widget(t, bk_area);
    }
}
