//! Pure tests of `update` for "one popup at a time" (what arrives while a popup is open waits,
//! the help is modal for every action but the emergency stop, and the emergency stop's
//! confirmation replaces whatever is open and is never covered by what arrives later), and for
//! the other incident-first additions to the panel: merged logs and the mouse.

use super::tests::{code, connected_with, demo, key};
use super::update;
use crate::domain::OpRequest;
use crate::msg::{Effect, Msg, OpEvent};
use crate::state::{MAX_QUEUED, Popup};
use crossterm::event::KeyCode;

fn estop(s: &crate::state::AppState) -> bool {
    matches!(s.ui.popup, Some(Popup::Confirm(OpRequest::Stop { .. })))
}

/// A deploy of the selected service, confirmed: operation 1 runs.
fn deploy_running(s: &mut crate::state::AppState, km: &crate::config::Keymap) {
    update(s, km, key('d'));
    for c in "app:2".chars() {
        update(s, km, key(c));
    }
    update(s, km, code(KeyCode::Enter));
    assert!(matches!(s.ui.popup, Some(Popup::Confirm(OpRequest::Deploy { .. }))), "{:?}", s.ui.popup);
    let fx = update(s, km, key('y'));
    assert!(matches!(fx.as_slice(), [Effect::RunOp { id: 1, .. }]), "{fx:?}");
}

fn blocked() -> Msg {
    Msg::Op(OpEvent::Done { id: 1, result: Err(format!("{}: a fixed host port", crate::domain::START_FIRST_BLOCKED)) })
}

#[test]
fn a_finished_operation_waits_behind_the_next_confirmation_instead_of_overlapping_it() {
    let (mut s, km, _) = connected_with(demo());
    s.kill_switch_targets = vec!["trading-bot".into()];
    update(&mut s, &km, key('X'));
    update(&mut s, &km, key('y'));
    update(&mut s, &km, Msg::Op(OpEvent::Done { id: 1, result: Ok("stopped".into()) }));
    assert!(s.op_shown().is_some() && s.ui.popup.is_none(), "the result is on screen");
    assert_eq!(s.popups_waiting(), 0);
    // The next action's popup takes the screen; the result waits behind it and is counted.
    update(&mut s, &km, key('r'));
    assert!(matches!(s.ui.popup, Some(Popup::Confirm(OpRequest::Rollback { .. }))), "{:?}", s.ui.popup);
    assert_eq!(s.popups_waiting(), 1);
    update(&mut s, &km, key('n'));
    assert!(s.ui.popup.is_none());
    assert!(s.op_shown().is_some(), "the result shows again when the popup above it closes");
    assert_eq!(s.popups_waiting(), 0);
}

#[test]
fn an_offer_that_arrives_under_the_emergency_stop_waits_and_is_dropped_when_the_stop_starts() {
    let (mut s, km, _) = connected_with(demo());
    s.kill_switch_targets = vec!["trading-bot".into()];
    deploy_running(&mut s, &km);
    update(&mut s, &km, key('X'));
    assert!(estop(&s));
    // The deploy ends meanwhile with its offer to go stop-first: it must not cover the stop.
    update(&mut s, &km, blocked());
    assert!(estop(&s), "the stop's confirmation stays on top: {:?}", s.ui.popup);
    assert_eq!(s.ui.queue.len(), 1);
    let fx = update(&mut s, &km, key('y'));
    assert!(matches!(fx.as_slice(), [Effect::RunOp { request: OpRequest::Stop { .. }, .. }]), "{fx:?}");
    assert!(s.ui.popup.is_none() && s.ui.queue.is_empty(), "no confirmation comes back after the stop");
    assert!(s.ui.notice.as_deref().unwrap_or("").contains("1 waiting popup(s) closed"), "{:?}", s.ui.notice);
}

#[test]
fn the_offer_opens_after_the_popup_it_arrived_under_is_answered() {
    let (mut s, km, _) = connected_with(demo());
    deploy_running(&mut s, &km);
    // The operator inspects a container while the deploy runs; the offer arrives meanwhile.
    update(&mut s, &km, key('i'));
    assert!(matches!(s.ui.popup, Some(Popup::Inspect { .. })));
    update(&mut s, &km, blocked());
    assert!(matches!(s.ui.popup, Some(Popup::Inspect { .. })), "what is open stays open");
    assert_eq!(s.popups_waiting(), 1, "the offer waits (the deploy's result is dismissed by the offer)");
    update(&mut s, &km, code(KeyCode::Esc));
    assert!(matches!(s.ui.popup, Some(Popup::Confirm(OpRequest::Deploy { stop_first: true, .. }))), "{:?}", s.ui.popup);
}

#[test]
fn the_emergency_stop_replaces_the_open_popup_and_empties_the_queue() {
    let (mut s, km, _) = connected_with(demo());
    s.kill_switch_targets = vec!["trading-bot".into()];
    update(&mut s, &km, key('r'));
    for i in 0..MAX_QUEUED + 3 {
        update(&mut s, &km, Msg::PinPreview { target: format!("t{i}"), preview: Ok(("+X=1".into(), "X=1".into())) });
    }
    assert_eq!(s.ui.queue.len(), MAX_QUEUED, "the queue is bounded");
    update(&mut s, &km, key('X'));
    assert!(estop(&s));
    assert!(s.ui.queue.is_empty());
    let notice = s.ui.notice.clone().unwrap_or_default();
    assert!(notice.contains(&format!("closed {} popups", MAX_QUEUED + 1)), "{notice}");
}

#[test]
fn the_help_is_modal_for_actions_but_not_for_the_emergency_stop() {
    let (mut s, km, _) = connected_with(demo());
    s.kill_switch_targets = vec!["trading-bot".into()];
    update(&mut s, &km, key('?'));
    assert!(s.ui.help);
    let fx = update(&mut s, &km, key('d'));
    assert!(fx.is_empty() && s.ui.popup.is_none(), "no picker opens under the help");
    update(&mut s, &km, key('X'));
    assert!(!s.ui.help, "the stop closes the help");
    assert!(estop(&s));
}

/// (Merged logs live here too: they are the Logs pane's other mode.)
#[test]
fn merged_logs_follow_every_container_of_the_project_and_resume_when_one_is_added() {
    use super::tests::container;
    use crate::domain::{ContainerId, Health, RunState};
    use crate::msg::EngineEvent;
    let (mut s, km, _) = connected_with(demo());
    update(&mut s, &km, key('2'));
    let fx = update(&mut s, &km, key('m'));
    let sources = vec![(ContainerId("a".into()), "api-server".into()), (ContainerId("b".into()), "trading-bot".into())];
    assert_eq!(fx, vec![Effect::FollowMerged { sources, generation: 2, tail: 200, since: None }], "the project only");
    assert!(s.logs.merged);
    let line = crate::logtext::LogLine::from_raw(b"2026-11-30T03:12:00Z api-server hello", false, &Default::default());
    let batch = crate::msg::LogBatch {
        generation: 2,
        container: ContainerId("a".into()),
        lines: vec![line],
        skipped: 0,
        ended: None,
    };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(batch)));
    // A new container joins the project: the follow resumes after the kept lines.
    let mut list = demo();
    list.push(container("c", Some("trading"), "redis", RunState::Running, Health::Healthy));
    let fx = update(&mut s, &km, Msg::Engine(EngineEvent::Snapshot(list)));
    match fx.as_slice() {
        [Effect::FollowMerged { sources, since, .. }] => {
            assert_eq!(sources.len(), 3);
            assert_eq!(since.as_deref(), Some("2026-11-30T03:12:00Z"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.logs.len(), 1, "what was loaded stays");
    // Off again: the selected service's own logs, from their tail.
    let fx = update(&mut s, &km, key('m'));
    assert!(matches!(fx.as_slice(), [Effect::FollowLogs { since: None, .. }]), "{fx:?}");
    assert!(!s.logs.merged);
}

/// (And the mouse, which follows the same one-popup rule.)
#[test]
fn a_click_focuses_and_selects_the_row_under_it_and_the_wheel_scrolls_what_is_under_it() {
    use crate::domain::{ContainerId, Pane, Zone};
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let (mut s, km, _) = connected_with(demo());
    let zones = vec![
        Zone { pane: Pane::Services, x: 0, y: 1, w: 80, h: 9 },
        Zone { pane: Pane::Logs, x: 0, y: 10, w: 80, h: 13 },
    ];
    update(&mut s, &km, Msg::Screen { w: 80, h: 24, zones });
    let at = |kind, column, row| Msg::Mouse(MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE });
    let click = MouseEventKind::Down(MouseButton::Left);
    // Rows: border (1), header (2), project "trading" (3), api-server (4), trading-bot (5).
    let fx = update(&mut s, &km, at(click, 10, 5));
    assert_eq!(s.services.selected, Some(ContainerId("b".into())));
    assert!(matches!(fx.as_slice(), [Effect::FollowLogs { .. }]), "the logs follow the click: {fx:?}");
    // A click on the project's row or the border selects nothing else.
    update(&mut s, &km, at(click, 10, 3));
    update(&mut s, &km, at(click, 0, 1));
    assert_eq!(s.services.selected, Some(ContainerId("b".into())));
    // The wheel over the logs scrolls them without taking the focus; a click takes it.
    let line = |i| crate::logtext::LogLine::marker(format!("line {i}"));
    s.logs.push((0..50).map(line));
    update(&mut s, &km, at(MouseEventKind::ScrollUp, 10, 15));
    assert!(!s.logs.following() && s.ui.focus == Pane::Services);
    update(&mut s, &km, at(click, 10, 15));
    assert_eq!(s.ui.focus, Pane::Logs);
    // Under the help, the wheel scrolls the help and a click does nothing.
    update(&mut s, &km, key('?'));
    update(&mut s, &km, at(MouseEventKind::ScrollDown, 10, 5));
    assert_eq!(s.ui.help_scroll, 1);
    update(&mut s, &km, at(click, 10, 5));
    assert_eq!((s.ui.focus, s.ui.help), (Pane::Logs, true));
}
