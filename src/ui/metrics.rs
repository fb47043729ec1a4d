//! The Metrics pane: the selected container's CPU and memory as sparklines over the window,
//! network and block I/O, then stack totals and a per-service table.

use super::{View, fit, human_bytes};
use crate::config::Slot;
use crate::domain::Pane;
use crate::domain::{RunState, StatsFrom};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let st = v.state;
    let sel = st.services.selected();
    let title = vec![Span::styled(
        sel.map_or_else(String::new, |c| {
            // Where the figures come from: the engine's stats, or the cgroup files of an engine on
            // this machine (the same numbers, without the engine's work).
            let from = match st.metrics.latest(&c.id).map(|s| s.from) {
                Some(StatsFrom::Cgroup) => " · from cgroup files",
                Some(StatsFrom::Engine) => " · from engine stats",
                None => "",
            };
            format!("{} · last {} s{from} ", c.name, crate::state::metrics::WINDOW)
        }),
        v.style(Slot::Title),
    )];
    let block = v.block(Pane::Metrics, title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 3 {
        return;
    }
    let running: Vec<_> = st.services.ordered().filter(|c| c.state == RunState::Running).collect();
    let totals = st.metrics.totals(running.iter().map(|c| &c.id));
    let total_line = Line::from(vec![
        Span::styled("stack ", v.style(Slot::Header)),
        Span::styled(
            // How many report first: at 80 columns the end of the line is cut.
            format!(
                "{}/{} reporting  CPU {:.1}%  MEM {}  NET ↓{}/s ↑{}/s  IO r {} w {}",
                totals.reporting,
                running.len(),
                totals.cpu_percent,
                human_bytes(totals.mem_bytes),
                human_bytes(totals.net_rx_rate),
                human_bytes(totals.net_tx_rate),
                human_bytes(totals.blk_read),
                human_bytes(totals.blk_write),
            ),
            v.style(Slot::Text),
        ),
    ]);
    let Some(c) = sel else {
        f.render_widget(Paragraph::new(vec![total_line, Line::from("No service selected.")]), inner);
        return;
    };
    let series = st.metrics.series(&c.id);
    let Some(series) = series.filter(|s| !s.is_empty()) else {
        let why = if st.on_swarm_manager() {
            "a swarm task: the engine streams stats only for the containers of the node it runs on, and stackdeck reads none through the manager (no zeros shown); use the Prometheus panels"
        } else if c.state == RunState::Running {
            "waiting for the first stats sample (stats are streamed while this pane is on screen)…"
        } else {
            "not running: no stats"
        };
        f.render_widget(
            Paragraph::new(vec![
                total_line,
                Line::from(Span::styled(format!("{}: {why}", c.name), v.style(Slot::Dim))),
            ]),
            inner,
        );
        return;
    };
    let last = series.back().copied().unwrap_or_else(|| unreachable!("series is not empty"));
    let chart_h = ((inner.height.saturating_sub(4)) / 2).clamp(1, 6);
    let [cpu_l, cpu_c, mem_l, mem_c, io_l, tot, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(chart_h),
        Constraint::Length(1),
        Constraint::Length(chart_h),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let w = inner.width as usize;
    let tail = |f: &dyn Fn(&crate::domain::StatsSample) -> u64| -> Vec<u64> {
        series.iter().skip(series.len().saturating_sub(w)).map(f).collect()
    };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("CPU ", v.style(Slot::Header)),
            Span::styled(format!("{:.1}%", last.cpu_percent), v.style(Slot::ChartCpu)),
        ])),
        cpu_l,
    );
    f.render_widget(
        Sparkline::default().data(tail(&|s| (s.cpu_percent * 100.0) as u64)).style(v.style(Slot::ChartCpu)),
        cpu_c,
    );
    let limit = if last.mem_limit > 0 && c.memory_limit > 0 {
        format!(
            " of {} limit ({:.0}%)",
            human_bytes(c.memory_limit),
            last.mem_bytes as f64 * 100.0 / c.memory_limit as f64
        )
    } else if last.mem_limit > 0 {
        format!(
            " ({:.1}% of host {})",
            last.mem_bytes as f64 * 100.0 / last.mem_limit as f64,
            human_bytes(last.mem_limit)
        )
    } else {
        String::new()
    };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("MEM ", v.style(Slot::Header)),
            Span::styled(format!("{}{limit}", human_bytes(last.mem_bytes)), v.style(Slot::ChartMem)),
        ])),
        mem_l,
    );
    f.render_widget(Sparkline::default().data(tail(&|s| s.mem_bytes)).style(v.style(Slot::ChartMem)), mem_c);
    let rx = st.metrics.rate(&c.id, |s| s.net_rx).unwrap_or(0);
    let tx = st.metrics.rate(&c.id, |s| s.net_tx).unwrap_or(0);
    let net = if last.net_rx == 0 && last.net_tx == 0 {
        "n/a (host network)".to_owned()
    } else {
        format!("↓{}/s ↑{}/s", human_bytes(rx), human_bytes(tx))
    };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("NET ", v.style(Slot::Header)),
            Span::styled(net, v.style(Slot::ChartNetRx)),
            Span::styled("  IO ", v.style(Slot::Header)),
            Span::styled(
                format!("read {} write {}", human_bytes(last.blk_read), human_bytes(last.blk_write)),
                v.style(Slot::ChartNetTx),
            ),
        ])),
        io_l,
    );
    f.render_widget(Paragraph::new(total_line), tot);
    if rest.height > 0 {
        let lines: Vec<Line<'_>> = running
            .iter()
            .take(rest.height as usize)
            .map(|c| {
                let s = st.metrics.latest(&c.id);
                let marker = if st.services.selected.as_ref() == Some(&c.id) { "▶ " } else { "  " };
                Line::from(vec![
                    Span::styled(format!("{marker}{:<24}", fit(&c.key.to_string(), 24)), v.style(Slot::Text)),
                    Span::styled(
                        s.map_or_else(|| "   -   ".into(), |s| format!("{:>6.1}%", s.cpu_percent)),
                        v.style(Slot::ChartCpu),
                    ),
                    Span::styled(
                        s.map_or_else(String::new, |s| format!("  {:>10}", human_bytes(s.mem_bytes))),
                        v.style(Slot::ChartMem),
                    ),
                ])
            })
            .collect();
        f.render_widget(Paragraph::new(lines), rest);
    }
}
