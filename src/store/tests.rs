//! The store's own tests: records, journal, the audit chain.
use super::*;
use crate::domain::{KillSwitch, RestartPolicy};

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!("sd-store-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

#[test]
fn begin_finish_recent_and_last_good() {
    let d = tmp();
    let s = Store::open(&d).unwrap();
    let a = s
        .begin(&NewOp {
            action: "deploy".into(),
            service: "p/bot".into(),
            to_image: Some("bot:2".into()),
            ..NewOp::default()
        })
        .unwrap();
    s.note(a, "try 1: healthy").unwrap();
    s.finish(a, Outcome::Succeeded, None, Some("sha256:b2")).unwrap();
    let b = s
        .begin(&NewOp {
            action: "deploy".into(),
            service: "p/bot".into(),
            to_image: Some("bot:3".into()),
            ..NewOp::default()
        })
        .unwrap();
    s.finish(b, Outcome::RolledBack, Some("unhealthy"), Some("sha256:b3")).unwrap();
    let r = s.recent(10, None).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].id, b);
    assert_eq!(r[0].outcome, Outcome::RolledBack);
    assert_eq!(s.recent(10, Some("bot")).unwrap().len(), 2, "service matches with or without project");
    assert_eq!(s.last_good("p/bot", None).unwrap(), Some(("bot:2".into(), "sha256:b2".into())));
    assert_eq!(s.last_good("p/bot", Some("sha256:b2")).unwrap(), None);
    assert_eq!(s.transcript(a).unwrap(), "try 1: healthy\n");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn running_records_of_dead_processes_become_interrupted() {
    let d = tmp();
    let s = Store::open(&d).unwrap();
    // Another (now dead) process wrote this one.
    let dead = Row { op: None, kind: "begin", at: Timestamp::now().to_string(), fields: vec![] }
        .text("action", Some("deploy".into()))
        .text("service", Some("bot".into()))
        .text("host", Some(hostname()))
        .int("pid", 999_999_999);
    let id = audit::append(&mut s.conn(), &dead).unwrap();
    let mine = s.begin(&NewOp { action: "stop".into(), service: "bot".into(), ..NewOp::default() }).unwrap();
    let marked = s.mark_interrupted().unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(s.get(id).unwrap().unwrap().outcome, Outcome::Interrupted);
    assert_eq!(s.get(mine).unwrap().unwrap().outcome, Outcome::Running, "our own running record is left alone");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn kill_switch_round_trip() {
    let d = tmp();
    let s = Store::open(&d).unwrap();
    let k = KillSwitch {
        service: "p/bot".into(),
        by: "ops".into(),
        at: Timestamp::now(),
        reason: "loss".into(),
        previous_policy: RestartPolicy::UnlessStopped,
        halt: None,
    };
    s.set_kill_switch(&k).unwrap();
    assert_eq!(s.kill_switches().unwrap().len(), 1);
    assert_eq!(s.clear_kill_switch("p/bot").unwrap().unwrap().previous_policy, RestartPolicy::UnlessStopped);
    assert!(s.kill_switches().unwrap().is_empty());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("history.sqlite")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn an_outcome_the_database_cannot_take_goes_to_the_journal_and_finishes_the_record_later() {
    let d = tmp();
    let s = Store::open_for_stop(&d).unwrap();
    let id = s.begin(&NewOp { action: "deploy".into(), service: "p/bot".into(), ..NewOp::default() }).unwrap();
    // Another process holds the database: the outcome cannot be written there.
    let other = Connection::open(d.join("history.sqlite")).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    s.finish(id, Outcome::Succeeded, None, Some("sha256:new")).unwrap();
    assert!(d.join(journal::FILE).exists(), "journaled");
    other.execute_batch("COMMIT").unwrap();
    drop(s);
    let again = Store::open(&d).unwrap();
    assert_eq!(again.imported, 1);
    let r = again.get(id).unwrap().unwrap();
    assert_eq!(r.outcome, Outcome::Succeeded, "finished from the journal, not marked killed");
    assert_eq!(r.to_image_id.as_deref(), Some("sha256:new"));
    assert!(again.mark_interrupted().unwrap().is_empty());
    assert!(!d.join(journal::FILE).exists());
    std::fs::remove_dir_all(d).ok();
}

fn tamper(d: &Path, sql: &str) {
    // As somebody with the sqlite3 CLI would: the triggers are dropped first.
    let c = Connection::open(d.join("history.sqlite")).unwrap();
    c.execute_batch(&format!("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; {sql}")).unwrap();
}

fn three_ops(s: &Store) -> Vec<i64> {
    (0..3)
        .map(|i| {
            let id = s.begin(&NewOp { action: "stop".into(), service: format!("p/s{i}"), ..NewOp::default() }).unwrap();
            s.note(id, "stopping").unwrap();
            s.finish(id, Outcome::Succeeded, None, None).unwrap();
            id
        })
        .collect()
}

#[test]
fn the_audit_is_append_only_and_its_chain_verifies() {
    let d = tmp();
    let s = Store::open(&d).unwrap();
    three_ops(&s);
    assert_eq!(s.verify().unwrap(), Chain::Intact(9));
    let err = s.conn().execute("UPDATE audit SET outcome = 'failed' WHERE kind = 'finish'", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(s.conn().execute("DELETE FROM audit", []).is_err());
    assert!(s.conn().execute("UPDATE ops SET outcome = 'failed'", []).is_err(), "ops is a view");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn an_edited_row_is_named_by_the_verification() {
    let d = tmp();
    let s = Store::open(&d).unwrap();
    let ids = three_ops(&s);
    tamper(&d, &format!("UPDATE audit SET reason = 'all fine' WHERE op = {} AND kind = 'finish'", ids[1]));
    match s.verify().unwrap() {
        Chain::Broken { seq, op, what } => {
            assert_eq!((seq, op), (6, ids[1]), "{what}");
            assert!(what.contains("altered"), "{what}");
        }
        other => panic!("not found: {other:?}"),
    }
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn a_rehashed_edit_and_removed_rows_are_found_too() {
    let d = tmp();
    let s = Store::open(&d).unwrap();
    three_ops(&s);
    // Removed in the middle: the next row no longer chains.
    tamper(&d, "DELETE FROM audit WHERE seq = 5");
    match s.verify().unwrap() {
        Chain::Broken { seq, what, .. } => assert!(seq == 6 && what.contains("removed"), "{seq} {what}"),
        other => panic!("{other:?}"),
    }
    // Altered and its own hash made to match: the row after it no longer chains to it.
    let d3 = tmp();
    let s3 = Store::open(&d3).unwrap();
    three_ops(&s3);
    let (values, prev): (Vec<Value>, String) = {
        let c = s3.conn();
        let cols = audit::COLUMNS.join(", ");
        c.query_row(&format!("SELECT {cols}, prev FROM audit WHERE seq = 3"), [], |r| {
            let mut v: Vec<Value> = (0..audit::COLUMNS.len()).map(|i| r.get(i).unwrap()).collect();
            v[6] = Value::Text("failed".into());
            Ok((v, r.get(audit::COLUMNS.len())?))
        })
        .unwrap()
    };
    let forged = audit::hash(&values, &prev);
    tamper(&d3, &format!("UPDATE audit SET outcome = 'failed', hash = '{forged}' WHERE seq = 3"));
    match s3.verify().unwrap() {
        Chain::Broken { seq, what, .. } => assert!(seq == 4 && what.contains("altered"), "{seq} {what}"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(d3).ok();
    // Removed from the end: the sequence counter is ahead of the last row.
    let d2 = tmp();
    let s2 = Store::open(&d2).unwrap();
    three_ops(&s2);
    tamper(&d2, "DELETE FROM audit WHERE seq >= 8");
    match s2.verify().unwrap() {
        Chain::Broken { seq, what, .. } => assert!(seq == 8 && what.contains("end"), "{seq} {what}"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(d).ok();
    std::fs::remove_dir_all(d2).ok();
}

#[test]
fn a_history_from_before_the_chain_is_migrated_into_it() {
    let d = tmp();
    {
        let c = Connection::open(d.join("history.sqlite")).unwrap();
        c.execute_batch(
            "CREATE TABLE ops (id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, service TEXT NOT NULL,
              from_image TEXT, from_image_id TEXT, to_image TEXT, to_image_id TEXT, actor TEXT NOT NULL, host TEXT NOT NULL,
              pid INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, outcome TEXT NOT NULL, reason TEXT,
              transcript TEXT NOT NULL DEFAULT '');
             INSERT INTO ops (action, service, to_image, to_image_id, actor, host, pid, started_at, finished_at, outcome, transcript)
              VALUES ('deploy', 'p/bot', 'bot:2', 'sha256:b2', 'ops', 'h', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z', 'succeeded', 'gate: healthy\n');",
        )
        .unwrap();
    }
    let s = Store::open(&d).unwrap();
    let r = s.recent(10, None).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].action.as_str(), r[0].outcome), ("deploy", Outcome::Succeeded));
    assert_eq!(s.last_good("p/bot", None).unwrap(), Some(("bot:2".into(), "sha256:b2".into())));
    assert_eq!(s.transcript(r[0].id).unwrap(), "gate: healthy\n");
    assert_eq!(s.verify().unwrap(), Chain::Intact(3));
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn the_begin_row_carries_who_from_where_and_through_what() {
    let d = tmp();
    let s = Store::open(&d).unwrap();
    let id = s
        .begin(&NewOp {
            action: "stop".into(),
            service: "p/bot".into(),
            container: Some("c0ffee".into()),
            digest: Some("sha256:abc".into()),
            ..NewOp::default()
        })
        .unwrap();
    s.finish_with(
        id,
        &Finish {
            outcome: Outcome::Succeeded,
            reason: None,
            to_image_id: None,
            digest: None,
            phases: Some(serde_json::json!({"halt_ms": 35, "signal_ms": 40})),
        },
    )
    .unwrap();
    let a = s.audit_of(id).unwrap();
    assert_eq!(a["container"], "c0ffee");
    assert_eq!(a["digest"], "sha256:abc");
    assert_eq!(a["phases"]["halt_ms"], 35);
    assert!(a["uid"].is_i64() && a["user"].is_string() && a["via"].is_string() && a["pid"].is_i64(), "{a}");
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn operators_appending_at_once_keep_one_unbroken_chain() {
    let d = tmp();
    drop(Store::open(&d).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let d = d.clone();
            std::thread::spawn(move || {
                let s = Store::open(&d).unwrap();
                for i in 0..25 {
                    let id = s
                        .begin(&NewOp { action: "stop".into(), service: format!("p/s{w}-{i}"), ..NewOp::default() })
                        .unwrap();
                    s.note(id, "stopping").unwrap();
                    s.finish(id, Outcome::Succeeded, None, None).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let s = Store::open(&d).unwrap();
    assert_eq!(s.verify().unwrap(), Chain::Intact(300));
    assert_eq!(s.recent(1000, None).unwrap().len(), 100);
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn a_release_has_child_rows_and_a_store_made_before_them_gains_the_column() {
    let d = tmp();
    // A store as an earlier stackdeck made it: no `parent` column, a view without it.
    {
        let conn = Connection::open(d.join("history.sqlite")).unwrap();
        conn.execute_batch(audit::SCHEMA).unwrap();
        let old_view = audit::OPS_VIEW.replace(",\n    b.parent\n", "\n");
        assert_ne!(old_view, audit::OPS_VIEW, "the view names the column");
        conn.execute_batch(&format!("CREATE VIEW ops AS {old_view}")).unwrap();
    }
    let s = Store::open(&d).unwrap();
    let rel = s.begin(&NewOp { action: "release".into(), service: "p/a, p/b".into(), ..NewOp::default() }).unwrap();
    let a = s
        .begin(&NewOp { action: "deploy".into(), service: "p/a".into(), parent: Some(rel), ..NewOp::default() })
        .unwrap();
    let b = s
        .begin(&NewOp { action: "deploy".into(), service: "p/b".into(), parent: Some(rel), ..NewOp::default() })
        .unwrap();
    let kids: Vec<i64> = s.children(rel).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(kids, vec![a, b]);
    assert_eq!(s.get(a).unwrap().unwrap().parent, Some(rel));
    assert_eq!(s.get(rel).unwrap().unwrap().parent, None);
    assert!(matches!(s.verify().unwrap(), Chain::Intact(3)), "{:?}", s.verify());
    std::fs::remove_dir_all(d).ok();
}

fn happening(
    at: jiff::Timestamp,
    key: &str,
    kind: crate::domain::Happen,
    service: &str,
    what: &str,
) -> crate::domain::Happening {
    crate::domain::Happening {
        at,
        kind,
        service: service.into(),
        subject: "c".into(),
        what: what.into(),
        tone: crate::domain::Tone::Bad,
        key: key.into(),
        container: Some("abc".into()),
        times: 1,
    }
}

#[test]
fn timeline_rows_are_kept_once_bounded_by_age_and_count_filtered_by_project_and_read_inert() {
    use crate::domain::Happen;
    let d = tmp();
    let s = Store::open(&d).unwrap();
    let now = jiff::Timestamp::now();
    let ago = |secs: i64| now.checked_sub(jiff::SignedDuration::from_secs(secs)).unwrap();
    let day = Duration::from_secs(86_400);
    let rows = vec![
        happening(ago(7200), "old", Happen::Died, "p/bot", "exited with code 1"),
        happening(ago(30), "k1", Happen::Killed, "p/bot", "was sent SIGKILL"),
        happening(ago(20), "k2", Happen::Died, "q/api", "exited with code 137"),
        happening(ago(10), "a1", Happen::Alert, "bot", "BotDown firing"),
        happening(ago(5), "h1", Happen::Health, "p/bot", "\u{1b}]2;pwned\u{7} token=sk_live_abcdefghijklmnop"),
    ];
    s.record_happenings(&rows, day, 100).unwrap();
    // Written twice (a reconnect, a second guard on a shared store): kept once.
    s.record_happenings(&rows[1..2], day, 100).unwrap();
    let all = s.happenings(ago(86_400), 100, None).unwrap();
    assert_eq!(all.iter().map(|h| h.key.as_str()).collect::<Vec<_>>(), ["old", "k1", "k2", "a1", "h1"], "time order");
    assert_eq!(all[1].kind, Happen::Killed);
    assert_eq!(all[1].container.as_deref(), Some("abc"));
    assert!(!all[4].what.contains('\u{1b}') && !all[4].what.contains("sk_live_abcdefghijklmnop"), "{}", all[4].what);
    // Since: the window a panel asks for.
    assert_eq!(s.happenings(ago(60), 100, None).unwrap().len(), 4);
    // A project: its engine rows and every alert.
    let p: Vec<String> = s.happenings(ago(86_400), 100, Some("p")).unwrap().into_iter().map(|h| h.key).collect();
    assert_eq!(p, ["old", "k1", "a1", "h1"]);
    // At most `keep`, the newest.
    let two: Vec<String> = s.happenings(ago(86_400), 2, None).unwrap().into_iter().map(|h| h.key).collect();
    assert_eq!(two, ["a1", "h1"]);
    // Writing forgets what is older than the window, then all but the newest `keep`.
    s.record_happenings(&[], Duration::from_secs(3600), 100).unwrap();
    assert_eq!(s.happenings(ago(86_400), 100, None).unwrap().len(), 4, "the 2-hour-old row is gone");
    s.record_happenings(&[], day, 3).unwrap();
    let left: Vec<String> = s.happenings(ago(86_400), 100, None).unwrap().into_iter().map(|h| h.key).collect();
    assert_eq!(left, ["k2", "a1", "h1"]);
    // Another process (the guard) writing rows does not make panels re-read the history.
    let before = s.data_version().unwrap();
    let newer = happening(ago(1), "g1", Happen::Started, "p/bot", "started");
    Store::open(&d).unwrap().record_happenings(&[newer], day, 100).unwrap();
    assert_eq!(s.data_version().unwrap(), before);
    assert_eq!(s.happenings(ago(86_400), 100, None).unwrap().len(), 4, "the row is there");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("timeline.sqlite")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A row edited by hand to an unknown kind is skipped, not shown wrong.
    s.conn().execute("UPDATE happening SET kind = 'nonsense' WHERE key = 'k2'", []).unwrap();
    assert_eq!(s.happenings(ago(86_400), 100, None).unwrap().len(), 3);
}
