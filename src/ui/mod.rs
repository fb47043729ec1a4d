//! Rendering: a pure function of the state (plus theme, keymap, config). No I/O, no awaits,
//! no locks, no mutation.

mod actions;
mod alerts;
mod bars;
mod charts;
mod environments;
mod help;
mod history;
mod inspect;
mod logs;
mod metrics;
mod services;
mod timeline;

use crate::config::{Keymap, Slot, Stack, Theme};
use crate::domain::Pane;
pub use crate::format::{human_age, human_bytes};
use crate::state::AppState;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};

/// Everything a frame is drawn from.
pub struct View<'a> {
    pub state: &'a AppState,
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub stack: &'a Stack,
}

impl View<'_> {
    fn style(&self, s: Slot) -> Style {
        // Production looks different everywhere: every border in its colour.
        if self.production() && matches!(s, Slot::Border | Slot::BorderFocused) {
            return self.theme.style(Slot::ProductionBorder);
        }
        self.theme.style(s)
    }

    fn production(&self) -> bool {
        self.state.environment.as_ref().is_some_and(crate::domain::EnvBadge::is_production)
    }

    fn block(&self, pane: Pane, title: Vec<Span<'static>>) -> Block<'static> {
        let focused = self.state.ui.focus == pane;
        let (b, t) = if focused { (Slot::BorderFocused, Slot::TitleFocused) } else { (Slot::Border, Slot::Title) };
        let mut spans = vec![Span::styled(format!(" {} ", pane.title()), self.style(t))];
        spans.extend(title);
        Block::default()
            .borders(Borders::ALL)
            .border_type(if focused { BorderType::Thick } else { BorderType::Plain })
            .border_style(self.style(b))
            .title(Line::from(spans))
    }
}

/// Where everything of a frame goes: one answer for drawing and for the mouse.
struct Areas {
    top: Rect,
    bottom: Rect,
    banners: Option<(Rect, Rect)>,
    services: Option<Rect>,
    detail: Option<Rect>,
    log: Option<Rect>,
    main: Rect,
}

fn areas(v: &View<'_>, area: Rect) -> Areas {
    let [top, main, bottom] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)]).areas(area);
    // Banners on every screen: stopped kill-switch services, then alerts.
    let bh = actions::banner_height(v);
    let ah = alerts::banner_height(v);
    let (main, banners) = if bh + ah > 0 && main.height > bh + ah + 6 {
        let [b, a, m] =
            Layout::vertical([Constraint::Length(bh), Constraint::Length(ah), Constraint::Min(3)]).areas(main);
        (m, Some((b, a)))
    } else {
        (main, None)
    };
    let (main, log) = if v.state.ui.panel_log && main.height >= 10 {
        let [m, l] = Layout::vertical([Constraint::Min(5), Constraint::Length((main.height / 3).max(5))]).areas(main);
        (m, Some(l))
    } else {
        (main, None)
    };
    let rows = v.state.services.rows().len() as u16;
    let (services, detail) = if main.height >= 14 {
        let want = (rows + 3).max(5);
        let cap = (main.height / 2).max(6);
        let [s, d] = Layout::vertical([Constraint::Length(want.min(cap)), Constraint::Min(6)]).areas(main);
        (Some(s), Some(d))
    } else if v.state.ui.focus == Pane::Services {
        (Some(main), None)
    } else {
        (None, Some(main))
    };
    Areas { top, bottom, banners, services, detail, log, main }
}

/// The panes of a frame of this size, for the mouse (see [`Zone`](crate::domain::Zone)).
pub fn zones(v: &View<'_>, area: Rect) -> Vec<crate::domain::Zone> {
    let a = areas(v, area);
    let zone = |pane, r: Rect| crate::domain::Zone { pane, x: r.x, y: r.y, w: r.width, h: r.height };
    let mut out = Vec::new();
    if let Some(s) = a.services {
        out.push(zone(Pane::Services, s));
    }
    if let Some(d) = a.detail {
        out.push(zone(v.state.ui.detail, d));
    }
    out
}

/// Draw one frame.
pub fn draw(f: &mut Frame<'_>, v: &View<'_>) {
    let area = f.area();
    let a = areas(v, area);
    bars::status(f, a.top, v);
    bars::hints(f, a.bottom, v);
    if let Some((b, al)) = a.banners {
        actions::banner(f, b, v);
        alerts::banner(f, al, v);
    }
    if let Some(s) = a.services {
        services::draw(f, s, v);
    }
    if let Some(d) = a.detail {
        detail(f, d, v, v.state.ui.detail);
    }
    if let Some(l) = a.log {
        panel_log(f, l, v);
    }
    // One popup at a time: the operator's open popup (the emergency stop's confirmation always
    // replaces it), else the help, else the operation's progress or result. What is hidden waits
    // (the hints bar counts it) and shows when the popup above it closes.
    if v.state.ui.popup.is_some() {
        actions::popup(f, area, v);
    } else if v.state.ui.help {
        help::draw(f, area, v);
    } else {
        actions::op_popup(f, a.main, v);
    }
}

fn detail(f: &mut Frame<'_>, area: Rect, v: &View<'_>, pane: Pane) {
    match pane {
        Pane::Metrics => metrics::draw(f, area, v),
        Pane::History => history::draw(f, area, v),
        Pane::Charts => charts::draw(f, area, v),
        Pane::Alerts => alerts::draw(f, area, v),
        Pane::Timeline => timeline::draw(f, area, v),
        Pane::Logs | Pane::Services => logs::draw(f, area, v),
    }
}

fn panel_log(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let w = tui_logger::TuiLoggerWidget::default()
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(v.style(Slot::Border))
                .title(Span::styled(" stackdeck log ", v.style(Slot::Title))),
        )
        .style(v.style(Slot::Text))
        .style_error(v.style(Slot::LogError))
        .style_warn(v.style(Slot::LogWarn))
        .style_info(v.style(Slot::LogInfo))
        .style_debug(v.style(Slot::LogDebug))
        .style_trace(v.style(Slot::LogTrace))
        .output_separator(' ')
        .output_timestamp(Some("%H:%M:%S".into()))
        .output_level(Some(tui_logger::TuiLoggerLevelOutput::Abbreviated))
        .output_target(false)
        .output_file(false)
        .output_line(false);
    f.render_widget(w, area);
}

/// "3m", "2h05m", "4d03h": coarse on purpose (nothing needs redrawing every second).
/// Cut `s` to at most `w` display columns, with an ellipsis when cut.
pub fn fit(s: &str, w: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= w {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw + 1 > w {
            break;
        }
        used += cw;
        out.push(c);
    }
    if w > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes() {
        assert_eq!(human_age(5), "<1m");
        assert_eq!(human_age(125), "2m");
        assert_eq!(human_age(3 * 3600 + 300), "3h05m");
        assert_eq!(human_age(2 * 86_400 + 7200), "2d02h");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
