//! Alerts everywhere: the banner lines above every pane, and the Alerts pane (alerts,
//! availability per service against the objective, host resources).

use super::{View, fit, human_bytes};
use crate::config::{Action, Mode, Slot};
use crate::domain::Pane;
use crate::domain::{Alert, Severity};
use crate::observe::rules::fmt_value;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Banner lines at most (the rest is counted on the last one).
const BANNER_MAX: usize = 3;

fn slot(s: Severity) -> Slot {
    match s {
        Severity::Critical => Slot::AlertCritical,
        Severity::Warning => Slot::AlertWarning,
        Severity::Info => Slot::AlertInfo,
    }
}

fn clock(v: &View<'_>, t: Option<jiff::Timestamp>) -> String {
    t.map(|t| t.to_zoned(v.state.tz.clone()).strftime("%H:%M:%S").to_string()).unwrap_or_else(|| "?".into())
}

/// The kill-switch target a critical alert is about, when the stop action is available.
pub fn stop_offer(v: &View<'_>, a: &Alert) -> Option<String> {
    if a.severity != Severity::Critical || v.state.read_only {
        return None;
    }
    let svc = a.service.as_deref()?;
    let target = v.state.kill_switch_targets.iter().find(|t| *t == svc || t.rsplit('/').next() == Some(svc))?;
    let in_project = v.state.project.as_ref().map(|p| format!("{p}/{svc}"));
    if v.state.history.kill_switches.iter().any(|k| k.service == *target || Some(&k.service) == in_project.as_ref()) {
        return None; // already stopped: the kill-switch banner says so
    }
    Some(target.clone())
}

pub fn banner_height(v: &View<'_>) -> u16 {
    let n = v.state.observe.all_alerts().len();
    n.min(BANNER_MAX) as u16
}

fn alert_line(v: &View<'_>, a: &Alert, width: usize, more: usize) -> Line<'static> {
    let key = v.keymap.key_label(Mode::Global, Action::EmergencyStop);
    // The stop offer comes right after the name: at 80 columns it must never be cut off.
    let svc = match stop_offer(v, a) {
        Some(t) if !key.is_empty() => format!(" · {key}: STOP {t}"),
        _ => a.service.as_deref().map(|s| format!(" ({s})")).unwrap_or_default(),
    };
    let state = if a.firing { a.severity.label().to_uppercase() } else { format!("pending {}", a.severity.label()) };
    let more = if more > 0 { format!("  [+{more} more: pane 6]") } else { String::new() };
    let icon = if a.firing { "▲" } else { "△" };
    let text = format!(
        " {icon} {state} {}{svc} · since {} · {}",
        a.name,
        clock(v, a.since),
        a.summary.replace(['\n', '\r'], " ")
    );
    let room = width.saturating_sub(more.chars().count());
    Line::from(vec![
        Span::styled(format!("{:<room$}", fit(&text, room)), v.style(slot(a.severity))),
        Span::styled(more, v.style(slot(a.severity))),
    ])
}

pub fn banner(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let all = v.state.observe.all_alerts();
    let rows = (area.height as usize).min(all.len());
    let lines: Vec<Line<'_>> = all
        .iter()
        .take(rows)
        .enumerate()
        .map(|(i, a)| {
            let more = if i + 1 == rows { all.len() - rows } else { 0 };
            alert_line(v, a, area.width as usize, more)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), area);
}

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let ob = &v.state.observe;
    let st = v.state;
    let alerts = ob.all_alerts();
    let firing = alerts.iter().filter(|a| a.firing).count();
    let title = vec![Span::styled(
        format!("· {firing} firing, {} pending · {} ", alerts.len() - firing, ob.source.label()),
        v.style(Slot::Title),
    )];
    let block = v.block(Pane::Alerts, title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let mut lines: Vec<Line<'_>> = Vec::new();
    if alerts.is_empty() {
        let why = match (&ob.source, ob.last_round) {
            (crate::domain::Source::None, _) if st.observe.host.is_none() => {
                "No alerts: no Prometheus, scrape targets or panels configured (see scripts/demo.toml).".to_owned()
            }
            (_, None) if st.observe.configured => "No alerts yet: waiting for the first round of metrics…".to_owned(),
            _ => "No alerts firing or pending.".to_owned(),
        };
        lines.push(Line::from(Span::styled(why, v.style(Slot::Healthy))));
    }
    for a in &alerts {
        let state = if a.firing { "FIRING " } else { "pending" };
        let svc = a.service.as_deref().unwrap_or("-");
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<8}", a.severity.label()), v.style(slot(a.severity))),
            Span::styled(
                fit(
                    &format!(
                        " {state} {} · {svc} · since {} · {} [{}]",
                        a.name,
                        clock(v, a.since),
                        a.summary,
                        a.origin
                    ),
                    w.saturating_sub(9),
                ),
                v.style(Slot::Text),
            ),
        ]));
    }
    // Availability.
    let objective = st_objective(v);
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        format!("Availability · last {} · objective {}%", ob.window.label(), fmt_value(objective)),
        v.style(Slot::Header),
    )));
    let tracks = &ob.availability.services;
    if tracks.is_empty() {
        lines.push(Line::from(Span::styled(" (no health samples yet: one every 10 s)", v.style(Slot::Dim))));
    }
    let name_w = 26.min(w / 3);
    for (key, t) in tracks {
        let Some(share) = ob.availability.share(key, ob.window.secs(), st.now) else { continue };
        let bar_w = 10;
        let filled = ((share.percent / 100.0) * bar_w as f64).round() as usize;
        let bar: String = "█".repeat(filled) + &"░".repeat(bar_w - filled);
        let ok = share.percent >= objective;
        let window_start = st.now - jiff::SignedDuration::from_secs(ob.window.secs());
        let partial = if share.covered_since > window_start + jiff::SignedDuration::from_secs(60) {
            format!(" (from {})", clock(v, Some(share.covered_since)))
        } else {
            String::new()
        };
        let change = match (t.last_change, t.healthy) {
            (Some(c), Some(h)) => format!(" · {} since {}", if h { "up" } else { "DOWN" }, clock(v, Some(c))),
            (None, Some(h)) => format!(" · {} all along", if h { "up" } else { "DOWN" }),
            _ => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<name_w$}", fit(&key.to_string(), name_w)), v.style(Slot::Text)),
            Span::styled(
                format!("{:>7.2}% ", share.percent),
                v.style(if ok { Slot::ValueOk } else { Slot::ValueCritical }),
            ),
            Span::styled(bar, v.style(if ok { Slot::ValueOk } else { Slot::ValueCritical })),
            Span::styled(
                fit(
                    &format!("{}{change}{partial}", if ok { "" } else { " below objective" }),
                    w.saturating_sub(name_w + 20),
                ),
                v.style(Slot::Dim),
            ),
        ]));
    }
    // Host.
    lines.push(Line::from(""));
    let engine_size = st.engine.info.as_ref().and_then(|i| match (i.cpus, i.memory) {
        (Some(c), Some(m)) => Some(format!("{c} CPUs, {} memory", human_bytes(m))),
        _ => None,
    });
    match &ob.host {
        None if crate::domain::is_remote(&st.engine.host) => {
            let size = engine_size.map(|s| format!("{s} (from the engine); ")).unwrap_or_default();
            lines.push(Line::from(Span::styled(
                format!("Host: {size}usage needs Prometheus node metrics ([prometheus] url)"),
                v.style(Slot::Dim),
            )));
        }
        None => lines.push(Line::from(Span::styled("Host: not read ([host] enabled = false)", v.style(Slot::Dim)))),
        Some(h) => {
            let hc = &v.stack.config.host;
            let (cpu_max, mem_max, free_min) = (hc.cpu_max(), hc.memory_max(), hc.disk_free_min());
            let from = if h.source.is_empty() { String::new() } else { format!("({}) ", h.source) };
            let mut spans = vec![Span::styled(format!("Host {from}"), v.style(Slot::Header))];
            if let Some(c) = h.cpu_percent {
                spans.push(Span::styled(
                    format!("CPU {}% ", fmt_value(c)),
                    v.style(if c > cpu_max { Slot::ValueCritical } else { Slot::ValueOk }),
                ));
            }
            let m = h.mem_percent();
            spans.push(Span::styled(
                format!("MEM {}% of {} ", fmt_value(m), human_bytes(h.mem_total)),
                v.style(if m > mem_max { Slot::ValueCritical } else { Slot::ValueOk }),
            ));
            lines.push(Line::from(spans));
            for d in &h.disks {
                let fp = d.free_percent();
                lines.push(Line::from(vec![
                    Span::styled(format!(" disk {:<20}", fit(&d.path, 20)), v.style(Slot::Text)),
                    Span::styled(
                        format!(" {}% free ({} of {})", fmt_value(fp), human_bytes(d.free), human_bytes(d.total)),
                        v.style(if fp < free_min { Slot::ValueCritical } else { Slot::ValueOk }),
                    ),
                ]));
            }
        }
    }
    let scroll = ob.scroll.min(lines.len().saturating_sub(1));
    f.render_widget(Paragraph::new(lines.split_off(scroll)), inner);
}

fn st_objective(v: &View<'_>) -> f64 {
    v.stack.config.availability.objective()
}
