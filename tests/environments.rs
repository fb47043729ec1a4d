//! Two environments on two private engines in one config: the panel opens staging, the picker
//! shows both side by side (reachable, running / unhealthy, alerts, latches) and switches to
//! production, which looks different and asks for the service's name before a start, while its
//! emergency stop stays one key and one confirmation.

mod common;

use common::{PrivateEngine, Sd, Tmux, require_engine};

fn service(eng: &PrivateEngine, project: &str, svc: &str) -> String {
    eng.load(&["bb:1"]);
    let name = format!("{project}_{svc}_1");
    eng.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        &format!("com.docker.compose.service={svc}"),
        "bb:1",
        "sleep",
        "600",
    ]);
    name
}

#[test]
fn two_environments_switched_in_the_panel_and_production_asks_for_the_name() {
    require_engine();
    let (mut stg, mut prd) = (PrivateEngine::new("es"), PrivateEngine::new("ep"));
    stg.start();
    prd.start();
    service(&stg, "stg", "web");
    let bot = service(&prd, "prd", "bot");
    let config = format!(
        "[environments.staging]\nkind = \"staging\"\nhost = \"{}\"\n\n[environments.prod]\nkind = \"production\"\nhost = \"{}\"\n\n[environments.prod.services.\"prd/bot\"]\nkill_switch = true\nstop_grace_secs = 1\n",
        stg.host(),
        prd.host()
    );
    let sd = Sd::new("envs", &config);
    let t = Tmux::start(
        "sd-envs",
        160,
        30,
        &format!(
            "XDG_CONFIG_HOME=/nonexistent {} --config {} --state-dir {} --env staging; sleep 600",
            env!("CARGO_BIN_EXE_stackdeck"),
            sd.config.display(),
            sd.state.display()
        ),
    );
    t.wait("staging", |s| s.contains("staging · STAGING") && s.contains("web") && s.contains("env staging"));
    // The picker: both environments, each read from its own engine.
    t.keys(&["E"]);
    t.wait("both summaries", |s| {
        s.contains("staging (staging)")
            && s.contains("prod (production)")
            && s.matches("● 1/1 running").count() == 2
            && s.matches("nothing emergency-stopped").count() == 2
    });
    // Listed by name: prod above staging (the current one, marked and selected).
    t.keys(&["Up", "Enter"]);
    let screen = t.wait("production", |s| s.contains("prod · PRODUCTION") && s.contains("bot") && !s.contains("web"));
    assert!(screen.contains(&prd.host()), "the status line names the engine: {screen}");

    // A start in production needs the service's name typed.
    prd.ok(&["stop", "-t", "0", &bot]);
    t.wait("bot exited", |s| s.contains("exited"));
    t.keys(&["1", "S"]);
    t.wait("the typed confirmation", |s| s.contains("in PRODUCTION (prod)") && s.contains("Type bot"));
    t.keys(&["x", "Enter"]);
    t.wait("refused", |s| s.contains("type bot exactly"));
    t.keys(&["BSpace", "b", "o", "t", "Enter"]);
    t.wait("started", |_| prd.ok(&["inspect", "-f", "{{.State.Running}}", &bot]) == "true");

    // The emergency stop: still one key and one confirmation.
    t.keys(&["X"]);
    t.wait("the stop's confirmation", |s| s.contains("EMERGENCY STOP"));
    t.keys(&["y"]);
    t.wait("stopped", |_| prd.ok(&["inspect", "-f", "{{.State.Running}}", &bot]) == "false");

    // The records say which environment; staging's history is its own.
    let (code, out, err) = sd.run(&["--env", "prod", "history", "--json"]);
    assert_eq!(code, 0, "{err}");
    let h: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(h.len() >= 2, "{out}");
    assert!(h.iter().all(|r| r["audit"]["environment"] == "prod"), "{out}");
    let (code, out, _) = sd.run(&["--env", "staging", "history", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "[]", "staging keeps its own history");
}
