//! Pure tests of the Timeline pane's keys and mouse: selection, filters, the jump to the merged
//! logs at a row's moment (read again from before it when it is not loaded), and the export.

use super::tests::{code, connected_with, demo, key};
use super::update;
use crate::domain::{Happen, Happening, Pane, Tone, Zone};
use crate::logtext::{LogLine, Masker};
use crate::msg::{Effect, EngineEvent, LogBatch, Msg};
use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use jiff::Timestamp;

const T0: i64 = 1_800_000_000;

fn row(secs: i64, kind: Happen, service: &str) -> Happening {
    Happening {
        at: Timestamp::from_second(T0 + secs).unwrap(),
        kind,
        service: service.into(),
        subject: String::new(),
        what: kind.as_str().into(),
        tone: Tone::Plain,
        key: format!("{secs}|{}", kind.as_str()),
        container: Some(format!("{service}-c")),
        times: 1,
    }
}

fn with_rows() -> (crate::state::AppState, crate::config::Keymap) {
    let (mut s, km, _) = connected_with(demo());
    let rows = vec![
        row(10, Happen::Killed, "trading/api-server"),
        row(20, Happen::Oom, "trading/trading-bot"),
        row(30, Happen::Health, "trading/api-server"),
    ];
    update(&mut s, &km, Msg::Engine(EngineEvent::Happened(rows)));
    update(&mut s, &km, key('7'));
    (s, km)
}

fn selected(s: &crate::state::AppState) -> Option<Happen> {
    s.timeline.selected_row().map(|r| r.kind)
}

#[test]
fn rows_arriving_while_the_pane_is_hidden_are_shown_when_it_opens_and_keys_move_and_filter() {
    let (mut s, km) = with_rows();
    assert_eq!(s.ui.detail, Pane::Timeline);
    assert_eq!(s.timeline.rows.len(), 3);
    assert_eq!(selected(&s), Some(Happen::Health), "the newest is selected");
    update(&mut s, &km, key('j'));
    assert_eq!(selected(&s), Some(Happen::Oom));
    update(&mut s, &km, key('G'));
    assert_eq!(selected(&s), Some(Happen::Killed));
    update(&mut s, &km, key('g'));
    assert_eq!(selected(&s), Some(Happen::Health));
    // `s`: only the service selected in Services (api-server is selected first).
    update(&mut s, &km, key('s'));
    assert_eq!(s.timeline.rows.len(), 2, "{:?}", s.timeline.rows);
    assert_eq!(s.ui.notice.as_deref(), Some("timeline: only trading/api-server"));
    update(&mut s, &km, key('s'));
    assert_eq!(s.timeline.rows.len(), 3);
    // `f`: engine rows, then operations (none here).
    update(&mut s, &km, key('f'));
    assert_eq!(s.timeline.rows.len(), 3);
    update(&mut s, &km, key('f'));
    assert!(s.timeline.rows.is_empty());
    assert_eq!(s.ui.notice.as_deref(), Some("timeline: only operations"));
}

#[test]
fn a_click_selects_the_row_under_it_and_the_wheel_moves_the_selection() {
    let (mut s, km) = with_rows();
    let zone = Zone { pane: Pane::Timeline, x: 0, y: 10, w: 80, h: 10 };
    update(&mut s, &km, Msg::Screen { w: 80, h: 24, zones: vec![zone] });
    let mouse = |kind, row| Msg::Mouse(MouseEvent { kind, column: 5, row, modifiers: KeyModifiers::NONE });
    // Border at 10, header at 11, the newest row at 12: the third row is at 14.
    update(&mut s, &km, mouse(MouseEventKind::Down(MouseButton::Left), 14));
    assert_eq!(selected(&s), Some(Happen::Killed));
    update(&mut s, &km, mouse(MouseEventKind::ScrollUp, 14));
    assert_eq!(selected(&s), Some(Happen::Oom));
    // Below the last row: nothing changes.
    update(&mut s, &km, mouse(MouseEventKind::Down(MouseButton::Left), 18));
    assert_eq!(selected(&s), Some(Happen::Oom));
}

#[test]
fn enter_opens_the_merged_logs_read_from_a_minute_before_the_moment_then_pauses_there() {
    let (mut s, km) = with_rows();
    update(&mut s, &km, key('j')); // the OOM, at T0 + 20
    let fx = update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(s.ui.detail, Pane::Logs);
    assert!(s.logs.merged);
    let follows: Vec<&Effect> = fx.iter().filter(|e| matches!(e, Effect::FollowMerged { .. })).collect();
    assert_eq!(follows.len(), 1, "one follow, from the moment: {fx:?}");
    let Effect::FollowMerged { since, generation, sources, .. } = follows[0] else { unreachable!() };
    assert_eq!(since.as_deref(), Some(Timestamp::from_second(T0 - 40).unwrap().to_string().as_str()));
    assert_eq!(s.logs.jump_at, Some(T0 + 20));
    // The lines arrive: the view pauses on the first at or after the moment.
    let m = Masker::default();
    let line = |secs: i64, text: &str| {
        let t = Timestamp::from_second(T0 + secs).unwrap();
        LogLine::from_raw(format!("{t} {text}").as_bytes(), false, &m)
    };
    let lines =
        vec![line(-30, "api-server before"), line(19, "trading-bot just before"), line(21, "trading-bot after")];
    let b = LogBatch { generation: *generation, container: sources[0].0.clone(), lines, skipped: 0, ended: None };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(b)));
    assert_eq!(s.logs.jump_at, None);
    let shown = s.logs.anchor.and_then(|a| s.logs.get(a)).map(|l| l.text.clone());
    assert_eq!(shown.as_deref(), Some("trading-bot after"));
    // A key in the logs: the operator moved on, a jump still waiting would be dropped.
    update(&mut s, &km, key('7'));
    update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(s.logs.jump_at, Some(T0 + 20));
    update(&mut s, &km, key('k'));
    assert_eq!(s.logs.jump_at, None);
}

#[test]
fn the_export_key_writes_the_rows_shown_and_an_empty_timeline_says_so() {
    let (mut s, km) = with_rows();
    let fx = update(&mut s, &km, Msg::Key(crossterm::event::KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)));
    let Some(Effect::Export(e)) = fx.first() else { panic!("{fx:?}") };
    assert_eq!((e.kind, e.lines.len(), e.merged), ("timeline", 3, true));
    assert!(e.lines[0].text.starts_with("trading/api-server kill: "), "{:?}", e.lines[0].text);
    update(&mut s, &km, key('f'));
    update(&mut s, &km, key('f'));
    let fx = update(&mut s, &km, Msg::Key(crossterm::event::KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)));
    assert!(fx.is_empty());
    assert_eq!(s.ui.notice.as_deref(), Some("nothing to export: the timeline shows no rows"));
}
