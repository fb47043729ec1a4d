//! Direct scraping: GET each target's `/metrics` (with a timeout and a size cap), parse the
//! Prometheus text exposition format with `prometheus-parse`, keep what panels read.

use super::tsdb::{Labels, Tsdb};
use std::time::Duration;

/// A `/metrics` body larger than this is refused (a hostile or broken endpoint must not make
/// stackdeck allocate without bound).
const MAX_BODY: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct Target {
    pub service: String,
    pub url: String,
}

/// Fetch one target's exposition text.
pub async fn fetch(client: &reqwest::Client, t: &Target, timeout: Duration) -> Result<String, String> {
    let what = format!("scrape {} ({})", t.service, t.url);
    let to = crate::http::target(&t.url).map_err(|why| format!("{what}: {why}"))?;
    let mut resp = client
        .get(to)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("{what}: {}", crate::http::http_error(e, timeout)))?;
    if !resp.status().is_success() {
        return Err(format!("{what}: HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(timeout, resp.chunk()).await {
            Err(_) => return Err(format!("{what}: body not complete within {} s", timeout.as_secs())),
            Ok(Err(e)) => return Err(format!("{what}: {e}")),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(c))) => {
                if body.len() + c.len() > MAX_BODY {
                    return Err(format!("{what}: body larger than {} MiB, ignored", MAX_BODY >> 20));
                }
                body.extend_from_slice(&c);
            }
        }
    }
    String::from_utf8(body).map_err(|_| format!("{what}: malformed response (not UTF-8 text)"))
}

fn fmt_le(v: f64) -> String {
    if v.is_infinite() { "+Inf".into() } else { v.to_string() }
}

/// Parse exposition text and store the wanted samples at `t` (ms), each labelled with the
/// target's service. Returns how many samples were kept.
pub fn ingest(db: &mut Tsdb, service: &str, text: &str, t: i64) -> Result<usize, String> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .map_err(|e| format!("malformed exposition text: {e}"))?;
    let mut kept = 0;
    for s in scrape.samples {
        let mut labels: Labels = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if !labels.iter().any(|(k, _)| k == "service") {
            labels.push(("service".into(), service.to_owned()));
        }
        labels.sort();
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => kept += usize::from(db.insert(&s.metric, labels, t, v)),
            prometheus_parse::Value::Histogram(buckets) => {
                let name = format!("{}_bucket", s.metric);
                if !db.wants(&name) {
                    continue;
                }
                for b in buckets {
                    let mut l = labels.clone();
                    l.push(("le".into(), fmt_le(b.less_than)));
                    l.sort();
                    kept += usize::from(db.insert(&name, l, t, b.count));
                }
            }
            prometheus_parse::Value::Summary(_) => {}
        }
    }
    Ok(kept)
}

/// `up{service=...}`: 1 when the scrape worked, 0 when it did not (as Prometheus records it).
pub fn record_up(db: &mut Tsdb, service: &str, ok: bool, t: i64) {
    db.insert("up", vec![("service".into(), service.to_owned())], t, if ok { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::expr::LocalExpr;

    fn text(buy: u32, b: [u32; 4]) -> String {
        format!(
            r#"# HELP trading_bot_daily_loss_percent Loss.
# TYPE trading_bot_daily_loss_percent gauge
trading_bot_daily_loss_percent 6.80
# TYPE trading_bot_trades_total counter
trading_bot_trades_total{{side="buy"}} {buy}
trading_bot_trades_total{{side="sell"}} 5
# TYPE lat_seconds histogram
lat_seconds_bucket{{endpoint="x",le="0.1"}} {}
lat_seconds_bucket{{endpoint="x",le="0.5"}} {}
lat_seconds_bucket{{endpoint="x",le="1"}} {}
lat_seconds_bucket{{endpoint="x",le="+Inf"}} {}
lat_seconds_sum{{endpoint="x"}} 20
lat_seconds_count{{endpoint="x"}} 100
not a metric line at all
"#,
            b[0], b[1], b[2], b[3]
        )
    }

    #[test]
    fn gauges_counters_and_histograms_from_real_exposition_text() {
        let exprs =
            ["trading_bot_daily_loss_percent", "rate(trading_bot_trades_total[1m])", "quantile(0.95, lat_seconds)"]
                .map(|e| LocalExpr::parse(e).unwrap());
        let mut db = Tsdb::new(exprs.iter().flat_map(LocalExpr::metric_names));
        assert_eq!(ingest(&mut db, "trading-bot", &text(10, [50, 90, 100, 100]), 0).unwrap(), 7);
        // 10 s later: 30 more buys; 100 more observations, 50 <= 0.1, 90 <= 0.5, all <= 1.
        ingest(&mut db, "trading-bot", &text(40, [100, 180, 200, 200]), 10_000).unwrap();
        assert_eq!(exprs[0].eval(&db, 10_000), Some(6.8));
        assert_eq!(exprs[1].eval(&db, 10_000), Some(3.0), "30 buys in 10 s");
        let p95 = exprs[2].eval(&db, 10_000).unwrap();
        assert!((p95 - 0.75).abs() < 1e-9, "{p95}");
        let sel = LocalExpr::parse("trading_bot_daily_loss_percent{service=\"trading-bot\"}").unwrap();
        assert_eq!(sel.eval(&db, 10_000), Some(6.8));
        let other = LocalExpr::parse("trading_bot_daily_loss_percent{service=\"other\"}").unwrap();
        assert_eq!(other.eval(&db, 10_000), None);
    }
}
