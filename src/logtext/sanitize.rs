//! Make arbitrary bytes inert and visible.
//!
//! Terminal escape sequences in container logs can rewrite the operator's screen, set the window
//! title, or worse. Every control character is replaced by a visible stand-in; invalid UTF-8 is
//! shown as `\xNN`; bidirectional overrides are shown as `<U+202E>`; tabs become spaces.
//! Lines are capped at [`MAX_LINE_BYTES`] so a 1 MB line costs the UI no more than a normal one.

/// Longest part of a single line kept for display; the rest is counted in `cut_bytes`.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// Result of [`sanitize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clean {
    pub text: String,
    pub cut_bytes: usize,
}

/// Sanitize one line of raw bytes.
pub fn sanitize(raw: &[u8]) -> Clean {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let (kept, cut_bytes) = if raw.len() > MAX_LINE_BYTES {
        // Cut on a character boundary: never show half of a valid character as "invalid".
        let mut cut = MAX_LINE_BYTES;
        while cut > MAX_LINE_BYTES - 3 && raw[cut] & 0b1100_0000 == 0b1000_0000 {
            cut -= 1;
        }
        (&raw[..cut], raw.len() - cut)
    } else {
        (raw, 0)
    };
    // Most lines are printable ASCII: one pass to tell, one copy.
    if printable_ascii(kept) {
        let text = std::str::from_utf8(kept).expect("printable ASCII is UTF-8").to_owned();
        return Clean { text, cut_bytes };
    }
    let mut text = String::with_capacity(kept.len() + 8);
    for chunk in kept.utf8_chunks() {
        // Copy runs of harmless characters whole; only the others go one by one.
        let v = chunk.valid();
        let mut start = 0;
        for (i, c) in v.char_indices() {
            if needs_replacing(c) {
                text.push_str(&v[start..i]);
                push_inert(&mut text, c);
                start = i + c.len_utf8();
            }
        }
        text.push_str(&v[start..]);
        for b in chunk.invalid() {
            text.push_str(&format!("\\x{b:02X}"));
        }
    }
    Clean { text, cut_bytes }
}

/// Bytes that are inert as they stand: printable ASCII, no control byte.
///
/// Checked 32 bytes at a time without an early exit inside a block, which the compiler turns
/// into vector instructions: every line of every log goes through here, often twice, and the
/// byte-by-byte form was the largest single cost of a JSON line (issue 15, `perf annotate`).
pub(crate) fn printable_ascii(b: &[u8]) -> bool {
    // `x - 0x20 < 0x5f` (wrapping) is `0x20 <= x < 0x7f` in one comparison.
    let printable = |x: &u8| x.wrapping_sub(0x20) < 0x5f;
    let mut blocks = b.chunks_exact(32);
    blocks.all(|block| block.iter().fold(true, |all, x| all & printable(x))) && blocks.remainder().iter().all(printable)
}

pub(crate) fn needs_replacing(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

fn push_inert(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("    "),
        // C0 controls -> Unicode "control pictures" (U+2400..U+241F): ESC shows as ␛.
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('?')),
        '\u{7f}' => out.push('\u{2421}'),
        // C1 controls (CSI is U+009B!) and Unicode format/bidi controls: show the code point.
        '\u{80}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}' => out.push_str(&format!("<U+{:04X}>", c as u32)),
        _ => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> String {
        sanitize(b).text
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(s(b"hello world"), "hello world");
        assert_eq!(s("prix 3€ ✓".as_bytes()), "prix 3€ ✓");
    }

    #[test]
    fn escape_sequences_become_visible_pictures() {
        let out = s(b"\x1b]0;pwned\x07\x1b[2J\x1b[31mred");
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
        assert_eq!(out, "␛]0;pwned␇␛[2J␛[31mred");
    }

    #[test]
    fn c1_csi_and_bidi_overrides_are_shown_as_code_points() {
        let out = s("a\u{9b}2Jb\u{202e}c".as_bytes());
        assert_eq!(out, "a<U+009B>2Jb<U+202E>c");
    }

    #[test]
    fn invalid_utf8_is_shown_as_hex() {
        assert_eq!(s(b"ok\xff\xfeok"), "ok\\xFF\\xFEok");
    }

    #[test]
    fn tabs_and_trailing_cr() {
        assert_eq!(s(b"a\tb\r"), "a    b");
        assert_eq!(s(b"a\rb"), "a␍b");
    }

    #[test]
    fn cap_never_splits_a_character() {
        let mut big = vec![b'x'; MAX_LINE_BYTES - 1];
        big.extend("€€€".as_bytes());
        let c = sanitize(&big);
        assert!(!c.text.contains("\\x"), "{}", &c.text[c.text.len() - 10..]);
        assert_eq!(c.text.len() + c.cut_bytes, big.len());
    }

    #[test]
    fn printable_ascii_finds_a_bad_byte_at_every_position() {
        // Every length across the 32-byte blocks and their remainder, every position, and the
        // bytes on each side of the printable range.
        for len in 0..100 {
            let mut line = vec![b'a'; len];
            assert!(printable_ascii(&line), "{len}");
            for at in 0..len {
                for bad in [0x00, 0x1f, 0x7f, 0x80, 0xff] {
                    line[at] = bad;
                    assert!(!printable_ascii(&line), "{len} {at} {bad:#x}");
                }
                for good in [0x20, 0x7e] {
                    line[at] = good;
                    assert!(printable_ascii(&line), "{len} {at} {good:#x}");
                }
                line[at] = b'a';
            }
        }
    }

    #[test]
    fn huge_line_is_capped() {
        let big = vec![b'x'; 1024 * 1024];
        let c = sanitize(&big);
        assert_eq!(c.text.len(), MAX_LINE_BYTES);
        assert_eq!(c.cut_bytes, 1024 * 1024 - MAX_LINE_BYTES);
    }
}
