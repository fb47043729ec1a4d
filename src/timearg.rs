//! Moments given on the command line (`stackdeck logs --since/--until`): a duration back from
//! now (`90s`, `10m`, `2h`, `1d`), an RFC 3339 time (`2026-11-30T03:12:00Z`), a local date and
//! time (`2026-11-30 03:12[:00]`), or a local clock time today (`03:12[:00]`). As unix seconds.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

const FORMS: &str = "a duration back from now (90s, 10m, 2h, 1d), an RFC 3339 time \
                     (2026-11-30T03:12:00Z), a local time today (03:12) or a local date and time \
                     (2026-11-30 03:12)";

/// The machine's time zone. With `TZ` unset, `/etc/localtime` is read as it is: jiff's own
/// lookup turns its link into a name and then lists the whole zoneinfo tree to find that name
/// (about 600 entries, 10-25 ms, on the path to the first frame).
pub fn local_zone() -> TimeZone {
    if std::env::var_os("TZ").is_some() {
        return TimeZone::system();
    }
    let path = std::path::Path::new("/etc/localtime");
    let name = std::fs::read_link(path)
        .ok()
        .and_then(|l| l.to_str().and_then(|l| l.split_once("zoneinfo/")).map(|(_, n)| n.to_owned()))
        .unwrap_or_else(|| "Local".to_owned());
    match std::fs::read(path).map(|b| TimeZone::tzif(&name, &b)) {
        Ok(Ok(tz)) => tz,
        // Not a TZif file, or none: jiff's own rules (which end in UTC).
        _ => TimeZone::system(),
    }
}

/// Parse `s` as a moment, relative to `now` in `tz`.
pub fn parse(s: &str, now: Timestamp, tz: &TimeZone) -> Result<i64, String> {
    let s = s.trim();
    let bad = || format!("'{}' is not a time: write {FORMS}", crate::logtext::inert(s));
    if let Some(unit) = s.chars().last().filter(|c| matches!(c, 's' | 'm' | 'h' | 'd'))
        && let Ok(n) = s[..s.len() - 1].parse::<i64>()
    {
        let secs = match unit {
            's' => Some(n),
            'm' => n.checked_mul(60),
            'h' => n.checked_mul(3600),
            _ => n.checked_mul(86_400),
        };
        return match secs {
            Some(v) if (0..=10 * 365 * 86_400).contains(&v) => Ok(now.as_second() - v),
            _ => Err(format!("'{s}' is out of range: a duration back from now is 0s to 3650d")),
        };
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t.as_second());
    }
    let local = |dt: DateTime| dt.to_zoned(tz.clone()).map(|z| z.timestamp().as_second()).map_err(|_| bad());
    if let Ok(dt) = s.replacen(' ', "T", 1).parse::<DateTime>()
        && s.contains('-')
    {
        return local(dt);
    }
    if let Ok(t) = s.parse::<Time>() {
        let today: Date = now.to_zoned(tz.clone()).date();
        return local(today.to_datetime(t));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_zone_agrees_with_jiffs_lookup() {
        let (ours, jiffs) = (local_zone(), TimeZone::system());
        for secs in [0, 1_700_000_000, 1_720_000_000, 1_735_000_000, 1_800_000_000] {
            let t = Timestamp::from_second(secs).unwrap();
            assert_eq!(ours.to_offset(t), jiffs.to_offset(t), "at {t}");
        }
    }

    #[test]
    fn the_forms_an_operator_types() {
        let now: Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
        let utc = TimeZone::UTC;
        assert_eq!(parse("10m", now, &utc), Ok(now.as_second() - 600));
        assert_eq!(parse("2h", now, &utc), Ok(now.as_second() - 7200));
        assert_eq!(parse("03:12", now, &utc), Ok("2026-11-30T03:12:00Z".parse::<Timestamp>().unwrap().as_second()));
        assert_eq!(parse("2026-11-29 23:59:30", now, &utc), Ok(now.as_second() - 10 * 3600 - 30));
        assert_eq!(parse("2026-11-30T03:12:00+01:00", now, &utc), Ok(now.as_second() - 7 * 3600 - 48 * 60));
        assert!(parse("yesterday", now, &utc).unwrap_err().contains("not a time"));
        assert!(parse("99999999999d", now, &utc).unwrap_err().contains("out of range"));
        assert!(parse("-5m", now, &utc).unwrap_err().contains("out of range"));
        assert!(!parse("\x1b[2Jx", now, &utc).unwrap_err().contains('\x1b'));
    }
}
