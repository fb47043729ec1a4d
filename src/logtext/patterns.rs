//! What a secret is to stackdeck: the built-in patterns and the one rule for masking a match,
//! shared by the masker ([`super::mask`]) and its fast path for ASCII lines ([`super::gate`]).

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

/// The one rule for a match: its `secret` group (bounds within the match, on character
/// boundaries) replaced by the mask, or the whole match when the pattern names no group. A
/// secret that already is the mask stays.
pub(super) fn push_masked(out: &mut String, whole: &str, secret: Option<(usize, usize)>) {
    match secret {
        Some((start, end)) if &whole[start..end] == MASK => out.push_str(whole),
        Some((start, end)) => {
            out.push_str(&whole[..start]);
            out.push_str(MASK);
            out.push_str(&whole[end..]);
        }
        None => out.push_str(MASK),
    }
}
