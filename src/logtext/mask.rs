//! Secret masking: applied to every log line before it is stored for display.
//!
//! A pattern may name a capture group `secret`; only that group is replaced, so the operator
//! still sees *which* credential leaked (`api_key=****`). Without the group the whole match is
//! replaced. Patterns are regular expressions (linear time: a hostile line cannot stall us).

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Captures, Regex, RegexSet};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

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

/// Words without which no built-in pattern can match an ASCII line (written in lower case and
/// compared with the line folded to lower case). Each built-in pattern needs one of them: the
/// credential names of the first (`token` covers every `*_token`, `secret` every `*_secret*`),
/// `bearer`, the Stripe prefixes, `://` and `AKIA`. A line with none of them skips the regular
/// expressions: most log lines, at the cost of one SIMD scan. The test
/// `the_gate_never_changes_what_is_masked` holds this list to the patterns above.
///
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

/// The built-in patterns, compiled once per process, and only when first needed: compiling
/// them is the most expensive thing a panel did at start-up (about 28 M instructions under
/// callgrind, three quarters of it the case-insensitive credential names), and a panel built
/// them four times before its first frame (the config's masker, the history store's, the
/// labels'). Every [`Masker`] shares these.
struct BuiltIns {
    /// The patterns as written (Unicode), one by one: what a line that is not ASCII (or skipped
    /// the gate) is masked with.
    patterns: Vec<Regex>,
    /// The same in one automaton: which of them a line that is not ASCII holds.
    set: RegexSet,
}

/// The built-in patterns again, ASCII-only (`(?-u)`), on bytes, behind the gate of
/// [`GATE_WORDS`]: what an ASCII line is masked with. On ASCII text they match exactly what the
/// Unicode ones do (`\b`, `\s`, `\w`, case folding and negated classes differ only outside
/// ASCII), at a fraction of the cost: the test `the_gate_never_changes_what_is_masked` holds
/// them to it. Kept apart from [`BuiltIns`]: most panels never see a line that needs those.
struct AsciiBuiltIns {
    /// The gate's words, matched on the line folded to lower case: case-sensitive words let
    /// the automaton scan with its vector (Teddy) prefilter, where ASCII case insensitivity
    /// left it one table step per byte (`perf`: the largest single cost of a Bearer line).
    gate: AhoCorasick,
    patterns: Vec<regex::bytes::Regex>,
}

static BUILT_INS: LazyLock<BuiltIns> = LazyLock::new(|| BuiltIns {
    patterns: DEFAULT_PATTERNS.iter().map(|p| Regex::new(p).expect("built-in masking patterns compile")).collect(),
    set: RegexSet::new(DEFAULT_PATTERNS).expect("built-in masking patterns compile"),
});

static ASCII_BUILT_INS: LazyLock<AsciiBuiltIns> = LazyLock::new(|| AsciiBuiltIns {
    // Leftmost-first: the automaton's vector prefilter exists only for the leftmost kinds.
    gate: AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(GATE_WORDS.iter().map(|(w, _)| w))
        .expect("the gate's fixed words compile"),
    patterns: DEFAULT_PATTERNS
        .iter()
        .map(|p| regex::bytes::Regex::new(&format!("(?-u){p}")).expect("built-in masking patterns compile"))
        .collect(),
});

/// Longest line folded to lower case on the stack for the gate; a longer one takes a copy.
const GATE_STACK: usize = 512;

/// The built-in patterns (a bit each, by index in [`DEFAULT_PATTERNS`]) whose gate words an
/// ASCII line holds, in any ASCII case.
fn gate_wanted(text: &str) -> u32 {
    let mut stack = [0u8; GATE_STACK];
    let copy;
    let lower: &[u8] = if text.len() <= GATE_STACK {
        let b = &mut stack[..text.len()];
        b.copy_from_slice(text.as_bytes());
        b.make_ascii_lowercase();
        b
    } else {
        copy = text.as_bytes().to_ascii_lowercase();
        &copy
    };
    // Non-overlapping, leftmost-first matches are enough: the only words that can overlap or
    // start at the same place in a line (`secret` and `token` sharing a `t`, `passwd` and
    // `password`) belong to the same pattern.
    ASCII_BUILT_INS.gate.find_iter(lower).fold(0, |wanted, m| wanted | 1 << GATE_WORDS[m.pattern().as_usize()].1)
}

/// Compile the built-in patterns' ASCII forms now (what most lines use), so that the first
/// line to be masked does not wait for them: called on a thread of its own at start-up, while
/// the panel connects to its engine.
pub fn warm() {
    LazyLock::force(&ASCII_BUILT_INS);
}

/// A set of masking patterns: the built-ins (shared, compiled once) unless the config replaced
/// them, then the config's own.
#[derive(Debug, Clone)]
pub struct Masker {
    /// Whether the built-in patterns come first.
    built_in: bool,
    /// The config's own patterns, one by one and in one automaton (no gate: nothing is known
    /// about them).
    extra: Option<(Arc<[Regex]>, RegexSet)>,
}

impl Default for Masker {
    /// The built-in patterns alone: costs nothing until a text is masked.
    fn default() -> Self {
        Masker { built_in: true, extra: None }
    }
}

impl Masker {
    /// Compile the given patterns; the error names the pattern that did not compile. The
    /// built-ins exactly as written ([`DEFAULT_PATTERNS`]) are the shared, gated ones; anything
    /// else is compiled here.
    pub fn new<'a>(
        defaults: impl IntoIterator<Item = &'a str>,
        extra: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, (String, regex::Error)> {
        let defaults: Vec<&str> = defaults.into_iter().collect();
        let extra: Vec<&str> = extra.into_iter().collect();
        // The gate is only known to be right for the built-ins exactly as written above.
        let built_in = defaults == DEFAULT_PATTERNS;
        let own = if built_in { extra } else { [defaults, extra].concat() };
        if own.is_empty() {
            return Ok(Masker { built_in, extra: None });
        }
        let patterns =
            own.iter().map(|p| Regex::new(p).map_err(|e| ((*p).to_owned(), e))).collect::<Result<Arc<[_]>, _>>()?;
        let set = RegexSet::new(&own).map_err(|e| (own.join(" | "), e))?;
        Ok(Masker { built_in, extra: Some((patterns, set)) })
    }

    /// Which patterns (built-ins first, by index in [`DEFAULT_PATTERNS`], then the config's own)
    /// match `text`; empty for most lines.
    fn hits(&self, text: &str, gated: bool) -> Vec<usize> {
        let mut hits = Vec::new();
        let mut offset = 0;
        if self.built_in {
            // Unicode case folding lets `ſecret` (long s) match `secret`: outside ASCII, no gate.
            if !gated || !text.is_ascii() {
                hits.extend(BUILT_INS.set.matches(text).iter());
            } else {
                // The patterns whose words are in the line, in one pass and without the set's:
                // each one's own search below finds whether it matches.
                let wanted = gate_wanted(text);
                hits.extend((0..DEFAULT_PATTERNS.len()).filter(|i| wanted & (1 << i) != 0));
            }
            offset = DEFAULT_PATTERNS.len();
        }
        if let Some((_, set)) = &self.extra {
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
        let built_ins = if self.built_in { DEFAULT_PATTERNS.len() } else { 0 };
        for i in self.hits(text, gated) {
            if ascii && i < built_ins {
                let re = &ASCII_BUILT_INS.patterns[i];
                let secret = secret_group(re.capture_names());
                if let Cow::Owned(replaced) =
                    re.replace_all(out.as_bytes(), |c: &regex::bytes::Captures<'_>| mask_bytes(c, secret))
                {
                    out = Cow::Owned(String::from_utf8(replaced).expect("ASCII with ASCII replaced is ASCII"));
                }
                continue;
            }
            let re = match i.checked_sub(built_ins) {
                None => &BUILT_INS.patterns[i],
                Some(j) => &self.extra.as_ref().expect("a hit past the built-ins is the config's own").0[j],
            };
            let secret = secret_group(re.capture_names());
            if let Cow::Owned(replaced) = re.replace_all(&out, |c: &Captures<'_>| mask_one(c, secret)) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }
}

/// The index of a pattern's `secret` group, found once per pattern and line: looking the group
/// up by name in each match hashed the name every time (`perf`, issue 15).
fn secret_group<'a>(mut names: impl Iterator<Item = Option<&'a str>>) -> Option<usize> {
    names.position(|n| n == Some("secret"))
}

/// [`mask_span`] for the ASCII forms; `secret` is the index of the pattern's `secret` group.
fn mask_bytes(c: &regex::bytes::Captures<'_>, secret: Option<usize>) -> Vec<u8> {
    let whole = c.get(0).expect("group 0 always matches");
    let secret = secret.and_then(|g| c.get(g)).map(|s| (s.start() - whole.start(), s.end() - whole.start()));
    mask_span(whole.as_bytes(), secret)
}

/// [`mask_span`] for the Unicode forms (the built-ins' and the config's own patterns).
fn mask_one(c: &Captures<'_>, secret: Option<usize>) -> String {
    let whole = c.get(0).expect("group 0 always matches");
    let secret = secret.and_then(|g| c.get(g)).map(|s| (s.start() - whole.start(), s.end() - whole.start()));
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
    fn the_gate_compares_lower_case_words_with_lines_of_any_length() {
        // The line is folded to lower case, so a word with a capital letter would never match.
        for (w, _) in GATE_WORDS {
            assert_eq!(*w, w.to_ascii_lowercase());
        }
        // Lines longer than the gate's stack buffer, with the secret at the very end.
        let mk = Masker::default();
        for pad in [GATE_STACK - 20, GATE_STACK, GATE_STACK + 1, 4 * GATE_STACK] {
            let line = format!("{} Authorization: BEARER abcdef123456", "x".repeat(pad));
            assert_eq!(mk.mask(&line), format!("{} Authorization: BEARER ****", "x".repeat(pad)), "{pad}");
        }
    }

    #[test]
    fn without_the_built_ins_there_is_no_gate() {
        // A config that replaces the built-ins keeps its own patterns whole, gate or not.
        let mk = Masker::new(["(?P<secret>zz[0-9]+)"], []).unwrap();
        assert_eq!(mk.mask("id zz123"), "id ****");
        let both = Masker::new(DEFAULT_PATTERNS.iter().copied(), ["acct-(?P<secret>[0-9]+)"]).unwrap();
        assert_eq!(both.mask("acct-12 token=ab"), "acct-**** token=****");
        // A line that is not ASCII: the built-ins' Unicode forms, then the config's own after them.
        assert_eq!(both.mask("é acct-12 ſecret=ab"), "é acct-**** ſecret=****");
        assert_eq!(both.mask("é acct-12"), "é acct-****");
    }

    #[test]
    fn extra_patterns_and_bad_pattern_error() {
        let mk = Masker::new([], ["acct-(?P<secret>[0-9]+)"]).unwrap();
        assert_eq!(mk.mask("acct-12345 ok"), "acct-**** ok");
        let err = Masker::new([], ["(unclosed"]).unwrap_err();
        assert_eq!(err.0, "(unclosed");
    }
}
