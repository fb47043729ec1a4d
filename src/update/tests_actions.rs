//! Pure tests of `update` for the actions: the emergency stop and the kill-switch plan, the
//! popups (picker, backup jobs, restore, reasons), recovery and holding a latch.

use super::tests::{code, connected_with, container, demo, key};
use super::update;
use crate::domain::{Health, OpRequest, RunState};
use crate::msg::{Effect, EngineEvent, Msg, OpEvent};
use crate::state::Popup;
use crossterm::event::KeyCode;

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
    for c in ['X', 'd', 'r', 'S', 'C', 'P', ' ', 'e'] {
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
            image: "fx-api-server:2".into(),
            stop_first: false
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
            image: "repo/app@sha256:ab".into(),
            stop_first: false
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
        halt: None,
    };
    let mut bot = container("b", Some("trading"), "trading-bot", RunState::Running, Health::Healthy);
    // Running since before the latch: the stop's own business, not a restart.
    bot.started_at = Some("2026-11-29T09:00:00Z".parse().unwrap());
    update(&mut s, &km, Msg::Engine(EngineEvent::Upsert(bot.clone())));
    let fx =
        update(&mut s, &km, Msg::History { records: vec![], kill_switches: vec![latch], backups: vec![], chain: None });
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
        halt: None,
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

#[test]
fn a_start_first_deploy_that_is_not_possible_offers_the_same_deploy_stop_first() {
    let (mut s, km, _) = connected_with(demo());
    let req =
        OpRequest::Deploy { target: "trading/api-server".into(), image: "fx-api-server:2".into(), stop_first: false };
    s.ui.popup = Some(Popup::Confirm(req));
    let fx = update(&mut s, &km, code(KeyCode::Enter));
    let [Effect::RunOp { id, .. }] = fx.as_slice() else { panic!("{fx:?}") };
    let why =
        format!("trading/api-server: {} it publishes host port 8080->8080/tcp", crate::domain::START_FIRST_BLOCKED);
    update(&mut s, &km, Msg::Op(crate::msg::OpEvent::Done { id: *id, result: Err(why) }));
    assert_eq!(
        s.ui.popup,
        Some(Popup::Confirm(OpRequest::Deploy {
            target: "trading/api-server".into(),
            image: "fx-api-server:2".into(),
            stop_first: true
        }))
    );
    // Any other failure is only reported.
    s.ui.popup = None;
    let req =
        OpRequest::Deploy { target: "trading/api-server".into(), image: "fx-api-server:3".into(), stop_first: false };
    s.ui.popup = Some(Popup::Confirm(req));
    let fx = update(&mut s, &km, code(KeyCode::Enter));
    let [Effect::RunOp { id, .. }] = fx.as_slice() else { panic!("{fx:?}") };
    update(&mut s, &km, Msg::Op(crate::msg::OpEvent::Done { id: *id, result: Err("rolled back".into()) }));
    assert_eq!(s.ui.popup, None);
}

#[test]
fn marked_services_are_released_to_one_tag_after_a_checked_tag_and_a_confirmation() {
    let (mut s, km, _) = connected_with(demo());
    let first = s.services.selected().unwrap().key.to_string();
    update(&mut s, &km, key(' '));
    update(&mut s, &km, key('j'));
    let second = s.services.selected().unwrap().key.to_string();
    update(&mut s, &km, key(' '));
    assert_eq!(s.services.marked.len(), 2, "{:?}", s.ui.notice);
    update(&mut s, &km, key('d'));
    assert!(matches!(&s.ui.popup, Some(Popup::Release { targets, .. }) if targets.len() == 2));
    // Not a tag: said, and the prompt stays.
    for c in "a/b".chars() {
        update(&mut s, &km, key(c));
    }
    update(&mut s, &km, code(KeyCode::Enter));
    assert!(s.ui.notice.as_deref().unwrap_or("").contains("is not an image tag"), "{:?}", s.ui.notice);
    for _ in 0..3 {
        update(&mut s, &km, code(KeyCode::Backspace));
    }
    update(&mut s, &km, key('2'));
    update(&mut s, &km, code(KeyCode::Enter));
    let mut targets = vec![first, second];
    targets.sort();
    let req = OpRequest::Release { targets, tag: "2".into(), stop_first: false };
    assert_eq!(s.ui.popup, Some(Popup::Confirm(req.clone())));
    assert!(s.services.marked.is_empty(), "the marks are used up");
    let fx = update(&mut s, &km, key('y'));
    assert_eq!(fx, vec![Effect::RunOp { id: 1, request: req }]);
}

#[test]
fn a_pin_needs_drift_and_shows_its_diff_inert_before_it_writes() {
    let (mut s, km, _) = connected_with(demo());
    let fx = update(&mut s, &km, key('P'));
    assert!(fx.is_empty());
    assert!(s.ui.notice.as_deref().unwrap_or("").contains("nothing to pin"), "{:?}", s.ui.notice);
    let target = s.services.selected().unwrap().key.to_string();
    let preview = Ok(("-API_TAG=1\n+API_TAG=2\x1b[2J\n".to_owned(), "API_TAG=2".to_owned()));
    update(&mut s, &km, Msg::PinPreview { target: target.clone(), preview });
    let Some(Popup::Pin { diff, .. }) = &s.ui.popup else { panic!("{:?}", s.ui.popup) };
    assert!(diff.iter().all(|l| !l.contains('\u{1b}')), "{diff:?}");
    let fx = update(&mut s, &km, key('y'));
    assert_eq!(fx, vec![Effect::RunOp { id: 1, request: OpRequest::Pin { target, line: "API_TAG=2".into() } }]);
    update(&mut s, &km, Msg::PinPreview { target: "x".into(), preview: Err("no .env \x1b]0;t\x07".into()) });
    assert!(!s.ui.notice.as_deref().unwrap_or("").contains('\u{1b}'), "{:?}", s.ui.notice);
}

#[test]
fn with_a_project_scope_another_projects_removed_latched_service_has_no_row() {
    use crate::domain::{KillSwitch, RestartPolicy};
    let latch = |service: &str| KillSwitch {
        service: service.into(),
        by: "ops".into(),
        at: jiff::Timestamp::UNIX_EPOCH,
        reason: "loss".into(),
        previous_policy: RestartPolicy::No,
        halt: None,
    };
    let rows = |project: Option<&str>| {
        let (mut s, km, _) =
            connected_with(vec![container("a", Some("fx"), "worker", RunState::Running, Health::None)]);
        s.project = project.map(str::to_owned);
        let kill_switches = vec![latch("trading/trading-bot"), latch("fx/bot")];
        update(&mut s, &km, Msg::History { records: vec![], kill_switches, backups: vec![], chain: None });
        let mut keys: Vec<String> = s.services.ordered().map(|c| c.key.to_string()).collect();
        keys.sort();
        (keys, s.history.kill_switches.len())
    };
    // Unscoped: both removed latched services keep a row.
    assert_eq!(rows(None), (vec!["fx/bot".into(), "fx/worker".into(), "trading/trading-bot".into()], 2));
    // Scoped to fx: only its own; the other latch is still known (the banner shows it).
    assert_eq!(rows(Some("fx")), (vec!["fx/bot".into(), "fx/worker".into()], 2));
}
