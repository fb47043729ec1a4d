//! Observability end to end: a real Prometheus (Debian's package, started here on 127.0.0.1)
//! scraping a real simulator container; the panel in tmux shows the panel value, the alert
//! banner appears when the loss crosses 5 % and goes when it falls back. The same without
//! Prometheus, by direct scraping. Webhooks are delivered to a receiver started by the test.
//! Bad and slow answers come from a local stub (a fake is used for *bad* input only).

mod common;

use common::{HttpStub, Project, Prometheus, Tmux, docker_ok, require_engine, wait_for};
use std::time::Duration;

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sd-obs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("stackdeck.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn panels(bot_port: u16, prometheus: Option<&str>, webhook: bool) -> String {
    let prom = prometheus
        .map(|u| format!("[prometheus]\nurl = \"{u}\"\ninterval_secs = 1\ntimeout_secs = 1\n"))
        .unwrap_or_default();
    let hook = if webhook { "[notify]\nwebhook_env = \"SD_TEST_WEBHOOK\"\ntries = 3\ntimeout_secs = 2\n" } else { "" };
    format!(
        r#"[engine]
pull = false
# The host's own alerts (disk, CPU, memory) would fire on a busy or full CI machine.
[host]
enabled = false
[services.trading-bot]
kill_switch = true
stop_grace_secs = 2
{prom}
[scrape]
interval_secs = 1
[[scrape.targets]]
service = "trading-bot"
url = "http://127.0.0.1:{bot_port}/metrics"

[[panels]]
title = "Daily loss"
query = "max(trading_bot_daily_loss_percent)"
local = "trading_bot_daily_loss_percent"
unit = "%"
warn = 3
critical = 5
alert = "DailyLossExceeded"
service = "trading-bot"

[[panels]]
title = "Trade rate"
query = "sum(rate(trading_bot_trades_total[1m]))"
local = "rate(trading_bot_trades_total[1m])"
unit = "/s"
{hook}"#
    )
}

fn panel_cmd(project: &str, config: &std::path::Path, env: &str) -> String {
    format!(
        "XDG_CONFIG_HOME=/nonexistent {env} {} --config {} --project {project}; echo STACKDECK-EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck"),
        config.display()
    )
}

fn set_loss(bot: &str, v: &str) {
    docker_ok(&["exec", bot, "sh", "-c", &format!("echo {v} > /run/sim/daily_loss_percent")]);
}

/// The Daily loss row of the Charts pane shows exactly `value`.
fn shows_loss(s: &str, value: &str) -> bool {
    s.lines().any(|l| l.contains("Daily loss") && l.contains(value))
}

fn alert_cycle(t: &Tmux, bot: &str, source: &str) {
    // A known loss below every threshold: the panel shows it.
    set_loss(bot, "1.23");
    t.keys(&["5"]);
    let s = t.wait("the daily loss panel at 1.23%", |s| shows_loss(s, "1.23%"));
    assert!(s.contains(source), "the status bar names the source ({source}):\n{s}");
    assert!(!s.contains("DailyLossExceeded"), "no alert yet:\n{s}");

    // Above 5 %: the rule fires and the banner appears on every screen, offering the stop.
    set_loss(bot, "6.8");
    let s = t.wait("the DailyLossExceeded banner", |s| s.contains("CRITICAL DailyLossExceeded"));
    assert!(
        s.contains("CRITICAL DailyLossExceeded · X: STOP trading-bot · since"),
        "a critical alert on a kill-switch service offers the stop, uncut at 80 columns:\n{s}"
    );
    assert!(shows_loss(&s, "6.80%"), "{s}");
    t.keys(&["4"]);
    t.wait("the banner over the History pane too", |s| s.contains("History") && s.contains("DailyLossExceeded"));
    t.keys(&["6"]);
    t.wait("the alert in the Alerts pane", |s| s.contains("FIRING  DailyLossExceeded"));

    // Back below: it resolves and the banner goes.
    set_loss(bot, "1.5");
    t.wait("the alert resolved", |s| !s.contains("DailyLossExceeded"));
}

#[test]
fn prometheus_panels_alert_banner_and_webhooks_end_to_end() {
    require_engine();
    let mut p = Project::new("obs-prom");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59221"], &["fx-trading-bot:1"]);
    let prom = Prometheus::start(59231, &[("trading-bot", "127.0.0.1:59221".into())]);
    let hook = HttpStub::start(|_, _| (200, "ok".into()), Duration::ZERO);
    let cfg = write_config("prom", &panels(59221, Some(&prom.url), true));
    let t = Tmux::start("sd-obs-prom", 80, 24, &panel_cmd(&p.name, &cfg, &format!("SD_TEST_WEBHOOK={}", hook.url())));
    alert_cycle(&t, &bot, "metrics: prometheus");

    // The webhook heard the alert start and resolve, as Slack-compatible JSON.
    let bodies = wait_for("both notifications", Duration::from_secs(20), || {
        let b = hook.bodies();
        (b.iter().any(|x| x.contains("RESOLVED DailyLossExceeded"))).then_some(b)
    });
    let firing =
        bodies.iter().find(|b| b.contains("FIRING") && b.contains("DailyLossExceeded")).expect("a FIRING notification");
    let v: serde_json::Value = serde_json::from_str(firing).expect("JSON body");
    let text = v["text"].as_str().unwrap();
    assert!(text.contains("FIRING critical DailyLossExceeded (trading-bot)"), "{text}");

    // The panel's value is Prometheus' own answer to the same query.
    let api = prom.get("/api/v1/query?query=max(trading_bot_daily_loss_percent)").unwrap();
    assert!(api.contains("\"1.5\""), "prometheus itself says {api}");
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
}

#[test]
fn without_prometheus_the_services_are_scraped_directly() {
    require_engine();
    let mut p = Project::new("obs-scrape");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59222"], &["fx-trading-bot:1"]);
    // No Prometheus configured at all.
    let cfg = write_config("scrape", &panels(59222, None, false));
    let t = Tmux::start("sd-obs-scrape", 80, 24, &panel_cmd(&p.name, &cfg, ""));
    alert_cycle(&t, &bot, "metrics: direct scrape");
    // The trade rate is computed from the counter's samples: a number per second, not an error.
    t.keys(&["5"]);
    let s = t.wait("a trade rate", |s| s.lines().any(|l| l.contains("Trade rate") && l.contains("/s")));
    assert!(!s.contains("Trade rate  error"), "{s}");
}

#[test]
fn a_dead_prometheus_falls_back_to_scraping_and_says_so() {
    require_engine();
    let mut p = Project::new("obs-dead");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59223"], &["fx-trading-bot:1"]);
    // Nothing listens on 59239.
    let cfg = write_config("dead", &panels(59223, Some("http://127.0.0.1:59239"), false));
    let t = Tmux::start("sd-obs-dead", 140, 30, &panel_cmd(&p.name, &cfg, ""));
    set_loss(&bot, "2.34");
    t.keys(&["5"]);
    let s = t.wait("scraped values", |s| shows_loss(s, "2.34%"));
    assert!(s.contains("direct scrape (prometheus down)"), "{s}");
    t.keys(&["L"]);
    t.wait("the reason in the panel log", |s| s.contains("connection refused") && s.contains("scraping the services"));
}

#[test]
fn malformed_and_slow_prometheus_answers_are_errors_in_the_panel_log_not_freezes() {
    require_engine();
    let mut p = Project::new("obs-bad");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59224"], &["fx-trading-bot:1"]);
    // Malformed: the alerts answer is JSON of the wrong shape.
    let bad = HttpStub::start(|_, _| (200, r#"{"status":"success","data":{"alerts":"nope"}}"#.into()), Duration::ZERO);
    let cfg = write_config("bad", &panels(59224, Some(&bad.url()), false));
    let t = Tmux::start("sd-obs-bad", 100, 30, &panel_cmd(&p.name, &cfg, ""));
    set_loss(&bot, "3.45");
    t.keys(&["5", "L"]);
    let s = t.wait("malformed reported, scraped values shown", |s| {
        s.contains("malformed response") && shows_loss(s, "3.45%")
    });
    assert!(s.contains("prometheus down"), "{s}");
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
    drop(t);

    // Slow: every answer takes 30 s; the timeout is 1 s. Keys still answer at once.
    let slow = HttpStub::start(|_, _| (200, "{}".into()), Duration::from_secs(30));
    let cfg = write_config("slow", &panels(59224, Some(&slow.url()), false));
    let t = Tmux::start("sd-obs-slow", 100, 30, &panel_cmd(&p.name, &cfg, ""));
    t.keys(&["L"]);
    t.wait("the timeout in the panel log", |s| s.contains("no answer within 1 s"));
    for pane in ["4", "5", "4", "5"] {
        t.keys(&[pane]);
        let title = if pane == "4" { "History" } else { "Charts" };
        t.wait("the pane switch while Prometheus hangs", |s| s.lines().any(|l| l.contains(&format!("┏ {title}"))));
    }
    assert!(!slow.requests.lock().unwrap().is_empty(), "the slow endpoint was asked");
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
}

#[test]
fn webhook_hears_an_emergency_stop_from_the_command_line_after_retries() {
    require_engine();
    let mut p = Project::new("obs-hook");
    p.run("trading-bot", &["-e", "SIM_PORT=59225"], &["fx-trading-bot:1"]);
    // The receiver fails twice (HTTP 503), then accepts: delivered on the third try.
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n2 = n.clone();
    let hook = HttpStub::start(
        move |_, _| {
            if n2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                (503, "busy".into())
            } else {
                (200, "ok".into())
            }
        },
        Duration::ZERO,
    );
    let cfg = write_config("hook", &panels(59225, None, true));
    let state = std::env::temp_dir().join(format!("sd-obs-hook-state-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .args(["--config", cfg.to_str().unwrap(), "--project", &p.name, "--state-dir", state.to_str().unwrap()])
        .args(["stop", "trading-bot", "--yes", "--reason", "webhook test"])
        .env("SD_TEST_WEBHOOK", hook.url())
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("webhook notified"), "{stdout}");
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 3, "two failed tries and one good one: {bodies:?}");
    assert!(bodies[2].contains("EMERGENCY STOP trading-bot: done by"), "{}", bodies[2]);
    // The URL (a secret) is never printed.
    assert!(!stdout.contains(&hook.addr) && !String::from_utf8_lossy(&out.stderr).contains(&hook.addr));
    let _ = std::fs::remove_dir_all(state);
}

#[test]
fn a_remote_machines_host_figures_come_from_its_node_metrics_through_prometheus() {
    // node_exporter's metrics as a stub serves them: one CPU 25 % busy (idle grows by 0.75 s
    // per 1 s scrape), 8 GiB of memory with 2 GiB available, a 100 GiB root with 10 GiB free.
    let scrapes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let n = scrapes.clone();
    let node = HttpStub::start(
        move |_, _| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) as f64;
            let gib = 1024.0 * 1024.0 * 1024.0;
            (
                200,
                format!(
                    "node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {}\nnode_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} {}\nnode_memory_MemTotal_bytes {}\nnode_memory_MemAvailable_bytes {}\nnode_filesystem_size_bytes{{mountpoint=\"/\"}} {}\nnode_filesystem_avail_bytes{{mountpoint=\"/\"}} {}\n",
                    1000.0 + 0.75 * i,
                    100.0 + 0.25 * i,
                    8.0 * gib,
                    2.0 * gib,
                    100.0 * gib,
                    10.0 * gib
                ),
            )
        },
        Duration::ZERO,
    );
    let prom = Prometheus::start(31473, &[("node", node.url().trim_start_matches("http://").to_owned())]);
    wait_for("a CPU rate in Prometheus", Duration::from_secs(60), || {
        let q = "/api/v1/query?query=count(rate(node_cpu_seconds_total%7Bmode%3D%22idle%22%7D%5B1m%5D))";
        prom.get(q).filter(|a| a.contains("\"1\"")).map(|_| ())
    });
    let p = stackdeck::observe::prom::Prom {
        client: stackdeck::http::LazyClient,
        url: prom.url.clone(),
        alertmanager: None,
        timeout: Duration::from_secs(3),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(stackdeck::observe::node::read(&p, &["/".to_owned(), "/nowhere".to_owned()]));
    assert_eq!(s.source, "node metrics");
    let cpu = s.cpu_percent.expect("a CPU figure");
    assert!((10.0..40.0).contains(&cpu), "CPU {cpu}");
    assert_eq!(s.mem_total, 8 << 30);
    assert_eq!(s.mem_used, 6 << 30);
    assert_eq!(s.disks.len(), 1, "{:?}", s.disks);
    assert_eq!((s.disks[0].total, s.disks[0].free), (100 << 30, 10 << 30));
    assert!(s.errors.iter().any(|e| e.contains("disk /nowhere") && e.contains("no node metrics")), "{:?}", s.errors);
}
