//! Image references: the repository of a reference, and the repository of the tags that keep
//! a service's gated images from being pruned.

/// The repository of the tags that keep a service's gated images: `stackdeck-keep/<key>`.
pub fn keep_repo(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    format!("stackdeck-keep/{safe}")
}

/// `registry:5000/team/app:tag` -> `registry:5000/team/app`; digests are cut too.
pub fn repo_of(reference: &str) -> &str {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::{keep_repo, repo_of};

    #[test]
    fn repositories() {
        assert_eq!(repo_of("fx-trading-bot:2"), "fx-trading-bot");
        assert_eq!(repo_of("registry:5000/team/app:1.2"), "registry:5000/team/app");
        assert_eq!(repo_of("registry:5000/team/app"), "registry:5000/team/app");
        assert_eq!(repo_of("app@sha256:abc"), "app");
        assert_eq!(keep_repo("Fx/Trading Bot"), "stackdeck-keep/fx_trading_bot");
    }
}
