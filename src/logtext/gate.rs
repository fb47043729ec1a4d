//! The built-in masking patterns on an ASCII line: a gate of fixed words first, then each
//! pattern only where the gate saw one of its words.
//!
//! Most log lines hold no credential name at all: one vector scan for the gate's words tells,
//! and such a line never reaches a regular expression. A line that holds one is searched only
//! from where a match could start, as told by the word's place: an anchored search at each such
//! place, instead of a search of the whole line that scanned it forwards, then backwards, then
//! again for the `secret` group (`perf`, issue 15: the largest cost of a Bearer line).
//!
//! The ASCII forms (`(?-u)`, on bytes) match on ASCII text exactly what the Unicode patterns do
//! (`\b`, `\s`, case folding and negated classes differ only outside ASCII). The test
//! `the_gate_never_changes_what_is_masked` in `mask.rs` holds all of this to the Unicode
//! patterns run on the whole line.

use super::patterns::{DEFAULT_PATTERNS, MASK, push_masked};
use aho_corasick::{AhoCorasick, MatchKind};
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input, PatternID, meta};
use std::borrow::Cow;
use std::sync::LazyLock;

/// A word without which a built-in pattern cannot match an ASCII line (written in lower case and
/// compared with the line folded to lower case).
pub(super) struct Word {
    pub text: &'static str,
    /// The built-in pattern that needs it (index in [`DEFAULT_PATTERNS`]).
    pub pattern: usize,
    /// How far before the word a match that holds it can start, at most: `refresh_` before
    /// `token`, `client_` before `secret`, the `s` or `r` before `k_live_`. `None` when there is
    /// no bound (the scheme before `://`): that pattern searches the whole line.
    pub lookback: Option<usize>,
}

const fn word(text: &'static str, pattern: usize, lookback: Option<usize>) -> Word {
    Word { text, pattern, lookback }
}

/// Each built-in pattern needs one of these: the credential names of the first (`token` covers
/// every `*_token`, `secret` every `*_secret*`), `bearer`, the Stripe prefixes, `://` and
/// `AKIA`. The test `every_credential_name_holds_a_gate_word_within_its_lookback` holds the
/// words and their look-backs to the first pattern's names.
pub(super) const WORDS: &[Word] = &[
    word("apikey", 0, Some(0)),
    word("api_key", 0, Some(0)),
    word("api-key", 0, Some(0)),
    // access_token, refresh_token, auth-token, ...: `refresh_` is the longest name before it.
    word("token", 0, Some(8)),
    // client_secret, aws_secret_access_key, ...: `client_` is the longest name before it.
    word("secret", 0, Some(7)),
    word("password", 0, Some(0)),
    word("passwd", 0, Some(0)),
    word("pwd", 0, Some(0)),
    word("aws_access_key_id", 0, Some(0)),
    word("private_key", 0, Some(0)),
    word("private-key", 0, Some(0)),
    word("privatekey", 0, Some(0)),
    word("bearer", 1, Some(0)),
    word("k_live_", 2, Some(1)),
    word("k_test_", 2, Some(1)),
    word("://", 3, None),
    word("akia", 4, Some(0)),
];

/// Capture slots a built-in pattern needs: the whole match and its `secret` group.
const SLOTS: usize = 4;

struct Patterns {
    /// The gate's words, matched on the line folded to lower case: case-sensitive words let the
    /// automaton scan with its vector (Teddy) prefilter, where ASCII case insensitivity left it
    /// one table step per byte (`perf`: the largest single cost of a Bearer line).
    gate: AhoCorasick,
    /// The built-in patterns' ASCII forms, with the index of each one's `secret` group.
    patterns: Vec<(meta::Regex, Option<usize>)>,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    // Leftmost-first: the automaton's vector prefilter exists only for the leftmost kinds.
    gate: AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(WORDS.iter().map(|w| w.text))
        .expect("the gate's fixed words compile"),
    patterns: DEFAULT_PATTERNS.iter().map(|p| ascii_form(p)).collect(),
});

/// A built-in pattern's ASCII form, on bytes (as `regex::bytes` builds it: a negated class may
/// match any byte), with the index of its `secret` group.
fn ascii_form(pattern: &str) -> (meta::Regex, Option<usize>) {
    let re = meta::Regex::builder()
        .syntax(regex_automata::util::syntax::Config::new().utf8(false))
        .configure(meta::Regex::config().utf8_empty(false))
        .build(&format!("(?-u){pattern}"))
        .expect("built-in masking patterns compile");
    assert!(re.group_info().slot_len() <= SLOTS, "a built-in pattern has a group besides `secret`");
    let secret = re.group_info().to_index(PatternID::ZERO, "secret");
    (re, secret)
}

/// Compile the gate and the ASCII forms now (what most lines use), so that the first line to be
/// masked does not wait for them: called on a thread of its own at start-up, while the panel
/// connects to its engine.
pub fn warm() {
    LazyLock::force(&PATTERNS);
}

/// Longest line folded to lower case on the stack for the gate; a longer one takes a copy.
pub(super) const GATE_STACK: usize = 512;

/// The gate's words found in a line (a bit for each pattern they belong to), and the first
/// [`HITS`] of them with their places. A line with more is searched whole by each pattern.
struct Hits {
    wanted: u32,
    /// (where, index in [`WORDS`]), in line order.
    at: [(u32, u8); HITS],
    len: usize,
    /// Whether every word found is in `at`.
    all: bool,
}

const HITS: usize = 16;

/// The gate's words in an ASCII line, in any ASCII case. Non-overlapping, leftmost-first matches
/// are enough: the only words that can overlap or start at the same place in a line (`secret`
/// and `token` sharing a `t`, `passwd` and `password`) belong to the same pattern, and a word
/// that overlaps another cannot start a match (it would need a word boundary inside the other
/// word).
fn gate_hits(text: &str) -> Hits {
    fn scan(lower: &mut [u8], text: &str) -> Hits {
        lower.copy_from_slice(text.as_bytes());
        lower.make_ascii_lowercase();
        let mut hits = Hits { wanted: 0, at: [(0, 0); HITS], len: 0, all: true };
        for m in PATTERNS.gate.find_iter(&*lower) {
            let w = m.pattern().as_usize();
            hits.wanted |= 1 << WORDS[w].pattern;
            match (hits.at.get_mut(hits.len), u32::try_from(m.start()), u8::try_from(w)) {
                (Some(slot), Ok(at), Ok(w)) => {
                    *slot = (at, w);
                    hits.len += 1;
                }
                _ => hits.all = false,
            }
        }
        hits
    }
    // Folded on the stack: a small buffer for the usual line (zeroing 512 bytes for each line
    // was 3 % of a plain line's time), a larger one up to [`GATE_STACK`], else a copy.
    match text.len() {
        n if n <= 160 => scan(&mut [0u8; 160][..n], text),
        n if n <= GATE_STACK => scan(&mut [0u8; GATE_STACK][..n], text),
        n => scan(&mut vec![0u8; n], text),
    }
}

/// Mask an ASCII line with the built-in patterns' ASCII forms, behind the gate.
pub(super) fn mask(text: &str) -> Cow<'_, str> {
    let hits = gate_hits(text);
    let mut out = Cow::Borrowed(text);
    // A pattern that did not match the original may match after an earlier replacement only by
    // matching the mask itself, which changes nothing.
    for (i, (re, secret)) in PATTERNS.patterns.iter().enumerate() {
        if hits.wanted & (1 << i) == 0 {
            continue;
        }
        // The gate's places are places in the original line: good until a replacement.
        let mut buf = [0; STARTS];
        let starts = match out {
            Cow::Borrowed(_) => starts(&hits, i, &mut buf),
            Cow::Owned(_) => None,
        };
        if let Some(masked) = replace(re, *secret, &out, starts) {
            out = Cow::Owned(masked);
        }
    }
    out
}

/// At most this many places are tried one by one for a pattern; past that, the whole line is
/// searched.
const STARTS: usize = 64;

/// Every place where a match of pattern `i` could start, in line order (a place may repeat):
/// from each of its words, back as far as the word's look-back. `None` when one of its words has
/// no bound, or when there are too many places to keep.
fn starts<'b>(hits: &Hits, i: usize, buf: &'b mut [usize; STARTS]) -> Option<&'b [usize]> {
    if !hits.all {
        return None;
    }
    let mut n = 0;
    for &(at, w) in &hits.at[..hits.len] {
        let word = &WORDS[usize::from(w)];
        if word.pattern != i {
            continue;
        }
        let at = usize::try_from(at).ok()?;
        for s in at.saturating_sub(word.lookback?)..=at {
            *buf.get_mut(n)? = s;
            n += 1;
        }
    }
    let starts = &mut buf[..n];
    starts.sort_unstable();
    Some(starts)
}

/// Every match of `re` in `text` masked (its `secret` group, or the whole match), leftmost first
/// and without overlap, as `replace_all` does; `None` when nothing matched. With `starts`, only
/// matches starting at one of them are looked for, each by an anchored search: the caller knows
/// that no match starts anywhere else.
fn replace(re: &meta::Regex, secret: Option<usize>, text: &str, starts: Option<&[usize]>) -> Option<String> {
    let mut out = String::new();
    // Where the text not yet copied to `out` begins; the next search starts there too.
    let mut done = 0;
    let mut slots = [None; SLOTS];
    let mut take = |found: Option<PatternID>, slots: &[Option<NonMaxUsize>; SLOTS], done: &mut usize| {
        found?;
        let (start, end) = (slots[0]?.get(), slots[1]?.get());
        let group = secret.and_then(|g| Some((slots[2 * g]?.get() - start, slots[2 * g + 1]?.get() - start)));
        if out.capacity() == 0 {
            out.reserve(text.len() + MASK.len());
        }
        out.push_str(&text[*done..start]);
        push_masked(&mut out, &text[start..end], group);
        *done = end;
        // An empty match would not move on: step past it (no built-in pattern matches empty).
        Some(end.max(start + 1))
    };
    match starts {
        Some(starts) => {
            let mut tried = None;
            for &s in starts {
                if s < done || tried == Some(s) {
                    continue;
                }
                tried = Some(s);
                let found = re.search_slots(&Input::new(text).range(s..).anchored(Anchored::Yes), &mut slots);
                take(found, &slots, &mut done);
            }
        }
        None => {
            let mut from = 0;
            while from <= text.len() {
                let found = re.search_slots(&Input::new(text).range(from..), &mut slots);
                match take(found, &slots, &mut done) {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
    }
    if out.capacity() == 0 {
        return None;
    }
    out.push_str(&text[done..]);
    Some(out)
}
