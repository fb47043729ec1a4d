//! Exec (issue 13 part 6) against the real engine, driven like a person: `e` in the panel hands
//! the terminal to a shell in the container (a real PTY, the panel's size), `exit` brings the
//! panel back intact; `stackdeck exec` with and without a terminal, its exit code, the audit
//! row, and --read-only.

mod common;

use common::{Project, Sd, Tmux, docker_ok, require_engine};

fn panel_cmd(sd: &Sd, project: &str, extra: &str) -> String {
    format!(
        "{} --state-dir {} --config {} -p {project} {extra}",
        env!("CARGO_BIN_EXE_stackdeck"),
        sd.state.display(),
        sd.config.display()
    )
}

#[test]
fn e_in_the_panel_opens_a_shell_inside_and_exit_returns_to_an_intact_panel() {
    require_engine();
    let mut p = Project::new("exec");
    let c = p.run("worker", &[], &["bb:1", "sleep", "3600"]);
    let sd = Sd::new("exec", "");
    let t = Tmux::start("exec", 100, 30, &panel_cmd(&sd, &p.name, ""));
    t.wait("the service", |s| s.contains("worker") && s.contains("running"));
    t.keys(&["e"]);
    t.wait("the shell", |s| s.contains("a shell in") && s.contains("/ #"));
    t.keys(&["echo from-the-panel > /mark; stty size", "Enter"]);
    t.wait("the command ran in a terminal of the panel's size", |s| s.contains("30 100"));
    t.keys(&["exit", "Enter"]);
    // The header's notice says the shell ended (cut at this width: the history has all of it).
    let screen = t.wait("the panel back", |s| s.contains("Services") && s.contains("shell in") && !s.contains("/ #"));
    assert!(screen.contains("worker"), "{screen}");
    assert!(t.alternate_screen_on(), "the panel's screen is back");
    assert_eq!(docker_ok(&["exec", &c, "cat", "/mark"]).trim(), "from-the-panel");
    // Keys reach the panel again (none was left to a reader of the shell's).
    t.keys(&["?"]);
    t.wait("the help popup", |s| s.contains("? or esc closes"));
    t.keys(&["q"]);
    let h = sd.history();
    assert_eq!(h[0]["action"], "exec");
    assert_eq!(h[0]["outcome"], "succeeded");
    assert_eq!(h[0]["reason"], "sh");
    assert!(h[0]["transcript"].as_str().unwrap().contains("exit code 0"), "{:?}", h[0]);
}

#[test]
fn stackdeck_exec_runs_the_command_returns_its_exit_code_and_is_refused_read_only() {
    require_engine();
    let mut p = Project::new("execcli");
    p.run("worker", &[], &["bb:1", "sleep", "3600"]);
    let sd = Sd::new("execcli", "");
    let key = format!("{}/worker", p.name);
    let (code, out, err) = sd.run(&["exec", &key, "--", "sh", "-c", "echo out-$((6*7)); exit 7"]);
    assert_eq!(code, 7, "{out}{err}");
    assert!(out.contains("out-42"), "{out}");
    let (code, _, err) = sd.run(&["--read-only", "exec", &key, "--", "true"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("read-only"), "{err}");
    // On a terminal: a PTY, typed into, exit code back.
    let cmd = format!("{}; echo EXITED $?; sleep 60", panel_cmd(&sd, &p.name, &format!("exec {key}")));
    let t = Tmux::start("execcli", 90, 20, &cmd);
    t.wait("the shell", |s| s.contains("/ #"));
    t.keys(&["tty; exit 5", "Enter"]);
    let s = t.wait("the exit code", |s| s.contains("EXITED 5"));
    assert!(s.contains("/dev/pts/"), "a real PTY: {s}");
    let h = sd.history();
    assert!(h.iter().filter(|r| r["action"] == "exec").count() >= 2, "{h:?}");
}
