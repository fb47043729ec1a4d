//! In-process costs the panel pays on every frame and every log line (issue 5, scenario 6):
//! - rendering a full 200x60 frame of each pane with everything populated;
//! - log ingestion into the ring buffer: lines/s for the push alone, and for the whole path a
//!   line takes (sanitize, mask, JSON compaction, push).
//!
//! Run: `cargo bench --bench panel` (scripts/bench.sh prints the whole-process figures).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use stackdeck::config::{Keymap, Stack, Theme};
use stackdeck::domain::EngineInfo;
use stackdeck::domain::{Alert, Observation, PanelData, Severity, Source, Window};
use stackdeck::domain::{Container, ContainerId, Health, RunState, ServiceKey, StatsSample};
use stackdeck::logtext::{LogLine, Masker};
use stackdeck::msg::{EngineEvent, LogBatch, Msg};
use stackdeck::state::AppState;
use stackdeck::state::logs::LogView;
use stackdeck::ui::{self, View};
use stackdeck::update::update;
use std::hint::black_box;

const NOW: i64 = 1_795_000_000;

fn raw_lines(n: usize) -> Vec<Vec<u8>> {
    let kinds: [&[u8]; 4] = [
        br#"{"timestamp":"2026-11-22T10:00:00Z","level":"INFO","target":"trading_bot::orders","message":"order filled","symbol":"BTC-USD","qty":"0.05"}"#,
        b"2026-11-22T10:00:01Z  WARN api_server::auth: rejected header=\"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def\"",
        b"2026-11-22T10:00:02Z ERROR db: query timeout after 5000ms: SELECT * FROM trades WHERE ts > $1",
        b"2026-11-22T10:00:03Z DEBUG cache: redis stats hit_ratio=0.93 keys=10442",
    ];
    (0..n).map(|i| [format!("2026-11-22T10:00:{:02}.{i:09}Z ", i % 60).as_bytes(), kinds[i % 4]].concat()).collect()
}

fn container(i: usize) -> Container {
    let service = format!("service-{i:02}");
    Container {
        id: ContainerId(format!("{i:064x}")),
        name: format!("trading_{service}_1"),
        key: ServiceKey::new(Some("trading"), &service),
        state: RunState::Running,
        health: if i % 7 == 3 { Health::Unhealthy } else { Health::Healthy },
        image: format!("fx-{service}:1"),
        image_id: format!("sha256:{i:064x}"),
        started_at: Some(Timestamp::from_second(NOW - 3600).unwrap()),
        finished_at: None,
        restarts: 0,
        exit_code: None,
        memory_limit: 0,
        pid: None,
        compose: None,
    }
}

fn stack() -> Stack {
    let mut text = String::from("[services.service-01]\nkill_switch = true\n");
    for i in 0..7 {
        text.push_str(&format!(
            "[[panels]]\ntitle = \"Panel {i}\"\nquery = \"q{i}\"\nunit = \"%\"\nwarn = 3\ncritical = 5\nservice = \"service-01\"\n"
        ));
    }
    Stack::parse("bench.toml", &text).unwrap()
}

/// Everything populated: 30 services, a full log buffer, stats, panels, alerts, availability.
fn full_state(km: &Keymap) -> AppState {
    let mut s =
        AppState::new("unix:///var/run/docker.sock", "default", Timestamp::from_second(NOW).unwrap(), 10_000, 200);
    let info = EngineInfo {
        host: "unix:///var/run/docker.sock".into(),
        source: "default".into(),
        api_version: "1.41".into(),
        server_version: "20.10".into(),
        cpus: None,
        memory: None,
    };
    update(&mut s, km, Msg::Engine(EngineEvent::Connected(info)));
    update(&mut s, km, Msg::Engine(EngineEvent::Snapshot((0..30).map(container).collect())));
    s.kill_switch_targets = vec!["service-01".into()];
    let m = Masker::default();
    let lines: Vec<LogLine> = raw_lines(10_000).iter().map(|r| LogLine::from_raw(r, false, &m)).collect();
    let (container, generation) = (s.logs.container.clone().unwrap(), s.logs.generation);
    update(
        &mut s,
        km,
        Msg::Engine(EngineEvent::Logs(LogBatch { generation, container, lines, skipped: 0, ended: None })),
    );
    for c in (0..30).map(container_id) {
        for i in 0..120u64 {
            let st = StatsSample {
                cpu_percent: (i % 10) as f64,
                mem_bytes: (100 + i) << 20,
                mem_limit: 8 << 30,
                net_rx: i * 1000,
                net_tx: i * 500,
                blk_read: i,
                blk_write: i,
                from: stackdeck::domain::StatsFrom::Engine,
            };
            update(&mut s, km, Msg::Engine(EngineEvent::Stats(vec![(c.clone(), st)])));
        }
    }
    let now_ms = NOW * 1000;
    let panels = (0..7)
        .map(|p| PanelData {
            index: p,
            points: (0..120)
                .map(|i| (now_ms - (119 - i) * 2500, (i as f64 * 0.1 + p as f64).sin() * 3.0 + 3.0))
                .collect(),
            value: Some(p as f64),
            extra_series: 0,
            error: None,
        })
        .collect();
    let alerts = (0..4)
        .map(|i| Alert {
            name: format!("Alert{i}"),
            severity: if i == 0 { Severity::Critical } else { Severity::Warning },
            firing: i < 3,
            summary: "something is wrong".into(),
            since: Some(Timestamp::from_second(NOW - 60).unwrap()),
            service: Some("service-01".into()),
            origin: "prometheus",
        })
        .collect();
    s.observe.configured = true;
    update(&mut s, km, Msg::Observed(Observation { source: Source::Prometheus, window: Window::M5, panels, alerts }));
    for i in 0..30 {
        update(&mut s, km, Msg::Tick(Timestamp::from_second(NOW - 300 + i * 10).unwrap()));
    }
    s
}

fn container_id(i: usize) -> ContainerId {
    ContainerId(format!("{i:064x}"))
}

fn render(c: &mut Criterion) {
    let km = Keymap::defaults();
    let theme = Theme::builtin_default();
    let stack = stack();
    let mut g = c.benchmark_group("render_200x60");
    for (pane, key) in [("logs", '2'), ("metrics", '3'), ("history", '4'), ("charts", '5'), ("alerts", '6')] {
        let mut s = full_state(&km);
        update(&mut s, &km, Msg::Key(KeyEvent::new(KeyCode::Char(key), KeyModifiers::NONE)));
        let mut t = Terminal::new(TestBackend::new(200, 60)).unwrap();
        g.bench_function(pane, |b| {
            b.iter(|| {
                // A full redraw each time: clear the previous buffer so nothing is diffed away.
                t.clear().unwrap();
                t.draw(|f| ui::draw(f, &View { state: &s, theme: &theme, keymap: &km, stack: &stack })).unwrap();
            })
        });
    }
    g.finish();
}

fn ingest(c: &mut Criterion) {
    let m = Masker::default();
    let raw = raw_lines(100_000);
    let parsed: Vec<LogLine> = raw.iter().map(|r| LogLine::from_raw(r, false, &m)).collect();
    let mut g = c.benchmark_group("log_ingest");
    g.throughput(Throughput::Elements(parsed.len() as u64));
    g.bench_function("ring_buffer_push", |b| {
        b.iter_batched(
            || (LogView::new(10_000), parsed.clone()),
            |(mut v, lines)| {
                v.push(lines);
                black_box(v.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("sanitize_mask_json_push", |b| {
        b.iter_batched(
            || LogView::new(10_000),
            |mut v| {
                v.push(raw.iter().map(|r| LogLine::from_raw(r, false, &m)));
                black_box(v.len())
            },
            BatchSize::LargeInput,
        )
    });
    // The whole path for each kind of line in the mix, to see which kind costs what.
    for (kind, name) in ["json", "bearer", "error", "logfmt"].iter().enumerate() {
        let only: Vec<&Vec<u8>> = raw.iter().skip(kind).step_by(4).collect();
        g.throughput(Throughput::Elements(only.len() as u64));
        g.bench_function(format!("whole_path_{name}_lines"), |b| {
            b.iter(|| only.iter().map(|r| LogLine::from_raw(r, false, &m).text.len()).sum::<usize>())
        });
    }
    g.throughput(Throughput::Elements(parsed.len() as u64));
    // The stages of the full path, to see where a line's time goes.
    let texts: Vec<String> = raw.iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect();
    g.bench_function("stage_sanitize", |b| {
        b.iter(|| raw.iter().map(|r| stackdeck::logtext::sanitize(r).text.len()).sum::<usize>())
    });
    g.bench_function("stage_mask", |b| b.iter(|| texts.iter().map(|t| m.mask(t).len()).sum::<usize>()));
    g.bench_function("stage_json", |b| {
        b.iter(|| {
            texts
                .iter()
                .filter_map(|t| stackdeck::logtext::json::compact(t.split_once(' ').map_or(t.as_str(), |x| x.1)))
                .count()
        })
    });
    g.bench_function("stage_level", |b| {
        b.iter(|| texts.iter().map(|t| stackdeck::logtext::level::detect(t) as usize).sum::<usize>())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = render, ingest
}
criterion_main!(benches);
