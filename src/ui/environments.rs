//! The environment picker: one line per environment, side by side: reachable or not, services
//! running / unhealthy, firing alerts, latched services.

use super::View;
use crate::config::{Action, Mode, Slot};
use crate::domain::EnvSummary;
use crate::logtext::inert;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>, selected: usize) {
    let envs = &v.state.environments;
    let h = (envs.len() as u16 * 2 + 4).min(area.height);
    let [r] = Layout::horizontal([Constraint::Length(area.width.min(78))]).flex(Flex::Center).areas(area);
    let [r] = Layout::vertical([Constraint::Length(h)]).flex(Flex::Center).areas(r);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(v.style(Slot::BorderFocused))
        .style(v.style(Slot::Popup))
        .title(Span::styled(" environments ", v.style(Slot::TitleFocused)));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let current = v.state.environment.as_ref().map(|e| e.name.as_str());
    let mut lines = Vec::new();
    for (i, e) in envs.iter().enumerate() {
        let mark = if Some(e.name.as_str()) == current { "●" } else { " " };
        let name_slot = if e.kind == "production" { Slot::Production } else { Slot::Title };
        let mut first = vec![
            Span::styled(format!("{mark} "), v.style(Slot::Text)),
            Span::styled(format!("{} ", inert(&e.name)), v.style(name_slot)),
            Span::styled(format!("({}) ", e.kind), v.style(Slot::Dim)),
        ];
        first.extend(engine(v, e));
        let mut line = Line::from(first);
        let second = Line::from(vec![Span::raw("    ")].into_iter().chain(rest(v, e)).collect::<Vec<_>>());
        if i == selected {
            line = line.style(v.style(Slot::Selected));
        }
        lines.push(line);
        lines.push(second);
    }
    let accept = v.keymap.key_label(Mode::Picker, Action::PickerAccept);
    let cancel = v.keymap.key_label(Mode::Picker, Action::PickerCancel);
    lines.push(Line::from(Span::styled(format!("{accept} switches · {cancel} stays"), v.style(Slot::HintText))));
    f.render_widget(Paragraph::new(lines), inner);
}

fn engine(v: &View<'_>, e: &EnvSummary) -> Vec<Span<'static>> {
    match &e.engine {
        None => vec![Span::styled("reading…", v.style(Slot::Dim))],
        Some(Err(why)) => vec![Span::styled(format!("✗ unreachable: {}", inert(why)), v.style(Slot::StatusError))],
        Some(Ok(c)) => {
            let mut s = vec![Span::styled(format!("● {}/{} running", c.running, c.total), v.style(Slot::Running))];
            if c.unhealthy > 0 {
                s.push(Span::styled(format!(" · {} unhealthy", c.unhealthy), v.style(Slot::Unhealthy)));
            }
            s
        }
    }
}

fn rest(v: &View<'_>, e: &EnvSummary) -> Vec<Span<'static>> {
    let alerts = match &e.alerts {
        None => Span::styled("alerts: no Prometheus configured", v.style(Slot::Dim)),
        Some(Err(why)) => Span::styled(format!("alerts: {}", inert(why)), v.style(Slot::Dim)),
        Some(Ok(0)) => Span::styled("no alert firing", v.style(Slot::ValueOk)),
        Some(Ok(n)) => Span::styled(format!("{n} alert(s) FIRING"), v.style(Slot::AlertCritical)),
    };
    let latched = match &e.latched {
        None => Span::styled("", v.style(Slot::Dim)),
        Some(Err(why)) => Span::styled(format!(" · latches unknown: {}", inert(why)), v.style(Slot::Dim)),
        Some(Ok(l)) if l.is_empty() => Span::styled(" · nothing emergency-stopped", v.style(Slot::Dim)),
        Some(Ok(l)) => Span::styled(format!(" · STOPPED: {}", inert(&l.join(", "))), v.style(Slot::Unhealthy)),
    };
    vec![alerts, latched]
}
