//! Who is acting, from where, and through what: what every audit row carries.
//!
//! The process says once how it runs (`panel`, `cli` or `guard`) and which engine it talks to
//! ([`set`]); the rest is read from the process itself: the OS user and uid, the SSH client
//! (`SSH_CONNECTION`, else `SSH_CLIENT`), the controlling terminal of stdin, the hostname.

use std::sync::RwLock;

/// How this process runs, its engine, its environment: set by `main` (again when the panel
/// switches environment).
static CONTEXT: RwLock<(String, String, Option<String>)> = RwLock::new((String::new(), String::new(), None));

/// Say how this process runs (`panel`, `cli`, `guard`) and its engine's address.
pub fn set(via: &str, endpoint: &str) {
    let mut c = CONTEXT.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    c.0 = via.to_owned();
    c.1 = endpoint.to_owned();
}

/// Say which environment (`[environments.NAME]`) this process operates, if any.
pub fn set_environment(name: Option<String>) {
    CONTEXT.write().unwrap_or_else(std::sync::PoisonError::into_inner).2 = name;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub user: String,
    pub uid: u32,
    /// `SSH_CONNECTION` (client ip, port, server ip, port), else `SSH_CLIENT`.
    pub ssh: Option<String>,
    /// The terminal of stdin (`/dev/pts/3`), when there is one.
    pub tty: Option<String>,
    /// `panel`, `cli` or `guard` (`cli` when the process never said).
    pub via: String,
    pub host: String,
    pub endpoint: String,
    /// The environment's name (`--env`), when there is one.
    pub environment: Option<String>,
}

impl Origin {
    pub fn current() -> Origin {
        let (via, endpoint, environment) = CONTEXT.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let via = if via.is_empty() { "cli".to_owned() } else { via };
        let uid = uid();
        Origin {
            user: user(uid),
            uid,
            ssh: ["SSH_CONNECTION", "SSH_CLIENT"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty())),
            tty: std::fs::read_link("/proc/self/fd/0")
                .ok()
                .map(|p| p.display().to_string())
                .filter(|p| p.starts_with("/dev/pts/") || p.starts_with("/dev/tty")),
            via,
            host: hostname(),
            endpoint,
            environment,
        }
    }

    /// `user`, or `user@client-ip` over SSH: the short form the panel shows.
    pub fn actor(&self) -> String {
        match self.ssh.as_deref().and_then(|s| s.split_whitespace().next()) {
            Some(from) => format!("{}@{from}", self.user),
            None => self.user.clone(),
        }
    }
}

/// The short form of who is acting (see [`Origin::actor`]).
pub fn actor() -> String {
    Origin::current().actor()
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// The name of `uid` (from /etc/passwd), else `$USER`, else `uid N`.
fn user(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some(&uid.to_string()))
        .and_then(|l| l.split(':').next())
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_origin_names_a_user_and_uid_and_a_default_channel() {
        let o = super::Origin::current();
        assert!(!o.user.is_empty());
        assert_ne!(o.uid, u32::MAX);
        assert!(["cli", "panel", "guard"].contains(&o.via.as_str()));
        assert!(o.actor().starts_with(&o.user));
    }
}
