//! The start-first decisions on the in-memory backend: the new instance beside the old one,
//! the old one untouched by a failed gate, pause, kill-switch services and the preflight.

use super::memory::{Memory, ctx, run, tmp_dir};
use crate::domain::{OpRequest, Outcome, RestartPolicy, RunState};

const START_FIRST: &str =
    "[engine]\npull = false\n[services.bot]\ngate_tries = 2\ngate_interval_secs = 1\norder = \"start-first\"\n";

fn deploy(image: &str, stop_first: bool) -> OpRequest {
    OpRequest::Deploy { target: "bot".into(), image: image.into(), stop_first }
}

#[tokio::test]
async fn start_first_gates_the_new_instance_beside_the_old_then_removes_the_old() {
    let dir = tmp_dir("sf");
    let m = Memory::with(&[("bot", "bot:1")]);
    let c = ctx(&m, START_FIRST, &dir);
    run(&c, deploy("bot:2", false)).await.unwrap();
    assert_eq!(m.calls(), ["launch beside bot:2", "admit beside bot", "discard c0", "promote bot"]);
    assert_eq!(m.state(), [("bot".into(), "bot:2".into(), RunState::Running, RestartPolicy::UnlessStopped)]);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_failed_start_first_gate_removes_the_new_one_and_never_touches_the_old() {
    let dir = tmp_dir("sf-fail");
    let m = Memory::with(&[("bot", "bot:1")]);
    let c = ctx(&m, START_FIRST, &dir);
    let e = run(&c, deploy("bot:2-broken", false)).await.unwrap_err();
    assert!(e.to_string().contains("rolled back"), "{e}");
    assert_eq!(m.calls(), ["launch beside bot:2-broken", "discard c2"]);
    assert_eq!(m.state(), [("bot".into(), "bot:1".into(), RunState::Running, RestartPolicy::UnlessStopped)]);
    // Pause leaves both, recorded as paused; recover removes the new one.
    let c = ctx(&m, &format!("{START_FIRST}failure_action = \"pause\"\n"), &dir);
    let e = run(&c, deploy("bot:2-broken", false)).await.unwrap_err();
    assert!(e.to_string().contains("paused"), "{e}");
    assert_eq!(m.state().len(), 2);
    assert_eq!(c.store().unwrap().recent(1, None).unwrap()[0].outcome, Outcome::Paused);
    run(&c, OpRequest::Recover { target: "bot".into() }).await.unwrap();
    assert_eq!(m.state(), [("bot".into(), "bot:1".into(), RunState::Running, RestartPolicy::UnlessStopped)]);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_kill_switch_service_is_always_stop_first() {
    let dir = tmp_dir("sf-ks");
    let m = Memory::with(&[("bot", "bot:1")]);
    let c = ctx(&m, &format!("{START_FIRST}kill_switch = true\n"), &dir);
    run(&c, deploy("bot:2", false)).await.unwrap();
    assert_eq!(m.calls(), ["retire bot", "launch bot:2", "commit bot"]);
    let t = c.store().unwrap().transcript(c.store().unwrap().recent(1, None).unwrap()[0].id).unwrap();
    assert!(t.contains("always stop-first"), "{t}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_preflight_refuses_start_first_with_the_blocker_unless_stop_first_is_confirmed() {
    let dir = tmp_dir("sf-pre");
    let m = Memory::with(&[("bot", "bot:ports")]);
    let c = ctx(&m, START_FIRST, &dir);
    let e = run(&c, deploy("bot:2", false)).await.unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains("publishes host port") && e.to_string().contains("--stop-first"), "{e}");
    assert!(m.calls().is_empty(), "nothing touched: {:?}", m.calls());
    run(&c, deploy("bot:2", true)).await.unwrap();
    assert_eq!(m.calls(), ["retire bot", "launch bot:2", "commit bot"]);
    std::fs::remove_dir_all(dir).ok();
}
