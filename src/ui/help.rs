//! The help popup: every binding of the live keymap, grouped by where it works.

use super::View;
use crate::config::{Mode, Slot};
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let mut entries: Vec<Line<'_>> = Vec::new();
    for mode in Mode::ALL {
        let items: Vec<_> = v
            .keymap
            .all()
            .filter(|(m, a, ks)| *m == mode && !ks.is_empty() && !(v.state.read_only && a.is_mutating()))
            .collect();
        if items.is_empty() {
            continue;
        }
        entries.push(Line::styled(format!("[{}]", mode.name()), v.style(Slot::Header)));
        for (_, action, keys) in items {
            let k = keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
            entries.push(Line::from(vec![
                Span::styled(format!(" {k:<13}"), v.style(Slot::HintKey).patch(v.style(Slot::Popup))),
                Span::styled(format!(" {}", action.help()), v.style(Slot::Popup)),
            ]));
        }
    }
    // Two columns when there is room, so the whole keymap fits on 80x24 as far as possible.
    let w = area.width.saturating_sub(2).min(120);
    let h = area.height;
    let [popup] = Layout::horizontal([Constraint::Length(w)]).flex(Flex::Center).areas(area);
    let [popup] = Layout::vertical([Constraint::Length(h)]).flex(Flex::Center).areas(popup);
    f.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(v.style(Slot::BorderFocused))
        .style(v.style(Slot::Popup))
        .title(Span::styled(" Keys (help or esc closes) ", v.style(Slot::TitleFocused)));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let rows = inner.height as usize;
    let cols = if inner.width >= 76 { 2 } else { 1 };
    let chunks = Layout::horizontal(vec![Constraint::Ratio(1, cols as u32); cols]).split(inner);
    for (i, chunk) in chunks.iter().enumerate() {
        let part: Vec<Line<'_>> = entries.iter().skip(i * rows).take(rows).cloned().collect();
        f.render_widget(Paragraph::new(part), *chunk);
    }
}
