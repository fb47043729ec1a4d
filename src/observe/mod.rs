//! Observability: chart panels and alerts from Prometheus, or, when no Prometheus is
//! configured or it does not answer, from the services' own `/metrics` scraped directly with
//! the same threshold rules evaluated locally. Host resources and webhooks live beside it.
//! Everything runs on background tasks that report through [`Msg`]s; nothing here can block
//! the panel.

pub mod expr;
pub mod host;
pub mod node;
pub mod prom;
pub mod rules;
pub mod scrape;
pub mod tsdb;

use crate::config::Stack;
use crate::config::observe::PanelConfig;
use crate::domain::{Alert, Observation, PanelData, Severity, Source, Window};
use crate::msg::Msg;
use crate::notify::Notifier;
use expr::LocalExpr;
use jiff::Timestamp;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Points per chart (a range query's step is the window divided by this).
pub const POINTS: usize = 120;

/// Is anything configured that the observer would do?
pub fn configured(stack: &Stack) -> bool {
    let c = &stack.config;
    c.prometheus.url.is_some() || !c.scrape.targets.is_empty() || !c.panels.is_empty()
}

struct Observer {
    prom: Option<prom::Prom>,
    prom_every: Duration,
    scrape_every: Duration,
    scrape_timeout: Duration,
    targets: Vec<scrape::Target>,
    panels: Vec<PanelConfig>,
    locals: Vec<Option<LocalExpr>>,
    client: crate::http::LazyClient,
    tx: mpsc::Sender<Msg>,
    notifier: Notifier,
}

/// Start the observer; the returned sender changes the window (and refreshes at once).
pub fn spawn(stack: &Stack, tx: mpsc::Sender<Msg>, notifier: Notifier) -> watch::Sender<Window> {
    let (wtx, wrx) = watch::channel(Window::default());
    let c = &stack.config;
    let client = crate::http::LazyClient;
    let prom = c.prometheus.url.as_ref().map(|u| prom::Prom {
        client,
        url: u.get_ref().trim_end_matches('/').to_owned(),
        alertmanager: c.prometheus.alertmanager_url.as_ref().map(|u| u.get_ref().trim_end_matches('/').to_owned()),
        timeout: c.prometheus.timeout(),
    });
    let locals = c.panels.iter().map(|p| p.local.as_ref().and_then(|l| LocalExpr::parse(l.get_ref()).ok())).collect();
    let obs = Observer {
        prom,
        prom_every: c.prometheus.interval(),
        scrape_every: c.scrape.interval(),
        scrape_timeout: c.scrape.timeout(),
        targets: c
            .scrape
            .targets
            .iter()
            .map(|t| scrape::Target { service: t.service.clone(), url: t.url.get_ref().clone() })
            .collect(),
        panels: c.panels.clone(),
        locals,
        client,
        tx,
        notifier,
    };
    tokio::spawn(obs.run(wrx));
    wtx
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

impl Observer {
    async fn run(self, mut wrx: watch::Receiver<Window>) {
        let wanted = self.locals.iter().flatten().flat_map(LocalExpr::metric_names);
        let mut db = tsdb::Tsdb::new(wanted);
        let mut sustain = rules::Sustain::default();
        let mut tracker = rules::AlertTracker::default();
        let mut prom_error: Option<String> = None;
        let mut errors = std::collections::HashMap::<String, String>::new();
        let mut refused_reported = 0;
        loop {
            let window = *wrx.borrow_and_update();
            let mut obs = None;
            if let Some(p) = &self.prom {
                match p.alerts().await {
                    Ok(alerts) => {
                        if prom_error.take().is_some() {
                            tracing::info!("prometheus {} answers again: metrics and alerts from it", p.url);
                        }
                        let now_s = now_ms() as f64 / 1000.0;
                        let jobs = self.panels.iter().enumerate().map(|(i, pc)| p.panel(i, pc, window.secs(), now_s));
                        let panels = futures::future::join_all(jobs).await;
                        obs = Some(Observation { source: Source::Prometheus, window, panels, alerts });
                    }
                    Err(e) => {
                        if prom_error.as_ref() != Some(&e) {
                            let then = if self.targets.is_empty() {
                                "no scrape targets configured"
                            } else {
                                "scraping the services directly"
                            };
                            tracing::warn!("prometheus: {e}; {then}");
                        }
                        prom_error = Some(e);
                    }
                }
            }
            let obs = match obs {
                Some(o) => o,
                None => {
                    self.scrape_round(&mut db, &mut errors).await;
                    if db.refused > refused_reported {
                        tracing::warn!(
                            "direct scraping: {} series beyond the cap of {} were not kept",
                            db.refused,
                            tsdb::MAX_SERIES
                        );
                        refused_reported = db.refused;
                    }
                    let panels = self.local_panels(&db, window, now_ms());
                    let alerts = rules::panel_alerts(&self.panels, &panels, Timestamp::now(), &mut sustain);
                    let source = if self.prom.is_none() && self.targets.is_empty() {
                        Source::None
                    } else {
                        Source::Scrape { fallback: prom_error.clone() }
                    };
                    Observation { source, window, panels, alerts }
                }
            };
            for p in &obs.panels {
                let key = format!("panel {}", p.index);
                match &p.error {
                    Some(e) if errors.get(&key) != Some(e) => {
                        let title = self.panels.get(p.index).map_or("?", |c| c.title.as_str());
                        tracing::warn!("panel '{title}': {e}");
                        errors.insert(key, e.clone());
                    }
                    None => {
                        errors.remove(&key);
                    }
                    _ => {}
                }
            }
            for change in tracker.update(&obs.alerts) {
                self.notifier.send_shared(change.text());
            }
            let every = if obs.source == Source::Prometheus { self.prom_every } else { self.scrape_every };
            if self.tx.send(Msg::Observed(obs)).await.is_err() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                r = wrx.changed() => if r.is_err() { return },
            }
        }
    }

    async fn scrape_round(&self, db: &mut tsdb::Tsdb, errors: &mut std::collections::HashMap<String, String>) {
        let jobs = self.targets.iter().map(|t| scrape::fetch(&self.client, t, self.scrape_timeout));
        let bodies = futures::future::join_all(jobs).await;
        let t = now_ms();
        for (target, body) in self.targets.iter().zip(bodies) {
            let key = format!("scrape {}", target.service);
            let result = body.and_then(|b| scrape::ingest(db, &target.service, &b, t));
            scrape::record_up(db, &target.service, result.is_ok(), t);
            match result {
                Ok(_) => {
                    if errors.remove(&key).is_some() {
                        tracing::info!("scrape {}: answers again", target.service);
                    }
                }
                Err(e) => {
                    if errors.get(&key) != Some(&e) {
                        tracing::warn!("{e}");
                        errors.insert(key, e);
                    }
                }
            }
        }
    }

    /// Panels computed from the scraped samples.
    fn local_panels(&self, db: &tsdb::Tsdb, window: Window, now: i64) -> Vec<PanelData> {
        let span = window.secs() * 1000;
        let step = (span / POINTS as i64).max(1);
        self.locals
            .iter()
            .enumerate()
            .map(|(i, e)| match e {
                None => PanelData::failed(i, "no local expression: shown when Prometheus answers".into()),
                Some(e) => {
                    let points: Vec<(i64, f64)> = (0..=POINTS as i64)
                        .map(|k| now - span + k * step)
                        .filter_map(|t| e.eval(db, t).map(|v| (t, v)))
                        .collect();
                    let value = e.eval(db, now);
                    let error =
                        (value.is_none() && self.targets.is_empty()).then(|| "no scrape targets configured".to_owned());
                    PanelData { index: i, points, value, extra_series: 0, error }
                }
            })
            .collect()
    }
}
