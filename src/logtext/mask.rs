//! Secret masking: applied to every log line before it is stored for display.
//!
//! A pattern may name a capture group `secret`; only that group is replaced, so the operator
//! still sees *which* credential leaked (`api_key=****`). Without the group the whole match is
//! replaced. Patterns are regular expressions (linear time: a hostile line cannot stall us).

use regex::{Captures, Regex, RegexSet};
use std::borrow::Cow;

/// What a masked secret is replaced with.
pub const MASK: &str = "****";

/// The built-in patterns (always on unless the config says `replace_defaults = true`).
pub const DEFAULT_PATTERNS: &[&str] = &[
    // key=value / key: value / "key":"value" for the usual credential names
    r#"(?i)\b(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|token|secret|client[_-]?secret|password|passwd|pwd|aws_secret_access_key|aws_access_key_id|private[_-]?key)["']?\s*[=:]\s*["']?(?P<secret>[^\s"'&,;}\]]+)"#,
    // Authorization: Bearer <token>
    r"(?i)\bBearer\s+(?P<secret>[A-Za-z0-9._~+/=-]{6,})",
    // Stripe-style live/test keys anywhere
    r"\b(?P<secret>[sr]k_(?:live|test)_[A-Za-z0-9]{8,})",
    // credentials inside URLs: scheme://user:password@host
    r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]*:(?P<secret>[^@\s/]+)@",
    // AWS access key ids
    r"\b(?P<secret>AKIA[0-9A-Z]{16})\b",
];

/// A compiled set of masking patterns.
#[derive(Debug, Clone)]
pub struct Masker {
    patterns: Vec<Regex>,
    /// All patterns in one automaton: one pass tells which (usually none) match a line.
    set: RegexSet,
}

impl Default for Masker {
    fn default() -> Self {
        Self::new(DEFAULT_PATTERNS.iter().copied(), std::iter::empty::<&str>())
            .expect("built-in masking patterns compile")
    }
}

impl Masker {
    /// Compile the given patterns; the error names the pattern that did not compile.
    pub fn new<'a>(
        defaults: impl IntoIterator<Item = &'a str>,
        extra: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, (String, regex::Error)> {
        let mut patterns = Vec::new();
        let mut sources = Vec::new();
        for p in defaults.into_iter().chain(extra) {
            patterns.push(Regex::new(p).map_err(|e| (p.to_owned(), e))?);
            sources.push(p);
        }
        let set = RegexSet::new(&sources).map_err(|e| (sources.join(" | "), e))?;
        Ok(Masker { patterns, set })
    }

    /// Mask every secret in `text`.
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        let hits = self.set.matches(text);
        if !hits.matched_any() {
            return out;
        }
        for (i, re) in self.patterns.iter().enumerate() {
            // A pattern that did not match the original may match after an earlier
            // replacement only by matching the mask itself, which changes nothing.
            if !hits.matched(i) {
                continue;
            }
            let replaced = re.replace_all(&out, |c: &Captures<'_>| mask_one(c)).into_owned();
            out = Cow::Owned(replaced);
        }
        out
    }
}

fn mask_one(c: &Captures<'_>) -> String {
    let whole = c.get(0).expect("group 0 always matches");
    match c.name("secret") {
        Some(s) if s.as_str() == MASK => whole.as_str().to_owned(),
        Some(s) => {
            let start = s.start() - whole.start();
            let end = s.end() - whole.start();
            let w = whole.as_str();
            format!("{}{}{}", &w[..start], MASK, &w[end..])
        }
        None => MASK.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> String {
        Masker::default().mask(s).into_owned()
    }

    #[test]
    fn key_value_credentials() {
        assert_eq!(m("api_key=abc123 user=bob"), "api_key=**** user=bob");
        assert_eq!(m("password=hunter2"), "password=****");
        assert_eq!(m(r#"{"token":"eyJhbGci","level":"INFO"}"#), r#"{"token":"****","level":"INFO"}"#);
        assert_eq!(m("aws_secret_access_key=wJalrXUtnFEMI"), "aws_secret_access_key=****");
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            m("header=\"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def\""),
            "header=\"Authorization: Bearer ****\""
        );
    }

    #[test]
    fn stripe_keys_anywhere() {
        let key = format!("sk_{}_{}", "live", "4eC39HqLyjWDarjtT1zdp7dc");
        assert_eq!(m(&format!("POST /v3/order?x={key}&y=1")), "POST /v3/order?x=****&y=1");
    }

    #[test]
    fn url_credentials() {
        assert_eq!(
            m("url=postgres://trader:s3cr3tpw@127.0.0.1:55432/trading"),
            "url=postgres://trader:****@127.0.0.1:55432/trading"
        );
        assert_eq!(m("redis://:pw123456@127.0.0.1:6379/0"), "redis://:****@127.0.0.1:6379/0");
    }

    #[test]
    fn aws_key_id() {
        assert_eq!(m("id AKIAABCDEFGHIJKLMNOP here"), "id **** here");
    }

    #[test]
    fn ordinary_lines_are_untouched_and_borrowed() {
        let mk = Masker::default();
        let line = "GET /api/v1/positions 200 latency_ms=4";
        assert!(matches!(mk.mask(line), Cow::Borrowed(_)));
    }

    #[test]
    fn extra_patterns_and_bad_pattern_error() {
        let mk = Masker::new([], ["acct-(?P<secret>[0-9]+)"]).unwrap();
        assert_eq!(mk.mask("acct-12345 ok"), "acct-**** ok");
        let err = Masker::new([], ["(unclosed"]).unwrap_err();
        assert_eq!(err.0, "(unclosed");
    }
}
