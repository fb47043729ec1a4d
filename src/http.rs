//! The HTTP client every outgoing request uses (health probes, Prometheus, scraping, webhooks)
//! and one wording of HTTP failures. Below every layer that talks HTTP, so none of them needs
//! another's module for it.

use std::time::Duration;

/// Where the stack's HTTP endpoints are reached from this process: for an engine over ssh, the
/// stack's `host:port`s (health URLs, Prometheus, scrape targets, halt hooks) are forwarded
/// through the same ssh connection to local ports. Set at start (and again when the panel
/// switches environment), before any request.
type Routes = std::collections::HashMap<(String, u16), u16>;
static ROUTES: std::sync::RwLock<Option<Routes>> = std::sync::RwLock::new(None);

/// Say which `host:port` is reached through which local port.
pub fn set_routes(routes: Routes) {
    *ROUTES.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(routes);
}

/// Whether the engine is on another machine reached without ssh (a TLS or tcp engine): the
/// stack's loopback endpoints are then that machine's and cannot be reached from here.
static ELSEWHERE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Say whether the engine's machine is another one, reached without ssh.
pub fn set_elsewhere(on: bool) {
    ELSEWHERE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// `Some(why)` when `url` is on the loopback of an engine's machine that is not this one and
/// has no forward: it cannot be reached from here (this machine's own 127.0.0.1 is another).
pub fn unreachable(url: &str) -> Option<String> {
    if !ELSEWHERE.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let u = reqwest::Url::parse(url).ok()?;
    let h = u.host_str()?.trim_matches(['[', ']']);
    let loopback = h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback());
    loopback.then(|| {
        "not reachable from here (the engine's server's own loopback; use an ssh:// engine to forward it)".to_owned()
    })
}

/// The URL to request for `url` (see [`route`]), or why it cannot be reached from here.
pub fn target(url: &str) -> Result<String, String> {
    match unreachable(url) {
        Some(why) => Err(why),
        None => Ok(route(url)),
    }
}

/// The URL a request really goes to: `url` itself, or its forwarded local address. Messages
/// keep naming `url`.
pub fn route(url: &str) -> String {
    let routes = ROUTES.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(routes) = routes.as_ref().filter(|r| !r.is_empty()) else { return url.to_owned() };
    let Ok(mut u) = reqwest::Url::parse(url) else { return url.to_owned() };
    let key = (u.host_str().unwrap_or_default().to_owned(), u.port_or_known_default().unwrap_or(0));
    match routes.get(&key) {
        Some(local)
            if u.scheme() == "http" && u.set_host(Some("127.0.0.1")).is_ok() && u.set_port(Some(*local)).is_ok() =>
        {
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The `host:port` of an http:// URL (what a forward is made for); `None` for other schemes.
pub fn origin(url: &str) -> Option<(String, u16)> {
    let u = reqwest::Url::parse(url).ok()?;
    (u.scheme() == "http")
        .then(|| (u.host_str().unwrap_or_default().to_owned(), u.port_or_known_default().unwrap_or(80)))
}

/// GET `url` once: is the answer 2xx, and what it was ("HTTP 200", "no answer within 2 s").
pub async fn probe_once(client: &reqwest::Client, url: &str, timeout: Duration) -> (bool, String) {
    let to = match target(url) {
        Ok(to) => to,
        Err(why) => return (false, why),
    };
    match client.get(to).timeout(timeout).send().await {
        Ok(r) => {
            let s = r.status();
            (s.is_success(), format!("HTTP {}", s.as_u16()))
        }
        Err(e) => (false, http_error(e, timeout)),
    }
}

/// Why an HTTP call failed, in the operator's words and without the URL (a webhook URL is a
/// secret; every other caller names its URL itself). Shared by probes, Prometheus, scraping
/// and webhooks.
pub fn http_error(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", timeout.as_secs())
    } else if e.is_connect() {
        "connection refused".to_owned()
    } else if e.is_decode() || e.is_body() {
        format!("malformed response ({})", e.without_url())
    } else {
        e.without_url().to_string()
    }
}

/// A URL as it may be printed or stored: without the user and password it may carry.
pub fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(an invalid URL)".to_owned(),
    }
}

/// The process's one TLS provider (ring, Cargo.toml), installed as the default on first use:
/// reqwest, built without a provider of its own, takes the default, and the engine's TLS
/// transports are built with this one.
pub fn tls_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    // An error means a provider is installed already, which is all this asks.
    let _ = rustls::crypto::ring::default_provider().install_default();
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()))
}

/// The process's one HTTP client, built on first use. Building it loads and parses the system's
/// trust roots (about 150 certificates): 10-30 ms and several hundred KB, once, off the path to
/// the first frame, and shared by every probe, scrape and webhook.
static CLIENT: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(|| {
    // reqwest is built without a TLS provider of its own (Cargo.toml): it takes the process's.
    tls_provider();
    // Probes go to the operator's own services: never through a proxy. No idle connection is
    // kept for reuse: each panel operation runs on a runtime of its own (`runner`), and a pooled
    // connection is served by a task of the runtime that opened it. A stop's halt hook that
    // picked up a deploy's connection to the same bot would wait on that deploy's runtime, or
    // find it gone. A new local connection per probe, scrape or webhook costs next to nothing.
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap_or_default()
});

pub fn client() -> reqwest::Client {
    CLIENT.clone()
}

/// A handle on [`client`] that costs nothing until it is used: for structures made on the
/// start-up path (the notifier, the scrapers), whose first request comes later.
#[derive(Debug, Clone, Copy, Default)]
pub struct LazyClient;

impl std::ops::Deref for LazyClient {
    type Target = reqwest::Client;
    fn deref(&self) -> &reqwest::Client {
        &CLIENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_loopback_of_a_tls_engines_server_is_not_reachable_from_here() {
        assert_eq!(unreachable("http://127.0.0.1:8080/health"), None, "a local engine: reachable");
        set_elsewhere(true);
        for url in ["http://127.0.0.1:8080/health", "http://localhost:9090", "http://[::1]:9090/"] {
            assert!(unreachable(url).is_some_and(|w| w.starts_with("not reachable from here")), "{url}");
        }
        assert_eq!(unreachable("http://10.0.0.5:8080/health"), None, "a routable address is tried");
        let (ok, why) = probe_once(&client(), "http://127.0.0.1:1/health", Duration::from_secs(1)).await;
        assert!(!ok && why.starts_with("not reachable from here"), "{why}");
        assert!(target("http://127.0.0.1:9090").is_err());
        set_elsewhere(false);
    }

    #[test]
    fn credentials_in_a_url_are_never_shown() {
        assert_eq!(super::shown("http://user:s3cret@127.0.0.1:8000/health"), "http://127.0.0.1:8000/health");
        assert_eq!(super::shown("http://127.0.0.1:8000/health"), "http://127.0.0.1:8000/health");
    }
}
