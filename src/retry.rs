//! Backoff with jitter and `Retry-After` (docs/protocol.md §9). Pure functions and a seeded
//! generator; knows nothing of Graph.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::{parse_http_date, Timestamp};

/// How transient failures (408, 429, 500, 502, 503, 504, transport errors) are retried.
///
/// The defaults are the Graph SDK design's: 3 s initial interval, at most 180 s per wait,
/// 1,800 s in all, 10 attempts (docs/protocol.md §9). A failure streak belongs to a unit of
/// progress (creating the session, the bytes of the file, the single POST): it ends only when
/// that unit advances (the server holds more bytes than before, the session exists, the
/// upload completes), not on any answer; limits apply to one streak (docs/protocol.md §11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The first backoff interval; each further failure doubles it.
    pub initial: Duration,
    /// The longest single backoff (a `Retry-After` longer than this is still honoured).
    pub max_wait: Duration,
    /// The longest a streak of failures may last, from its first failure to the end of the
    /// wait before the next try. A wait that would pass it ends the upload.
    pub max_total: Duration,
    /// How many tries may fail in a row before the upload ends.
    pub max_attempts: u32,
    /// Seed of the jitter generator: the same seed and inputs give the same waits.
    pub seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(3),
            max_wait: Duration::from_secs(180),
            max_total: Duration::from_secs(1800),
            max_attempts: 10,
            seed: 0x0005_EED0_FA11,
        }
    }
}

impl RetryPolicy {
    /// The backoff before try `failures + 1`, where `failures >= 1` tries failed in a row:
    /// `initial * 2^(failures-1)`, capped at `max_wait`, then "equal jitter": a uniform draw
    /// between half of that and all of it, so that many clients do not retry in step.
    pub fn backoff(&self, failures: u32, rng: &mut Rng) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let full = self
            .initial
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max_wait)
            .min(self.max_wait);
        let ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
        let half = ms / 2;
        let jitter = if ms > half {
            rng.below(ms - half + 1)
        } else {
            0
        };
        Duration::from_millis(half + jitter)
    }
}

/// A small seeded generator (SplitMix64) for jitter: deterministic, serialisable, and plenty
/// for spreading retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// How long a `Retry-After` value asks to wait, seen at `now` (docs/protocol.md §9): delta-seconds,
/// possibly fractional (`2.128`, rounded up to the millisecond), or an HTTP-date (a date in the
/// past asks for no wait). `None` for anything else, which the caller treats as no header.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().next()?.is_ascii_digit() {
        return parse_seconds(v);
    }
    let date = parse_http_date(v).ok()?;
    Some(date.saturating_duration_since(now))
}

fn parse_seconds(v: &str) -> Option<Duration> {
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, f),
        None => (v, ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (v.contains('.') && frac.is_empty()) {
        return None;
    }
    // However large, the server's word stands: an overlong wait ends the upload with an error
    // that names it, rather than being cut short (docs/protocol.md §9).
    let secs: u64 = int.parse().unwrap_or(u64::MAX);
    let mut millis = 0u64;
    let mut scale = 100;
    let mut round_up = false;
    for (i, b) in frac.bytes().enumerate() {
        let d = u64::from(b - b'0');
        if i < 3 {
            millis += d * scale;
            scale /= 10;
        } else if d != 0 {
            round_up = true;
        }
    }
    if round_up {
        millis += 1;
    }
    Some(Duration::from_secs(secs).saturating_add(Duration::from_millis(millis)))
}

/// One failure streak (docs/protocol.md §11): its failed tries, when it began, and the last
/// wait, so that waits never shrink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Streak {
    failures: u32,
    started: Timestamp,
    last_wait: Duration,
}

/// Why a streak ends the upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreakEnd {
    /// `max_attempts` tries failed.
    Attempts(u32),
    /// The next try would come after `max_total`: `asked` is the server's `Retry-After` when
    /// that is what reached past the limit.
    Total {
        failures: u32,
        asked: Option<Duration>,
        /// What was left of `max_total` when the failure came.
        left: Duration,
    },
}

impl Streak {
    /// A streak whose first failure happens at `now`.
    pub(crate) fn new(now: Timestamp) -> Self {
        Streak {
            failures: 0,
            started: now,
            last_wait: Duration::ZERO,
        }
    }

    /// Counts a failure at `now` and gives the wait before the next try: for the first, the
    /// server's `retry_after` when it gave one, else the backoff (none when `retry_at_once`);
    /// for the next ones, the larger of the two; never less than the wait before. `Err` when
    /// the policy's tries or time are spent.
    pub(crate) fn fail(
        &mut self,
        policy: &RetryPolicy,
        rng: &mut Rng,
        now: Timestamp,
        retry_after: Option<Duration>,
        retry_at_once: bool,
    ) -> Result<Duration, StreakEnd> {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= policy.max_attempts {
            return Err(StreakEnd::Attempts(self.failures));
        }
        // The server's Retry-After is the floor; from the second failure on, the backoff is
        // too, so that a server answering "Retry-After: 0" cannot have a chunk retried back
        // to back.
        let wait = match retry_after {
            Some(asked) if self.failures == 1 => asked,
            Some(asked) => asked.max(policy.backoff(self.failures, rng)),
            None if retry_at_once && self.failures == 1 => Duration::ZERO,
            None => policy.backoff(self.failures, rng),
        };
        let wait = wait.max(self.last_wait);
        let spent = now.saturating_duration_since(self.started);
        if spent.saturating_add(wait) > policy.max_total {
            return Err(StreakEnd::Total {
                failures: self.failures,
                asked: retry_after.filter(|a| spent.saturating_add(*a) > policy.max_total),
                left: policy.max_total.saturating_sub(spent),
            });
        }
        self.last_wait = wait;
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_whole_and_fractional() {
        let now = Timestamp::from_unix_millis(0);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("2.128", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            parse_retry_after(" 0.5 ", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("0.0001", now),
            Some(Duration::from_millis(1))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        // A long wait is the server's word: kept whole, never shortened.
        assert_eq!(
            parse_retry_after("40000000", now),
            Some(Duration::from_secs(40_000_000))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999.9999", now),
            Some(Duration::MAX),
            "saturates, never overflows"
        );
        for bad in ["", "-1", "1.", ".5", "1e3", "abc", "1.2.3"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_http_date() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let at = Timestamp::from_unix_millis(784_111_777_000);
        let before = Timestamp::from_unix_millis(784_111_777_000 - 2_500);
        assert_eq!(
            parse_retry_after(date, before),
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(
            parse_retry_after(date, at.saturating_add(Duration::from_secs(9))),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_reproducibly() {
        let p = RetryPolicy::default();
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for failures in 1..=12 {
            let wa = p.backoff(failures, &mut a);
            assert_eq!(wa, p.backoff(failures, &mut b), "same seed, same wait");
            let full = (p.initial * (1 << (failures - 1).min(20))).min(p.max_wait);
            assert!(
                wa >= full / 2 && wa <= full,
                "{failures}: {wa:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
        let waits: Vec<_> = (0..8).map(|_| p.backoff(1, &mut a)).collect();
        assert!(
            waits.windows(2).any(|w| w[0] != w[1]),
            "jitter varies: {waits:?}"
        );
        assert!(p.backoff(u32::MAX, &mut a) <= p.max_wait);
    }
}
