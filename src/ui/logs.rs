//! The Logs pane: the followed container's lines, level-coloured, search matches highlighted,
//! optional wrap and timestamps. Bottom-aligned: the newest shown line is at the bottom.

use super::View;
use crate::config::Slot;
use crate::domain::Pane;
use crate::logtext::Level;
use crate::state::logs::{StreamState, contains_ci};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

fn level_slot(l: Level) -> Slot {
    match l {
        Level::Trace => Slot::LogTrace,
        Level::Debug => Slot::LogDebug,
        Level::Info | Level::Unknown => Slot::LogInfo,
        Level::Warn => Slot::LogWarn,
        Level::Error => Slot::LogError,
        Level::Marker => Slot::LogMarker,
    }
}

pub fn draw(f: &mut Frame<'_>, area: Rect, v: &View<'_>) {
    let lv = &v.state.logs;
    let shown = lv.container.as_ref().and_then(|id| v.state.services.containers.get(id));
    let name = match shown {
        None => "-".to_owned(),
        Some(_) if lv.merged => format!("merged · {} containers", lv.sources.len()),
        // On a swarm manager a task row shows its service's merged logs.
        Some(c) if v.state.on_swarm_manager() => format!("{} · all tasks", c.key.service),
        Some(c) => c.name.clone(),
    };
    let mut title = vec![Span::styled(format!("{name} "), v.style(Slot::Title))];
    let engine_lost = matches!(v.state.engine.conn, crate::state::Conn::Unreachable { .. });
    let (mode, slot) = match (&lv.stream, lv.following()) {
        (StreamState::Idle, _) => ("no container selected", Slot::Dim),
        // The stream went with the engine; it resumes after the last line when it is back.
        (StreamState::Connecting | StreamState::Live, _) if engine_lost => ("engine not answering", Slot::Unhealthy),
        (StreamState::Connecting, _) => ("connecting", Slot::Starting),
        (StreamState::Ended(_), _) => ("ENDED", Slot::Exited),
        (StreamState::Live, true) => ("LIVE", Slot::Healthy),
        (StreamState::Live, false) => ("PAUSED", Slot::Starting),
    };
    title.push(Span::styled(format!("[{mode}] "), v.style(slot)));
    if let Some(q) = &lv.query {
        let n = lv.match_count();
        title.push(Span::styled(
            format!("/{q} ({n} match{}) ", if n == 1 { "" } else { "es" }),
            v.style(Slot::SearchMatch),
        ));
        if lv.filter {
            title.push(Span::styled("[filter] ", v.style(Slot::Badge)));
        }
    }
    if lv.wrap {
        title.push(Span::styled("[wrap] ", v.style(Slot::Dim)));
    }
    if lv.skipped_total > 0 {
        title.push(Span::styled(format!("[{} skipped] ", lv.skipped_total), v.style(Slot::Unhealthy)));
    }
    let block = v.block(Pane::Logs, title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    if lv.is_empty() {
        let msg = match &lv.stream {
            StreamState::Idle => "Select a service to see its logs.",
            StreamState::Connecting => "Waiting for log lines…",
            _ => "No log lines.",
        };
        f.render_widget(Paragraph::new(msg).style(v.style(Slot::Dim)), inner);
        return;
    }
    let h = inner.height as usize;
    let width = inner.width as usize;
    let window = lv.window(h);
    let mut lines: Vec<Line<'_>> = Vec::with_capacity(window.len());
    let mut rows_used = Vec::with_capacity(window.len());
    for (seq, l) in &window {
        let base = v.style(level_slot(l.level));
        let mut spans = Vec::new();
        if lv.current_match == Some(*seq) {
            spans.push(Span::styled("▶", v.style(Slot::SearchMatch)));
        }
        if lv.timestamps {
            let ts = l.stamp().map_or("                    ", short_ts);
            spans.push(Span::styled(format!("{ts} "), v.style(Slot::Dim)));
        }
        if l.cut_bytes > 0 {
            // At the front: the end of a long line is off screen unless wrapped.
            spans.push(Span::styled(format!("[{} more bytes not shown] ", l.cut_bytes), v.style(Slot::LogMarker)));
        }
        // Merged: the line's first word is its service, in the service's own tag style.
        let text = match l.text.split_once(' ') {
            Some((tag, rest)) if lv.merged && l.level != Level::Marker => {
                spans.push(Span::styled(format!("{tag} "), v.style(tag_slot(tag))));
                rest
            }
            _ => l.text.as_str(),
        };
        highlight(&mut spans, text, lv.query.as_ref().map(|_| lv.query_lower()), base, v.style(Slot::SearchMatch));
        let line = Line::from(spans);
        let w = line.width().max(1);
        rows_used.push(if lv.wrap { w.div_ceil(width) } else { 1 });
        lines.push(line);
    }
    // Bottom-align: drop the oldest lines until the wrapped rows fit.
    let mut total: usize = rows_used.iter().sum();
    let mut skip = 0;
    while total > h && skip < lines.len() - 1 {
        total -= rows_used[skip];
        skip += 1;
    }
    let lines: Vec<Line<'_>> = lines.into_iter().skip(skip).collect();
    let mut p = Paragraph::new(lines);
    if lv.wrap {
        p = p.wrap(Wrap { trim: false });
        // A single line longer than the pane: show its end rows.
        if total > h {
            p = p.scroll(((total - h) as u16, 0));
        }
    }
    f.render_widget(p, inner);
}

/// A service's tag style: the same service, the same style, on every screen and run.
pub(super) fn tag_slot(tag: &str) -> Slot {
    let h = tag.bytes().fold(2_166_136_261_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16_777_619));
    Slot::TAGS[h as usize % Slot::TAGS.len()]
}

/// "2026-11-22T13:55:41.123456789Z" -> "13:55:41.123" (UTC, as the engine stamps it).
fn short_ts(ts: &str) -> &str {
    ts.get(11..23).unwrap_or(ts)
}

/// Split `text` into spans with every case-insensitive occurrence of `q` highlighted.
fn highlight<'a>(out: &mut Vec<Span<'a>>, text: &'a str, q: Option<&str>, base: Style, hl: Style) {
    let Some(q) = q.filter(|q| !q.is_empty() && q.is_ascii() && contains_ci(text, q)) else {
        out.push(Span::styled(text, base));
        return;
    };
    let bytes = text.as_bytes();
    let n = q.len();
    let mut last = 0;
    let mut i = 0;
    while i + n <= bytes.len() {
        if bytes[i..i + n].eq_ignore_ascii_case(q.as_bytes())
            && text.is_char_boundary(i)
            && text.is_char_boundary(i + n)
        {
            if i > last {
                out.push(Span::styled(&text[last..i], base));
            }
            out.push(Span::styled(&text[i..i + n], hl));
            i += n;
            last = i;
        } else {
            i += 1;
        }
    }
    if last < text.len() {
        out.push(Span::styled(&text[last..], base));
    }
}
