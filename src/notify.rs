//! Webhook notifications (Slack-compatible JSON: `{"text": "..."}`) on action outcomes and on
//! alerts starting or resolving. The URL comes from the environment variable the config names;
//! it is never written to a file or a log. Delivery runs on its own task behind a bounded
//! queue: the panel never waits for it. Failed tries are retried with backoff (1 s, 2 s,
//! 4 s...); a message that still fails is an error in the panel log.

use crate::config::observe::NotifyConfig;
use std::time::Duration;
use tokio::sync::mpsc;

const QUEUE: usize = 64;

#[derive(Debug, Clone)]
pub struct Webhook {
    client: crate::http::LazyClient,
    url: String,
    tries: u32,
    timeout: Duration,
}

/// Where notifications go; `Notifier::off()` drops them.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    tx: Option<mpsc::Sender<String>>,
    lease: Option<std::sync::Arc<Lease>>,
}

/// Every panel and the guard watch the same alerts; one of them sends their webhooks: the
/// process that holds the lease file's lock in the shared state dir. It keeps it until it
/// exits; then the next one to send takes it over. An operation's outcome is sent by the
/// process that carried it out, and needs no lease.
#[derive(Debug)]
struct Lease {
    path: std::path::PathBuf,
    file: std::sync::Mutex<Option<std::fs::File>>,
}

impl Lease {
    fn held(&self) -> bool {
        let mut slot = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_some() {
            return true;
        }
        let opened = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&self.path);
        match opened {
            Ok(f) => match f.try_lock() {
                Ok(()) => {
                    tracing::info!("this process sends the alert webhooks now (it holds {})", self.path.display());
                    *slot = Some(f);
                    true
                }
                Err(_) => false,
            },
            // No shared state dir to agree in: send (a duplicate beats a lost alert).
            Err(_) => true,
        }
    }
}

impl Webhook {
    /// The webhook the config names, if its variable is set. `Err` explains why it is off.
    pub fn from_config(cfg: &NotifyConfig) -> Result<Option<Webhook>, String> {
        let Some(var) = cfg.webhook_env.as_ref().map(|v| v.get_ref().clone()) else { return Ok(None) };
        let url = match std::env::var(&var) {
            Ok(u) if !u.trim().is_empty() => u.trim().to_owned(),
            _ => return Err(format!("webhook notifications are off: ${var} is not set")),
        };
        if reqwest::Url::parse(&url).is_err() || !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("webhook notifications are off: ${var} is not an http(s) URL"));
        }
        let client = crate::http::LazyClient;
        Ok(Some(Webhook { client, url, tries: cfg.tries(), timeout: cfg.timeout() }))
    }

    /// Deliver one message, retrying with backoff. Returns the number of tries it took.
    pub async fn deliver(&self, text: &str) -> Result<u32, String> {
        let body = serde_json::json!({ "text": text });
        let mut last = String::new();
        for attempt in 1..=self.tries {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 2).min(5))).await;
            }
            match self.client.post(&self.url).json(&body).timeout(self.timeout).send().await {
                Ok(r) if r.status().is_success() => return Ok(attempt),
                Ok(r) => {
                    let s = r.status();
                    last = format!("HTTP {}", s.as_u16());
                    // A client error other than rate limiting will not get better by retrying.
                    if s.is_client_error() && s.as_u16() != 429 {
                        break;
                    }
                }
                // Never the URL in the message (it is a secret): http_error leaves it out.
                Err(e) => last = crate::http::http_error(e, self.timeout),
            }
        }
        Err(last)
    }
}

/// The message for an operation's outcome.
pub fn outcome_text(title: &str, result: &Result<String, String>) -> String {
    let who = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    match result {
        Ok(s) => format!("[stackdeck] {title}: done by {who}: {s}"),
        Err(e) => format!("[stackdeck] {title}: FAILED ({who}): {e}"),
    }
}

impl Notifier {
    pub fn off() -> Self {
        Notifier { tx: None, lease: None }
    }

    /// Share the alert webhooks with every other stackdeck of this state dir (see [`Lease`]).
    pub fn with_lease(mut self, state_dir: &std::path::Path) -> Self {
        let path = state_dir.join("notify.lease");
        self.lease = Some(std::sync::Arc::new(Lease { path, file: std::sync::Mutex::new(None) }));
        self
    }

    /// Queue a message that every stackdeck watching this stack would send (an alert starting
    /// or resolving): only the lease holder sends it.
    pub fn send_shared(&self, text: String) {
        if self.tx.is_none() {
            return;
        }
        match &self.lease {
            Some(l) if !l.held() => tracing::debug!("alert webhook left to the lease holder: {text}"),
            _ => self.send(text),
        }
    }

    /// Start the delivery task for the configured webhook (or a notifier that drops
    /// everything, with the reason in the panel log).
    pub fn spawn(cfg: &NotifyConfig) -> Self {
        let hook = match Webhook::from_config(cfg) {
            Ok(Some(h)) => h,
            Ok(None) => return Notifier::off(),
            Err(why) => {
                tracing::warn!("{why}");
                return Notifier::off();
            }
        };
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                match hook.deliver(&text).await {
                    Ok(1) => tracing::debug!("webhook delivered: {text}"),
                    Ok(n) => tracing::info!("webhook delivered after {n} tries: {text}"),
                    Err(e) => tracing::error!("webhook delivery failed after {} tries ({e}): {text}", hook.tries),
                }
            }
        });
        Notifier { tx: Some(tx), lease: None }
    }

    /// Queue a message; never waits. A full queue drops it, with an error in the panel log.
    pub fn send(&self, text: String) {
        if let Some(tx) = &self.tx
            && let Err(e) = tx.try_send(text)
        {
            tracing::error!("webhook queue full, notification dropped: {}", e.into_inner());
        }
    }
}
