use super::*;
use crate::domain::{RestartPolicy, Severity};

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).expect("time")
}

fn ev(at: i64, kind: Happen, service: &str, key: &str) -> Happening {
    Happening {
        at: t(at),
        kind,
        service: service.into(),
        what: format!("{service} {}", kind.as_str()),
        tone: Tone::Plain,
        key: key.into(),
        container: Some("c1".into()),
        times: 1,
        subject: String::new(),
    }
}

fn op(id: i64, action: &str, service: &str, from: i64, to: Option<i64>, outcome: Outcome) -> OpRecord {
    OpRecord {
        id,
        action: action.into(),
        service: service.into(),
        from_image: Some("bot:1".into()),
        to_image: Some("bot:2".into()),
        from_image_id: None,
        to_image_id: None,
        actor: "alice@laptop".into(),
        started_at: t(from),
        finished_at: to.map(t),
        outcome,
        reason: None,
        parent: None,
    }
}

fn alert(name: &str, firing: bool, since: i64) -> Alert {
    Alert {
        name: name.into(),
        severity: Severity::Critical,
        firing,
        summary: "error rate\x1b[31m high".into(),
        since: Some(t(since)),
        service: Some("api".into()),
        origin: "local",
    }
}

fn kinds(s: &TimelineState) -> Vec<&'static str> {
    s.rows.iter().map(|r| r.kind.as_str()).collect()
}

#[test]
fn engine_rows_are_kept_once_in_time_order_and_bounded() {
    let mut s = TimelineState::new(3);
    // The live stream and the catch-up overlap: the same row twice is kept once.
    s.engine(vec![ev(5, Happen::Died, "p/bot", "5|c1|die"), ev(1, Happen::Started, "p/bot", "1|c1|start")]);
    s.engine(vec![ev(5, Happen::Died, "p/bot", "5|c1|die"), ev(3, Happen::Oom, "p/bot", "3|c1|oom")]);
    s.refresh(t(10));
    assert_eq!(kinds(&s), vec!["died", "oom", "start"], "newest first, once each");
    // Two different events at the same instant are both kept.
    s.engine(vec![ev(5, Happen::Killed, "p/bot", "5|c1|kill")]);
    s.refresh(t(10));
    assert_eq!(s.rows.len(), 3, "bounded by keep: the oldest went");
    assert!(s.rows.iter().all(|r| r.kind != Happen::Started));
    assert!(s.rows.iter().any(|r| r.kind == Happen::Killed));
}

#[test]
fn operations_and_latches_join_the_engine_rows_and_say_what_stackdeck_did() {
    let mut s = TimelineState::default();
    let records = vec![
        op(7, "start", "p/bot", 100, Some(104), Outcome::Succeeded),
        op(5, "deploy", "p/api", 10, Some(42), Outcome::RolledBack),
    ];
    let latch = KillSwitch {
        service: "p/bot".into(),
        by: "bob".into(),
        at: t(60),
        reason: "emergency stop from the panel".into(),
        previous_policy: RestartPolicy::No,
        halt: None,
    };
    s.history(&records, &[latch]);
    // A start inside the deploy's span is stackdeck's; one long after it is not.
    s.engine(vec![ev(20, Happen::Started, "p/api", "20|a|start"), ev(300, Happen::Started, "p/api", "300|a|start")]);
    s.refresh(t(400));
    let texts: Vec<String> = s.rows.iter().map(|r| format!("{} {}", r.kind.as_str(), r.what)).collect();
    assert_eq!(
        texts,
        vec![
            "start p/api start (not by stackdeck)",
            "latch latch released by alice@laptop",
            "op start #7 succeeded by alice@laptop in 4 s: bot:1 → bot:2",
            "latch latch engaged by bob: emergency stop from the panel",
            "start p/api start (stackdeck #5 deploy)",
            "op deploy #5 rolled_back by alice@laptop in 32 s: bot:1 → bot:2",
        ]
    );
    assert_eq!(s.rows.iter().find(|r| r.kind == Happen::Op && r.what.contains("#5")).map(|r| r.tone), Some(Tone::Warn));
}

#[test]
fn an_alert_gives_a_row_when_it_fires_and_one_when_it_resolves() {
    let mut s = TimelineState::default();
    s.alerts(&[alert("HighErrors", false, 5)], t(6));
    s.refresh(t(6));
    assert!(s.rows.is_empty(), "pending is not firing");
    s.alerts(&[alert("HighErrors", true, 8)], t(9));
    s.alerts(&[alert("HighErrors", true, 8)], t(12));
    s.refresh(t(12));
    assert_eq!(s.rows.len(), 1, "still firing: no second row");
    let fired = &s.rows[0];
    assert_eq!((fired.at, fired.tone, fired.service.as_str()), (t(8), Tone::Bad, "api"));
    assert!(fired.what.starts_with("HighErrors firing (critical): error rate"), "{}", fired.what);
    assert!(!fired.what.contains('\x1b'), "inert: {:?}", fired.what);
    s.alerts(&[], t(20));
    s.refresh(t(20));
    assert_eq!(s.rows[0].what, "HighErrors resolved");
    assert_eq!((s.rows[0].at, s.rows[0].tone), (t(20), Tone::Good));
}

#[test]
fn filters_by_group_and_by_service_and_the_selection_stays_on_its_row() {
    let mut s = TimelineState::default();
    s.engine(vec![
        ev(1, Happen::Died, "p/bot", "1"),
        ev(2, Happen::Oom, "p/api", "2"),
        ev(3, Happen::Health, "p/api", "3"),
    ]);
    s.history(&[op(9, "deploy", "p/api", 4, Some(5), Outcome::Succeeded)], &[]);
    s.refresh(t(10));
    assert_eq!(kinds(&s), vec!["op", "health", "oom", "died"]);
    s.move_selection(2);
    assert_eq!(s.selected_row().map(|r| r.kind), Some(Happen::Oom));
    // A newer row arrives: the selection stays on the same row, not the same place.
    s.engine(vec![ev(8, Happen::Restarted, "p/bot", "8")]);
    s.refresh(t(10));
    assert_eq!(s.selected_row().map(|r| r.kind), Some(Happen::Oom));
    s.cycle_group();
    s.refresh(t(10));
    assert_eq!(kinds(&s), vec!["restart", "health", "oom", "died"], "engine only");
    s.cycle_group();
    s.refresh(t(10));
    assert_eq!(kinds(&s), vec!["op"], "operations only");
    for _ in 0..3 {
        s.cycle_group();
    }
    assert_eq!(s.group, None, "back to every row after the last group");
    s.service = Some("p/api".into());
    s.refresh(t(10));
    assert_eq!(kinds(&s), vec!["op", "health", "oom"]);
    assert!(first_shown(0, 5) == 0 && first_shown(9, 5) == 5);
}

#[test]
fn the_rows_shown_are_exported_oldest_first_with_their_service_first() {
    let mut s = TimelineState::default();
    let mut died = ev(1, Happen::Died, "p/bot", "1");
    died.tone = Tone::Bad;
    s.engine(vec![died, ev(2, Happen::Pulled, "", "2")]);
    s.refresh(t(3));
    let lines = s.export_lines();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, vec!["p/bot died: p/bot died", "- pull:  pull"]);
    assert_eq!(lines[0].level, crate::logtext::Level::Error);
    assert_eq!(lines[0].stamp(), Some(t(1).to_string().as_str()));
}

#[test]
fn the_same_thing_again_within_moments_is_counted_on_one_row_once_even_when_read_twice() {
    let mut s = TimelineState::default();
    let oom = |at: i64, key: &str| ev(at, Happen::Oom, "p/bot", key);
    s.engine(vec![oom(1, "a"), oom(1, "b"), oom(2, "c")]);
    // The catch-up after a reconnect reads them all again.
    s.engine(vec![oom(1, "a"), oom(1, "b"), oom(2, "c")]);
    // Long after: a row of its own.
    s.engine(vec![oom(60, "d")]);
    s.refresh(t(70));
    let seen: Vec<(i64, u32)> = s.rows.iter().map(|r| (r.at.as_second() - t(0).as_second(), r.times)).collect();
    assert_eq!(seen, vec![(60, 1), (1, 3)]);
    assert!(s.export_lines()[0].text.ends_with("(×3)"), "{:?}", s.export_lines()[0].text);
}

#[test]
fn a_repeat_with_something_else_between_keeps_its_own_row() {
    let mut s = TimelineState::default();
    s.engine(vec![
        ev(1, Happen::Started, "p/a", "1"),
        ev(1, Happen::Died, "p/a", "2"),
        ev(2, Happen::Started, "p/a", "3"),
    ]);
    s.refresh(t(5));
    assert_eq!(kinds(&s), vec!["start", "died", "start"]);
    assert!(s.rows.iter().all(|r| r.times == 1));
}

#[test]
fn an_alert_row_the_guard_kept_and_the_same_alert_seen_live_are_one_row() {
    let mut guard = TimelineState::default();
    guard.alerts(&[alert("HighErrors", true, 8)], t(9));
    let kept: Vec<Happening> = guard.alert_rows().cloned().collect();
    assert_eq!(kept.len(), 1);
    // The panel starts: the kept row comes back with the engine rows, then its own evaluation.
    let mut panel = TimelineState::default();
    panel.engine(kept.into_iter().chain([ev(3, Happen::Died, "p/bot", "d1")]).collect());
    panel.alerts(&[alert("HighErrors", true, 8)], t(30));
    panel.refresh(t(30));
    assert_eq!(kinds(&panel), ["alert", "died"], "one alert row, not two");
    assert_eq!(panel.alert_rows().count(), 1);
}
