//! The parts of a compose service definition stackdeck acts on, in the compose
//! specification's own words (`deploy.update_config.order: start-first`, ...).

use serde_yaml_ng::Value;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    StopFirst,
    StartFirst,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::StopFirst => "stop-first",
            Order::StartFirst => "start-first",
        }
    }

    pub fn parse(s: &str) -> Option<Order> {
        match s {
            "stop-first" => Some(Order::StopFirst),
            "start-first" => Some(Order::StartFirst),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    Rollback,
    Pause,
    Continue,
}

impl FailureAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Rollback => "rollback",
            FailureAction::Pause => "pause",
            FailureAction::Continue => "continue",
        }
    }

    pub fn parse(s: &str) -> Option<FailureAction> {
        match s {
            "rollback" => Some(FailureAction::Rollback),
            "pause" => Some(FailureAction::Pause),
            "continue" => Some(FailureAction::Continue),
            _ => None,
        }
    }
}

/// `deploy.update_config` or `deploy.rollback_config`: each field only when the file sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateConfig {
    pub order: Option<Order>,
    pub monitor: Option<Duration>,
    pub failure_action: Option<FailureAction>,
    pub delay: Option<Duration>,
}

/// `healthcheck`, as far as the gate's time budget needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSpec {
    pub disabled: bool,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
}

/// A published port: the host side that two instances cannot both hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub host_ip: Option<String>,
    /// `None` = the engine picks one (no clash).
    pub host_port: Option<String>,
    pub target: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceDef {
    /// The image after interpolation: what `docker-compose up` would run.
    pub image: Option<String>,
    /// The image as written in the file (`fx-api-server:${API_TAG:-1}`).
    pub image_template: Option<String>,
    /// The file and line that write it.
    pub image_line: Option<(PathBuf, usize)>,
    pub container_name: Option<String>,
    pub ports: Vec<Published>,
    pub network_mode: Option<String>,
    pub profiles: Vec<String>,
    pub depends_on: Vec<String>,
    pub healthcheck: Option<HealthSpec>,
    pub update: UpdateConfig,
    pub rollback: UpdateConfig,
    /// Off when the service's profiles are not active.
    pub active: bool,
}

/// A compose duration: `1m30s`, `10s`, `500ms`, `1.5s`, `2h`, `100us`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("an empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, after) = rest.split_at(n);
        let v: f64 = num.parse().map_err(|_| format!("'{s}' is not a duration (like 30s, 1m30s or 500ms)"))?;
        let u = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(u);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(format!("'{s}' is not a duration (like 30s, 1m30s or 500ms)")),
        };
        total += v * scale;
        rest = next;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(Duration::from_secs_f64(total))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn dur(v: Option<&Value>, field: &str) -> Result<Option<Duration>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e9)
            .map(|f| Some(Duration::from_secs_f64(f / 1e9)))
            .ok_or_else(|| format!("{field}: {n} is out of range")),
        Some(v) => text(v).map_or_else(
            || Err(format!("{field} is not a duration")),
            |s| duration(&s).map(Some).map_err(|e| format!("{field}: {e}")),
        ),
    }
}

fn update_config(v: Option<&Value>, field: &str) -> Result<UpdateConfig, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(UpdateConfig::default()) };
    let order = match v.get("order").and_then(text) {
        None => None,
        Some(s) => {
            Some(Order::parse(&s).ok_or_else(|| format!("{field}.order: '{s}' is not stop-first or start-first"))?)
        }
    };
    let failure_action = match v.get("failure_action").and_then(text) {
        None => None,
        Some(s) => Some(
            FailureAction::parse(&s)
                .ok_or_else(|| format!("{field}.failure_action: '{s}' is not rollback, pause or continue"))?,
        ),
    };
    Ok(UpdateConfig {
        order,
        monitor: dur(v.get("monitor"), &format!("{field}.monitor"))?,
        failure_action,
        delay: dur(v.get("delay"), &format!("{field}.delay"))?,
    })
}

fn ports(v: Option<&Value>) -> Result<Vec<Published>, String> {
    let Some(Value::Sequence(list)) = v else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for p in list {
        if let Value::Mapping(_) = p {
            out.push(Published {
                host_ip: p.get("host_ip").and_then(text),
                host_port: p.get("published").and_then(text).filter(|s| !s.is_empty()),
                target: p.get("target").and_then(text).unwrap_or_default(),
            });
            continue;
        }
        let s = text(p).ok_or("ports: an entry is not text")?;
        let s = s.split('/').next().unwrap_or_default().to_owned();
        // [ip:][host:]container; an IPv6 address comes in brackets.
        let (ip, rest) = match s.strip_prefix('[') {
            Some(r) => {
                let (ip, after) = r.split_once(']').ok_or_else(|| format!("ports: '{s}' has an unclosed '['"))?;
                (Some(ip.to_owned()), after.trim_start_matches(':').to_owned())
            }
            None => (None, s.clone()),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, target) = match parts.as_slice() {
            [t] => (ip, None, *t),
            [h, t] if ip.is_some() => (ip, Some(*h), *t),
            [h, t] => (None, Some(*h), *t),
            [i, h, t] => (Some((*i).to_owned()), Some(*h), *t),
            _ => return Err(format!("ports: '{s}' is not [ip:][host:]container")),
        };
        out.push(Published {
            host_ip: ip,
            host_port: host.filter(|h| !h.is_empty()).map(str::to_owned),
            target: target.to_owned(),
        });
    }
    Ok(out)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s.iter().filter_map(text).collect(),
        Some(Value::Mapping(m)) => m.keys().filter_map(text).collect(),
        Some(v) => text(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn healthcheck(v: Option<&Value>) -> Result<Option<HealthSpec>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(None) };
    let none_test = strings(v.get("test")).first().is_some_and(|t| t == "NONE");
    let retries = match v.get("retries") {
        None | Some(Value::Null) => None,
        Some(r) => Some(
            r.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| "healthcheck.retries is not a whole number".to_owned())?,
        ),
    };
    Ok(Some(HealthSpec {
        disabled: none_test || v.get("disable").and_then(Value::as_bool).unwrap_or(false),
        interval: dur(v.get("interval"), "healthcheck.interval")?,
        timeout: dur(v.get("timeout"), "healthcheck.timeout")?,
        retries,
        start_period: dur(v.get("start_period"), "healthcheck.start_period")?,
    }))
}

/// Read one (merged, interpolated) service definition.
pub fn service_def(v: &Value) -> Result<ServiceDef, String> {
    let deploy = v.get("deploy");
    Ok(ServiceDef {
        image: v.get("image").and_then(text),
        container_name: v.get("container_name").and_then(text),
        ports: ports(v.get("ports"))?,
        network_mode: v.get("network_mode").and_then(text),
        profiles: strings(v.get("profiles")),
        depends_on: strings(v.get("depends_on")),
        healthcheck: healthcheck(v.get("healthcheck"))?,
        update: update_config(deploy.and_then(|d| d.get("update_config")), "deploy.update_config")?,
        rollback: update_config(deploy.and_then(|d| d.get("rollback_config")), "deploy.rollback_config")?,
        ..ServiceDef::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(y: &str) -> Result<ServiceDef, String> {
        service_def(&serde_yaml_ng::from_str(y).unwrap())
    }

    #[test]
    fn durations() {
        assert_eq!(duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(duration("10 parsecs").is_err());
        assert!(duration("").is_err());
        assert!(duration("99999999999h").is_err());
    }

    #[test]
    fn ports_strategy_and_healthcheck() {
        let d = def("image: x\ncontainer_name: fixed\nports: ['8080:80', '127.0.0.1:9090:90/tcp', '53', {target: 1, published: 2}]\ndepends_on: {db: {condition: service_healthy}}\nhealthcheck: {interval: 5s, retries: 3, start_period: 20s}\ndeploy:\n  update_config: {order: start-first, failure_action: pause, delay: 2s, monitor: 1m}\n  rollback_config: {order: stop-first}\n").unwrap();
        assert_eq!(d.container_name.as_deref(), Some("fixed"));
        assert_eq!(d.ports[0].host_port.as_deref(), Some("8080"));
        assert_eq!(d.ports[1].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(d.ports[2].host_port, None);
        assert_eq!(d.ports[3].host_port.as_deref(), Some("2"));
        assert_eq!(d.depends_on, vec!["db"]);
        let h = d.healthcheck.unwrap();
        assert_eq!(
            (h.interval, h.retries, h.start_period),
            (Some(Duration::from_secs(5)), Some(3), Some(Duration::from_secs(20)))
        );
        assert_eq!(d.update.order, Some(Order::StartFirst));
        assert_eq!(d.update.failure_action, Some(FailureAction::Pause));
        assert_eq!(d.update.monitor, Some(Duration::from_secs(60)));
        assert_eq!(d.rollback.order, Some(Order::StopFirst));
        assert!(def("deploy: {update_config: {order: sideways}}").unwrap_err().contains("sideways"));
        assert!(def("healthcheck: {retries: -1}").is_err());
        assert!(def("healthcheck: {test: [NONE]}").unwrap().healthcheck.unwrap().disabled);
    }
}
