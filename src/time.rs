//! Wall-clock instants as plain numbers, and the two date formats the protocol uses:
//! RFC 3339 for `expirationDateTime` (docs/protocol.md §2) and the HTTP-date of `Retry-After`
//! (docs/protocol.md §9). The core never reads a clock: every `Timestamp` comes from the caller or
//! from the server.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// An instant on the wall clock, in milliseconds since the Unix epoch (UTC).
///
/// The machine compares it with the server's `expirationDateTime` and `Retry-After` dates,
/// which are wall-clock dates, so it is not a monotonic `Instant`. Drivers usually build it
/// with [`Timestamp::from_system_time`]; tests and simulators count it up by hand.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The instant `millis` milliseconds after 1970-01-01T00:00:00Z.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub const fn as_unix_millis(self) -> u64 {
        self.0
    }

    /// Converts a `SystemTime`; instants before 1970 become the epoch itself.
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Err(_) => Timestamp(0),
        }
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// This instant plus `d`, saturating at the largest representable instant.
    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// How long from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2022-06-09T10:45:27.432Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            self.0 % 1000
        )
    }
}

/// Why a date string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("date {value:?} is not {expected}")]
pub struct DateError {
    value: String,
    expected: &'static str,
}

impl DateError {
    fn new(value: &str, expected: &'static str) -> Self {
        // Dates are short; a hostile server's megabyte string is cut to keep errors small.
        let value = value.chars().take(64).collect();
        DateError { value, expected }
    }
}

const RFC3339: &str = "an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM))";
const HTTP_DATE: &str = "an HTTP-date (e.g. Sun, 06 Nov 1994 08:49:37 GMT)";

/// Parses an RFC 3339 date-time such as `2022-06-09T10:45:27.4324526Z`.
///
/// Graph sends up to 7 fractional digits (docs/protocol.md §2); any number is accepted and cut to
/// milliseconds. The offset may be `Z` or `±HH:MM`. Instants before 1970 are refused, since no
/// session can expire then.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, DateError> {
    let err = || DateError::new(s, RFC3339);
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(err());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(err());
    }
    let year = digits(&b[0..4]).ok_or_else(err)?;
    let month = digits(&b[5..7]).ok_or_else(err)?;
    let day = digits(&b[8..10]).ok_or_else(err)?;
    let hour = digits(&b[11..13]).ok_or_else(err)?;
    let minute = digits(&b[14..16]).ok_or_else(err)?;
    let second = digits(&b[17..19]).ok_or_else(err)?;
    let mut i = 19;
    let mut millis = 0u64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + u64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(err());
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let h = digits(&[*h1, *h2]).ok_or_else(err)?;
            let m = digits(&[*m1, *m2]).ok_or_else(err)?;
            if h > 23 || m > 59 {
                return Err(err());
            }
            let v = (h * 3600 + m * 60) as i64;
            if *sign == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return Err(err()),
    };
    let days = days_from_civil(year, month, day).ok_or_else(err)?;
    // 60 is allowed for a leap second, which then reads as the next second.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(err());
    }
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_secs;
    let secs = u64::try_from(secs).map_err(|_| err())?;
    secs.checked_mul(1000)
        .and_then(|ms| ms.checked_add(millis))
        .map(Timestamp)
        .ok_or_else(err)
}

/// Parses an HTTP-date (RFC 9110 5.6.7): the preferred IMF-fixdate
/// `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850 and asctime forms that a
/// recipient must also accept.
pub fn parse_http_date(s: &str) -> Result<Timestamp, DateError> {
    let err = || DateError::new(s, HTTP_DATE);
    let words: Vec<&str> = s.split_ascii_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [wd, d, mon, y, t, "GMT"] if wd.ends_with(',') => (*d, *mon, parse_u64(y), *t),
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        [wd, dmy, t, "GMT"] if wd.ends_with(',') => {
            let mut parts = dmy.split('-');
            let (d, mon, y) = (parts.next(), parts.next(), parts.next());
            match (d, mon, y, parts.next()) {
                (Some(d), Some(mon), Some(y), None) if y.len() == 2 => {
                    // Two-digit years: 70-99 are 19xx, the rest 20xx (RFC 9110 5.6.7).
                    let y = parse_u64(y).map(|y| if y >= 70 { 1900 + y } else { 2000 + y });
                    (d, mon, y, *t)
                }
                _ => return Err(err()),
            }
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [_, mon, d, t, y] => (*d, *mon, parse_u64(y), *t),
        _ => return Err(err()),
    };
    let year = year.ok_or_else(err)?;
    let day = parse_u64(day).ok_or_else(err)?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))
        .ok_or_else(err)? as u64
        + 1;
    let tb = time.as_bytes();
    if tb.len() != 8 || tb[2] != b':' || tb[5] != b':' {
        return Err(err());
    }
    let h = digits(&tb[0..2]).ok_or_else(err)?;
    let m = digits(&tb[3..5]).ok_or_else(err)?;
    let sec = digits(&tb[6..8]).ok_or_else(err)?;
    if h > 23 || m > 59 || sec > 60 {
        return Err(err());
    }
    let days = days_from_civil(year, month, day).ok_or_else(err)?;
    let secs = days * 86_400 + (h * 3600 + m * 60 + sec) as i64;
    let secs = u64::try_from(secs).map_err(|_| err())?;
    secs.checked_mul(1000).map(Timestamp).ok_or_else(err)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    digits(s.as_bytes())
}

fn digits(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` for an impossible date.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<i64> {
    if !(1..=12).contains(&m) || d == 0 || y > 9999 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_len = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > month_len[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let (y, m, d) = (y as i64, m as i64, d as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The server's clock as far as the client can know it (docs/protocol.md §10): each answer's
/// `Date` header, read at the moment the answer arrived, gives `server - client`. The value is
/// a lower bound (the header is cut to the second and written before the answer travelled),
/// so instants derived from it may be up to about a second plus the transit time early.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct ServerClock {
    /// Milliseconds to add to a client instant to get the server's; `None` until an answer
    /// carried a `Date`.
    offset_ms: Option<i64>,
}

impl ServerClock {
    /// Records the offset shown by an answer dated `date` (server clock) to a request sent at
    /// `sent` and answered at `received` (client clock). The answer bounds the offset on both
    /// sides: at least `date - received`, and below `date + 1 s - sent` (docs/protocol.md §10).
    /// The largest lower bound is kept, unless this answer's upper bound rules it out: then
    /// the client clock moved forward, the new lower bound is taken, and `true` says so.
    pub(crate) fn measure(
        &mut self,
        date: Timestamp,
        sent: Timestamp,
        received: Timestamp,
    ) -> bool {
        let ms = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        let lower = ms(i128::from(date.0) - i128::from(received.0));
        let upper = ms(i128::from(date.0) + 1_000 - i128::from(sent.0));
        let (best, moved) = match self.offset_ms {
            Some(best) if best < upper => (best.max(lower), false),
            Some(_) => (lower, true),
            None => (lower, false),
        };
        self.offset_ms = Some(best);
        moved
    }

    /// The server's time at client instant `t`, once an offset is known.
    pub(crate) fn server_time(&self, t: Timestamp) -> Option<Timestamp> {
        self.offset_ms.map(|off| {
            let v = i128::from(t.0) + i128::from(off);
            Timestamp(v.clamp(0, i128::from(u64::MAX)) as u64)
        })
    }

    /// The server's time at `t` if known, else the client's own reading: a hint only.
    pub(crate) fn server_time_or_local(&self, t: Timestamp) -> Timestamp {
        self.server_time(t).unwrap_or(t)
    }
}

/// When a request was sent, by the client's clock and, when an offset was known, by the
/// server's: what "after the request" means when the server's records are read later
/// (docs/protocol.md §10, §11).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SentAt {
    pub(crate) client: Timestamp,
    pub(crate) server: Option<Timestamp>,
}

impl SentAt {
    pub(crate) fn new(now: Timestamp, clock: &ServerClock) -> Self {
        SentAt {
            client: now,
            server: clock.server_time(now),
        }
    }

    /// The instant on the server's clock: as recorded, else through the clock known now,
    /// else the client's reading.
    pub(crate) fn on_server(&self, clock: &ServerClock) -> Timestamp {
        self.server
            .unwrap_or_else(|| clock.server_time_or_local(self.client))
    }

    /// The earlier of this send and a later one: the first request that may have created a
    /// result counts. Compared on the server's clock when both are known there; otherwise this
    /// one stands (the other came later in real time, whatever a corrected client clock says).
    pub(crate) fn earliest(self, later: SentAt) -> SentAt {
        match (self.server, later.server) {
            (Some(a), Some(b)) if b < a => later,
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_EXPIRY_MS: u64 = 1_654_771_527_432; // 2022-06-09T10:45:27.432Z

    #[test]
    fn rfc3339_with_zero_to_nine_fraction_digits() {
        let base = SEED_EXPIRY_MS - 432;
        let cases = [
            ("2022-06-09T10:45:27Z", base),
            ("2022-06-09T10:45:27.4Z", base + 400),
            ("2022-06-09T10:45:27.43Z", base + 430),
            ("2022-06-09T10:45:27.432Z", base + 432),
            ("2022-06-09T10:45:27.4324Z", base + 432),
            ("2022-06-09T10:45:27.43245Z", base + 432),
            ("2022-06-09T10:45:27.432452Z", base + 432),
            ("2022-06-09T10:45:27.4324526Z", base + 432),
            ("2022-06-09T10:45:27.43245261Z", base + 432),
            ("2022-06-09T10:45:27.432452619Z", base + 432),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_rfc3339(s), Ok(Timestamp(ms)), "{s}");
        }
    }

    #[test]
    fn rfc3339_offsets_and_case() {
        let z = parse_rfc3339("2022-06-09T10:45:27Z").unwrap();
        assert_eq!(parse_rfc3339("2022-06-09T12:45:27+02:00"), Ok(z));
        assert_eq!(parse_rfc3339("2022-06-09T07:15:27-03:30"), Ok(z));
        assert_eq!(parse_rfc3339("2022-06-09t10:45:27z"), Ok(z));
    }

    #[test]
    fn rfc3339_rejects_garbage() {
        for s in [
            "",
            "2022-06-09",
            "2022-06-09T10:45:27",
            "2022-06-09T10:45:27.Z",
            "2022-13-09T10:45:27Z",
            "2022-02-30T10:45:27Z",
            "2022-06-09T24:45:27Z",
            "2022-06-09T10:45:27+2:00",
            "1969-12-31T23:59:59Z",
            "2022-06-09T10:45:27ZZ",
            "2022-06-09T10:45:27.4324526Zjunk",
            "２022-06-09T10:45:27Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s:?} was accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        let t = Timestamp(SEED_EXPIRY_MS);
        assert_eq!(t.to_string(), "2022-06-09T10:45:27.432Z");
        assert_eq!(parse_rfc3339(&t.to_string()), Ok(t));
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn http_date_three_forms() {
        let want = Timestamp(784_111_777_000);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Ok(want));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Ok(want));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Ok(want));
        assert!(parse_http_date("Sun, 06 Nov 1994 08:49:37 CET").is_err());
        assert!(parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT").is_err());
        assert!(parse_http_date("2.128").is_err());
    }

    #[test]
    fn system_time_round_trip() {
        let t = Timestamp(SEED_EXPIRY_MS);
        assert_eq!(Timestamp::from_system_time(t.to_system_time()), t);
        assert_eq!(
            t.saturating_add(Duration::from_millis(5))
                .saturating_duration_since(t),
            Duration::from_millis(5)
        );
        assert_eq!(
            Timestamp(u64::MAX).saturating_add(Duration::from_secs(1)),
            Timestamp(u64::MAX)
        );
    }

    #[test]
    fn the_offset_keeps_its_tightest_bound_and_follows_a_corrected_clock() {
        let t = Timestamp::from_unix_millis;
        let mut c = ServerClock::default();
        assert_eq!(c.server_time(t(1_000)), None);
        // The server is 60 s behind; answers arrive 900 ms and 300 ms after their Date.
        c.measure(t(40_000_000), t(40_060_000), t(40_060_900));
        assert_eq!(c.server_time(t(40_060_000)), Some(t(39_999_100)));
        c.measure(t(40_001_000), t(40_061_000), t(40_061_300));
        assert_eq!(
            c.server_time(t(40_060_000)),
            Some(t(39_999_700)),
            "the tighter bound"
        );
        c.measure(t(40_002_000), t(40_062_000), t(40_062_950));
        assert_eq!(
            c.server_time(t(40_060_000)),
            Some(t(39_999_700)),
            "a looser one is ignored"
        );
        // The client clock is set back 20 minutes: the offset follows.
        c.measure(t(40_003_000), t(38_863_000), t(40_063_000 - 1_200_000));
        assert_eq!(c.server_time(t(38_860_000)), Some(t(40_000_000)));
        // Then 4 s forward: this answer's upper bound rules the old offset out.
        c.measure(t(40_004_000), t(38_868_000), t(38_868_100));
        assert_eq!(c.server_time(t(38_868_100)), Some(t(40_004_000)));
    }

    #[test]
    fn the_earliest_send_is_judged_on_the_servers_clock() {
        let t = Timestamp::from_unix_millis;
        let first = SentAt {
            client: t(10_000_000),
            server: Some(t(5_000_000)),
        };
        // Sent later in real time, by a client clock since set back an hour.
        let later = SentAt {
            client: t(6_400_000),
            server: Some(t(5_300_000)),
        };
        assert_eq!(first.earliest(later), first);
        let unknown = SentAt {
            client: t(1),
            server: None,
        };
        assert_eq!(first.earliest(unknown), first, "the record stands");
    }
}
