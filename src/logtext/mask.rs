//! Secret masking: applied to every log line before it is stored for display.
//!
//! A pattern may name a capture group `secret`; only that group is replaced, so the operator
//! still sees *which* credential leaked (`api_key=****`). Without the group the whole match is
//! replaced. Patterns are regular expressions (linear time: a hostile line cannot stall us).

use aho_corasick::AhoCorasick;
use regex::{Captures, Regex, RegexSet};
use std::borrow::Cow;
use std::sync::Arc;

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

/// Words without which no built-in pattern can match an ASCII line (compared ignoring ASCII
/// case). Each built-in pattern needs one of them: the credential names of the first (`token`
/// covers every `*_token`, `secret` every `*_secret*`), `bearer`, the Stripe prefixes, `://` and
/// `AKIA`. A line with none of them skips the regular expressions: most log lines, at the cost
/// of one SIMD scan. The test `the_gate_never_changes_what_is_masked` holds this list to the
/// patterns above.
/// Each word with the built-in pattern (index in [`DEFAULT_PATTERNS`]) that needs it: a line
/// runs only the patterns whose words it holds.
const GATE_WORDS: &[(&str, usize)] = &[
    ("apikey", 0),
    ("api_key", 0),
    ("api-key", 0),
    ("token", 0),
    ("secret", 0),
    ("password", 0),
    ("passwd", 0),
    ("pwd", 0),
    ("aws_access_key_id", 0),
    ("private_key", 0),
    ("private-key", 0),
    ("privatekey", 0),
    ("bearer", 1),
    ("k_live_", 2),
    ("k_test_", 2),
    ("://", 3),
    ("akia", 4),
];

/// A compiled set of masking patterns.
#[derive(Debug, Clone)]
pub struct Masker {
    /// The built-ins first (when in use), then the config's own.
    patterns: Vec<Regex>,
    /// The built-in patterns in one automaton, behind [`GATE_WORDS`]; `None` when the config
    /// replaced them.
    built_in: Option<(AhoCorasick, RegexSet)>,
    /// The built-in patterns again, ASCII-only (`(?-u)`), on bytes: what an ASCII line that
    /// passed the gate is masked with. On ASCII text they match exactly what the Unicode ones
    /// do (`\b`, `\s`, `\w`, case folding and negated classes differ only outside ASCII), at a
    /// fraction of the cost: the test `the_gate_never_changes_what_is_masked` holds them to it.
    ascii: Arc<[regex::bytes::Regex]>,
    /// The config's own patterns in one automaton (no gate: nothing is known about them).
    extra: Option<RegexSet>,
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
        let defaults: Vec<&str> = defaults.into_iter().collect();
        let extra: Vec<&str> = extra.into_iter().collect();
        // The gate is only known to be right for the built-ins exactly as written above.
        let (gated, ungated) =
            if defaults == DEFAULT_PATTERNS { (defaults, extra) } else { (Vec::new(), [defaults, extra].concat()) };
        let mut patterns = Vec::new();
        for p in gated.iter().chain(&ungated) {
            patterns.push(Regex::new(p).map_err(|e| ((*p).to_owned(), e))?);
        }
        let set = |sources: &[&str]| -> Result<Option<RegexSet>, (String, regex::Error)> {
            if sources.is_empty() {
                return Ok(None);
            }
            RegexSet::new(sources).map(Some).map_err(|e| (sources.join(" | "), e))
        };
        let ascii = gated
            .iter()
            .map(|p| regex::bytes::Regex::new(&format!("(?-u){p}")).map_err(|e| ((*p).to_owned(), e)))
            .collect::<Result<Arc<[_]>, _>>()?;
        let built_in = match set(&gated)? {
            None => None,
            Some(s) => {
                let gate = AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(GATE_WORDS.iter().map(|(w, _)| w))
                    .expect("the gate's fixed words compile");
                Some((gate, s))
            }
        };
        Ok(Masker { patterns, built_in, ascii, extra: set(&ungated)? })
    }

    /// Which patterns (by index in `patterns`) match `text`; empty for most lines.
    fn hits(&self, text: &str, gated: bool) -> Vec<usize> {
        let mut hits = Vec::new();
        let mut offset = 0;
        if let Some((gate, set)) = &self.built_in {
            // Unicode case folding lets `ſecret` (long s) match `secret`: outside ASCII, no gate.
            if !gated || !text.is_ascii() {
                hits.extend(set.matches(text).iter());
            } else {
                // The patterns whose words are in the line, in one pass and without the set's:
                // each one's own search below finds whether it matches. Non-overlapping matches
                // are enough: the only words that can overlap in a line (`secret` and `token`
                // sharing a `t`, `passwd` inside `password`'s start) belong to the same pattern.
                let mut wanted = 0u32;
                for m in gate.find_iter(text) {
                    wanted |= 1 << GATE_WORDS[m.pattern().as_usize()].1;
                }
                hits.extend((0..set.len()).filter(|i| wanted & (1 << i) != 0));
            }
            offset = set.len();
        }
        if let Some(set) = &self.extra {
            hits.extend(set.matches(text).iter().map(|i| i + offset));
        }
        hits
    }

    /// Mask every secret in `text`.
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.mask_with(text, true)
    }

    fn mask_with<'t>(&self, text: &'t str, gated: bool) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        // The built-ins on an ASCII line that passed the gate: their ASCII forms.
        let ascii = gated && text.is_ascii();
        // A pattern that did not match the original may match after an earlier replacement
        // only by matching the mask itself, which changes nothing.
        for i in self.hits(text, gated) {
            if ascii && let Some(re) = self.ascii.get(i) {
                if let Cow::Owned(replaced) =
                    re.replace_all(out.as_bytes(), |c: &regex::bytes::Captures<'_>| mask_bytes(c))
                {
                    out = Cow::Owned(String::from_utf8(replaced).expect("ASCII with ASCII replaced is ASCII"));
                }
                continue;
            }
            let re = &self.patterns[i];
            if let Cow::Owned(replaced) = re.replace_all(&out, |c: &Captures<'_>| mask_one(c)) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }
}

/// [`mask_span`] for the ASCII forms.
fn mask_bytes(c: &regex::bytes::Captures<'_>) -> Vec<u8> {
    let whole = c.get(0).expect("group 0 always matches");
    mask_span(whole.as_bytes(), c.name("secret").map(|s| (s.start() - whole.start(), s.end() - whole.start())))
}

/// [`mask_span`] for the Unicode forms.
fn mask_one(c: &Captures<'_>) -> String {
    let whole = c.get(0).expect("group 0 always matches");
    let secret = c.name("secret").map(|s| (s.start() - whole.start(), s.end() - whole.start()));
    // Match bounds are character boundaries and the mask is ASCII: still UTF-8.
    String::from_utf8(mask_span(whole.as_str().as_bytes(), secret)).expect("a match with its secret masked is UTF-8")
}

/// The one rule for a match: its `secret` group (bounds within the match) replaced by the mask,
/// or the whole match when the pattern names no group. A secret that already is the mask stays.
fn mask_span(whole: &[u8], secret: Option<(usize, usize)>) -> Vec<u8> {
    match secret {
        Some((start, end)) if &whole[start..end] == MASK.as_bytes() => whole.to_vec(),
        Some((start, end)) => [&whole[..start], MASK.as_bytes(), &whole[end..]].concat(),
        None => MASK.as_bytes().to_vec(),
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

    /// Every spelling the first built-in pattern names, for the gate's test.
    const CREDENTIAL_NAMES: &[&str] = &[
        "api_key",
        "api-key",
        "apikey",
        "access_token",
        "access-token",
        "accesstoken",
        "auth_token",
        "auth-token",
        "authtoken",
        "refresh_token",
        "refresh-token",
        "refreshtoken",
        "token",
        "secret",
        "client_secret",
        "client-secret",
        "clientsecret",
        "password",
        "passwd",
        "pwd",
        "aws_secret_access_key",
        "aws_access_key_id",
        "private_key",
        "private-key",
        "privatekey",
    ];

    #[test]
    fn the_gate_never_changes_what_is_masked() {
        let mk = Masker::default();
        // Each credential name, in any ASCII case, is masked through the gate.
        for name in CREDENTIAL_NAMES {
            for n in [name.to_string(), name.to_uppercase(), name[..1].to_uppercase() + &name[1..]] {
                assert_eq!(mk.mask(&format!("x {n}=hunter2 y")), format!("x {n}=**** y"), "{n}");
            }
        }
        // Random lines built from the words the patterns know, their near misses and noise:
        // the gated and the ungated path agree on every one, and many are masked.
        let words: Vec<String> = CREDENTIAL_NAMES
            .iter()
            .map(|w| (*w).to_owned())
            .chain(
                [
                    "Bearer",
                    "bearer",
                    "BEARER",
                    "sk_live_",
                    "rk_test_",
                    "sk_prod_",
                    "AKIA",
                    "akia",
                    "://",
                    "postgres://u:",
                    "@",
                    "keys",
                    "tok",
                    "pass",
                    "Authorization:",
                    "=",
                    ":",
                    "\"",
                    "'",
                    " ",
                    "  ",
                    "abcdefgh12345678",
                    "ABCDEFGHIJKLMNOP",
                    "0.93",
                    "&",
                    ";",
                    "}",
                    "]",
                    ",",
                    "ſecret",
                    "\u{212a}ey",
                    "é",
                    "␛[31m",
                    "x",
                ]
                .iter()
                .map(|w| (*w).to_owned()),
            )
            .collect();
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut masked = 0;
        for _ in 0..50_000 {
            let len = 1 + next(12);
            let line: String = (0..len).map(|_| words[next(words.len())].as_str()).collect();
            let gated = mk.mask(&line);
            assert_eq!(gated, mk.mask_with(&line, false), "line: {line:?}");
            masked += usize::from(gated != line);
        }
        assert!(masked > 2_000, "only {masked} of 50000 lines were masked: the corpus tests nothing");
    }

    #[test]
    fn without_the_built_ins_there_is_no_gate() {
        // A config that replaces the built-ins keeps its own patterns whole, gate or not.
        let mk = Masker::new(["(?P<secret>zz[0-9]+)"], []).unwrap();
        assert_eq!(mk.mask("id zz123"), "id ****");
        let both = Masker::new(DEFAULT_PATTERNS.iter().copied(), ["acct-(?P<secret>[0-9]+)"]).unwrap();
        assert_eq!(both.mask("acct-12 token=ab"), "acct-**** token=****");
    }

    #[test]
    fn extra_patterns_and_bad_pattern_error() {
        let mk = Masker::new([], ["acct-(?P<secret>[0-9]+)"]).unwrap();
        assert_eq!(mk.mask("acct-12345 ok"), "acct-**** ok");
        let err = Masker::new([], ["(unclosed"]).unwrap_err();
        assert_eq!(err.0, "(unclosed");
    }
}
