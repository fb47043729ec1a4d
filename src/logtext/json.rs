//! Compact rendering of structured (JSON) log lines.

use super::level::{self, Level};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::borrow::Cow;

/// What a key is for, and its rank among the keys for the same thing (lower is preferred):
/// `level`, `severity`, `lvl`; `message`, `msg`; `target`, `logger`, `module`. Time keys
/// (`timestamp`, `time`, `ts`, `@timestamp`) are dropped: the engine's own timestamp is shown by
/// the timestamps toggle. One `match` per key, where looking each name up in the fields cost a
/// string comparison per probe (`perf`: the JSON line's largest cost after the parse).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Level(u8),
    Message(u8),
    Target(u8),
    Time,
    Other,
}

fn role(key: &str) -> Role {
    match key {
        "level" => Role::Level(0),
        "severity" => Role::Level(1),
        "lvl" => Role::Level(2),
        "message" => Role::Message(0),
        "msg" => Role::Message(1),
        "target" => Role::Target(0),
        "logger" => Role::Target(1),
        "module" => Role::Target(2),
        "timestamp" | "time" | "ts" | "@timestamp" => Role::Time,
        _ => Role::Other,
    }
}

/// `{"level":"WARN","target":"bot::x","message":"m","k":1}` -> `WARN bot::x: m k=1`.
/// `None` when the line is not a JSON object with a message.
pub fn compact(text: &str) -> Option<String> {
    compact_with_level(text).map(|(line, _)| line)
}

/// [`compact`], with the level its level field names, when it names one ([`Level`]'s words, in
/// any case): the line's level, without a search of the text for one.
pub fn compact_with_level(text: &str) -> Option<(String, Option<Level>)> {
    let t = text.trim();
    if !(t.starts_with('{') && t.ends_with('}')) {
        return None;
    }
    // Borrowed keys and raw values: no allocation per field. A key with an escape cannot be
    // borrowed; such a line takes the owned parse below.
    if let Ok(Fields(obj)) = serde_json::from_str::<Fields<'_>>(t) {
        return render(&obj, |v: &&RawValue| raw_scalar(v));
    }
    let obj: Map<String, Value> = serde_json::from_str(t).ok()?;
    let fields: Vec<(&str, &Value)> = obj.iter().map(|(k, v)| (k.as_str(), v)).collect();
    render(&fields, |v: &&Value| Cow::Owned(scalar(v)))
}

/// A JSON object's fields, borrowed keys and raw values, in key order with the last of a
/// repeated key kept (what a map would hold): a sorted vector, no tree for a handful of fields,
/// on the stack for up to [`FIELDS`] of them.
struct Fields<'a>(SmallVec<[(&'a str, &'a RawValue); FIELDS]>);

const FIELDS: usize = 12;

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Collect;
        impl<'de> serde::de::Visitor<'de> for Collect {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields: SmallVec<[(&str, &RawValue); FIELDS]> = SmallVec::new();
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    fields.push(entry);
                }
                // Stable: a repeated key's entries keep their order, and the last one stays.
                fields.sort_by(|a: &(&str, _), b| a.0.cmp(b.0));
                fields.dedup_by(|later, earlier| {
                    let same = later.0 == earlier.0;
                    if same {
                        *earlier = *later;
                    }
                    same
                });
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Collect)
    }
}

/// The fields in key order: level, target and message first, then the rest as `key=value`.
fn render<V>(obj: &[(&str, V)], scalar: impl Fn(&V) -> Cow<'_, str>) -> Option<(String, Option<Level>)> {
    // The preferred field for each role (its rank, its index in `obj`), in one pass over the keys.
    let (mut level, mut message, mut target) = (None::<(u8, usize)>, None::<(u8, usize)>, None::<(u8, usize)>);
    // Each key's role, told once.
    let roles: SmallVec<[Role; FIELDS]> = obj.iter().map(|(k, _)| role(k)).collect();
    for (i, r) in roles.iter().enumerate() {
        let (slot, rank) = match *r {
            Role::Level(n) => (&mut level, n),
            Role::Message(n) => (&mut message, n),
            Role::Target(n) => (&mut target, n),
            Role::Time | Role::Other => continue,
        };
        if slot.is_none_or(|(best, _)| rank < best) {
            *slot = Some((rank, i));
        }
    }
    let message = message?.1;
    let mut out = String::with_capacity(obj.len() * 16);
    let mut named = None;
    if let Some((_, i)) = level {
        // Upper case, padded to five characters (as `{:<5}` would). A level is nearly always
        // ASCII: upper-cased in place, without a char iterator per letter.
        let l = scalar(&obj[i].1);
        named = level::word_level(&l);
        let mut n = 0;
        if l.is_ascii() {
            out.push_str(&l);
            out.make_ascii_uppercase();
            n = l.len();
        } else {
            for c in l.chars().flat_map(char::to_uppercase) {
                out.push(c);
                n += 1;
            }
        }
        out.extend(std::iter::repeat_n(' ', 5usize.saturating_sub(n) + 1));
    }
    let target = target.map(|(_, i)| {
        out.push_str(&scalar(&obj[i].1));
        out.push_str(": ");
        i
    });
    out.push_str(&scalar(&obj[message].1));
    for (i, (k, v)) in obj.iter().enumerate() {
        // Every level and time key is left out; a message or target key only when it was shown.
        if i == message || Some(i) == target || matches!(roles[i], Role::Level(_) | Role::Time) {
            continue;
        }
        let s = scalar(v);
        let quoted = s.contains(' ');
        out.push(' ');
        out.push_str(k);
        out.push_str(if quoted { "=\"" } else { "=" });
        out.push_str(&s);
        if quoted {
            out.push('"');
        }
    }
    Some((out, named))
}

/// A raw value as [`scalar`] shows it: a string without escapes as it stands, numbers, `true`,
/// `false` and `null` as written, and anything else (escapes, objects, arrays) through a full
/// parse, so that the result is the same.
fn raw_scalar(v: &RawValue) -> Cow<'_, str> {
    let raw = v.get();
    if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"'))
        && !inner.contains('\\')
    {
        return Cow::Borrowed(inner);
    }
    if raw.starts_with(['"', '{', '[']) || raw.contains(['e', 'E', '.']) && !matches!(raw, "true" | "false") {
        return Cow::Owned(serde_json::from_str::<Value>(raw).map_or_else(|_| raw.to_owned(), |v| scalar(&v)));
    }
    Cow::Borrowed(raw)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_line_becomes_readable() {
        let l = r#"{"timestamp":"2026-11-22T14:05:46.375Z","level":"WARN","target":"trading_bot::orders","message":"slippage above threshold","symbol":"BTC-USD","actual_bps":31}"#;
        assert_eq!(
            compact(l).unwrap(),
            "WARN  trading_bot::orders: slippage above threshold actual_bps=31 symbol=BTC-USD"
        );
    }

    #[test]
    fn levels_are_padded_to_five_and_spaced_values_quoted() {
        assert_eq!(compact(r#"{"lvl":"err","msg":"m","note":"two words"}"#).unwrap(), "ERR   m note=\"two words\"");
        assert_eq!(compact(r#"{"level":"critical","msg":"m"}"#).unwrap(), "CRITICAL m");
        assert_eq!(compact(r#"{"level":"straße","msg":"m"}"#).unwrap(), "STRASSE m");
    }

    #[test]
    fn the_preferred_key_of_each_role_is_shown_first_and_the_others_as_fields() {
        // `message` over `msg`, `target` over `logger` over `module`, `level` over `severity`
        // over `lvl`: an unshown message or target key stays a field, every level and time key
        // goes.
        let l = r#"{"msg":"m2","module":"mo","logger":"lo","lvl":"debug","severity":"warn","ts":1,"time":2,"@timestamp":3,"message":"m1","z":"z"}"#;
        assert_eq!(compact(l).unwrap(), "WARN  lo: m1 module=mo msg=m2 z=z");
        let l = r#"{"level":"info","severity":"error","target":"t","logger":"lo","msg":"m"}"#;
        assert_eq!(compact(l).unwrap(), "INFO  t: m logger=lo");
        // The same through the owned parse (a key with an escape).
        let l = r#"{"msg":"m2","message":"m1","lvl":"debug","x\u0031":1}"#;
        assert_eq!(compact(l).unwrap(), "DEBUG m1 msg=m2 x1=1");
    }

    #[test]
    fn a_repeated_key_shows_its_last_value_as_a_map_would() {
        assert_eq!(compact(r#"{"msg":"first","b":1,"msg":"second","a":2}"#).unwrap(), "second a=2 b=1");
        // The same through the owned parse (a key with an escape).
        assert_eq!(compact(r#"{"msg":"first","b\u0031":1,"msg":"second"}"#).unwrap(), "second b1=1");
    }

    #[test]
    fn non_json_and_json_without_message_are_left_alone() {
        assert_eq!(compact("plain text"), None);
        assert_eq!(compact(r#"{"a":1}"#), None);
        assert_eq!(compact("{not json}"), None);
    }

    #[test]
    fn escaped_control_characters_are_decoded_for_resanitizing() {
        let out = compact(r#"{"msg":"\u001b[2Jboom"}"#).unwrap();
        assert!(out.contains('\u{1b}'));
        let shown = crate::logtext::sanitize(out.as_bytes()).text;
        assert!(!shown.contains('\u{1b}'));
    }
}
