//! The Services pane: project -> service rows with state, health, uptime, restarts, image.

use super::{View, fit, human_age};
use crate::config::Slot;
use crate::domain::Pane;
use crate::domain::{Container, Health, RunState};
use crate::state::Conn;
use crate::state::services::Row;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row as TRow, Table, TableState};

/// Symbol and label for a container: readable without colour.
pub fn badge(state: RunState, health: Health) -> (&'static str, Slot) {
    match (state, health) {
        (RunState::Running, Health::Unhealthy) => ("✗", Slot::Unhealthy),
        (RunState::Running, Health::Starting) => ("◌", Slot::Starting),
        (RunState::Running, _) => ("●", Slot::Running),
        (RunState::Restarting, _) => ("↻", Slot::Restarting),
        (RunState::Paused, _) => ("‖", Slot::Paused),
        (RunState::Created, _) => ("○", Slot::Dim),
        (RunState::Exited | RunState::Dead | RunState::Gone, _) => ("■", Slot::Exited),
        (RunState::Removing | RunState::Unknown, _) => ("?", Slot::Dim),
    }
}

fn health_text(c: &Container, h: Health) -> (&'static str, Slot) {
    if c.state != RunState::Running {
        return ("-", Slot::Dim);
    }
    match h {
        Health::Healthy => ("healthy", Slot::Healthy),
        Health::Unhealthy => ("UNHEALTHY", Slot::Unhealthy),
        Health::Starting => ("starting", Slot::Starting),
        Health::None => ("-", Slot::Dim),
    }
}

fn state_text(c: &Container) -> String {
    match c.state {
        RunState::Exited => format!("exited({})", c.exit_code.unwrap_or(0)),
        RunState::Gone => "REMOVED".to_owned(),
        s => s.as_str().to_owned(),
    }
}

fn uptime(c: &Container, now: jiff::Timestamp) -> String {
    match c.state {
        RunState::Running | RunState::Paused => {
            c.started_at.map_or_else(String::new, |t| human_age(now.as_second() - t.as_second()))
        }
        _ => c.finished_at.map_or_else(String::new, |t| format!("{} ago", human_age(now.as_second() - t.as_second()))),
    }
}

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let st = v.state;
    let svc = &st.services;
    let stale = st.stale();
    let running = svc.containers.values().filter(|c| c.state == RunState::Running).count();
    let bad =
        svc.containers.values().filter(|c| c.state == RunState::Running && svc.health(c) == Health::Unhealthy).count();
    let mut title = vec![Span::styled(format!("{running}/{} running ", svc.containers.len()), v.style(Slot::Dim))];
    if bad > 0 {
        title.push(Span::styled(format!("✗ {bad} unhealthy "), v.style(Slot::Unhealthy)));
    }
    let drifting = st.compose.drift.len();
    if drifting > 0 {
        title.push(Span::styled(format!("≠ {drifting} differ from compose file "), v.style(Slot::Starting)));
    }
    match &st.swarm {
        Some(sw) if sw.role == crate::domain::SwarmRole::Worker => {
            title.push(Span::styled("swarm worker: the swarm is managed on a manager ", v.style(Slot::Dim)));
        }
        Some(sw) => {
            let down = sw.down();
            let ready = sw.nodes.len() - down.len();
            title.push(Span::styled(format!("swarm {ready}/{} nodes ready ", sw.nodes.len()), v.style(Slot::Dim)));
            if !down.is_empty() {
                title.push(Span::styled(format!("⚠ DOWN: {} ", down.join(", ")), v.style(Slot::Unhealthy)));
            }
        }
        None => {}
    }
    if !svc.marked.is_empty() {
        title.push(Span::styled(format!("+ {} marked for a release ", svc.marked.len()), v.style(Slot::Title)));
    }
    if stale && svc.loaded {
        title.push(Span::styled("STALE: engine not answering, last known state ", v.style(Slot::StatusError)));
    }
    // The selected service's drift (or its project's unreadable files), in the bottom border.
    let note = svc.selected().and_then(|c| {
        let project = c.key.project.as_deref()?;
        if let Some(e) = st.compose.errors.get(project) {
            return Some(format!(" ⚠ compose file of {project} not readable: {e} "));
        }
        st.compose.drift.get(&c.key).map(|d| format!(" ≠ {} ", d.sentence()))
    });
    // On a swarm: the selected service's mode, replicas, update state and ports.
    let note = note.or_else(|| {
        let c = svc.selected()?;
        st.swarm.as_ref()?.service(&c.key).map(|s| format!(" {}: {} ", c.key.service, s.sentence()))
    });
    let mut block = v.block(Pane::Services, title);
    if let Some(text) = note {
        let room = area.width.saturating_sub(4) as usize;
        block = block.title_bottom(Line::from(Span::styled(fit(&text, room), v.style(Slot::Starting))));
    }
    let inner = block.inner(area);
    f.render_widget(block, area);

    if !svc.loaded || svc.rows().is_empty() {
        let msg = match (&st.engine.conn, svc.loaded) {
            (Conn::Unreachable { reason, .. }, false) => format!("Engine not reachable yet: {reason}"),
            (_, false) => "Loading containers from the engine…".to_owned(),
            (_, true) if st.project.is_some() => {
                format!("No containers in project {}.", st.project.as_deref().unwrap_or(""))
            }
            (_, true) => "The engine has no containers.".to_owned(),
        };
        f.render_widget(Paragraph::new(msg).style(v.style(Slot::Dim)), inner);
        return;
    }

    let wide = inner.width >= 100;
    let mut header = vec!["", "SERVICE", "STATE", "HEALTH", "UP", "↻", "IMAGE"];
    if wide {
        header.push("ID");
    }
    // Exact widths (no Min constraints): the layout solver resolves over-constrained Min
    // columns differently from run to run, and a table must not jitter.
    let fixed: u16 = 1 + 11 + 9 + 7 + 3 + if wide { 12 } else { 0 };
    let gaps: u16 = if wide { 7 } else { 6 };
    let flexible = inner.width.saturating_sub(fixed + gaps);
    let svc_cols = (flexible * 3 / 5).clamp(8, 40).min(flexible);
    let image_cols = flexible - svc_cols;
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(svc_cols),
        Constraint::Length(11),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(3),
        Constraint::Length(image_cols),
    ];
    if wide {
        widths.push(Constraint::Length(12));
    }
    let svc_w = svc_cols as usize;
    let mut rows = Vec::new();
    let mut selected_row = None;
    for r in svc.rows() {
        match r {
            Row::Project(p) => {
                let mut name = p.as_deref().map_or_else(|| "standalone containers".to_owned(), |p| format!("▾ {p}"));
                if p.as_deref().is_some_and(|p| st.compose.errors.contains_key(p)) {
                    name.push_str("  ⚠ compose file");
                }
                rows.push(TRow::new(vec![Cell::from(""), Cell::from(Span::styled(name, v.style(Slot::Project)))]));
            }
            Row::Container(id) => {
                let Some(c) = svc.containers.get(id) else { continue };
                let h = svc.health(c);
                let (sym, sym_slot) = badge(c.state, h);
                let (htext, hslot) = health_text(c, h);
                let name = v.stack.service(&c.key).and_then(|s| s.display_name.clone()).unwrap_or_else(|| {
                    // Show the container name when a service has several containers.
                    let siblings = svc.containers.values().filter(|o| o.key == c.key).count();
                    // A swarm task is named for its service already: `api-server.2@node`.
                    let task = c.name.strip_prefix(&c.key.service).is_some_and(|r| r.starts_with(['.', '@']));
                    if task {
                        c.name.clone()
                    } else if siblings > 1 {
                        format!("{} ({})", c.key.service, c.name)
                    } else {
                        c.key.service.clone()
                    }
                });
                let dim = |s: Style| if stale { s.patch(v.style(Slot::Stale)) } else { s };
                let state_slot = match c.state {
                    RunState::Running => Slot::Running,
                    RunState::Restarting => Slot::Restarting,
                    RunState::Paused => Slot::Paused,
                    RunState::Exited | RunState::Dead => Slot::Exited,
                    _ => Slot::Dim,
                };
                let mut cells = vec![
                    Cell::from(Span::styled(sym, dim(v.style(sym_slot)))),
                    Cell::from(Span::styled(
                        fit(
                            &format!("{} {name}", if svc.marked.contains(&c.key.to_string()) { "+" } else { " " }),
                            svc_w,
                        ),
                        dim(v.style(Slot::Text)),
                    )),
                    Cell::from(Span::styled(state_text(c), dim(v.style(state_slot)))),
                    Cell::from(Span::styled(htext, dim(v.style(hslot)))),
                    Cell::from(Span::styled(uptime(c, st.now), dim(v.style(Slot::Dim)))),
                    Cell::from(Span::styled(
                        if c.restarts > 0 { c.restarts.to_string() } else { String::new() },
                        dim(v.style(Slot::Restarting)),
                    )),
                    if st.compose.drift.contains_key(&c.key) && !c.is_leftover() {
                        Cell::from(Span::styled(format!("≠ {}", c.image), dim(v.style(Slot::Starting))))
                    } else {
                        Cell::from(Span::styled(c.image.clone(), dim(v.style(Slot::Text))))
                    },
                ];
                if wide {
                    cells.push(Cell::from(Span::styled(c.short_image_id().to_owned(), dim(v.style(Slot::Dim)))));
                }
                if svc.selected.as_ref() == Some(id) {
                    selected_row = Some(rows.len());
                }
                rows.push(TRow::new(cells));
            }
        }
    }
    let header = TRow::new(header.into_iter().map(|h| Cell::from(Line::from(h)))).style(v.style(Slot::Header));
    let sel_style = v.style(Slot::Selected);
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(if sel_style == Style::default() {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            sel_style
        })
        .highlight_symbol("");
    let mut ts = TableState::default().with_selected(selected_row);
    f.render_stateful_widget(table, inner, &mut ts);
}
