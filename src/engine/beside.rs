//! The engine side of start-first deploys and of recreating a container on its networks: the
//! endpoints (networks and their aliases, so the service name keeps resolving to the new
//! instance) carried in a container's recipe, what makes a second instance beside the first
//! impossible, and the healthcheck's own time budget.

use bollard::models::{ContainerInspectResponse, EndpointSettings, NetworkingConfig};
use std::collections::HashMap;
use std::time::Duration;

/// The container's endpoints as a create body carries them: every network with its aliases
/// (less the old container's own id alias) and links; addresses are left to the engine.
pub fn endpoints(ins: &ContainerInspectResponse) -> Option<NetworkingConfig> {
    let nets = ins.network_settings.as_ref()?.networks.as_ref()?;
    let own = ins.id.as_deref().unwrap_or("");
    let mut out = HashMap::new();
    for (name, ep) in nets {
        let aliases: Vec<String> =
            ep.aliases.iter().flatten().filter(|a| a.len() < 12 || !own.starts_with(a.as_str())).cloned().collect();
        out.insert(
            name.clone(),
            EndpointSettings {
                aliases: (!aliases.is_empty()).then_some(aliases),
                links: ep.links.clone(),
                ipam_config: ep.ipam_config.clone(),
                ..Default::default()
            },
        );
    }
    (!out.is_empty()).then_some(NetworkingConfig { endpoints_config: Some(out) })
}

/// The same endpoints without their aliases (a start-first instance while it is gated).
pub fn without_aliases(cfg: Option<NetworkingConfig>) -> Option<NetworkingConfig> {
    let mut cfg = cfg?;
    for ep in cfg.endpoints_config.iter_mut().flat_map(|m| m.values_mut()) {
        ep.aliases = None;
    }
    Some(cfg)
}

/// Split a recipe's endpoints into the one the engine takes at create (the network of
/// `network_mode`; API < 1.44 takes only one) and the ones connected before start.
pub fn split_endpoints(
    cfg: Option<NetworkingConfig>,
    network_mode: Option<&str>,
) -> (Option<NetworkingConfig>, Vec<(String, EndpointSettings)>) {
    let Some(mut all) = cfg.and_then(|c| c.endpoints_config) else { return (None, Vec::new()) };
    let primary = network_mode.and_then(|m| all.remove_entry(m));
    let create = primary.map(|(k, v)| NetworkingConfig { endpoints_config: Some(HashMap::from([(k, v)])) });
    let mut rest: Vec<(String, EndpointSettings)> = all.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    (create, rest)
}

/// Why a second instance of this container cannot run beside it, each with what to change.
pub fn blockers(ins: &ContainerInspectResponse) -> Vec<String> {
    let mut out = Vec::new();
    let host = ins.host_config.as_ref();
    let mode = host.and_then(|h| h.network_mode.as_deref()).unwrap_or("");
    if mode == "host" {
        out.push(
            "it uses host networking: a second instance would bind the same ports (put a proxy in front and give the service a network of its own)"
                .to_owned(),
        );
    }
    let mut ports: Vec<String> = host
        .and_then(|h| h.port_bindings.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|(target, binds)| {
            binds.iter().flatten().filter_map(move |b| {
                let p = b.host_port.as_deref().filter(|p| !p.is_empty() && *p != "0")?;
                let ip = b.host_ip.as_deref().filter(|i| !i.is_empty()).map_or_else(String::new, |i| format!("{i}:"));
                Some(format!("{ip}{p}->{target}"))
            })
        })
        .collect();
    ports.sort();
    if !ports.is_empty() {
        out.push(format!(
            "it publishes host port{} {}: two instances cannot both hold {} (put a proxy in front that reaches the service by its network name, and publish the port on the proxy)",
            if ports.len() == 1 { "" } else { "s" },
            ports.join(", "),
            if ports.len() == 1 { "it" } else { "them" }
        ));
    }
    let fixed_ip =
        ins.network_settings.as_ref().and_then(|n| n.networks.as_ref()).into_iter().flatten().any(|(_, ep)| {
            ep.ipam_config.as_ref().is_some_and(|c| c.ipv4_address.as_deref().is_some_and(|a| !a.is_empty()))
        });
    if fixed_ip {
        out.push("it has a fixed IP address on its network (drop ipv4_address)".to_owned());
    }
    out
}

/// How long the engine may take to call the healthcheck's verdict: start_period, then retries
/// failed checks, each an interval plus its timeout (the engine's defaults where unset: 30 s,
/// 30 s, 3 retries, no start period). `None` without a healthcheck.
pub fn health_budget(ins: &ContainerInspectResponse) -> Option<Duration> {
    let hc = ins.config.as_ref()?.healthcheck.as_ref()?;
    let test = hc.test.as_deref().unwrap_or_default();
    if test.is_empty() || test.first().is_some_and(|t| t == "NONE") {
        return None;
    }
    let ns =
        |v: Option<i64>, d: u64| Duration::from_nanos(v.filter(|n| *n > 0).map_or(d * 1_000_000_000, |n| n as u64));
    let interval = ns(hc.interval, 30);
    let timeout = ns(hc.timeout, 30);
    let retries = hc.retries.filter(|r| *r > 0).unwrap_or(3) as u32;
    let start = ns(hc.start_period, 0);
    Some(start + (interval + timeout) * retries + interval)
}
