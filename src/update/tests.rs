//! Pure tests of `update`: feed messages, assert state and effects.

use super::update;
use crate::config::Keymap;
use crate::domain::EngineInfo;
use crate::domain::Pane;
use crate::domain::{Container, ContainerId, Health, RunState, ServiceKey};
use crate::logtext::LogLine;
use crate::msg::{Effect, EngineEvent, LogBatch, Msg};
use crate::state::logs::StreamState;
use crate::state::{AppState, Conn};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;

pub fn container(id: &str, project: Option<&str>, service: &str, state: RunState, health: Health) -> Container {
    Container {
        id: ContainerId(id.into()),
        name: format!("{}_{service}_1", project.unwrap_or("x")),
        key: ServiceKey::new(project, service),
        state,
        health,
        image: format!("fx-{service}:1"),
        image_id: "sha256:0123456789abcdef".into(),
        started_at: Some(Timestamp::from_second(1_700_000_000).unwrap()),
        finished_at: None,
        restarts: 0,
        exit_code: None,
        memory_limit: 0,
        pid: None,
        compose: None,
    }
}

fn info() -> EngineInfo {
    EngineInfo {
        host: "unix:///x".into(),
        source: "default".into(),
        api_version: "1.41".into(),
        server_version: "20.10".into(),
        cpus: None,
        memory: None,
    }
}

fn state() -> AppState {
    AppState::new("unix:///x", "default", Timestamp::from_second(1_700_000_600).unwrap(), 1000, 200)
}

pub(super) fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub(super) fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub(super) fn connected_with(list: Vec<Container>) -> (AppState, Keymap, Vec<Effect>) {
    let km = Keymap::defaults();
    let mut s = state();
    let mut fx = update(&mut s, &km, Msg::Engine(EngineEvent::Connected(info())));
    fx.extend(update(&mut s, &km, Msg::Engine(EngineEvent::Snapshot(list))));
    (s, km, fx)
}

pub(super) fn demo() -> Vec<Container> {
    vec![
        container("b", Some("trading"), "trading-bot", RunState::Running, Health::Healthy),
        container("a", Some("trading"), "api-server", RunState::Running, Health::Unhealthy),
        container("z", None, "scratch", RunState::Exited, Health::None),
    ]
}

#[test]
fn snapshot_selects_first_service_and_follows_its_logs() {
    let (s, _, fx) = connected_with(demo());
    assert_eq!(s.services.selected, Some(ContainerId("a".into())));
    assert_eq!(
        fx,
        vec![Effect::FollowLogs { container: ContainerId("a".into()), generation: 1, tail: 200, since: None }]
    );
    assert_eq!(s.logs.stream, StreamState::Connecting);
}

#[test]
fn moving_the_selection_retargets_logs_with_a_new_generation() {
    let (mut s, km, _) = connected_with(demo());
    let fx = update(&mut s, &km, key('j'));
    assert_eq!(s.services.selected, Some(ContainerId("b".into())));
    assert_eq!(
        fx,
        vec![Effect::FollowLogs { container: ContainerId("b".into()), generation: 2, tail: 200, since: None }]
    );
}

#[test]
fn batches_of_an_old_generation_are_dropped() {
    let (mut s, km, _) = connected_with(demo());
    update(&mut s, &km, key('j'));
    let old = LogBatch {
        generation: 1,
        container: ContainerId("a".into()),
        lines: vec![LogLine::marker("old")],
        skipped: 0,
        ended: None,
    };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(old)));
    assert!(s.logs.is_empty());
    let new = LogBatch {
        generation: 2,
        container: ContainerId("b".into()),
        lines: vec![LogLine::marker("new")],
        skipped: 0,
        ended: None,
    };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(new)));
    assert_eq!(s.logs.len(), 1);
    assert_eq!(s.logs.stream, StreamState::Live);
}

#[test]
fn skipped_lines_are_announced_not_silent() {
    let (mut s, km, _) = connected_with(demo());
    let b = LogBatch { generation: 1, container: ContainerId("a".into()), lines: vec![], skipped: 42, ended: None };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(b)));
    assert_eq!(s.logs.skipped_total, 42);
    let w = s.logs.window(5);
    assert!(w[0].1.text.contains("42 lines skipped"), "{:?}", w[0].1.text);
}

#[test]
fn engine_loss_keeps_data_and_marks_stale_then_resumes_logs_since_last_line() {
    let (mut s, km, _) = connected_with(demo());
    let mut line = LogLine::marker("x");
    line.timestamp = crate::logtext::Stamp::new("2026-11-22T10:00:00.5Z");
    let b = LogBatch {
        generation: 1,
        container: ContainerId("a".into()),
        lines: vec![line],
        skipped: 0,
        ended: Some("gone".into()),
    };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(b)));
    update(&mut s, &km, Msg::Engine(EngineEvent::Unreachable { reason: "refused".into(), retry_in_secs: 2 }));
    assert!(s.stale());
    assert_eq!(s.services.containers.len(), 3, "data is kept while the engine is away");
    assert!(matches!(s.engine.conn, Conn::Unreachable { .. }));
    let fx = update(&mut s, &km, Msg::Engine(EngineEvent::Connected(info())));
    assert_eq!(
        fx,
        vec![Effect::FollowLogs {
            container: ContainerId("a".into()),
            generation: 2,
            tail: 200,
            since: Some("2026-11-22T10:00:00.5Z".into())
        }]
    );
    assert_eq!(s.logs.len(), 2, "lines (and the end marker) survive the reconnect");
}

#[test]
fn health_event_changes_only_that_container() {
    let (mut s, km, _) = connected_with(demo());
    update(&mut s, &km, Msg::Engine(EngineEvent::Health(ContainerId("b".into()), Health::Unhealthy)));
    assert_eq!(s.services.containers[&ContainerId("b".into())].health, Health::Unhealthy);
    assert_eq!(s.services.containers[&ContainerId("a".into())].health, Health::Unhealthy);
}

#[test]
fn failing_probe_makes_a_healthy_container_unhealthy() {
    let (mut s, km, _) = connected_with(demo());
    let key = ServiceKey::new(None, "trading-bot");
    update(&mut s, &km, Msg::Probe(crate::msg::ProbeResult { key, ok: false, detail: "HTTP 503".into() }));
    let bot = &s.services.containers[&ContainerId("b".into())];
    assert_eq!(s.services.health(bot), Health::Unhealthy);
}

#[test]
fn removing_the_selected_container_moves_selection_and_logs() {
    let (mut s, km, _) = connected_with(demo());
    let fx = update(&mut s, &km, Msg::Engine(EngineEvent::Removed(ContainerId("a".into()))));
    assert_eq!(s.services.selected, Some(ContainerId("b".into())));
    assert!(matches!(fx.as_slice(), [Effect::FollowLogs { .. }]));
}

#[test]
fn switching_to_metrics_swaps_the_log_stream_for_stats_streams() {
    let (mut s, km, _) = connected_with(demo());
    let fx = update(&mut s, &km, key('3'));
    assert_eq!(s.ui.focus, Pane::Metrics);
    assert_eq!(fx, vec![Effect::StopLogs, Effect::Stats(true)]);
    // Focusing the services list keeps the Metrics pane on screen: stats keep streaming.
    assert!(update(&mut s, &km, key('1')).is_empty());
    let fx = update(&mut s, &km, key('2'));
    assert!(matches!(fx.as_slice(), [Effect::FollowLogs { .. }, Effect::Stats(false)]), "{fx:?}");
    let fx = update(&mut s, &km, key('4'));
    assert_eq!(fx, vec![Effect::StopLogs], "no stats for the History pane either");
}

#[test]
fn search_prompt_takes_text_then_runs() {
    let (mut s, km, _) = connected_with(demo());
    let lines = ["alpha", "beta ERROR", "gamma"].map(LogLine::marker);
    let b =
        LogBatch { generation: 1, container: ContainerId("a".into()), lines: lines.to_vec(), skipped: 0, ended: None };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(b)));
    update(&mut s, &km, key('2'));
    update(&mut s, &km, key('/'));
    for c in "error q".chars() {
        update(&mut s, &km, key(c)); // 'q' is text here, not quit
    }
    assert!(!s.quit);
    update(&mut s, &km, code(KeyCode::Backspace));
    update(&mut s, &km, code(KeyCode::Backspace));
    update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(s.logs.query.as_deref(), Some("error"));
    assert_eq!(s.logs.current_match, Some(1));
    update(&mut s, &km, key('f'));
    assert!(s.logs.filter);
    update(&mut s, &km, code(KeyCode::Esc));
    assert_eq!(s.logs.query, None);
    assert!(!s.logs.filter);
}

#[test]
fn help_is_modal_and_quit_always_works() {
    let (mut s, km, _) = connected_with(demo());
    update(&mut s, &km, key('?'));
    assert!(s.ui.help);
    update(&mut s, &km, key('j'));
    assert_eq!(s.services.selected, Some(ContainerId("a".into())), "keys behind the popup do nothing");
    update(&mut s, &km, code(KeyCode::Esc));
    assert!(!s.ui.help);
    assert!(!s.quit);
    let fx = update(&mut s, &km, key('q'));
    assert!(s.quit);
    assert!(fx.is_empty(), "quitting is state, not an effect: {fx:?}");
}

#[test]
fn signals_quit() {
    let (mut s, km, _) = connected_with(demo());
    assert!(!s.quit);
    assert!(update(&mut s, &km, Msg::Signal("SIGHUP")).is_empty());
    assert!(s.quit);
}

#[test]
fn restarted_container_resumes_its_ended_log_stream() {
    let (mut s, km, _) = connected_with(demo());
    let b = LogBatch {
        generation: 1,
        container: ContainerId("a".into()),
        lines: vec![],
        skipped: 0,
        ended: Some("stopped".into()),
    };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(b)));
    let fx = update(
        &mut s,
        &km,
        Msg::Engine(EngineEvent::Upsert(container(
            "a",
            Some("trading"),
            "api-server",
            RunState::Running,
            Health::Starting,
        ))),
    );
    assert!(matches!(fx.as_slice(), [Effect::FollowLogs { generation: 2, .. }]));
}

#[test]
fn stats_only_redraw_when_metrics_are_on_screen() {
    let (mut s, km, _) = connected_with(demo());
    s.dirty = false;
    let sample = crate::domain::StatsSample {
        cpu_percent: 1.0,
        mem_bytes: 1,
        mem_limit: 0,
        net_rx: 0,
        net_tx: 0,
        blk_read: 0,
        blk_write: 0,
        from: crate::domain::StatsFrom::Engine,
    };
    update(&mut s, &km, Msg::Engine(EngineEvent::Stats(vec![(ContainerId("a".into()), sample)])));
    assert!(!s.dirty);
    update(&mut s, &km, key('3'));
    s.dirty = false;
    update(&mut s, &km, Msg::Engine(EngineEvent::Stats(vec![(ContainerId("a".into()), sample)])));
    assert!(s.dirty);
}

#[test]
fn window_key_cycles_and_asks_the_observer_and_alerts_redraw_any_pane() {
    use crate::domain::{Alert, Observation, Severity, Source, Window};
    let km = Keymap::defaults();
    let mut s = state();
    let press =
        |s: &mut AppState, c: char| update(s, &km, Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    press(&mut s, '5');
    assert_eq!(s.ui.focus, Pane::Charts);
    assert_eq!(press(&mut s, 'w'), vec![Effect::SetWindow(Window::H1)]);
    assert_eq!(press(&mut s, 'w'), vec![Effect::SetWindow(Window::H24)]);
    assert_eq!(press(&mut s, 'w'), vec![Effect::SetWindow(Window::M5)]);
    // In the Logs pane 'w' is wrap, not the window.
    press(&mut s, '2');
    assert!(press(&mut s, 'w').is_empty());
    assert!(s.logs.wrap);
    // A new alert redraws whatever pane is shown (the banner is on every screen)...
    s.dirty = false;
    let alert = Alert {
        name: "DailyLossExceeded".into(),
        severity: Severity::Critical,
        firing: true,
        summary: "x".into(),
        since: None,
        service: Some("trading-bot".into()),
        origin: "local",
    };
    let o = Observation { source: Source::Prometheus, window: Window::M5, panels: vec![], alerts: vec![alert] };
    update(&mut s, &km, Msg::Observed(o.clone()));
    assert!(s.dirty);
    // ...and the same round again changes nothing on screen.
    s.dirty = false;
    update(&mut s, &km, Msg::Observed(o));
    assert!(!s.dirty);
}

#[test]
fn ticks_sample_availability_per_service() {
    let km = Keymap::defaults();
    let mut s = state();
    let list = vec![
        container("a", Some("p"), "bot", RunState::Running, Health::Healthy),
        container("b", Some("p"), "db", RunState::Running, Health::Unhealthy),
    ];
    update(&mut s, &km, Msg::Engine(EngineEvent::Snapshot(list)));
    for i in 0..3 {
        update(&mut s, &km, Msg::Tick(Timestamp::from_second(1_700_000_600 + i * 10).unwrap()));
    }
    let now = Timestamp::from_second(1_700_000_620).unwrap();
    let a = &s.observe.availability;
    assert_eq!(a.share(&ServiceKey::new(Some("p"), "bot"), 300, now).unwrap().percent, 100.0);
    assert_eq!(a.share(&ServiceKey::new(Some("p"), "db"), 300, now).unwrap().percent, 0.0);
}

#[test]
fn a_replaced_containers_last_lines_stay_above_its_successors_logs() {
    let (mut s, km, _) = connected_with(demo());
    // The api-server ("a") is selected and its logs are shown.
    let lines: Vec<LogLine> = (0..80).map(|i| LogLine::marker(format!("old line {i}"))).collect();
    let b = LogBatch { generation: 1, container: ContainerId("a".into()), lines, skipped: 0, ended: None };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(b)));
    assert_eq!(s.logs.len(), 80);
    // A deploy: the new container of the same service appears, the old one goes.
    update(
        &mut s,
        &km,
        Msg::Engine(EngineEvent::Upsert(container(
            "a2",
            Some("trading"),
            "api-server",
            RunState::Running,
            Health::Healthy,
        ))),
    );
    let fx = update(&mut s, &km, Msg::Engine(EngineEvent::Removed(ContainerId("a".into()))));
    assert_eq!(s.services.selected, Some(ContainerId("a2".into())), "the selection follows the service");
    assert!(fx.iter().any(|e| matches!(e, Effect::FollowLogs { container, .. } if container.0 == "a2")), "{fx:?}");
    let kept: Vec<String> = s.logs.window(100).iter().map(|(_, l)| l.text.clone()).collect();
    assert_eq!(kept.len(), 51, "the last 50 lines and the marker: {kept:?}");
    assert_eq!(kept[0], "old line 30");
    assert!(kept[50].contains("previous container") && kept[50].contains("ended"), "{}", kept[50]);
    // Another service: a fresh view.
    update(&mut s, &km, key('j'));
    assert!(s.logs.is_empty());
}
