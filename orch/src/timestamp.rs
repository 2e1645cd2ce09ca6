//! UTC wall-clock timestamps, written as RFC 3339 (`2026-11-28T16:09:18.123456789Z`).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with nanosecond precision, at or after 1970-01-01.
///
/// Journal entries carry one; it serializes as an RFC 3339 string in UTC:
///
/// ```
/// use orch::Timestamp;
/// use std::time::Duration;
///
/// let t = Timestamp::from_unix(Duration::new(1_795_881_758, 120_000_000));
/// assert_eq!(t.to_string(), "2026-11-28T16:02:38.120000000Z");
/// assert_eq!("2026-11-28T16:02:38.12Z".parse::<Timestamp>(), Ok(t));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(Duration);

/// Why a string is not an RFC 3339 UTC timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTimestampError(&'static str);

impl Timestamp {
    /// The current time of the system clock.
    pub fn now() -> Self {
        // A clock set before 1970 is the only way this fails; such a time is recorded as 1970.
        Timestamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }

    /// The instant this long after 1970-01-01T00:00:00Z.
    pub const fn from_unix(since_epoch: Duration) -> Self {
        Timestamp(since_epoch)
    }

    /// How long after 1970-01-01T00:00:00Z this instant is.
    pub const fn unix(self) -> Duration {
        self.0
    }
}

// Days since 1970-01-01 <-> proleptic Gregorian dates, after Howard Hinnant's public-domain
// `civil_from_days` / `days_from_civil`.
fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: u64, month: u32, day: u32) -> Option<u64> {
    let year = year.checked_sub(u64::from(month <= 2))?;
    let era = year / 400;
    let yoe = year - era * 400;
    let month = u64::from(month);
    let doy = (153 * if month > 2 { month - 3 } else { month + 9 } + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let rem = secs % 86_400;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            self.0.subsec_nanos()
        )
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = ParseTimestampError;
        let b = s.as_bytes();
        // Every valid timestamp is ASCII; checking first keeps the slicing below on char
        // boundaries.
        if !s.is_ascii() {
            return Err(err("expected ASCII"));
        }
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
            return Err(err("expected YYYY-MM-DDTHH:MM:SSZ"));
        }
        if b[16] != b':' || !matches!(b[b.len() - 1], b'Z' | b'z') {
            return Err(err("expected YYYY-MM-DDTHH:MM:SSZ in UTC"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<u64, ParseTimestampError> {
            let digits = &s[range];
            if digits.bytes().all(|c| c.is_ascii_digit()) {
                digits.parse().map_err(|_| err("number out of range"))
            } else {
                Err(err("expected a digit"))
            }
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let nanos = match &s[19..s.len() - 1] {
            "" => 0,
            frac if frac.len() > 1 && frac.len() <= 10 && frac.starts_with('.') => {
                let digits = num(20..s.len() - 1)?;
                digits * 10_u64.pow(10 - frac.len() as u32)
            }
            _ => return Err(err("expected at most 9 fractional digits")),
        };
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month as u32) {
            return Err(err("no such date"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err("no such time of day"));
        }
        let days = days_from_civil(year, month as u32, day as u32).ok_or(err("before 1970"))?;
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(Timestamp(Duration::new(secs, nanos as u32)))
    }
}

fn days_in_month(year: u64, month: u32) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for ParseTimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RFC 3339 UTC timestamp: {}", self.0)
    }
}

impl std::error::Error for ParseTimestampError {}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_unix(Duration::ZERO).to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.000000789
        let t = Timestamp::from_unix(Duration::new(951_827_696, 789));
        assert_eq!(t.to_string(), "2000-02-29T12:34:56.000000789Z");
    }

    #[test]
    fn round_trips_every_day_for_a_millennium() {
        for days in (0..365_250).step_by(7) {
            let t = Timestamp::from_unix(Duration::new(days * 86_400 + 45_296, 5));
            assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t), "{t}");
        }
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28T16:09:18",
            "2026-11-28T16:09:18+01:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T16:09:18.Z",
            "2026-11-28T16:09:18.1234567890Z",
            "1969-12-31T23:59:59Z",
            "2026-1a-28T16:09:18Z",
            "+026-11-28T16:09:18Z",
            "2026-11-28T16:02:3éZ",
            "2026-11-28T16:02:38.é1Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn serializes_as_a_json_string() {
        let t = Timestamp::from_unix(Duration::new(1, 500_000_000));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"1970-01-01T00:00:01.500000000Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }
}
