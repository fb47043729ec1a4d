//! Pure tests of `update`: feed messages, assert state and effects.

use super::update;
use crate::config::Keymap;
use crate::domain::Pane;
use crate::domain::{Container, ContainerId, Health, RunState, ServiceKey};
use crate::domain::{EngineInfo, OpRequest};
use crate::logtext::LogLine;
use crate::msg::{Effect, EngineEvent, LogBatch, Msg, OpEvent};
use crate::state::logs::StreamState;
use crate::state::{AppState, Conn, Popup};
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
    }
}

fn info() -> EngineInfo {
    EngineInfo {
        host: "unix:///x".into(),
        source: "default".into(),
        api_version: "1.41".into(),
        server_version: "20.10".into(),
    }
}

fn state() -> AppState {
    AppState::new("unix:///x", "default", Timestamp::from_second(1_700_000_600).unwrap(), 1000, 200)
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn connected_with(list: Vec<Container>) -> (AppState, Keymap, Vec<Effect>) {
    let km = Keymap::defaults();
    let mut s = state();
    let mut fx = update(&mut s, &km, Msg::Engine(EngineEvent::Connected(info())));
    fx.extend(update(&mut s, &km, Msg::Engine(EngineEvent::Snapshot(list))));
    (s, km, fx)
}

fn demo() -> Vec<Container> {
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
    line.timestamp = Some("2026-11-22T10:00:00.5Z".into());
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
    };
    update(&mut s, &km, Msg::Engine(EngineEvent::Stats(ContainerId("a".into()), sample)));
    assert!(!s.dirty);
    update(&mut s, &km, key('3'));
    s.dirty = false;
    update(&mut s, &km, Msg::Engine(EngineEvent::Stats(ContainerId("a".into()), sample)));
    assert!(s.dirty);
}

#[test]
fn emergency_stop_targets_the_kill_switch_services_after_one_confirmation() {
    let (mut s, km, _) = connected_with(demo());
    s.kill_switch_targets = vec!["trading-bot".into()];
    // From the logs pane, with a search prompt closed: X works anywhere.
    update(&mut s, &km, key('2'));
    let fx = update(&mut s, &km, key('X'));
    assert!(fx.is_empty(), "nothing happens before the confirmation");
    // The config's name, resolved against the engine: the one service it names.
    let req = OpRequest::Stop {
        targets: vec!["trading/trading-bot".into()],
        reason: Some("emergency stop from the panel".into()),
    };
    assert_eq!(s.ui.popup, Some(Popup::Confirm(req.clone())));
    let fx = update(&mut s, &km, key('y'));
    assert_eq!(fx, vec![Effect::RunOp { id: 1, request: req }]);
    assert!(s.op_running());
    update(&mut s, &km, Msg::Op(OpEvent::Progress { id: 1, line: "stopping trading_bot_1".into() }));
    update(&mut s, &km, Msg::Op(OpEvent::Done { id: 1, result: Ok("trading-bot stopped in 1.1 s".into()) }));
    assert!(!s.op_running());
    assert_eq!(s.op_shown().unwrap().lines, vec!["stopping trading_bot_1".to_owned()]);
    update(&mut s, &km, code(KeyCode::Esc));
    assert!(s.op_shown().is_none(), "esc closes the finished operation");
}

#[test]
fn without_config_the_stop_targets_the_selected_service_and_n_cancels() {
    let (mut s, km, _) = connected_with(demo());
    update(&mut s, &km, key('X'));
    assert!(
        matches!(&s.ui.popup, Some(Popup::Confirm(OpRequest::Stop { targets, .. })) if targets == &vec!["trading/api-server".to_owned()])
    );
    let fx = update(&mut s, &km, key('n'));
    assert!(fx.is_empty());
    assert_eq!(s.ui.popup, None);
}

#[test]
fn read_only_removes_every_mutating_action() {
    let (mut s, km, _) = connected_with(demo());
    s.read_only = true;
    for c in ['X', 'd', 'r', 'S', 'C'] {
        let fx = update(&mut s, &km, key(c));
        assert!(fx.is_empty(), "{c}");
        assert_eq!(s.ui.popup, None, "{c}");
        assert!(s.ui.notice.as_deref().unwrap_or("").starts_with("read-only"), "{c}: {:?}", s.ui.notice);
    }
}

#[test]
fn deploy_picker_filters_local_tags_then_confirms() {
    let (mut s, km, _) = connected_with(demo());
    let fx = update(&mut s, &km, key('d'));
    assert_eq!(fx, vec![Effect::LoadTags { target: "trading/api-server".into(), image: "fx-api-server:1".into() }]);
    let tags = vec!["fx-api-server:2-broken".to_owned(), "fx-api-server:2".to_owned(), "fx-api-server:1".to_owned()];
    update(&mut s, &km, Msg::Tags { target: "trading/api-server".into(), tags: Ok(tags) });
    update(&mut s, &km, key('2'));
    update(&mut s, &km, code(KeyCode::Down));
    update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(
        s.ui.popup,
        Some(Popup::Confirm(OpRequest::Deploy {
            target: "trading/api-server".into(),
            image: "fx-api-server:2".into()
        }))
    );
    let fx = update(&mut s, &km, code(KeyCode::Enter));
    assert!(matches!(fx.as_slice(), [Effect::RunOp { request: OpRequest::Deploy { .. }, .. }]));
    // One operation at a time (the emergency stop excepted).
    update(&mut s, &km, key('r'));
    assert_eq!(s.ui.popup, None);
    update(&mut s, &km, key('X'));
    assert!(matches!(s.ui.popup, Some(Popup::Confirm(OpRequest::Stop { .. }))));
}

#[test]
fn a_typed_reference_is_deployed_as_typed_and_a_running_deploy_can_be_cancelled() {
    let (mut s, km, _) = connected_with(demo());
    update(&mut s, &km, key('d'));
    update(&mut s, &km, Msg::Tags { target: "trading/api-server".into(), tags: Ok(vec![]) });
    for c in "repo/app@sha256:ab".chars() {
        update(&mut s, &km, key(c));
    }
    update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(
        s.ui.popup,
        Some(Popup::Confirm(OpRequest::Deploy {
            target: "trading/api-server".into(),
            image: "repo/app@sha256:ab".into()
        }))
    );
    update(&mut s, &km, key('y'));
    let fx = update(&mut s, &km, key('C'));
    assert_eq!(fx, vec![Effect::CancelOp { id: 1 }]);
    // Once the old container is gone there is nothing to go back to.
    update(&mut s, &km, Msg::Op(OpEvent::Committed { id: 1 }));
    let fx = update(&mut s, &km, key('C'));
    assert!(fx.is_empty());
    assert_eq!(s.ui.notice.as_deref(), Some("no cancellable operation is running"));
}

#[test]
fn b_chooses_backup_jobs_then_runs_them_after_a_confirmation_from_any_pane() {
    let (mut s, km, _) = connected_with(demo());
    update(&mut s, &km, key('b'));
    assert_eq!(s.ui.popup, None, "no jobs configured: nothing to choose");
    assert!(s.ui.notice.as_deref().is_some_and(|n| n.contains("no backup jobs")));
    s.backup_jobs = vec!["postgres".into(), "redis".into()];
    update(&mut s, &km, key('4'));
    update(&mut s, &km, key('b'));
    assert_eq!(
        s.ui.popup,
        Some(Popup::Jobs { jobs: vec![("postgres".into(), true), ("redis".into(), true)], selected: 0 })
    );
    // Every job checked: the request says "all".
    update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(s.ui.popup, Some(Popup::Confirm(OpRequest::Backup { jobs: vec![] })));
    let fx = update(&mut s, &km, key('y'));
    assert_eq!(fx, vec![Effect::RunOp { id: 1, request: OpRequest::Backup { jobs: vec![] } }]);
    // Uncheck postgres: only redis runs.
    update(&mut s, &km, Msg::Op(OpEvent::Done { id: 1, result: Ok("done".into()) }));
    update(&mut s, &km, key('b'));
    update(&mut s, &km, key(' '));
    update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(s.ui.popup, Some(Popup::Confirm(OpRequest::Backup { jobs: vec!["redis".into()] })));
    // Nothing checked: refused with a notice, the list stays.
    update(&mut s, &km, key('n'));
    update(&mut s, &km, key('b'));
    update(&mut s, &km, key(' '));
    update(&mut s, &km, code(KeyCode::Down));
    update(&mut s, &km, key(' '));
    update(&mut s, &km, code(KeyCode::Enter));
    assert!(matches!(s.ui.popup, Some(Popup::Jobs { .. })));
    assert_eq!(s.ui.notice.as_deref(), Some("choose at least one job"));
}

#[test]
fn restore_needs_the_database_name_typed() {
    use crate::domain::{BackupKind, BackupStatus, JobEntry, Manifest};
    let (mut s, km, _) = connected_with(demo());
    s.restorable = vec![("pg".into(), "trading".into())];
    let m = |id: &str, status| Manifest {
        id: id.into(),
        created: "2026-11-29T00:00:00Z".into(),
        status,
        jobs: vec![JobEntry::new("pg", BackupKind::Exec), JobEntry::new("conf", BackupKind::Paths)],
    };
    s.history.backups = vec![m("b2", BackupStatus::Failed), m("b1", BackupStatus::Good)];
    update(&mut s, &km, key('2'));
    update(&mut s, &km, key('R'));
    assert_eq!(s.ui.popup, None, "R restores in the History pane (in Logs it does nothing)");
    update(&mut s, &km, key('4'));
    update(&mut s, &km, key('R'));
    // Only the verified backup's restorable job is offered.
    assert_eq!(
        s.ui.popup,
        Some(Popup::Restore { choices: vec![("b1".into(), "pg".into(), "trading".into())], selected: 0 })
    );
    update(&mut s, &km, code(KeyCode::Enter));
    for c in "tradin".chars() {
        update(&mut s, &km, key(c));
    }
    let fx = update(&mut s, &km, code(KeyCode::Enter));
    assert!(fx.is_empty(), "a wrong word does nothing");
    assert!(matches!(s.ui.popup, Some(Popup::Typed { .. })));
    update(&mut s, &km, key('g'));
    let fx = update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::RunOp { id: 1, request: OpRequest::Restore { backup: "b1".into(), job: "pg".into() } }]
    );
}

#[test]
fn the_emergency_stop_replaces_a_popup_that_takes_no_text() {
    let (mut s, km, _) = connected_with(demo());
    s.backup_jobs = vec!["pg".into()];
    update(&mut s, &km, key('b'));
    assert!(matches!(s.ui.popup, Some(Popup::Jobs { .. })));
    update(&mut s, &km, key('X'));
    assert!(matches!(s.ui.popup, Some(Popup::Confirm(OpRequest::Stop { .. }))), "{:?}", s.ui.popup);
    let fx = update(&mut s, &km, key('y'));
    assert!(matches!(fx.as_slice(), [Effect::RunOp { request: OpRequest::Stop { .. }, .. }]));
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
fn an_ambiguous_kill_switch_is_a_config_problem_at_once_and_x_stops_every_match() {
    let both = vec![
        container("a", Some("fx"), "trading-bot", RunState::Running, Health::Healthy),
        container("b", Some("paper"), "trading-bot", RunState::Running, Health::Healthy),
        container("c", Some("fx"), "api-server", RunState::Running, Health::Healthy),
    ];
    let (mut s, km, _) = connected_with(both);
    s.kill_switch_targets = vec!["trading-bot".into(), "fx/api-server".into()];
    let plan = s.kill_switch_plan();
    assert_eq!(plan.problems.len(), 1, "{plan:?}");
    assert!(plan.problems[0].contains("'trading-bot' is ambiguous (2 services: fx/trading-bot, paper/trading-bot)"));
    update(&mut s, &km, key('X'));
    assert_eq!(
        s.ui.popup,
        Some(Popup::Confirm(OpRequest::Stop {
            targets: vec!["fx/trading-bot".into(), "paper/trading-bot".into(), "fx/api-server".into()],
            reason: Some("emergency stop from the panel".into()),
        }))
    );
    // One project only: resolved to exactly one service, no problem.
    let (mut s, _, _) =
        connected_with(vec![container("a", Some("fx"), "trading-bot", RunState::Running, Health::Healthy)]);
    s.kill_switch_targets = vec!["trading-bot".into()];
    assert_eq!(
        s.kill_switch_plan(),
        crate::state::KillSwitchPlan { targets: vec!["fx/trading-bot".into()], problems: vec![] }
    );
    s.kill_switch_targets = vec!["nothing-here".into()];
    assert_eq!(s.kill_switch_plan().problems, vec!["kill switch 'nothing-here' matches no service".to_owned()]);
}

#[test]
fn a_parked_container_is_announced_and_r_recovers_the_selected_service() {
    let mut parked = container("p", Some("fx"), "bot", RunState::Exited, Health::None);
    parked.name = "fx_bot_1-stackdeck-old".into();
    let (mut s, km, _) =
        connected_with(vec![container("a", Some("fx"), "bot", RunState::Running, Health::Unhealthy), parked]);
    assert_eq!(s.needs_recovery(), vec!["fx/bot".to_owned()]);
    update(&mut s, &km, key('R'));
    assert_eq!(s.ui.popup, Some(Popup::Confirm(OpRequest::Recover { target: "fx/bot".into() })));
    let fx = update(&mut s, &km, key('y'));
    assert_eq!(fx, vec![Effect::RunOp { id: 1, request: OpRequest::Recover { target: "fx/bot".into() } }]);
}

#[test]
fn a_latched_service_that_starts_again_is_held_once_per_start() {
    use crate::domain::{KillSwitch, RestartPolicy};
    let (mut s, km, _) = connected_with(demo());
    let at: jiff::Timestamp = "2026-11-29T10:00:00Z".parse().unwrap();
    let latch = KillSwitch {
        service: "trading/trading-bot".into(),
        by: "ops".into(),
        at,
        reason: "loss".into(),
        previous_policy: RestartPolicy::No,
    };
    let mut bot = container("b", Some("trading"), "trading-bot", RunState::Running, Health::Healthy);
    // Running since before the latch: the stop's own business, not a restart.
    bot.started_at = Some("2026-11-29T09:00:00Z".parse().unwrap());
    update(&mut s, &km, Msg::Engine(EngineEvent::Upsert(bot.clone())));
    let fx = update(&mut s, &km, Msg::History { records: vec![], kill_switches: vec![latch], backups: vec![] });
    assert!(fx.is_empty(), "{fx:?}");
    // Started again after the latch (docker start, compose up): held.
    bot.started_at = Some("2026-11-29T10:05:00Z".parse().unwrap());
    let fx = update(&mut s, &km, Msg::Engine(EngineEvent::Upsert(bot.clone())));
    assert!(
        matches!(fx.as_slice(), [Effect::RunOp { request: OpRequest::Hold { target, container }, .. }] if target == "trading/trading-bot" && container == "b"),
        "{fx:?}"
    );
    assert!(s.ops.is_empty(), "no popup for it: the History pane shows the row");
    let fx = update(&mut s, &km, Msg::Engine(EngineEvent::Upsert(bot.clone())));
    assert!(fx.is_empty(), "once per start: {fx:?}");
    // Down again, then started again: held again.
    bot.state = RunState::Exited;
    update(&mut s, &km, Msg::Engine(EngineEvent::Upsert(bot.clone())));
    bot.state = RunState::Running;
    bot.started_at = Some("2026-11-29T10:07:00Z".parse().unwrap());
    let fx = update(&mut s, &km, Msg::Engine(EngineEvent::Upsert(bot.clone())));
    assert_eq!(fx.len(), 1, "{fx:?}");
    // A read-only panel only watches.
    s.read_only = true;
    bot.state = RunState::Exited;
    update(&mut s, &km, Msg::Engine(EngineEvent::Upsert(bot.clone())));
    bot.state = RunState::Running;
    bot.started_at = Some("2026-11-29T10:09:00Z".parse().unwrap());
    assert!(update(&mut s, &km, Msg::Engine(EngineEvent::Upsert(bot))).is_empty());
}

#[test]
fn starting_an_emergency_stopped_service_asks_why() {
    use crate::domain::{KillSwitch, RestartPolicy};
    let (mut s, km, _) = connected_with(demo());
    // The selection is trading/api-server (first row); latch it.
    let target = s.services.selected().unwrap().key.to_string();
    s.history.kill_switches = vec![KillSwitch {
        service: target.clone(),
        by: "ops".into(),
        at: jiff::Timestamp::UNIX_EPOCH,
        reason: "loss".into(),
        previous_policy: RestartPolicy::No,
    }];
    update(&mut s, &km, key('S'));
    assert_eq!(s.ui.popup, Some(Popup::Reason { target: target.clone(), input: String::new() }));
    let fx = update(&mut s, &km, code(KeyCode::Enter));
    assert!(fx.is_empty(), "an empty reason starts nothing");
    for c in "risk ok".chars() {
        update(&mut s, &km, key(c));
    }
    let fx = update(&mut s, &km, code(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::RunOp { id: 1, request: OpRequest::Start { target, reason: Some("risk ok".into()) } }]);
}
