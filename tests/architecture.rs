//! The shape of the code, checked from its sources: the module graph built from every
//! `crate::…` and `super::…` path has no cycle, the vocabulary at the bottom names nothing above
//! it, and every operation has exactly one dispatch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (e.g. `ops::backup::jobs`) -> source text without test modules and comments.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|l| l == "mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            continue;
        }
        // Test-only files (`#[cfg(test)] mod tests;`) are not part of the graph.
        if parts.last().is_some_and(|l| l == "tests" || l == "memory" || l.ends_with("_tests")) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = strip(&text);
        out.insert(parts.join("::"), code);
    }
    out
}

/// The source without line comments and without everything from the first `#[cfg(test)]`
/// item that is a module (test modules sit at the end of a file).
fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l.trim() == "#[cfg(test)]" && lines.peek().is_some_and(|n| n.trim_start().starts_with("mod ")) {
            break;
        }
        let code = match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Every module another module's code names, resolved against the known modules.
fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeSet<&String> = mods.keys().collect();
    let resolve = |mut parts: Vec<String>| -> Option<String> {
        while !parts.is_empty() {
            let p = parts.join("::");
            if names.contains(&p) {
                return Some(p);
            }
            parts.pop();
        }
        None
    };
    let mut out = BTreeMap::new();
    for (m, code) in mods {
        let here: Vec<String> = m.split("::").map(str::to_owned).collect();
        // The module that `super` means in this file: the parent of a non-`mod.rs` file's
        // module is its directory; a `mod.rs` module's parent is one up.
        let mut set = BTreeSet::new();
        for path in paths(code) {
            let mut segs: Vec<String> = path.split("::").map(|s| s.trim().to_owned()).collect();
            let mut base: Vec<String> = match segs.first().map(String::as_str) {
                Some("crate") => {
                    segs.remove(0);
                    Vec::new()
                }
                Some("super") => {
                    let mut b = here.clone();
                    while segs.first().map(String::as_str) == Some("super") {
                        segs.remove(0);
                        b.pop();
                    }
                    b
                }
                _ => continue,
            };
            base.extend(segs);
            if let Some(t) = resolve(base)
                && &t != m
                && !m.starts_with(&format!("{t}::"))
            {
                set.insert(t);
            }
        }
        out.insert(m.clone(), set);
    }
    out
}

/// Paths that start with `crate::` or `super::`, with `{a, b::c}` groups expanded (nested
/// groups one level deep, as the code writes them).
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(pos) = code[i..].find(['c', 's']).map(|p| p + i) {
        i = pos + 1;
        let rest = &code[pos..];
        let starts = rest.starts_with("crate::") || rest.starts_with("super::");
        let boundary = pos == 0 || !(bytes[pos - 1].is_ascii_alphanumeric() || bytes[pos - 1] == b'_');
        if !starts || !boundary {
            continue;
        }
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
        let head = rest[..end].trim_end_matches(':').to_owned();
        if rest[end..].starts_with('{') && rest[..end].ends_with("::") {
            let close = matching_brace(&rest[end..]);
            for item in split_top(&rest[end + 1..end + close]) {
                let item = item.trim();
                if item.is_empty() || item == "self" {
                    out.push(head.clone());
                    continue;
                }
                let name_end =
                    item.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(item.len());
                out.push(format!("{head}::{}", item[..name_end].trim_end_matches(':')));
            }
            i = pos + end + close;
        } else {
            out.push(head);
        }
    }
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components.
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        idx: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        n: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.idx.insert(v, t.n);
        t.low.insert(v, t.n);
        t.n += 1;
        t.stack.push(v);
        t.on.insert(v);
        for w in &t.g[v] {
            let w = w.as_str();
            if !t.idx.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.idx[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.idx[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t =
        T { g, idx: BTreeMap::new(), low: BTreeMap::new(), stack: vec![], on: BTreeSet::new(), n: 0, out: vec![] };
    for v in g.keys() {
        if !t.idx.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_module_graph_has_no_cycle() {
    let g = edges(&modules());
    assert!(g.len() > 40, "the source walk found the modules: {}", g.len());
    assert!(g["ops::deploy"].contains("backend"), "the walk sees imports: {:?}", g["ops::deploy"]);
    let c = cycles(&g);
    assert!(c.is_empty(), "import cycles: {c:?}");
}

fn imports_only(g: &BTreeMap<String, BTreeSet<String>>, module: &str, allowed: &[&str]) {
    let mods: Vec<&String> = g.keys().filter(|m| *m == module || m.starts_with(&format!("{module}::"))).collect();
    assert!(!mods.is_empty(), "no module {module}");
    for m in mods {
        for t in &g[m] {
            let top = t.split("::").next().unwrap();
            assert!(
                top == module.split("::").next().unwrap() || allowed.contains(&top),
                "{m} imports {t}: only {allowed:?} may be used from {module}"
            );
        }
    }
}

#[test]
fn the_vocabulary_and_the_messages_name_nothing_above_them() {
    let g = edges(&modules());
    imports_only(&g, "domain", &[]);
    imports_only(&g, "format", &[]);
    imports_only(&g, "logtext", &[]);
    imports_only(&g, "msg", &["domain", "logtext"]);
    imports_only(&g, "state", &["domain", "logtext"]);
    imports_only(&g, "backend", &["domain"]);
}

#[test]
fn a_planted_cycle_is_found() {
    // The checker itself: two modules that name each other form one cycle.
    let mut mods = BTreeMap::new();
    mods.insert("a".to_owned(), "use crate::b::X;".to_owned());
    mods.insert("b".to_owned(), "fn f() { crate::a::g() }".to_owned());
    mods.insert("c".to_owned(), "use super::{a, b::Y};".to_owned());
    let g = edges(&mods);
    assert_eq!(cycles(&g), vec![vec!["a".to_owned(), "b".to_owned()]]);
    assert_eq!(g["c"], BTreeSet::from(["a".to_owned(), "b".to_owned()]));
}

#[test]
fn every_operation_has_exactly_one_dispatch() {
    let mods = modules();
    for call in
        ["deploy::run(", "stop::stop_all(", "start::start(", "backup::run(", "backup::restore(", "ops::execute("]
    {
        let sites: Vec<&String> = mods.iter().filter(|(_, code)| code.contains(call)).map(|(m, _)| m).collect();
        let count: usize = mods.values().map(|code| code.matches(call).count()).sum();
        let expected = if call == "ops::execute(" { 2 } else { 1 };
        assert_eq!(count, expected, "{call} is called from {sites:?}");
    }
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let n = std::fs::read_to_string(&p).unwrap().lines().count();
                assert!(n <= 600, "{} has {n} lines", p.display());
            }
        }
    }
}
