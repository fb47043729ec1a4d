//! Local expressions: the small subset of PromQL a panel needs when stackdeck scrapes the
//! services itself. `metric{label="v"}` (sum of the matching gauges), `rate(metric[1m])`
//! (per-second increase of counters, resets handled) and `quantile(0.95, metric[5m])`
//! (histogram quantile over `metric_bucket`, interpolated inside the bucket, like
//! Prometheus' `histogram_quantile`).

use super::tsdb::{Labels, Tsdb};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum LocalExpr {
    Value(Selector),
    Rate(Selector, i64),
    Quantile(f64, Selector, i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub metric: String,
    pub matchers: Vec<(String, String)>,
}

impl Selector {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const DEFAULT_RATE_MS: i64 = 60_000;
const DEFAULT_QUANTILE_MS: i64 = 300_000;

fn err<T>(s: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(s.into()))
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// `30s`, `1m`, `5m`, `1h` in milliseconds.
fn duration_ms(s: &str) -> Result<i64, ParseError> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| ParseError(format!("bad range '{s}'")))?;
    let mult = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return err(format!("bad range '{s}': use s, m or h")),
    };
    if n == 0 {
        return err("a range of 0");
    }
    Ok(n * mult)
}

/// `metric{a="b",c="d"}[5m]` -> selector and optional range.
fn selector(s: &str) -> Result<(Selector, Option<i64>), ParseError> {
    let s = s.trim();
    let (body, range) = match s.strip_suffix(']') {
        Some(rest) => match rest.rfind('[') {
            Some(i) => (&rest[..i], Some(duration_ms(&rest[i + 1..])?)),
            None => return err("']' without '['"),
        },
        None => (s, None),
    };
    let (name, matchers) = match body.find('{') {
        Some(i) => {
            let Some(inner) = body[i + 1..].strip_suffix('}') else { return err("'{' without '}'") };
            let mut m = Vec::new();
            for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((k, v)) = part.split_once('=') else { return err(format!("matcher '{part}' needs =")) };
                let v = v.trim();
                let Some(v) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
                    return err(format!("matcher value {v} needs double quotes"));
                };
                if !is_name(k.trim()) {
                    return err(format!("bad label name '{}'", k.trim()));
                }
                m.push((k.trim().to_owned(), v.to_owned()));
            }
            (&body[..i], m)
        }
        None => (body, Vec::new()),
    };
    let name = name.trim();
    if !is_name(name) {
        return err(format!("'{name}' is not a metric name"));
    }
    Ok((Selector { metric: name.to_owned(), matchers }, range))
}

impl LocalExpr {
    pub fn parse(s: &str) -> Result<LocalExpr, ParseError> {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let (sel, range) = selector(inner)?;
            return Ok(LocalExpr::Rate(sel, range.unwrap_or(DEFAULT_RATE_MS)));
        }
        if let Some(inner) = s.strip_prefix("quantile(").and_then(|r| r.strip_suffix(')')) {
            let Some((q, sel)) = inner.split_once(',') else { return err("quantile(q, metric) needs two arguments") };
            let q: f64 = q.trim().parse().map_err(|_| ParseError(format!("'{}' is not a number", q.trim())))?;
            if !(0.0..=1.0).contains(&q) {
                return err("the quantile must be between 0 and 1");
            }
            let (sel, range) = selector(sel)?;
            return Ok(LocalExpr::Quantile(q, sel, range.unwrap_or(DEFAULT_QUANTILE_MS)));
        }
        if s.contains('(') {
            return err("only rate(...) and quantile(...) are understood locally");
        }
        let (sel, range) = selector(s)?;
        if range.is_some() {
            return err("a range needs rate(...) or quantile(...)");
        }
        Ok(LocalExpr::Value(sel))
    }

    /// Metric names this expression reads (what the scraper must keep).
    pub fn metric_names(&self) -> Vec<String> {
        match self {
            LocalExpr::Value(s) | LocalExpr::Rate(s, _) => vec![s.metric.clone()],
            LocalExpr::Quantile(_, s, _) => vec![format!("{}_bucket", s.metric)],
        }
    }

    /// The value at time `t` (ms), or None when there is no data.
    pub fn eval(&self, db: &Tsdb, t: i64) -> Option<f64> {
        match self {
            LocalExpr::Value(sel) => {
                let mut sum = None;
                for (labels, series) in db.series(&sel.metric) {
                    if sel.matches(labels)
                        && let Some(v) = series.at(t)
                    {
                        *sum.get_or_insert(0.0) += v;
                    }
                }
                sum
            }
            LocalExpr::Rate(sel, range) => {
                let mut sum = None;
                for (labels, series) in db.series(&sel.metric) {
                    if sel.matches(labels)
                        && let Some((inc, secs)) = series.increase(t - range, t)
                    {
                        *sum.get_or_insert(0.0) += inc / secs;
                    }
                }
                sum
            }
            LocalExpr::Quantile(q, sel, range) => {
                // Increase of every bucket over the range, summed over the other labels by `le`.
                let mut buckets: Vec<(f64, f64)> = Vec::new();
                for (labels, series) in db.series(&format!("{}_bucket", sel.metric)) {
                    if !sel.matches(labels) {
                        continue;
                    }
                    let Some(le) = labels.iter().find(|(k, _)| k == "le").and_then(|(_, v)| parse_le(v)) else {
                        continue;
                    };
                    let Some((inc, _)) = series.increase(t - range, t) else { continue };
                    match buckets.iter_mut().find(|(b, _)| *b == le) {
                        Some(slot) => slot.1 += inc,
                        None => buckets.push((le, inc)),
                    }
                }
                histogram_quantile(*q, &mut buckets)
            }
        }
    }
}

fn parse_le(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        _ => v.parse().ok(),
    }
}

/// Prometheus' bucket interpolation: find the bucket holding the q-th observation and
/// interpolate linearly inside it; the +Inf bucket answers with the highest finite bound.
pub fn histogram_quantile(q: f64, buckets: &mut [(f64, f64)]) -> Option<f64> {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().filter(|(le, _)| le.is_infinite())?.1;
    if total <= 0.0 || buckets.len() < 2 {
        return None;
    }
    let rank = q * total;
    let mut prev_bound = 0.0;
    let mut prev_count = 0.0;
    for &(le, count) in buckets.iter() {
        if count >= rank {
            if le.is_infinite() {
                return Some(prev_bound);
            }
            let in_bucket = count - prev_count;
            if in_bucket <= 0.0 {
                return Some(le);
            }
            return Some(prev_bound + (le - prev_bound) * (rank - prev_count) / in_bucket);
        }
        prev_bound = le;
        prev_count = count;
    }
    Some(prev_bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            LocalExpr::parse("trading_bot_daily_loss_percent").unwrap(),
            LocalExpr::Value(Selector { metric: "trading_bot_daily_loss_percent".into(), matchers: vec![] })
        );
        assert_eq!(
            LocalExpr::parse("rate(trades_total{side=\"buy\"}[30s])").unwrap(),
            LocalExpr::Rate(
                Selector { metric: "trades_total".into(), matchers: vec![("side".into(), "buy".into())] },
                30_000
            )
        );
        let LocalExpr::Quantile(q, s, r) = LocalExpr::parse("quantile(0.95, api_latency_seconds)").unwrap() else {
            panic!("not a quantile")
        };
        assert_eq!((q, s.metric.as_str(), r), (0.95, "api_latency_seconds", 300_000));
    }

    #[test]
    fn rejects_what_it_cannot_do() {
        for bad in ["sum(x)", "x[5m]", "rate(x[5q])", "x{a=b}", "9x", "quantile(2, x)", "quantile(x)", "x{a=\"b\"", ""]
        {
            assert!(LocalExpr::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn quantile_interpolates_like_prometheus() {
        // 100 observations: 50 <= 0.1, 90 <= 0.5, all <= 1.
        let mut b = vec![(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (f64::INFINITY, 100.0)];
        let p50 = histogram_quantile(0.5, &mut b).unwrap();
        assert!((p50 - 0.1).abs() < 1e-9, "{p50}");
        let p95 = histogram_quantile(0.95, &mut b).unwrap();
        assert!((p95 - 0.75).abs() < 1e-9, "{p95}");
        // Everything in +Inf: the highest finite bound.
        let mut b = vec![(0.1, 0.0), (f64::INFINITY, 10.0)];
        assert_eq!(histogram_quantile(0.9, &mut b), Some(0.1));
        assert_eq!(histogram_quantile(0.9, &mut [(0.1, 0.0), (f64::INFINITY, 0.0)]), None);
    }
}
