//! Every number in the stack file has a range, and every count a sane maximum. A value outside
//! is a config error at its line, with the allowed range: never clamped, never a panic later
//! (a 2^64-second resync, a 4-billion-day retention), never accepted silently (a 0-try gate).

use super::error::ConfigError;
use super::schema::StackConfig;

/// The most masking patterns a config may add (each costs memory and time on every line).
pub const MAX_MASKING_PATTERNS: usize = 100;

struct Check<'a> {
    file: &'a str,
    text: &'a str,
}

impl Check<'_> {
    /// `section` is the table header as written without brackets (`engine`, `services.bot`);
    /// `nth` picks among repeated `[[...]]` tables.
    fn int(
        &self,
        section: &Section<'_>,
        key: &str,
        v: Option<u64>,
        lo: u64,
        hi: u64,
        unit: &str,
    ) -> Result<(), ConfigError> {
        match v {
            Some(v) if v < lo || v > hi => {
                Err(self.err(section, key, format!("{v} is out of range"), format!("use {lo} to {hi}{unit}")))
            }
            _ => Ok(()),
        }
    }

    fn float(&self, section: &Section<'_>, key: &str, v: Option<f64>, lo: f64, hi: f64) -> Result<(), ConfigError> {
        match v {
            Some(v) if !v.is_finite() => Err(self.err(
                section,
                key,
                format!("{v} is not a finite number"),
                format!("use a number from {lo} to {hi}"),
            )),
            Some(v) if v < lo || v > hi => {
                Err(self.err(section, key, format!("{v} is out of range"), format!("use a number from {lo} to {hi}")))
            }
            _ => Ok(()),
        }
    }

    fn err(&self, section: &Section<'_>, key: &str, what: String, fix: String) -> ConfigError {
        ConfigError::at(
            self.file,
            self.text,
            locate(self.text, section, key),
            format!("{} {key} = {what}", section.shown()),
            fix,
        )
    }
}

/// Which table a key is in.
enum Section<'a> {
    Table(&'a str),
    /// `[services."name"]` (or `[services.name]`).
    Service(&'a str),
    /// The n-th `[[panels]]`.
    Array(&'a str, usize),
}

impl Section<'_> {
    fn shown(&self) -> String {
        match self {
            Section::Table(t) => format!("[{t}]"),
            Section::Service(s) => format!("[services.\"{s}\"]"),
            Section::Array(t, n) => format!("[[{t}]] #{}", n + 1),
        }
    }

    fn matches(&self, header: &str, seen: &mut usize) -> bool {
        let h = header.trim();
        match self {
            Section::Table(t) => h == format!("[{t}]"),
            Section::Service(s) => {
                let Some(inner) = h.strip_prefix("[services.").and_then(|r| r.strip_suffix(']')) else { return false };
                inner.trim().trim_matches(['"', '\'']) == *s
            }
            Section::Array(t, n) => {
                if h == format!("[[{t}]]") {
                    *seen += 1;
                    *seen == n + 1
                } else {
                    false
                }
            }
        }
    }
}

/// The byte span of `key`'s value in `section`, when it is written as `key = value` on its own
/// line under the table's header.
fn locate(text: &str, section: &Section<'_>, key: &str) -> Option<std::ops::Range<usize>> {
    let mut inside = false;
    let mut seen = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            inside = section.matches(t.split('#').next().unwrap_or(t), &mut seen);
        } else if inside
            && let Some(rest) = t.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let start = offset + (line.len() - t.len());
            return Some(start..offset + line.trim_end().len());
        }
        offset += line.len();
    }
    None
}

/// Check every number and count of the stack file.
pub(super) fn check(file: &str, text: &str, c: &StackConfig) -> Result<(), ConfigError> {
    let k = Check { file, text };
    const DAY: u64 = 86_400;
    let engine = Section::Table("engine");
    k.int(&engine, "resync_secs", c.engine.resync_secs, 5, DAY, " seconds")?;
    for (name, s) in &c.services {
        let sec = Section::Service(name);
        k.int(&sec, "probe_interval_secs", s.probe_interval_secs, 1, 3_600, " seconds")?;
        k.int(&sec, "probe_timeout_secs", s.probe_timeout_secs, 1, 300, " seconds")?;
        k.int(&sec, "stop_grace_secs", s.stop_grace_secs.map(u64::from), 0, 3_600, " seconds")?;
        k.int(&sec, "gate_tries", s.gate_tries.map(u64::from), 1, 1_000, " tries")?;
        k.int(&sec, "gate_interval_secs", s.gate_interval_secs, 1, 3_600, " seconds")?;
        k.int(&sec, "monitor_secs", s.monitor_secs, 0, 3_600, " seconds")?;
        k.int(&sec, "smoke_timeout_secs", s.smoke_timeout_secs, 1, 3_600, " seconds")?;
        if s.smoke.iter().any(|l| l.trim().is_empty()) || s.smoke_exec.iter().any(Vec::is_empty) {
            return Err(k.err(&sec, "smoke", "has an empty command".into(), "remove it, or name the command".into()));
        }
        k.int(&sec, "halt_timeout_secs", s.halt_timeout_secs, 1, 30, " seconds")?;
        if let Some(o) = &s.order
            && crate::compose::Order::parse(o).is_none()
        {
            let what = format!("\"{}\" is not a deploy order", crate::logtext::inert(o));
            return Err(k.err(&sec, "order", what, "use \"stop-first\" or \"start-first\"".into()));
        }
        if let Some(a) = &s.failure_action
            && !matches!(a.as_str(), "rollback" | "pause")
        {
            let what = format!("\"{}\" is not a failure action", crate::logtext::inert(a));
            return Err(k.err(&sec, "failure_action", what, "use \"rollback\" or \"pause\"".into()));
        }
    }
    let logs = Section::Table("logs");
    k.int(&logs, "tail", c.logs.tail.map(u64::from), 0, 100_000, " lines")?;
    k.int(&logs, "buffer_lines", c.logs.buffer_lines.map(|n| n as u64), 100, 1_000_000, " lines")?;
    let timeline = Section::Table("timeline");
    k.int(&timeline, "since_secs", c.timeline.since_secs, 0, 7 * DAY, " seconds")?;
    k.int(&timeline, "keep", c.timeline.keep.map(|n| n as u64), 100, 100_000, " rows")?;
    let backup = Section::Table("backup");
    k.int(&backup, "keep_days", c.backup.keep_days.map(u64::from), 1, 3_650, " days")?;
    k.int(&backup, "keep_count", c.backup.keep_count.map(|n| n as u64), 1, 10_000, " backups")?;
    let prom = Section::Table("prometheus");
    k.int(&prom, "interval_secs", c.prometheus.interval_secs, 1, 3_600, " seconds")?;
    k.int(&prom, "timeout_secs", c.prometheus.timeout_secs, 1, 300, " seconds")?;
    let scrape = Section::Table("scrape");
    k.int(&scrape, "interval_secs", c.scrape.interval_secs, 1, 3_600, " seconds")?;
    k.int(&scrape, "timeout_secs", c.scrape.timeout_secs, 1, 300, " seconds")?;
    let host = Section::Table("host");
    k.float(&host, "cpu_percent", c.host.cpu_percent, 0.0, 100.0)?;
    k.float(&host, "memory_percent", c.host.memory_percent, 0.0, 100.0)?;
    k.float(&host, "disk_free_percent", c.host.disk_free_percent, 0.0, 100.0)?;
    k.int(&host, "for_secs", c.host.for_secs, 0, DAY, " seconds")?;
    k.float(&Section::Table("availability"), "objective", c.availability.objective, 0.0, 100.0)?;
    let notify = Section::Table("notify");
    k.int(&notify, "tries", c.notify.tries.map(u64::from), 1, 20, " tries")?;
    k.int(&notify, "timeout_secs", c.notify.timeout_secs, 1, 300, " seconds")?;
    for (i, p) in c.panels.iter().enumerate() {
        let sec = Section::Array("panels", i);
        k.float(&sec, "warn", p.warn, -1e15, 1e15)?;
        k.float(&sec, "critical", p.critical, -1e15, 1e15)?;
        k.int(&sec, "alert_for_secs", p.alert_for_secs, 0, DAY, " seconds")?;
    }
    let n = c.masking.patterns.len();
    if n > MAX_MASKING_PATTERNS {
        return Err(ConfigError::at(
            file,
            text,
            c.masking.patterns.get(MAX_MASKING_PATTERNS).map(|p| p.span()),
            format!("[masking] patterns has {n} patterns"),
            format!("keep at most {MAX_MASKING_PATTERNS}: combine them with | in one expression"),
        ));
    }
    for (what, dir) in [("[state] dir", &c.state.dir), ("[backup] dir", &c.backup.dir)] {
        if dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            let sec = if what.starts_with("[state]") { Section::Table("state") } else { Section::Table("backup") };
            return Err(k.err(
                &sec,
                "dir",
                "\"\" is empty".into(),
                "name a directory, or leave dir out for the default".into(),
            ));
        }
    }
    if let Some(url) = &c.state.url
        && let Err(fix) = crate::store::shared::Shared::parse(url, c.state.password_env.as_deref())
    {
        let shown = crate::http::shown(&crate::logtext::inert(url));
        return Err(k.err(&Section::Table("state"), "url", format!("\"{shown}\" is not usable"), fix));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Stack;

    fn err(text: &str) -> crate::config::ConfigError {
        Stack::parse("s.toml", text).expect_err(text)
    }

    #[test]
    fn a_shared_store_url_is_checked_at_its_line_and_never_shows_its_password() {
        let e = err("[state]\ndir = \"/x\"\nurl = \"postgres://sd:hunter2@db:5432/sd\"\n");
        assert_eq!(e.position.map(|p| p.0), Some(3), "{e}");
        assert!(e.fix.contains("PGPASSWORD"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = err("[state]\nurl = \"mysql://a@b/c\"\n");
        assert!(e.fix.contains("postgres://USER@HOST:PORT/DATABASE"), "{e}");
    }

    #[test]
    fn numbers_out_of_range_are_errors_at_their_line_with_the_range() {
        let e = err("[engine]\nresync_secs = 18446744073709551615\n");
        assert_eq!(e.position, Some((2, 1)), "{e}");
        assert!(e.message.contains("resync_secs = 18446744073709551615 is out of range"), "{e}");
        assert!(e.fix.contains("5 to 86400"), "{e}");
        let e = err("[backup]\nkeep_days = 4294967295\n");
        assert!(e.message.contains("keep_days") && e.fix.contains("1 to 3650"), "{e}");
        let e = err("[services.\"p/bot\"]\nkill_switch = true\n\n[services.api]\ngate_tries = 0\n");
        assert_eq!(e.position, Some((5, 1)), "{e}");
        assert!(e.message.starts_with("[services.\"api\"] gate_tries = 0"), "{e}");
        for bad in [
            "[services.a]\ngate_interval_secs = 0\n",
            "[services.a]\nprobe_timeout_secs = 0\n",
            "[services.a]\nstop_grace_secs = 4000000000\n",
            "[backup]\nkeep_count = 0\n",
            "[timeline]\nsince_secs = 604801\n",
            "[timeline]\nkeep = 0\n",
            "[timeline]\nkeep = 18446744073709551615\n",
            "[notify]\ntries = 0\n",
            "[host]\ncpu_percent = -1.0\n",
            "[host]\nmemory_percent = nan\n",
            "[[panels]]\ntitle = \"x\"\nquery = \"up\"\nwarn = inf\n",
        ] {
            let e = err(bad);
            assert!(e.position.is_some(), "{bad}: {e}");
            assert!(e.message.contains("out of range") || e.message.contains("not a finite number"), "{bad}: {e}");
        }
    }

    #[test]
    fn empty_dirs_and_too_many_patterns_are_refused() {
        let e = err("[state]\ndir = \"\"\n");
        assert_eq!(e.position, Some((2, 1)), "{e}");
        let many: Vec<String> = (0..101).map(|i| format!("\"p{i}\"")).collect();
        let e = err(&format!("[masking]\npatterns = [{}]\n", many.join(", ")));
        assert!(e.message.contains("101 patterns"), "{e}");
    }

    #[test]
    fn values_inside_their_ranges_pass() {
        Stack::parse(
            "s.toml",
            "[engine]\nresync_secs = 5\n[services.a]\ngate_tries = 1\nstop_grace_secs = 0\n[backup]\nkeep_days = 3650\n[host]\ncpu_percent = 100\n",
        )
        .unwrap();
    }
}
