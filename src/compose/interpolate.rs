//! The compose file's variables: the project's `.env` file, and `${VAR}` interpolation as the
//! compose specification defines it (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$$` for a dollar sign; a
//! default may itself hold variables).

use std::collections::BTreeMap;

/// Variables as compose sees them: the `.env` file, overridden by the process environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    pub dotenv: BTreeMap<String, String>,
    pub process: BTreeMap<String, String>,
}

impl Vars {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.process.get(name).or_else(|| self.dotenv.get(name)).map(String::as_str)
    }
}

/// One `.env` line that could not be read (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    pub line: usize,
    pub message: String,
}

/// Parse a `.env` file: `KEY=VALUE` lines, `#` comments and blank lines, an optional `export `,
/// values in matching single or double quotes taken literally without them.
pub fn parse_dotenv(text: &str) -> Result<BTreeMap<String, String>, DotenvError> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(DotenvError { line: i + 1, message: "expected KEY=VALUE".into() });
        };
        let k = k.trim();
        if !is_name(k) {
            return Err(DotenvError { line: i + 1, message: format!("'{k}' is not a variable name") });
        }
        let v = v.trim();
        let v = match v.as_bytes() {
            [q @ (b'"' | b'\''), .., last] if last == q && v.len() >= 2 => &v[1..v.len() - 1],
            _ => v.split(" #").next().unwrap_or(v).trim_end(),
        };
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

pub fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// What interpolating one string found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interpolated {
    pub value: String,
    /// Variables that were used and are not set (compose uses a blank string and warns).
    pub unset: Vec<String>,
}

/// Interpolate `s`. `Err` for a malformed reference or a `${VAR:?message}` whose variable is
/// unset or empty, in compose's words.
pub fn interpolate(s: &str, vars: &Vars) -> Result<Interpolated, String> {
    let mut out = Interpolated::default();
    let b = s.as_bytes();
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.value.push_str(&s[lit..i]);
        match b.get(i + 1) {
            Some(b'$') => {
                out.value.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end = closing_brace(b, i + 2)
                    .ok_or_else(|| format!("invalid interpolation format in '{s}': no closing brace"))?;
                let inner = &s[i + 2..end];
                expand(inner, vars, &mut out).map_err(|e| format!("invalid interpolation in '{s}': {e}"))?;
                i = end + 1;
            }
            Some(c) if *c == b'_' || c.is_ascii_alphabetic() => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                lookup(&s[start..j], vars, &mut out);
                i = j;
            }
            _ => {
                return Err(format!(
                    "invalid interpolation format in '{s}': a '$' must start a variable or be written '$$'"
                ));
            }
        }
        lit = i;
    }
    out.value.push_str(&s[lit..]);
    Ok(out)
}

fn lookup(name: &str, vars: &Vars, out: &mut Interpolated) {
    match vars.get(name) {
        Some(v) => out.value.push_str(v),
        None => out.unset.push(name.to_owned()),
    }
}

/// The index of the `}` that closes a `${` whose body starts at `from` (nested `${` counted).
fn closing_brace(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn expand(inner: &str, vars: &Vars, out: &mut Interpolated) -> Result<(), String> {
    let name_end = inner.find(|c: char| !(c == '_' || c.is_ascii_alphanumeric())).unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_end);
    if !is_name(name) {
        return Err(format!("'{inner}' does not start with a variable name"));
    }
    let value = vars.get(name);
    let (op, arg) = match rest {
        "" => ("", ""),
        r if r.len() >= 2 && matches!(&r[..2], ":-" | ":?" | ":+") => (&r[..2], &r[2..]),
        r if matches!(&r[..1], "-" | "?" | "+") => (&r[..1], &r[1..]),
        r => return Err(format!("unknown modifier '{r}' after {name}")),
    };
    let set = value.is_some();
    let nonempty = value.is_some_and(|v| !v.is_empty());
    let nested = |out: &mut Interpolated| -> Result<(), String> {
        let n = interpolate(arg, vars)?;
        out.value.push_str(&n.value);
        out.unset.extend(n.unset);
        Ok(())
    };
    match op {
        "" => lookup(name, vars, out),
        ":-" if nonempty => out.value.push_str(value.unwrap_or_default()),
        "-" if set => out.value.push_str(value.unwrap_or_default()),
        ":-" | "-" => nested(out)?,
        ":?" if !nonempty => return Err(format!("required variable {name} is missing a value: {arg}")),
        "?" if !set => return Err(format!("required variable {name} is missing a value: {arg}")),
        ":?" | "?" => out.value.push_str(value.unwrap_or_default()),
        ":+" if nonempty => nested(out)?,
        "+" if set => nested(out)?,
        _ => {}
    }
    Ok(())
}

/// The variables `s` refers to, in order (for an image written as `repo:${TAG:-1}`).
pub fn references(s: &str) -> Vec<String> {
    let mut names = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            match b.get(i + 1) {
                Some(b'$') => i += 1,
                Some(b'{') => {
                    let n: String = s[i + 2..].chars().take_while(|c| *c == '_' || c.is_ascii_alphanumeric()).collect();
                    if !n.is_empty() {
                        names.push(n);
                    }
                }
                _ => {
                    let n: String = s[i + 1..].chars().take_while(|c| *c == '_' || c.is_ascii_alphanumeric()).collect();
                    if is_name(&n) {
                        names.push(n);
                    }
                }
            }
        }
        i += 1;
    }
    names
}

/// For a template with exactly one variable reference and literal text around it
/// (`fx-api-server:${API_TAG:-1}`), the value that variable needs for the template to read
/// `wanted` (`fx-api-server:2` -> `2`). `None` when no value can.
pub fn value_for(template: &str, wanted: &str) -> Option<(String, String)> {
    let start = template.find('$')?;
    let (prefix, rest) = template.split_at(start);
    let end = if let Some(body) = rest.strip_prefix("${") {
        2 + closing_brace(body.as_bytes(), 0)? + 1
    } else {
        1 + rest[1..].find(|c: char| !(c == '_' || c.is_ascii_alphanumeric())).unwrap_or(rest.len() - 1)
    };
    let suffix = &rest[end..];
    if suffix.contains('$') || prefix.contains('$') {
        return None;
    }
    let names = references(&rest[..end]);
    let name = names.first()?.clone();
    let v = wanted.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!v.is_empty() && !v.contains(char::is_whitespace)).then(|| (name, v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars { dotenv: pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(), process: BTreeMap::new() }
    }

    #[test]
    fn the_forms_of_the_compose_spec() {
        let v = vars(&[("TAG", "2"), ("EMPTY", "")]);
        let i = |s: &str| interpolate(s, &v).map(|x| x.value);
        assert_eq!(i("img:${TAG}").unwrap(), "img:2");
        assert_eq!(i("img:$TAG-x").unwrap(), "img:2-x");
        assert_eq!(i("${NOPE:-1}").unwrap(), "1");
        assert_eq!(i("${EMPTY:-1}").unwrap(), "1");
        assert_eq!(i("${EMPTY-1}").unwrap(), "");
        assert_eq!(i("${NOPE:-${TAG}}").unwrap(), "2");
        assert_eq!(i("${TAG:+yes}").unwrap(), "yes");
        assert_eq!(i("${NOPE+yes}").unwrap(), "");
        assert_eq!(i("a$$b").unwrap(), "a$b");
        assert!(i("${NOPE:?set the tag}").unwrap_err().contains("set the tag"));
        assert!(i("${EMPTY:?x}").is_err());
        assert_eq!(i("${EMPTY?x}").unwrap(), "");
        assert!(i("${TAG").is_err());
        assert!(i("$-").is_err());
        assert_eq!(interpolate("${NOPE}", &v).unwrap().unset, vec!["NOPE".to_owned()]);
    }

    #[test]
    fn the_process_environment_wins_over_dotenv() {
        let mut v = vars(&[("TAG", "1")]);
        v.process.insert("TAG".into(), "9".into());
        assert_eq!(interpolate("${TAG}", &v).unwrap().value, "9");
    }

    #[test]
    fn dotenv_lines() {
        let m = parse_dotenv("# c\n\nA=1\nexport B = two \nC=\"x # y\"\nD='q'\nE=v # note\n").unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two");
        assert_eq!(m["C"], "x # y");
        assert_eq!(m["D"], "q");
        assert_eq!(m["E"], "v");
        assert_eq!(parse_dotenv("A=1\nnot a line\n").unwrap_err().line, 2);
        assert!(parse_dotenv("1A=1\n").is_err());
    }

    #[test]
    fn the_value_a_pin_needs() {
        assert_eq!(value_for("fx-api:${API_TAG:-1}", "fx-api:2"), Some(("API_TAG".into(), "2".into())));
        assert_eq!(value_for("repo/$IMG", "repo/x:3"), Some(("IMG".into(), "x:3".into())));
        assert_eq!(value_for("fx-api:${API_TAG:-1}", "other:2"), None);
        assert_eq!(value_for("fx-api:1", "fx-api:2"), None);
        assert_eq!(value_for("${A}:${B}", "x:y"), None);
        assert_eq!(references("r:${A:-${B}}-$C"), vec!["A", "B", "C"]);
    }
}
