//! Secret masking: applied to every log line before it is stored for display.
//!
//! A pattern may name a capture group `secret`; only that group is replaced, so the operator
//! still sees *which* credential leaked (`api_key=****`). Without the group the whole match is
//! replaced. Patterns are regular expressions (linear time: a hostile line cannot stall us).

use super::gate;
use super::patterns::push_masked;
pub use super::patterns::{DEFAULT_PATTERNS, MASK};
use regex::{Captures, Regex, RegexSet};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

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

static BUILT_INS: LazyLock<BuiltIns> = LazyLock::new(|| BuiltIns {
    patterns: DEFAULT_PATTERNS.iter().map(|p| Regex::new(p).expect("built-in masking patterns compile")).collect(),
    set: RegexSet::new(DEFAULT_PATTERNS).expect("built-in masking patterns compile"),
});

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

    /// Mask every secret in `text`.
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.mask_with(text, true)
    }

    fn mask_with<'t>(&self, text: &'t str, gated: bool) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        // A pattern that did not match the original may match after an earlier replacement
        // only by matching the mask itself, which changes nothing.
        if self.built_in {
            // Unicode case folding lets `ſecret` (long s) match `secret`: outside ASCII, no gate.
            if gated && text.is_ascii() {
                out = gate::mask(text);
            } else {
                for i in &BUILT_INS.set.matches(text) {
                    replace_all(&BUILT_INS.patterns[i], &mut out);
                }
            }
        }
        if let Some((patterns, set)) = &self.extra {
            for j in &set.matches(text) {
                replace_all(&patterns[j], &mut out);
            }
        }
        out
    }
}

/// Every match of `re` in `out` masked.
fn replace_all(re: &Regex, out: &mut Cow<'_, str>) {
    // Found by its index once per pattern and line: looking the group up by name in each match
    // hashed the name every time (`perf`, issue 15).
    let secret = re.capture_names().position(|n| n == Some("secret"));
    if let Cow::Owned(replaced) = re.replace_all(out, |c: &Captures<'_>| mask_one(c, secret)) {
        *out = Cow::Owned(replaced);
    }
}

/// [`push_masked`] for the Unicode forms (the built-ins' and the config's own patterns).
fn mask_one(c: &Captures<'_>, secret: Option<usize>) -> String {
    let whole = c.get(0).expect("group 0 always matches");
    let secret = secret.and_then(|g| c.get(g)).map(|s| (s.start() - whole.start(), s.end() - whole.start()));
    let mut out = String::with_capacity(whole.len());
    push_masked(&mut out, whole.as_str(), secret);
    out
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
                    "refresh_",
                    "client-",
                    "aws_",
                    "auth",
                    "access",
                    "key",
                    "_",
                    "-",
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
    fn every_credential_name_holds_a_gate_word_within_its_lookback() {
        // A match of the first pattern starts with one of these names: the gate must see a word
        // of that pattern in it, no further from the name's start than the word's look-back,
        // or an anchored search would start too late and miss the match.
        for name in CREDENTIAL_NAMES {
            let covered = gate::WORDS
                .iter()
                .filter(|w| w.pattern == 0)
                .any(|w| name.find(w.text).is_some_and(|at| w.lookback.is_some_and(|back| at <= back)));
            assert!(covered, "{name}");
        }
        // Each look-back is needed by some name: none is wider than it has to be.
        for w in gate::WORDS.iter().filter(|w| w.pattern == 0) {
            let widest = CREDENTIAL_NAMES.iter().filter_map(|n| n.find(w.text)).max();
            assert_eq!(widest, w.lookback, "{}", w.text);
        }
    }

    #[test]
    fn lines_with_more_gate_words_than_places_kept_are_masked_the_same() {
        // More words than the gate keeps places for, and more places than are tried one by one:
        // each pattern then searches the whole line, and the result is the same as ungated.
        let mk = Masker::default();
        for n in [3, 7, 8, 15, 16, 17, 40, 300] {
            for unit in
                ["token=a1 ", "pwd=x ", "Bearer abcdefgh ", "tokentoken ", "refresh_token:\"v\" AKIAABCDEFGHIJKLMNOP "]
            {
                let line = unit.repeat(n);
                let gated = mk.mask(&line);
                assert_eq!(gated, mk.mask_with(&line, false), "{n} x {unit:?}");
                assert_eq!(gated == line, unit == "tokentoken ", "{n} x {unit:?}");
            }
        }
    }

    #[test]
    fn the_gate_compares_lower_case_words_with_lines_of_any_length() {
        // The line is folded to lower case, so a word with a capital letter would never match.
        for w in gate::WORDS {
            assert_eq!(w.text, w.text.to_ascii_lowercase());
        }
        // Lines longer than the gate's stack buffer, with the secret at the very end.
        let mk = Masker::default();
        for pad in [gate::GATE_STACK - 20, gate::GATE_STACK, gate::GATE_STACK + 1, 4 * gate::GATE_STACK] {
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
