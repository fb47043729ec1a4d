//! Moments given on the command line (`stackdeck logs --since/--until`): a duration back from
//! now (`90s`, `10m`, `2h`, `1d`), an RFC 3339 time (`2026-11-30T03:12:00Z`), a local date and
//! time (`2026-11-30 03:12[:00]`), or a local clock time today (`03:12[:00]`). As unix seconds.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

const FORMS: &str = "a duration back from now (90s, 10m, 2h, 1d), an RFC 3339 time \
                     (2026-11-30T03:12:00Z), a local time today (03:12) or a local date and time \
                     (2026-11-30 03:12)";

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
