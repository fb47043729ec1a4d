//! Whole-screen snapshots of the panes (ratatui TestBackend + insta) at fixed sizes, plus
//! per-cell colour checks where colour carries meaning (snapshots do not capture colour).

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use stackdeck::config::{Keymap, Stack, Theme};
use stackdeck::domain::EngineInfo;
use stackdeck::domain::{Container, ContainerId, Health, RunState, ServiceKey, StatsSample};
use stackdeck::logtext::{LogLine, Masker};
use stackdeck::msg::{EngineEvent, LogBatch, Msg};
use stackdeck::state::AppState;
use stackdeck::ui::{self, View};
use stackdeck::update::update;

const NOW: i64 = 1_795_000_000;

fn c(id: &str, project: Option<&str>, service: &str, state: RunState, health: Health, up_secs: i64) -> Container {
    Container {
        id: ContainerId(format!("{id}{}", "0".repeat(20))),
        name: format!("{}_{service}_1", project.unwrap_or("solo")),
        key: ServiceKey::new(project, service),
        state,
        health,
        image: format!("fx-{service}:1"),
        image_id: format!("sha256:{id}1f2e3d4c5b6a7988"),
        started_at: Some(Timestamp::from_second(NOW - up_secs).unwrap()),
        finished_at: Some(Timestamp::from_second(NOW - 300).unwrap()),
        restarts: if service == "api-server" { 3 } else { 0 },
        exit_code: Some(if state == RunState::Exited { 137 } else { 0 }),
        memory_limit: 0,
        pid: None,
        compose: None,
    }
}

fn demo_state(keymap: &Keymap) -> AppState {
    let mut s =
        AppState::new("unix:///var/run/docker.sock", "default", Timestamp::from_second(NOW).unwrap(), 1000, 200);
    let info = EngineInfo {
        host: "unix:///var/run/docker.sock".into(),
        source: "default".into(),
        api_version: "1.41".into(),
        server_version: "20.10.24".into(),
        cpus: None,
        memory: None,
    };
    let list = vec![
        c("aa", Some("trading"), "trading-bot", RunState::Running, Health::Healthy, 7200),
        c("bb", Some("trading"), "api-server", RunState::Running, Health::Unhealthy, 95),
        c("cc", Some("trading"), "postgres", RunState::Running, Health::Starting, 30),
        c("dd", Some("trading"), "redis", RunState::Restarting, Health::None, 0),
        c("ee", None, "scratch", RunState::Exited, Health::None, 0),
    ];
    update(&mut s, keymap, Msg::Engine(EngineEvent::Connected(info)));
    update(&mut s, keymap, Msg::Engine(EngineEvent::Snapshot(list)));
    s
}

fn log_lines() -> Vec<LogLine> {
    let m = Masker::default();
    let raw: Vec<Vec<u8>> = vec![
        br#"2026-11-22T10:00:00.100000000Z {"timestamp":"x","level":"INFO","target":"trading_bot::orders","message":"order filled","symbol":"BTC-USD"}"#.to_vec(),
        b"2026-11-22T10:00:01.000000000Z 2026-11-22T10:00:01Z  WARN api_server::auth: rejected header=\"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def\"".to_vec(),
        b"2026-11-22T10:00:02.000000000Z ERROR db: query timeout password=hunter2".to_vec(),
        b"2026-11-22T10:00:03.000000000Z \x1b]0;pwned\x07\x1b[2Jhostile \xff\xfe bytes".to_vec(),
        [&b"2026-11-22T10:00:04.000000000Z "[..], &vec![b'x'; 20_000][..]].concat(),
        b"2026-11-22T10:00:05.000000000Z DEBUG cache: redis stats hit_ratio=0.93".to_vec(),
    ];
    raw.iter().map(|r| LogLine::from_raw(r, false, &m)).collect()
}

fn with_logs(s: &mut AppState, keymap: &Keymap) {
    let generation = s.logs.generation;
    let container = s.logs.container.clone().expect("logs follow the selection");
    let b = LogBatch { generation, container, lines: log_lines(), skipped: 0, ended: None };
    update(s, keymap, Msg::Engine(EngineEvent::Logs(b)));
}

fn render(s: &AppState, theme: &Theme, keymap: &Keymap, w: u16, h: u16) -> Terminal<TestBackend> {
    let stack = Stack::default();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, &View { state: s, theme, keymap, stack: &stack })).unwrap();
    t
}

fn key(s: &mut AppState, km: &Keymap, code: KeyCode) {
    update(s, km, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

#[test]
fn services_and_logs_80x24() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    with_logs(&mut s, &km);
    let t = render(&s, &Theme::builtin_default(), &km, 80, 24);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn hostile_bytes_and_secrets_never_reach_the_screen() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    with_logs(&mut s, &km);
    let t = render(&s, &Theme::builtin_default(), &km, 120, 40);
    let screen = t.backend().to_string();
    for bad in ["hunter2", "eyJhbGciOiJIUzI1NiJ9", "\u{1b}", "\u{7}"] {
        assert!(!screen.contains(bad), "{bad:?} reached the screen");
    }
    assert!(screen.contains("␛]0;pwned␇␛[2Jhostile \\xFF\\xFE bytes"));
    assert!(screen.contains("password=****"));
    assert!(screen.contains("more bytes not shown"));
    for cell in t.backend().buffer().content() {
        assert!(!cell.symbol().chars().any(char::is_control), "control char in a cell: {:?}", cell.symbol());
    }
}

#[test]
fn wide_layout_120x40_with_search_and_timestamps() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    with_logs(&mut s, &km);
    key(&mut s, &km, KeyCode::Char('2'));
    key(&mut s, &km, KeyCode::Char('/'));
    for ch in "redis".chars() {
        key(&mut s, &km, KeyCode::Char(ch));
    }
    key(&mut s, &km, KeyCode::Enter);
    key(&mut s, &km, KeyCode::Char('t'));
    let t = render(&s, &Theme::builtin_default(), &km, 120, 40);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn metrics_pane_with_samples() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    key(&mut s, &km, KeyCode::Char('3'));
    let id = s.services.selected.clone().unwrap();
    for i in 0..60u64 {
        let sample = StatsSample {
            cpu_percent: (i % 10) as f64 * 4.5,
            mem_bytes: (200 + i) * 1024 * 1024,
            mem_limit: 8 * 1024 * 1024 * 1024,
            net_rx: 0,
            net_tx: 0,
            blk_read: 4096 * i,
            blk_write: 8192 * i,
            from: stackdeck::domain::StatsFrom::Engine,
        };
        update(&mut s, &km, Msg::Engine(EngineEvent::Stats(vec![(id.clone(), sample)])));
    }
    let t = render(&s, &Theme::builtin_default(), &km, 100, 30);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn history_empty_state() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    key(&mut s, &km, KeyCode::Char('4'));
    let t = render(&s, &Theme::builtin_default(), &km, 80, 24);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn help_popup_lists_bindings_80x24() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    key(&mut s, &km, KeyCode::Char('?'));
    let t = render(&s, &Theme::builtin_default(), &km, 80, 24);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn help_at_80x24_scrolls_through_every_description_whole_the_focused_pane_first() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    key(&mut s, &km, KeyCode::Char('2')); // the Logs pane
    key(&mut s, &km, KeyCode::Char('?'));
    let mut seen = std::collections::BTreeSet::new();
    let mut first = None;
    let mut last = String::new();
    for _ in 0..200 {
        let t = render(&s, &Theme::builtin_default(), &km, 80, 24);
        let screen = t.backend().to_string();
        if screen == last {
            break; // the end: the last full screen
        }
        let text = common::help::help_text(&screen);
        first.get_or_insert_with(|| text.clone());
        for (_, action, keys) in km.all() {
            if !keys.is_empty() && text.contains(action.help()) {
                seen.insert(action.help());
            }
        }
        last = screen;
        key(&mut s, &km, KeyCode::Down);
    }
    let want: std::collections::BTreeSet<_> =
        km.all().filter(|(_, _, ks)| !ks.is_empty()).map(|(_, a, _)| a.help()).collect();
    let missing: Vec<_> = want.difference(&seen).collect();
    assert!(missing.is_empty(), "descriptions never shown whole: {missing:?}");
    assert!(first.unwrap().starts_with("[Logs pane (focused)]"), "the focused pane's keys come first");
    assert!(last.contains(" of "), "the title counts the entries: {last}");
    // Scrolled back up with the pane's own key: the top again.
    key(&mut s, &km, KeyCode::Home);
    let top = render(&s, &Theme::builtin_default(), &km, 80, 24).backend().to_string();
    assert!(top.contains("Keys 1-"), "{top}");
}

#[test]
fn engine_unreachable_keeps_the_list_and_says_so() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    update(
        &mut s,
        &km,
        Msg::Engine(EngineEvent::Unreachable {
            reason: "engine at unix:///var/run/docker.sock refused the connection".into(),
            retry_in_secs: 4,
        }),
    );
    let t = render(&s, &Theme::builtin_default(), &km, 80, 24);
    let screen = t.backend().to_string();
    assert!(screen.contains("UNREACHABLE"));
    assert!(screen.contains("STALE"));
    assert!(screen.contains("trading-bot"), "the last known list stays on screen");
    assert!(screen.contains("[engine not answering]"), "the log stream is not said to be live");
    insta::assert_snapshot!(t.backend());
}

#[test]
fn tiny_terminal_shows_the_focused_pane_only() {
    let km = Keymap::defaults();
    let s = demo_state(&km);
    let t = render(&s, &Theme::builtin_default(), &km, 60, 12);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn hints_follow_a_custom_keymap() {
    let km = Keymap::load(Some(("mine.toml", "[logs]\nsearch = \"s\"\n[global]\nquit = \"ctrl-q\"\n"))).unwrap();
    let mut s = demo_state(&km);
    key(&mut s, &km, KeyCode::Char('2'));
    let t = render(&s, &Theme::builtin_default(), &km, 100, 20);
    let last = t.backend().to_string().lines().last().unwrap().to_owned();
    assert!(last.contains("s search"), "{last}");
    assert!(last.contains("ctrl-q quit"), "{last}");
    assert!(!last.contains("/ search"), "{last}");
}

/// The first cell of the row whose text contains `needle`.
fn row_of(t: &Terminal<TestBackend>, needle: &str) -> u16 {
    let text = t.backend().to_string();
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle} not on screen")) as u16
}

#[test]
fn unhealthy_is_red_and_symbol_marked_in_default_theme() {
    let km = Keymap::defaults();
    let s = demo_state(&km);
    let t = render(&s, &Theme::builtin_default(), &km, 80, 24);
    let y = row_of(&t, "api-server");
    let buf = t.backend().buffer();
    let sym = &buf[(1, y)];
    assert_eq!(sym.symbol(), "✗");
    assert_eq!(sym.fg, Color::Rgb(0xe0, 0x6c, 0x75));
    let y_ok = row_of(&t, "trading-bot");
    assert_eq!(buf[(1, y_ok)].symbol(), "●");
    assert_ne!(buf[(1, y_ok)].fg, sym.fg);
}

#[test]
fn mono_and_no_color_keep_meaning_without_colour() {
    let km = Keymap::defaults();
    let s = demo_state(&km);
    for theme in [Theme::load("mono", false).unwrap(), Theme::load("default", true).unwrap()] {
        let t = render(&s, &theme, &km, 80, 24);
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert!(matches!(cell.fg, Color::Reset), "{}: colour {:?} used", theme.name, cell.fg);
        }
        let y = row_of(&t, "api-server");
        assert_eq!(buf[(1, y)].symbol(), "✗");
        if theme.name == "mono" {
            assert!(buf[(1, y)].modifier.contains(Modifier::REVERSED));
        }
    }
}

fn obs_stack() -> Stack {
    Stack::parse(
        "t.toml",
        r#"
[services.trading-bot]
kill_switch = true
[[panels]]
title = "Daily loss"
query = "max(trading_bot_daily_loss_percent)"
unit = "%"
warn = 3
critical = 5
alert = "DailyLossExceeded"
service = "trading-bot"
[[panels]]
title = "Trade rate"
query = "sum(rate(trading_bot_trades_total[1m]))"
unit = "/s"
"#,
    )
    .unwrap()
}

fn observed(s: &mut AppState, km: &Keymap, stack: &Stack) {
    use stackdeck::domain::{Alert, Observation, PanelData, Severity, Source, Window};
    s.kill_switch_targets = stack.kill_switch_targets();
    s.observe.configured = true;
    let now_ms = NOW * 1000;
    let loss: Vec<(i64, f64)> = (0..120).map(|i| (now_ms - (119 - i) * 2500, 1.0 + i as f64 * 0.05)).collect();
    let trades: Vec<(i64, f64)> = (0..120).map(|i| (now_ms - (119 - i) * 2500, 0.1 + (i % 7) as f64 * 0.01)).collect();
    let since = Timestamp::from_second(NOW - 60).unwrap();
    let o = Observation {
        source: Source::Prometheus,
        window: Window::M5,
        panels: vec![
            PanelData { index: 0, points: loss, value: Some(6.8), extra_series: 0, error: None },
            PanelData { index: 1, points: trades, value: Some(0.14), extra_series: 0, error: None },
        ],
        alerts: vec![
            Alert {
                name: "DailyLossExceeded".into(),
                severity: Severity::Critical,
                firing: true,
                summary: "Daily loss limit exceeded".into(),
                since: Some(since),
                service: Some("trading-bot".into()),
                origin: "prometheus",
            },
            Alert {
                name: "ApiServerDown".into(),
                severity: Severity::Warning,
                firing: false,
                summary: "api-server scrape failing".into(),
                since: Some(since),
                service: Some("api-server".into()),
                origin: "prometheus",
            },
        ],
    };
    update(s, km, Msg::Observed(o));
    for i in 0..30 {
        update(s, km, Msg::Tick(Timestamp::from_second(NOW - 300 + i * 10).unwrap()));
    }
}

fn render_with(s: &AppState, stack: &Stack, w: u16, h: u16) -> Terminal<TestBackend> {
    let (theme, km) = (Theme::builtin_default(), Keymap::defaults());
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, &View { state: s, theme: &theme, keymap: &km, stack })).unwrap();
    t
}

#[test]
fn charts_pane_colours_values_by_threshold_under_the_alert_banner() {
    let km = Keymap::defaults();
    let stack = obs_stack();
    let mut s = demo_state(&km);
    observed(&mut s, &km, &stack);
    key(&mut s, &km, KeyCode::Char('5'));
    let t = render_with(&s, &stack, 100, 36);
    insta::assert_snapshot!(t.backend());
    let screen = t.backend().to_string();
    assert!(screen.contains("CRITICAL DailyLossExceeded · X: STOP trading-bot · since"), "{screen}");
    assert!(screen.contains("pending warning ApiServerDown (api-server)"), "{screen}");
    // The value over the critical threshold is drawn in the critical style; the banner in the
    // critical alert style.
    let buf = t.backend().buffer();
    let y = row_of(&t, "6.80%");
    let line: String = (0..100).map(|x| buf[(x, y)].symbol().to_owned()).collect();
    let x = line.find("6.80%").unwrap() as u16;
    let theme = Theme::builtin_default();
    assert_eq!(buf[(x, y)].fg, theme.style(stackdeck::config::Slot::ValueCritical).fg.unwrap());
    let by = row_of(&t, "CRITICAL DailyLossExceeded");
    assert_eq!(buf[(3, by)].bg, theme.style(stackdeck::config::Slot::AlertCritical).bg.unwrap());
}

#[test]
fn alerts_pane_availability_and_read_only_banner_80x24() {
    let km = Keymap::defaults();
    let stack = obs_stack();
    let mut s = demo_state(&km);
    observed(&mut s, &km, &stack);
    key(&mut s, &km, KeyCode::Char('6'));
    let t = render_with(&s, &stack, 80, 24);
    insta::assert_snapshot!(t.backend());
    let screen = t.backend().to_string();
    assert!(screen.contains("FIRING  DailyLossExceeded"), "{screen}");
    assert!(screen.contains("Availability · last 5m · objective 99.9%"), "{screen}");
    // --read-only: the banner still shows, without the stop offer.
    s.read_only = true;
    let screen = render_with(&s, &stack, 80, 24).backend().to_string();
    assert!(screen.contains("CRITICAL DailyLossExceeded (trading-bot)"), "{screen}");
    assert!(!screen.contains("STOP trading-bot"), "{screen}");
}

fn latched(s: &mut AppState, km: &Keymap, halt: Option<&str>) {
    let k = stackdeck::domain::KillSwitch {
        service: "gone/bot".into(),
        by: "ops@10.0.0.7".into(),
        at: Timestamp::from_second(NOW - 600).unwrap(),
        reason: "loss limit".into(),
        previous_policy: stackdeck::domain::RestartPolicy::UnlessStopped,
        halt: halt.map(str::to_owned),
    };
    let chain = Some("row 12 (finish of operation 9): altered after it was written".to_owned());
    let held = stackdeck::domain::OpRecord {
        id: 7,
        action: "restart-blocked".into(),
        service: "gone/bot".into(),
        from_image: Some("fx-trading-bot:1".into()),
        to_image: None,
        from_image_id: None,
        to_image_id: None,
        actor: "root".into(),
        started_at: Timestamp::from_second(NOW - 120).unwrap(),
        finished_at: Some(Timestamp::from_second(NOW - 120).unwrap()),
        outcome: stackdeck::domain::Outcome::Succeeded,
        reason: Some("container started while emergency-stopped".into()),
        parent: None,
    };
    let records = if halt.is_some() { vec![] } else { vec![held] };
    update(s, km, Msg::History { records, kill_switches: vec![k], backups: vec![], chain });
}

#[test]
fn a_latched_service_whose_container_was_removed_keeps_a_row_and_the_banner_says_what_was_done() {
    let km = Keymap::defaults();
    let stack = Stack::parse("s.toml", "[services.\"gone/bot\"]\nkill_switch = true\n").unwrap();
    let mut s = demo_state(&km);
    latched(&mut s, &km, Some("halt: HTTP 200 in 35 ms: {\"cancelled_orders\":3,\"flat\":true}"));
    let t = render_with(&s, &stack, 120, 30);
    insta::assert_snapshot!(t.backend());
    let screen = t.backend().to_string();
    assert!(screen.contains("REMOVED") && screen.contains("start recreates it"), "{screen}");
    assert!(screen.contains("halt: HTTP 200 in 35 ms"), "{screen}");
    // Without a hook (or when it failed), the banner says what stackdeck did not do.
    let mut s = demo_state(&km);
    latched(&mut s, &km, None);
    let screen = render_with(&s, &stack, 120, 30).backend().to_string();
    assert!(screen.contains("orders/positions unknown: check the exchange | RESTART BLOCKED 1x, last"), "{screen}");
    // The History pane says the audit chain is broken.
    key(&mut s, &km, KeyCode::Char('4'));
    let screen = render_with(&s, &stack, 80, 24).backend().to_string();
    assert!(screen.contains("AUDIT CHAIN BROKEN at row 12"), "{screen}");
}

#[test]
fn merged_logs_tag_every_line_with_its_service_in_the_services_own_style() {
    let km = Keymap::defaults();
    let mut s = demo_state(&km);
    key(&mut s, &km, KeyCode::Char('2'));
    key(&mut s, &km, KeyCode::Char('m'));
    let m = Masker::default();
    let lines = [
        "2026-11-22T10:00:00Z trading-bot INFO order filled",
        "2026-11-22T10:00:01Z api-server WARN slow upstream token=abc123456",
        "2026-11-22T10:00:02Z postgres LOG checkpoint complete",
        "2026-11-22T10:00:03Z trading-bot INFO heartbeat",
    ]
    .map(|l| LogLine::from_raw(l.as_bytes(), false, &m));
    let generation = s.logs.generation;
    let container = s.logs.container.clone().expect("merged logs follow the project");
    let b = LogBatch { generation, container, lines: lines.to_vec(), skipped: 0, ended: None };
    update(&mut s, &km, Msg::Engine(EngineEvent::Logs(b)));
    let theme = Theme::builtin_default();
    let t = render(&s, &theme, &km, 80, 24);
    let screen = t.backend().to_string();
    assert!(screen.contains("merged · 4 containers"), "{screen}");
    assert!(!screen.contains("abc123456"));
    insta::assert_snapshot!(t.backend());
    // The tag's cells: one style per service, the same on every line of it, and not the text's.
    let buf = t.backend().buffer();
    let tag_fg = |needle: &str, nth: usize| {
        let ys: Vec<u16> =
            screen.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(y, _)| y as u16).collect();
        let y = ys[nth];
        let x =
            screen.lines().nth(y as usize).unwrap().chars().position(|c| c == needle.chars().next().unwrap()).unwrap();
        buf[(x as u16, y)].fg
    };
    let bot = tag_fg("trading-bot INFO", 0);
    assert_eq!(bot, tag_fg("trading-bot INFO", 1));
    assert_ne!(bot, tag_fg("api-server WARN", 0));
    assert_ne!(bot, theme.style(stackdeck::config::Slot::LogInfo).fg.unwrap_or(Color::Reset));
}

/// A timeline: an engine kill and death, an OOM counted three times, a deploy from the history,
/// an alert firing; hostile bytes in a service label.
fn timeline_state(km: &Keymap) -> AppState {
    use stackdeck::domain::{Alert, Happen, Happening, OpRecord, Outcome, Severity, Tone};
    let mut s = demo_state(km);
    let at = |secs: i64| Timestamp::from_second(NOW - secs).unwrap();
    let row = |secs: i64, kind: Happen, svc: &str, what: &str, tone: Tone, times: u32| Happening {
        at: at(secs),
        kind,
        service: format!("trading/{svc}"),
        subject: format!("trading_{svc}_1"),
        what: what.into(),
        tone,
        key: format!("{secs}|{svc}|{}", kind.as_str()),
        container: Some(format!("{svc}-id")),
        times,
    };
    let rows = vec![
        row(600, Happen::Killed, "redis", "was sent SIGKILL", Tone::Warn, 1),
        row(599, Happen::Died, "redis", "exited with code 137", Tone::Bad, 1),
        row(400, Happen::Oom, "api-server", "ran out of memory: the kernel killed a process", Tone::Bad, 3),
        row(120, Happen::Health, "trading-bot", "healthy", Tone::Good, 1),
    ];
    update(&mut s, km, Msg::Engine(EngineEvent::Happened(rows)));
    let deploy = OpRecord {
        id: 4,
        action: "deploy".into(),
        service: "trading/trading-bot".into(),
        from_image: Some("fx-trading-bot:1".into()),
        to_image: Some("fx-trading-bot:2".into()),
        from_image_id: None,
        to_image_id: None,
        actor: "alice".into(),
        started_at: at(200),
        finished_at: Some(at(188)),
        outcome: Outcome::Succeeded,
        reason: None,
        parent: None,
    };
    update(&mut s, km, Msg::History { records: vec![deploy], kill_switches: vec![], backups: vec![], chain: None });
    let alert = Alert {
        name: "DailyLossExceeded".into(),
        severity: Severity::Critical,
        firing: true,
        summary: "Daily loss 6.8% \u{1b}[2Jabove 5%".into(),
        since: Some(at(60)),
        service: Some("trading-bot".into()),
        origin: "local",
    };
    update(
        &mut s,
        km,
        Msg::Observed(stackdeck::domain::Observation {
            source: Default::default(),
            window: Default::default(),
            panels: vec![],
            alerts: vec![alert],
        }),
    );
    key(&mut s, km, KeyCode::Char('7'));
    s
}

#[test]
fn timeline_joins_engine_events_operations_and_alerts_newest_first_in_colour() {
    let km = Keymap::defaults();
    let mut s = timeline_state(&km);
    let theme = Theme::builtin_default();
    let t = render(&s, &theme, &km, 80, 24);
    let screen = t.backend().to_string();
    assert!(!screen.contains("sk_live") && !screen.contains('\u{1b}'), "{screen}");
    insta::assert_snapshot!("timeline_80x24", t.backend());
    // The KIND cell carries the meaning: a death red, a kill yellow, health green.
    let buf = t.backend().buffer();
    // The column of `needle` on its row, in cells (the borders are several bytes each).
    let kind_fg = |needle: &str| {
        let y = row_of(&t, needle);
        let line = screen.lines().nth(usize::from(y)).unwrap();
        let x = line[..line.find(needle).unwrap()].chars().count() as u16;
        buf[(x, y)].fg
    };
    let red = theme.style(stackdeck::config::Slot::Unhealthy).fg;
    assert_eq!(Some(kind_fg("died ")), red);
    assert_eq!(Some(kind_fg("oom ")), red);
    assert_eq!(Some(kind_fg("kill ")), theme.style(stackdeck::config::Slot::Restarting).fg);
    assert_eq!(Some(kind_fg("health ")), theme.style(stackdeck::config::Slot::Healthy).fg);
    // The selection is drawn on the newest row; moving it moves the highlight.
    key(&mut s, &km, KeyCode::Char('j'));
    let t = render(&s, &theme, &km, 80, 24);
    let y = row_of(&t, "health ");
    assert_eq!(Some(t.backend().buffer()[(2, y)].bg), theme.style(stackdeck::config::Slot::Selected).bg);
    // Wide: the date and the container's name.
    let t = render(&s, &theme, &km, 120, 40);
    insta::assert_snapshot!("timeline_120x40", t.backend());
}
