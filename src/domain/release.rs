//! Release vocabulary: one tag for several services, each keeping its own repository, moved in
//! the order their `depends_on` gives.

use std::collections::BTreeMap;

/// Is `tag` a tag the engine takes (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`)? `Err` says why not.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let ok_first = tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let ok_rest = tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if tag.is_empty() || tag.len() > 128 || !ok_first || !ok_rest {
        return Err(format!(
            "{tag:?} is not an image tag: a tag is 1 to 128 letters, digits, '_', '.' or '-', and does not start with '.' or '-'"
        ));
    }
    Ok(())
}

/// `image` with its tag (or digest) replaced by `tag`: `registry:5000/team/api:1.4@sha256:…`
/// becomes `registry:5000/team/api:TAG`. `None` for an image id, which names no repository.
pub fn retag(image: &str, tag: &str) -> Option<String> {
    let repo = image.split_once('@').map_or(image, |(r, _)| r);
    if repo.is_empty()
        || repo.starts_with("sha256:")
        || (repo.len() == 64 && repo.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return None;
    }
    // A ':' after the last '/' starts the tag; one before it is a registry's port.
    let last = repo.rfind('/').map_or(0, |i| i + 1);
    let name = match repo[last..].find(':') {
        Some(i) => &repo[..last + i],
        None => repo,
    };
    (!name.is_empty()).then(|| format!("{name}:{tag}"))
}

/// `selected` ordered so that every service comes after what it depends on (directly or through
/// services not selected); otherwise in the order given. `deps` maps a service to those it
/// depends on. `Err` names a dependency cycle.
pub fn dependency_order(selected: &[String], deps: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        n: &str,
        deps: &BTreeMap<String, Vec<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        match marks.get(n) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let from = path.iter().position(|p| p == n).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(n.to_owned());
                return Err(format!("depends_on has a cycle: {}", cycle.join(" -> ")));
            }
            None => {}
        }
        marks.insert(n.to_owned(), Mark::Visiting);
        path.push(n.to_owned());
        for d in deps.get(n).map(Vec::as_slice).unwrap_or_default() {
            visit(d, deps, marks, path, out)?;
        }
        path.pop();
        marks.insert(n.to_owned(), Mark::Done);
        out.push(n.to_owned());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut all = Vec::new();
    for s in selected {
        visit(s, deps, &mut marks, &mut Vec::new(), &mut all)?;
    }
    Ok(all.into_iter().filter(|s| selected.contains(s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retag_keeps_the_repository_and_the_registry_port() {
        assert_eq!(retag("fx-api-server:1", "2").as_deref(), Some("fx-api-server:2"));
        assert_eq!(retag("fx-api-server", "2").as_deref(), Some("fx-api-server:2"));
        assert_eq!(retag("reg:5000/team/api:1.4", "1.5").as_deref(), Some("reg:5000/team/api:1.5"));
        assert_eq!(retag("reg:5000/team/api", "1.5").as_deref(), Some("reg:5000/team/api:1.5"));
        assert_eq!(retag("api:1@sha256:abcd", "2").as_deref(), Some("api:2"));
        assert_eq!(retag("sha256:0123abcd", "2"), None);
        assert_eq!(retag(&"a".repeat(64), "2"), None);
        assert_eq!(retag("", "2"), None);
    }

    #[test]
    fn tags_are_checked_as_the_engine_checks_them() {
        for ok in ["2", "1.4.2", "v2_rc-1", "_x", &"a".repeat(128)] {
            assert!(check_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".2", "-2", "a:b", "a/b", "a b", "a\u{1b}[31m", &"a".repeat(129)] {
            let e = check_tag(bad).unwrap_err();
            assert!(!e.contains('\u{1b}'), "{e}");
        }
    }

    fn deps(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges.iter().map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect())).collect()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn dependencies_come_first_also_through_services_not_released() {
        let d = deps(&[("p/bot", &["p/api"]), ("p/api", &["p/db"]), ("p/dash", &["p/api"])]);
        assert_eq!(dependency_order(&names(&["p/bot", "p/api"]), &d).unwrap(), names(&["p/api", "p/bot"]));
        let d2 = deps(&[("p/bot", &["p/db"]), ("p/db", &["p/api"])]);
        assert_eq!(dependency_order(&names(&["p/bot", "p/api"]), &d2).unwrap(), names(&["p/api", "p/bot"]));
        // Unrelated services keep the order given.
        assert_eq!(dependency_order(&names(&["p/x", "p/y"]), &d).unwrap(), names(&["p/x", "p/y"]));
        assert_eq!(
            dependency_order(&names(&["p/dash", "p/bot", "p/api"]), &d).unwrap(),
            names(&["p/api", "p/dash", "p/bot"])
        );
    }

    #[test]
    fn a_cycle_is_named() {
        let d = deps(&[("p/a", &["p/b"]), ("p/b", &["p/a"])]);
        let e = dependency_order(&names(&["p/a"]), &d).unwrap_err();
        assert!(e.contains("p/a -> p/b -> p/a"), "{e}");
    }
}
