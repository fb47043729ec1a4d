//! The inspect view: the selected container's image and digest, state, health-check, masked
//! environment, mounts, ports and labels, scrolled with the picker's keys.

use super::View;
use crate::config::{Action, Mode, Slot};
use crate::domain::Inspected;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>, scroll: usize, view: Option<&Result<Inspected, String>>) {
    let [r] =
        Layout::horizontal([Constraint::Length(area.width.saturating_sub(4).max(20))]).flex(Flex::Center).areas(area);
    let [r] = Layout::vertical([Constraint::Length(area.height.saturating_sub(2).max(5))]).flex(Flex::Center).areas(r);
    f.render_widget(Clear, r);
    let title = match view {
        Some(Ok(i)) => format!(" inspect {} ", i.container),
        _ => " inspect ".to_owned(),
    };
    let next = v.keymap.key_label(Mode::Picker, Action::PickerNext);
    let prev = v.keymap.key_label(Mode::Picker, Action::PickerPrev);
    let close = v.keymap.key_label(Mode::Picker, Action::PickerCancel);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(v.style(Slot::BorderFocused))
        .style(v.style(Slot::Popup))
        .title(Span::styled(title, v.style(Slot::TitleFocused)))
        .title_bottom(Span::styled(format!(" {prev}/{next} scroll · {close} closes "), v.style(Slot::HintText)));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let mut lines: Vec<Line<'_>> = Vec::new();
    match view {
        None => lines.push(Line::from(Span::styled("reading…", v.style(Slot::Dim)))),
        Some(Err(e)) => {
            lines.push(Line::from(Span::styled(format!("cannot inspect: {e}"), v.style(Slot::StatusError))))
        }
        Some(Ok(i)) => {
            for (name, rows) in &i.sections {
                lines.push(Line::from(Span::styled(name.clone(), v.style(Slot::Header))));
                if rows.is_empty() {
                    lines.push(Line::from(Span::styled("  (none)", v.style(Slot::Dim))));
                }
                for row in rows {
                    lines.push(Line::from(Span::styled(format!("  {row}"), v.style(Slot::Text))));
                }
            }
        }
    }
    let scroll = scroll.min(lines.len().saturating_sub(1));
    f.render_widget(Paragraph::new(lines.split_off(scroll)), inner);
}
