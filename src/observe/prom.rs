//! The Prometheus HTTP API (instant and range queries, `/api/v1/alerts`) and Alertmanager's
//! `/api/v2/alerts`, as plain JSON over reqwest. Every request has a timeout; every failure is
//! a message for the operator (never a panic): refused, timed out, HTTP status, or "malformed"
//! with what was expected.

use crate::config::observe::PanelConfig;
use crate::domain::{Alert, PanelData, Severity};
use crate::logtext::clean_builtin;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Prom {
    pub client: crate::http::LazyClient,
    pub url: String,
    pub alertmanager: Option<String>,
    pub timeout: Duration,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorItem {
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixItem {
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
struct AlertsData {
    alerts: Vec<PromAlert>,
}

#[derive(Deserialize)]
struct PromAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    state: String,
    #[serde(rename = "activeAt")]
    active_at: Option<String>,
}

#[derive(Deserialize)]
struct AmAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: Option<String>,
    status: AmStatus,
}

#[derive(Deserialize)]
struct AmStatus {
    state: String,
}

/// Labels that name the service an alert is about, in order of preference.
const SERVICE_LABELS: [&str; 5] = ["service", "compose_service", "container", "container_name", "job"];

fn describe(e: reqwest::Error, what: &str, timeout: Duration) -> String {
    format!("{what}: {}", crate::http::http_error(e, timeout))
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => None,
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

impl Prom {
    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        base: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, String> {
        let what = format!("{base}{path}");
        let to = crate::http::target(&what).map_err(|why| format!("{}: {why}", crate::http::shown(&what)))?;
        let resp = self
            .client
            .get(to)
            .query(query)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| describe(e, &what, self.timeout))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| describe(e, &what, self.timeout))?;
        // Prometheus answers 400/422 with a JSON error body: prefer its message.
        if let Ok(env) = serde_json::from_slice::<Envelope<serde_json::Value>>(&body)
            && env.status == "error"
        {
            return Err(format!("{what}: {}", env.error.unwrap_or_else(|| format!("HTTP {status}"))));
        }
        if !status.is_success() {
            return Err(format!("{what}: HTTP {}", status.as_u16()));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{what}: malformed response: {e}"))
    }

    async fn api<T: for<'de> Deserialize<'de>>(&self, path: &str, query: &[(&str, String)]) -> Result<T, String> {
        let env: Envelope<T> = self.get_json(&self.url, path, query).await?;
        match (env.status.as_str(), env.data) {
            ("success", Some(d)) => Ok(d),
            _ => Err(format!(
                "{}{path}: {}",
                self.url,
                env.error.unwrap_or_else(|| format!("status '{}' without data", env.status))
            )),
        }
    }

    /// Alerts, from Alertmanager when configured (falling back to Prometheus' own list when it
    /// does not answer), else from Prometheus. An error means Prometheus did not answer.
    pub async fn alerts(&self) -> Result<Vec<Alert>, String> {
        let data: AlertsData = self.api("/api/v1/alerts", &[]).await?;
        if let Some(am) = &self.alertmanager {
            match self.get_json::<Vec<AmAlert>>(am, "/api/v2/alerts", &[("active", "true".into())]).await {
                Ok(list) => return Ok(list.into_iter().filter_map(from_am).collect()),
                Err(e) => tracing::warn!("alertmanager: {e}; showing Prometheus' alerts instead"),
            }
        }
        Ok(data.alerts.into_iter().filter_map(from_prom).collect())
    }

    /// The values of an instant query now (one per series).
    pub async fn instant(&self, q: &str) -> Result<Vec<f64>, String> {
        let d = self.api::<QueryData>("/api/v1/query", &[("query", q.to_owned())]).await?;
        instant_values(&d)
    }

    /// The value now (instant query) and the series over the window (range query).
    pub async fn panel(&self, index: usize, p: &PanelConfig, window_secs: i64, now_secs: f64) -> PanelData {
        let Some(q) = &p.query else {
            return PanelData::failed(index, "no PromQL query for this panel (shown when scraping)".into());
        };
        let step = (window_secs / super::POINTS as i64).max(1);
        let iq = [("query", q.clone()), ("time", format!("{now_secs:.3}"))];
        let rq = [
            ("query", q.clone()),
            ("start", format!("{:.3}", now_secs - window_secs as f64)),
            ("end", format!("{now_secs:.3}")),
            ("step", step.to_string()),
        ];
        let instant = self.api::<QueryData>("/api/v1/query", &iq);
        let range = self.api::<QueryData>("/api/v1/query_range", &rq);
        let (instant, range) = futures::join!(instant, range);
        let mut out = PanelData { index, ..PanelData::default() };
        match instant.and_then(|d| instant_values(&d)) {
            Ok(values) => out.value = worst(&values, p.below),
            Err(e) => out.error = Some(e),
        }
        match range.and_then(|d| range_series(&d)) {
            Ok(mut series) => {
                out.extra_series = series.len().saturating_sub(1);
                if !series.is_empty() {
                    out.points = series.swap_remove(0);
                }
            }
            Err(e) => {
                out.error.get_or_insert(e);
            }
        }
        out
    }
}

/// The value a threshold is checked against when a query returns several series: the worst.
pub fn worst(values: &[f64], below: bool) -> Option<f64> {
    let it = values.iter().copied();
    if below { it.reduce(f64::min) } else { it.reduce(f64::max) }
}

fn instant_values(d: &QueryData) -> Result<Vec<f64>, String> {
    match d.result_type.as_str() {
        "vector" => {
            let items: Vec<VectorItem> =
                serde_json::from_value(d.result.clone()).map_err(|e| format!("malformed vector result: {e}"))?;
            Ok(items.iter().filter_map(|i| parse_value(&i.value.1)).collect())
        }
        "scalar" => {
            let (_, v): (f64, String) =
                serde_json::from_value(d.result.clone()).map_err(|e| format!("malformed scalar result: {e}"))?;
            Ok(parse_value(&v).into_iter().collect())
        }
        other => Err(format!("the query returns a {other}, a panel needs a number")),
    }
}

fn range_series(d: &QueryData) -> Result<Vec<Vec<(i64, f64)>>, String> {
    if d.result_type != "matrix" {
        return Err(format!("range query returned a {}", d.result_type));
    }
    let items: Vec<MatrixItem> =
        serde_json::from_value(d.result.clone()).map_err(|e| format!("malformed matrix result: {e}"))?;
    Ok(items
        .into_iter()
        .map(|i| {
            i.values.iter().filter_map(|(t, v)| parse_value(v).map(|v| ((t * 1000.0) as i64, v))).collect::<Vec<_>>()
        })
        .collect())
}

fn service_of(labels: &BTreeMap<String, String>) -> Option<String> {
    SERVICE_LABELS.iter().find_map(|k| labels.get(*k).cloned())
}

fn severity(labels: &BTreeMap<String, String>) -> Severity {
    match labels.get("severity").map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("critical" | "page" | "error") => Severity::Critical,
        Some("warning" | "warn") => Severity::Warning,
        _ => Severity::Info,
    }
}

fn summary(labels: &BTreeMap<String, String>, ann: &BTreeMap<String, String>) -> String {
    ann.get("summary")
        .or_else(|| ann.get("description"))
        .or_else(|| ann.get("message"))
        .cloned()
        .unwrap_or_else(|| labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
}

fn from_prom(a: PromAlert) -> Option<Alert> {
    let firing = match a.state.as_str() {
        "firing" => true,
        "pending" => false,
        _ => return None,
    };
    Some(Alert {
        name: clean_builtin(a.labels.get("alertname")?),
        severity: severity(&a.labels),
        firing,
        summary: clean_builtin(&summary(&a.labels, &a.annotations)),
        since: a.active_at.and_then(|t| t.parse().ok()),
        service: service_of(&a.labels).map(|s| clean_builtin(&s)),
        origin: "prometheus",
    })
}

fn from_am(a: AmAlert) -> Option<Alert> {
    if a.status.state == "suppressed" {
        return None;
    }
    Some(Alert {
        name: clean_builtin(a.labels.get("alertname")?),
        severity: severity(&a.labels),
        firing: true,
        summary: clean_builtin(&summary(&a.labels, &a.annotations)),
        since: a.starts_at.and_then(|t| t.parse().ok()),
        service: service_of(&a.labels).map(|s| clean_builtin(&s)),
        origin: "alertmanager",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_from_both_apis() {
        let p: Envelope<AlertsData> = serde_json::from_str(
            r#"{"status":"success","data":{"alerts":[
              {"labels":{"alertname":"DailyLossExceeded","severity":"critical","service":"trading-bot"},
               "annotations":{"summary":"Daily loss limit exceeded"},"state":"firing",
               "activeAt":"2026-11-22T10:00:00.5Z","value":"6.8e+00"},
              {"labels":{"alertname":"X"},"state":"inactive"}]}}"#,
        )
        .unwrap();
        let a: Vec<Alert> = p.data.unwrap().alerts.into_iter().filter_map(from_prom).collect();
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].name.as_str(), a[0].severity, a[0].firing, a[0].service.as_deref()),
            ("DailyLossExceeded", Severity::Critical, true, Some("trading-bot"))
        );
        assert_eq!(a[0].since.unwrap().to_string(), "2026-11-22T10:00:00.5Z");
        let am: Vec<AmAlert> = serde_json::from_str(
            r#"[{"labels":{"alertname":"HighCpuUsage","severity":"warning","job":"node"},"annotations":{},
                 "startsAt":"2026-11-22T10:00:00Z","status":{"state":"active"}},
                {"labels":{"alertname":"Muted"},"startsAt":"2026-11-22T10:00:00Z","status":{"state":"suppressed"}}]"#,
        )
        .unwrap();
        let a: Vec<Alert> = am.into_iter().filter_map(from_am).collect();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].severity, a[0].service.as_deref()), (Severity::Warning, Some("node")));
        assert_eq!(a[0].summary, "alertname=HighCpuUsage job=node severity=warning");
    }

    #[test]
    fn query_results() {
        let d: QueryData = serde_json::from_str(
            r#"{"resultType":"vector","result":[{"metric":{},"value":[1.5,"6.8"]},{"metric":{},"value":[1.5,"NaN"]}]}"#,
        )
        .unwrap();
        assert_eq!(instant_values(&d).unwrap(), vec![6.8]);
        let d: QueryData =
            serde_json::from_str(r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2.5,"2"]]}]}"#)
                .unwrap();
        assert_eq!(range_series(&d).unwrap(), vec![vec![(1000, 1.0), (2500, 2.0)]]);
        let d: QueryData = serde_json::from_str(r#"{"resultType":"vector","result":[{"value":"x"}]}"#).unwrap();
        assert!(instant_values(&d).unwrap_err().contains("malformed"));
        let d: QueryData = serde_json::from_str(r#"{"resultType":"string","result":[1,"x"]}"#).unwrap();
        assert!(instant_values(&d).is_err());
        assert_eq!(worst(&[1.0, 3.0], false), Some(3.0));
        assert_eq!(worst(&[1.0, 3.0], true), Some(1.0));
    }
}
