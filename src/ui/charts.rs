//! The Charts pane: the config's `[[panels]]`, one line each (value coloured by threshold and
//! a sparkline), and the selected panel drawn as a chart over the window with its threshold
//! lines.

use super::{View, fit};
use crate::config::Slot;
use crate::config::observe::PanelConfig;
use crate::domain::Pane;
use crate::domain::PanelData;
use crate::observe::rules::{beyond, fmt_value};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Sparkline};

/// The style of a value: critical, warning or fine, by the panel's thresholds.
pub fn level(p: &PanelConfig, v: Option<f64>) -> Slot {
    match v {
        Some(v) if p.critical.is_some_and(|c| beyond(v, c, p.below)) => Slot::ValueCritical,
        Some(v) if p.warn.is_some_and(|w| beyond(v, w, p.below)) => Slot::ValueWarn,
        Some(_) => Slot::ValueOk,
        None => Slot::Dim,
    }
}

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let ob = &v.state.observe;
    let cfg = &v.stack.config.panels;
    let title =
        vec![Span::styled(format!("· window {} · {} ", ob.window.label(), ob.source.label()), v.style(Slot::Title))];
    let block = v.block(Pane::Charts, title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    if cfg.is_empty() {
        let lines = vec![
            Line::from(Span::styled("No [[panels]] in the stack config.", v.style(Slot::Text))),
            Line::from(Span::styled(
                "Add [prometheus] url = \"http://127.0.0.1:9090\" and [[panels]] with title, query (PromQL),",
                v.style(Slot::Dim),
            )),
            Line::from(Span::styled(
                "local (for direct /metrics scraping), unit, warn, critical. See scripts/demo.toml.",
                v.style(Slot::Dim),
            )),
        ];
        f.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let want_chart = inner.height as usize >= cfg.len() + 6;
    let list_h = (cfg.len() as u16).min(inner.height);
    let [list, chart] = Layout::vertical([Constraint::Length(list_h), Constraint::Min(0)]).areas(inner);
    let sel = ob.selected.min(cfg.len() - 1);
    // Scroll the list so the selection stays visible when it does not fit.
    let first = sel.saturating_sub(list_h.saturating_sub(1) as usize);
    let name_w = 22.min(inner.width as usize / 3);
    for (row, (i, p)) in cfg.iter().enumerate().skip(first).take(list_h as usize).enumerate() {
        let d = ob.panels.iter().find(|d| d.index == i);
        let value = d.and_then(|d| d.value);
        let y = list.y + row as u16;
        let marker = if i == sel { "▶ " } else { "  " };
        let shown = match (value, d.and_then(|d| d.error.as_ref())) {
            (Some(x), _) => format!("{}{}", fmt_value(x), p.unit),
            (None, Some(_)) => "error".to_owned(),
            (None, None) => "–".to_owned(),
        };
        let limits = match (p.warn, p.critical) {
            (_, Some(c)) => format!(" {}{}", if p.below { "<" } else { ">" }, fmt_value(c)),
            (Some(w), None) => format!(" {}{}", if p.below { "<" } else { ">" }, fmt_value(w)),
            _ => String::new(),
        };
        let text = Line::from(vec![
            Span::styled(
                format!("{marker}{:<name_w$}", fit(&p.title, name_w)),
                v.style(if i == sel { Slot::Selected } else { Slot::Text }),
            ),
            Span::styled(format!(" {:>10}", fit(&shown, 10)), v.style(level(p, value))),
            Span::styled(format!("{:<7}", fit(&limits, 7)), v.style(Slot::Dim)),
        ]);
        let text_w = (2 + name_w + 11 + 7) as u16;
        let row_area = Rect { x: list.x, y, width: list.width, height: 1 };
        f.render_widget(Paragraph::new(text), row_area);
        if list.width > text_w + 4
            && let Some(d) = d
        {
            let spark = Rect { x: list.x + text_w + 1, y, width: list.width - text_w - 1, height: 1 };
            let data = spark_data(d, spark.width as usize);
            f.render_widget(Sparkline::default().data(data).style(v.style(Slot::ChartLine)), spark);
        }
    }
    if want_chart && chart.height >= 5 {
        draw_chart(f, chart, v, &cfg[sel], ob.panels.iter().find(|d| d.index == sel));
    }
}

/// The last `w` points, shifted so the minimum is 0 (a sparkline has no negative bars).
fn spark_data(d: &PanelData, w: usize) -> Vec<u64> {
    let pts = &d.points[d.points.len().saturating_sub(w)..];
    let min = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let span = if max > min { max - min } else { 1.0 };
    pts.iter().map(|p| (1.0 + (p.1 - min) / span * 99.0) as u64).collect()
}

fn draw_chart(f: &mut Frame<'_>, area: Rect, v: &View<'_>, p: &PanelConfig, d: Option<&PanelData>) {
    let window = v.state.observe.window;
    let head = match d {
        Some(d) if d.error.is_some() && d.points.is_empty() => Line::from(Span::styled(
            format!("{}: {}", p.title, d.error.as_deref().unwrap_or("")),
            v.style(Slot::LogWarn),
        )),
        Some(d) if !d.points.is_empty() => {
            let more =
                if d.extra_series > 0 { format!(" (+{} series not drawn)", d.extra_series) } else { String::new() };
            Line::from(vec![
                Span::styled(format!("{} ", p.title), v.style(Slot::Header)),
                Span::styled(
                    d.value.map(|x| format!("{}{}", fmt_value(x), p.unit)).unwrap_or_default(),
                    v.style(level(p, d.value)),
                ),
                Span::styled(format!(" over {}{more}", window.label()), v.style(Slot::Dim)),
            ])
        }
        _ => {
            Line::from(Span::styled(format!("{}: no data in the last {}", p.title, window.label()), v.style(Slot::Dim)))
        }
    };
    let [h, c] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    f.render_widget(Paragraph::new(head), h);
    let Some(d) = d.filter(|d| !d.points.is_empty()) else { return };
    let end = d.points.last().map_or(0, |p| p.0);
    let span = window.secs() as f64;
    let data: Vec<(f64, f64)> = d.points.iter().map(|(t, y)| ((t - end) as f64 / 1000.0, *y)).collect();
    let mut lo = data.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut hi = data.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    for t in [p.warn, p.critical].into_iter().flatten() {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    let pad = if hi > lo { (hi - lo) * 0.1 } else { 1.0 };
    let (lo, hi) = (lo - pad, hi + pad);
    let crit: Vec<(f64, f64)> = p.critical.map(|c| vec![(-span, c), (0.0, c)]).unwrap_or_default();
    let warn: Vec<(f64, f64)> = p.warn.map(|w| vec![(-span, w), (0.0, w)]).unwrap_or_default();
    let line =
        |d, slot| Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(v.style(slot)).data(d);
    let mut sets = vec![line(&data, Slot::ChartLine)];
    if !warn.is_empty() {
        sets.push(line(&warn, Slot::ValueWarn));
    }
    if !crit.is_empty() {
        sets.push(line(&crit, Slot::ValueCritical));
    }
    let chart = Chart::new(sets)
        .x_axis(
            Axis::default()
                .bounds([-span, 0.0])
                .labels([Span::raw(format!("-{}", window.label())), Span::raw("now")])
                .style(v.style(Slot::Dim)),
        )
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels([Span::raw(fmt_value(lo)), Span::raw(fmt_value(hi))])
                .style(v.style(Slot::Dim)),
        );
    f.render_widget(chart, c);
}
