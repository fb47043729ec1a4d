//! Properties on arbitrary input: the sanitizer lets no control, C1 or bidi character out and
//! never panics; masking never panics; the config loader never panics on any text, and every
//! number it accepts is inside its range.

use proptest::prelude::*;
use stackdeck::config::Stack;
use stackdeck::logtext::{Masker, clean, inert, sanitize};

static MASKER: std::sync::LazyLock<Masker> = std::sync::LazyLock::new(Masker::default);

fn dangerous(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn sanitized_bytes_are_inert(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let c = sanitize(&raw);
        prop_assert!(!c.text.chars().any(dangerous), "{:?}", c.text);
        prop_assert!(c.cut_bytes <= raw.len());
    }

    #[test]
    fn inert_text_is_inert_and_clean_is_masked(s in "\\PC*|[\\x00-\\x1f\\u{80}-\\u{9f}\\u{202a}-\\u{202e}a-z=:/@]{0,200}") {
        prop_assert!(!inert(&s).chars().any(dangerous));
        let masked = clean(&format!("password={s} {s}"), &MASKER);
        prop_assert!(!masked.chars().any(dangerous));
    }

    #[test]
    fn the_config_loader_never_panics(text in "\\PC{0,400}") {
        let _ = Stack::parse("fuzz.toml", &text);
    }

    #[test]
    fn numbers_are_accepted_only_inside_their_ranges(
        resync in prop_oneof![0..100_000u64, any::<u64>()],
        tries in prop_oneof![0..2_000u32, any::<u32>()],
        keep in prop_oneof![0..5_000u32, any::<u32>()],
        cpu in prop_oneof![-10.0..110.0f64, any::<f64>()],
    ) {
        let text = format!(
            "[engine]\nresync_secs = {resync}\n[services.bot]\ngate_tries = {tries}\n[backup]\nkeep_days = {keep}\n[host]\ncpu_percent = {cpu:?}\n"
        );
        let in_range = (5..=86_400).contains(&resync) && (1..=1_000).contains(&tries) && (1..=3_650).contains(&keep)
            && cpu.is_finite() && (0.0..=100.0).contains(&cpu);
        let parsed = Stack::parse("fuzz.toml", &text);
        prop_assert_eq!(parsed.is_ok(), in_range, "{}", text);
        if let Ok(s) = parsed {
            prop_assert!((5..=86_400).contains(&s.resync().as_secs()));
            prop_assert!((1..=1_000).contains(&s.settings(&stackdeck::domain::ServiceKey::parse("bot")).gate_tries));
            prop_assert!((1..=3_650).contains(&s.keep_days()));
            prop_assert!(s.config.host.cpu_max().is_finite() && (0.0..=100.0).contains(&s.config.host.cpu_max()));
        }
    }
}
