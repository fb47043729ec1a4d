//! The help popup: one column, every binding of the live keymap with its description whole
//! (wrapped, never cut), grouped by where it works, the focused pane first; scrolled by entry.
//! The layout is `config::help`'s, which `update` scrolls.

use super::View;
use crate::config::help::{KEYS, Row, entries, geometry, last_start, rows};
use crate::config::{Action, Mode, Slot};
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let all = entries(v.keymap, v.state.ui.focus, v.state.read_only);
    let (inner_w, height) = geometry((area.width, area.height));
    let w = u16::try_from(inner_w + 2).unwrap_or(area.width);
    let [popup] = Layout::horizontal([Constraint::Length(w)]).flex(Flex::Center).areas(area);
    f.render_widget(Clear, popup);
    let start = v.state.ui.help_scroll.min(last_start(&all, inner_w, height));
    let key_style = v.style(Slot::HintKey).patch(v.style(Slot::Popup));
    let text = v.style(Slot::Popup);
    let mut shown: Vec<Line<'static>> = Vec::new();
    let mut end = start;
    for e in &all[start..] {
        let r = rows(e, inner_w);
        if shown.len() + r.len() > height {
            break;
        }
        for row in r {
            shown.push(match row {
                Row::Heading(h) => Line::styled(h, v.style(Slot::Header)),
                Row::Binding { keys, text: t } => Line::from(vec![
                    Span::styled(format!(" {keys:<KEYS$}"), key_style),
                    Span::styled(format!(" {t}"), text),
                ]),
            });
        }
        end += 1;
    }
    let more = if start > 0 || end < all.len() { " · ↑↓ PgUp PgDn scroll" } else { "" };
    let close = [(Mode::Global, Action::Help), (Mode::Global, Action::Cancel)]
        .map(|(m, a)| v.keymap.key_label(m, a))
        .into_iter()
        .filter(|k| !k.is_empty())
        .collect::<Vec<_>>()
        .join(" or ");
    let title = format!(" Keys {}-{end} of {}{more} · {close} closes ", start + 1, all.len());
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(v.style(Slot::BorderFocused))
        .style(v.style(Slot::Popup))
        .title(Span::styled(title, v.style(Slot::TitleFocused)));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    f.render_widget(Paragraph::new(shown), inner);
}
