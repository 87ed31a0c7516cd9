//! Harness functions for the fuzz targets in `fuzz/` and the replays in
//! `tests/fuzz_regressions.rs` (DESIGN.md 5, point 13). Each takes raw bytes, decodes them
//! itself into a structured input, runs the crate on it and checks the invariants of
//! DESIGN.md section 4, panicking only when one is broken. The decoding lives here, not in
//! the `arbitrary` crate, so that the same bytes mean the same input under `cargo fuzz` and
//! under stable `cargo test`, and the core crate gains no dependency.
//!
//! The checks are differential where the protocol allows it: range entries, Retry-After
//! values and dates are compared with small independent readings of docs/protocol.md written
//! here, not only run for panics.

use std::time::Duration;

use upload_session::fuzzing::{
    attachment_id_from_location, parse_http_date, parse_range, parse_retry_after, parse_rfc3339,
    parse_upload_session, request_id, MAX_RANGES,
};

use upload_session::{
    Action, BodyError, ByteRange, CallerError, Conflict, ContentRange, Drive, DrivePlace,
    ExpectedRanges, FileInfo, Options, Owner, Purpose, RangeError, Request, Response, RetryPolicy,
    State, Target, Timestamp, TransportError, Upload,
};

use crate::{Config, Pair, TestFile};
use graph_model::{Fault, FaultRule, Faults, KeyCase, RequestKind, RetryAfter, When};

/// The Graph base URL every harness uploads to.
const BASE: &str = "https://graph.microsoft.com/v1.0";
/// A bearer token as a driver would hold it. The machine never receives it; the harness
/// plants it in server answers (error bodies, headers, links) and checks that saved state
/// never carries it (DESIGN.md 4, invariant 6).
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJub25jZSI6ImZ1enoifQ.secret-token";
/// The first `now` of every run: 2023-11-14T22:13:20Z.
const START: u64 = 1_700_000_000_000;
/// Requests one `machine` run may send at most, whatever its input: keeps a run fast.
const RUN_CAP: u64 = 3_000;

// ---------------------------------------------------------------------------------------
// Input decoding.

/// Reads a fuzzer's bytes as numbers, flags and strings; past the end it reads zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A number in `0..n`, `n > 0`.
    fn below(&mut self, n: u64) -> u64 {
        if n <= 256 {
            u64::from(self.u8()) % n
        } else if n <= 65_536 {
            u64::from(self.u16()) % n
        } else {
            self.u64() % n
        }
    }

    /// Up to `max` bytes, the length read first.
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = (self.u8() as usize).min(max).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// A file size from a selector byte: the interesting sizes of the protocol, and any.
fn pick_size(inp: &mut Input<'_>) -> u64 {
    match inp.u8() % 9 {
        0 => 0,
        1 => 1 + u64::from(inp.u8()),
        2 => 1 + u64::from(inp.u16()),
        3 => 3_483_322,
        4 => 1 + inp.below(25 * 1024 * 1024),
        5 => inp.u64(),
        6 => u64::MAX,
        7 => 2_999_999 + inp.below(3),
        _ => u64::from(inp.u32()),
    }
}

// ---------------------------------------------------------------------------------------
// Reference readings of the protocol, independent of the crate's parsers.

/// A number in a range entry, as docs/protocol.md §4 reads it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RefNumber {
    NotDigits,
    TooLarge,
    Value(u64),
}

fn ref_number(s: &str) -> RefNumber {
    if s.is_empty() {
        return RefNumber::NotDigits;
    }
    let mut v: u128 = 0;
    let mut too_large = false;
    for c in s.chars() {
        let Some(d) = c.to_digit(10) else {
            return RefNumber::NotDigits;
        };
        if !too_large {
            v = v * 10 + u128::from(d);
            too_large = v > u128::from(u64::MAX);
        }
    }
    if too_large {
        RefNumber::TooLarge
    } else {
        RefNumber::Value(v as u64)
    }
}

/// What a `nextExpectedRanges` entry means (docs/protocol.md §4), as a half-open range, or why it
/// means nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RefRange {
    Range(u64, u64),
    Garbage,
    TooLarge,
    Reversed,
    Outside,
}

fn ref_range(entry: &str, size: u64) -> RefRange {
    let t = entry.trim_matches([' ', '\t']);
    let (a, b) = match t.find('-') {
        None => (t, None),
        Some(i) => (&t[..i], Some(&t[i + 1..]).filter(|b| !b.is_empty())),
    };
    let (start, last) = match (ref_number(a), b.map(ref_number)) {
        (RefNumber::NotDigits, _) | (_, Some(RefNumber::NotDigits)) => return RefRange::Garbage,
        (RefNumber::TooLarge, _) | (_, Some(RefNumber::TooLarge)) => return RefRange::TooLarge,
        (RefNumber::Value(s), None) => (s, None),
        (RefNumber::Value(s), Some(RefNumber::Value(l))) => (s, Some(l)),
    };
    // "S" and "S-": to the end; "S-E": end inclusive; an end equal to the size is the last
    // byte (docs/protocol.md §8).
    let end: u128 = match last {
        None => u128::from(size),
        Some(l) if l < start => return RefRange::Reversed,
        Some(l) if u128::from(l) > u128::from(size) => return RefRange::Outside,
        Some(l) => (u128::from(l) + 1).min(u128::from(size)),
    };
    if u128::from(start) >= end {
        return RefRange::Outside;
    }
    RefRange::Range(start, end as u64)
}

/// Checks the crate's reading of one entry against the reference.
fn check_entry(entry: &str, size: u64, got: &Result<ByteRange, RangeError>) {
    let want = ref_range(entry, size);
    let quoted: String = entry.chars().take(48).collect();
    match (want, got) {
        (RefRange::Range(s, e), Ok(r)) => assert!(
            r.start() == s && r.end() == e,
            "entry {entry:?} of a {size}-byte file means {s}..{e}, parsed as {r:?}"
        ),
        (RefRange::Garbage, Err(RangeError::Syntax(q) | RangeError::Overflow(q)))
        | (RefRange::TooLarge, Err(RangeError::Overflow(q)))
        | (RefRange::Reversed, Err(RangeError::Reversed(q)))
        | (RefRange::Outside, Err(RangeError::OutsideFile { range: q, .. })) => assert_eq!(
            q, &quoted,
            "the error for {entry:?} must quote a bounded prefix of the entry"
        ),
        (want, got) => {
            panic!("entry {entry:?} of a {size}-byte file: reference {want:?}, parsed {got:?}")
        }
    }
}

/// The union of half-open ranges, sorted, with touching ranges joined.
fn ref_union(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// What a whole `nextExpectedRanges` list means: the union, or the first refused entry's
/// reading (`Err(None)`: more than `MAX_RANGES` entries).
fn ref_ranges(entries: &[String], size: u64) -> Result<Vec<(u64, u64)>, Option<usize>> {
    let mut v = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if i >= MAX_RANGES {
            return Err(None);
        }
        match ref_range(e, size) {
            RefRange::Range(s, e) => v.push((s, e)),
            _ => return Err(Some(i)),
        }
    }
    Ok(ref_union(v))
}

/// Checks a parsed set against the reference reading of its entries.
fn check_set(entries: &[String], size: u64, got: Result<&ExpectedRanges, &RangeError>, what: &str) {
    match (ref_ranges(entries, size), got) {
        (Ok(want), Ok(set)) => {
            let have: Vec<(u64, u64)> = set
                .as_slice()
                .iter()
                .map(|r| (r.start(), r.end()))
                .collect();
            assert_eq!(have, want, "{what}: {entries:?} of a {size}-byte file");
            let missing: u128 = want.iter().map(|(s, e)| u128::from(e - s)).sum();
            assert_eq!(
                u128::from(set.missing_bytes()),
                missing,
                "{what}: missing bytes"
            );
            assert_eq!(
                set.first().map(|r| (r.start(), r.end())),
                want.first().copied()
            );
            assert!(
                set.validate(size).is_ok(),
                "{what}: a parsed set must validate"
            );
        }
        (Err(None), Err(RangeError::TooMany)) => {}
        (Err(Some(i)), Err(e)) => check_entry(&entries[i], size, &Err(e.clone())),
        (want, got) => {
            panic!("{what}: {entries:?} of a {size}-byte file: reference {want:?}, parsed {got:?}")
        }
    }
}

const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAY_NAMES: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const DAY_FULL: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

fn leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_days(y: i64, m: usize) -> i64 {
    [
        31,
        if leap(y) { 29 } else { 28 },
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
    ][m]
}

/// Calendar date of a day count from 1970-01-01, walking years and months: slow and plain,
/// unlike the crate's closed form.
fn ref_civil(mut days: i64) -> (i64, usize, i64) {
    let mut y = 1970;
    while days < 0 {
        y -= 1;
        days += if leap(y) { 366 } else { 365 };
    }
    loop {
        let len = if leap(y) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        y += 1;
    }
    let mut m = 0;
    while days >= month_days(y, m) {
        days -= month_days(y, m);
        m += 1;
    }
    (y, m, days + 1)
}

/// The instant `t` (milliseconds) as local date-time fields at `offset_min` minutes.
fn ref_fields(t: i64, offset_min: i64) -> (i64, usize, i64, i64, i64, i64) {
    let secs = t.div_euclid(1000) + offset_min * 60;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = ref_civil(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

// ---------------------------------------------------------------------------------------
// Target 1: nextExpectedRanges.

/// `nextExpectedRanges` entries, lists and session bodies, each reading compared with the
/// reference reading of docs/protocol.md §4: `parse_range`, `ExpectedRanges::parse_all`, and the
/// session-body path that parses straight into the set.
pub fn next_expected_ranges(data: &[u8]) {
    let mut inp = Input(data);
    let size = pick_size(&mut inp);
    let entries: Vec<String> = match inp.u8() % 5 {
        // One entry, any text.
        0 => vec![String::from_utf8_lossy(inp.rest()).into_owned()],
        // Several entries, one a line.
        1 => String::from_utf8_lossy(inp.rest())
            .split('\n')
            .take(256)
            .map(str::to_owned)
            .collect(),
        // Entries built from numbers near the file's edges, in every form.
        2 => {
            let mut v = Vec::new();
            while !inp.is_empty() && v.len() < 64 {
                let pick = |inp: &mut Input<'_>| match inp.u8() % 6 {
                    0 => inp.below(size.max(1)),
                    1 => size,
                    2 => size.saturating_sub(1),
                    3 => size.saturating_add(u64::from(inp.u8())),
                    4 => inp.u64(),
                    _ => u64::from(inp.u16()),
                };
                let (a, b) = (pick(&mut inp), pick(&mut inp));
                v.push(match inp.u8() % 6 {
                    0 => format!("{a}"),
                    1 => format!("{a}-"),
                    2 => format!(" {a}-{b}\t"),
                    3 => format!("{a}-{b}9"),
                    4 => format!("0{a}-{b}"),
                    _ => format!("{a}-{b}"),
                });
            }
            v
        }
        // Around the MAX_RANGES limit.
        3 => {
            let n = MAX_RANGES - 2 + inp.below(5) as usize;
            let bad_at = inp.below(n as u64 + 2) as usize;
            (0..n)
                .map(|i| {
                    if i == bad_at {
                        "x".to_owned()
                    } else {
                        format!("{}", i as u64 % size.max(1))
                    }
                })
                .collect()
        }
        // A whole body, as the server sent it.
        _ => {
            check_raw_session_body(inp.rest(), size);
            return;
        }
    };
    for e in entries.iter().take(64) {
        check_entry(e, size, &parse_range(e, size));
    }
    let mut set = ExpectedRanges::whole(size);
    let res = set.parse_all(entries.iter().map(String::as_str), size);
    check_set(&entries, size, res.as_ref().map(|()| &set), "parse_all");

    // The same entries as the session body carries them, keys in any casing.
    let key = [
        "nextExpectedRanges",
        "NextExpectedRanges",
        "nextexpectedranges",
        "NEXTEXPECTEDRANGES",
    ][entries.len() % 4];
    let body = serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#microsoft.graph.uploadSession",
        "expirationDateTime": "2022-06-09T10:45:27.4324526Z",
        key: entries,
    });
    let Ok(body) = serde_json::to_vec(&body) else {
        return;
    };
    let mut from_body = ExpectedRanges::whole(size);
    match parse_upload_session(&body, size, &mut from_body) {
        Ok(f) => {
            assert!(f.has_ranges, "a body with nextExpectedRanges has ranges");
            check_set(&entries, size, Ok(&from_body), "session body");
        }
        Err(BodyError::Range(e)) => check_set(&entries, size, Err(&e), "session body"),
        Err(e) => panic!("a well-formed session body was refused: {e}"),
    }
}

/// A raw session body: whatever the parser accepts must be a JSON object whose one
/// `nextExpectedRanges` key (in any casing) holds strings meaning exactly the parsed set.
fn check_raw_session_body(body: &[u8], size: u64) {
    let mut set = ExpectedRanges::whole(size);
    let Ok(fields) = parse_upload_session(body, size, &mut set) else {
        return;
    };
    // serde_json's own reader may be stricter about what it skips; compare where it reads.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let Some(obj) = value.as_object() else {
        panic!("the session parser accepted a body that is not a JSON object");
    };
    let keys: Vec<&serde_json::Value> = obj
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("nextExpectedRanges"))
        .map(|(_, v)| v)
        .collect();
    assert!(set.validate(size).is_ok(), "parsed ranges must validate");
    if let [only] = keys.as_slice() {
        match only {
            serde_json::Value::Array(items) => {
                assert!(fields.has_ranges, "an array of ranges was not seen");
                let entries: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect();
                let Some(entries) = entries else {
                    panic!("the session parser accepted non-string range entries");
                };
                check_set(&entries, size, Ok(&set), "raw session body");
            }
            serde_json::Value::Null => assert!(!fields.has_ranges, "null is no ranges"),
            other => panic!("the session parser accepted nextExpectedRanges = {other}"),
        }
    } else if keys.is_empty() {
        assert!(!fields.has_ranges, "ranges seen in a body without the key");
    }
}

// ---------------------------------------------------------------------------------------
// Target 3: headers.

/// `Location` (attachment ID), `Retry-After` (both forms), RFC 3339 and HTTP-date parsing,
/// and `Content-Range` formatting, each against a reference reading or as a round trip.
pub fn headers(data: &[u8]) {
    let mut inp = Input(data);
    match inp.u8() % 6 {
        0 => location(&mut inp),
        1 => retry_after(&mut inp),
        2 => rfc3339(&mut inp),
        3 => http_date(&mut inp),
        4 => content_range(&mut inp),
        _ => {
            // Any text through every parser: no panics, and answers that hold together.
            let s = String::from_utf8_lossy(inp.rest()).into_owned();
            let _ = attachment_id_from_location(&s);
            let now = Timestamp::from_unix_millis(START);
            let _ = parse_retry_after(&s, now);
            if let Ok(t) = parse_rfc3339(&s) {
                if t.as_unix_millis() < 253_402_300_800_000 {
                    assert_eq!(parse_rfc3339(&t.to_string()), Ok(t), "{s:?}");
                }
            }
            if let Some(cr) = ContentRange::parse(&s) {
                assert_eq!(ContentRange::parse(&cr.to_string()), Some(cr));
            }
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'=') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(inp: &mut Input<'_>) {
    let form = inp.u8() % 4;
    let id = inp.text(64);
    let raw = String::from_utf8_lossy(inp.rest()).into_owned();
    if let Ok(got) = attachment_id_from_location(&raw) {
        assert!(
            !got.is_empty() && !got.contains("://"),
            "{raw:?} gave {got:?}"
        );
    }
    // A Location built from an ID gives the ID back (docs/protocol.md §5, §8).
    let enc = percent_encode(&id);
    let loc = match form {
        0 => format!("https://graph.microsoft.com/beta/users/6f9a/todo/lists/AAMDiFkfh=/tasks/AAMkADliMm=/Attachments/{enc}"),
        1 => format!("https://graph.microsoft.com/v1.0/x/attachments/{enc}/?{TOKEN}"),
        2 => format!("https://outlook.office.com/api/v2.0/Users('u')/Messages('m')/Attachments('{enc}')"),
        _ => format!("https://h/ATTACHMENTS/{enc}#frag"),
    };
    let got = attachment_id_from_location(&loc);
    if id.is_empty() || id.contains("://") {
        assert!(got.is_err(), "{loc:?} gave {got:?}");
    } else {
        assert_eq!(got.as_deref(), Ok(id.as_str()), "{loc:?}");
    }
}

/// Delta-seconds as docs/protocol.md §9 reads them, rounded up to the millisecond, however
/// large (the server's word stands; more than `u64` seconds saturates); `None` for anything
/// that is not a number.
fn ref_retry_seconds(v: &str) -> Option<Duration> {
    let (int, frac) = match v.find('.') {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let secs = match ref_number(int) {
        RefNumber::Value(secs) => secs,
        RefNumber::TooLarge => u64::MAX,
        RefNumber::NotDigits => return None,
    };
    let mut ms = 0;
    if let Some(frac) = frac {
        if ref_number(frac) == RefNumber::NotDigits {
            return None;
        }
        let digits: Vec<u64> = frac.bytes().map(|b| u64::from(b - b'0')).collect();
        let first3 = (0..3).fold(0, |acc, i| acc * 10 + digits.get(i).copied().unwrap_or(0));
        let more = digits.iter().skip(3).any(|&d| d != 0);
        ms = first3 + u64::from(more);
    }
    Some(Duration::from_secs(secs).saturating_add(Duration::from_millis(ms)))
}

fn retry_after(inp: &mut Input<'_>) {
    let now = Timestamp::from_unix_millis(START + inp.below(1 << 40));
    let v = match inp.u8() % 4 {
        0 => format!("{}", inp.u32()),
        1 => format!("{}.{}", inp.u16(), inp.u32()),
        2 => imf_fixdate((START + inp.below(1 << 36)) / 1000),
        _ => String::from_utf8_lossy(inp.rest()).into_owned(),
    };
    let got = parse_retry_after(&v, now);
    let t = v.trim();
    if t.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        let want = ref_retry_seconds(t);
        assert_eq!(got, want, "Retry-After {v:?}");
    } else {
        let want = parse_http_date(t)
            .ok()
            .map(|d| d.saturating_duration_since(now));
        assert_eq!(got, want, "Retry-After {v:?} at {now}");
    }
}

fn imf_fixdate(secs: u64) -> String {
    let (y, m, d, h, mi, s) = ref_fields(secs as i64 * 1000, 0);
    let wd = DAY_NAMES[(secs / 86_400 % 7) as usize];
    format!(
        "{wd}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        MONTH_NAMES[m]
    )
}

fn http_date(inp: &mut Input<'_>) {
    // Up to 9999-12-31.
    let secs = inp.below(253_402_300_800);
    let (y, m, d, h, mi, s) = ref_fields(secs as i64 * 1000, 0);
    let want = Ok(Timestamp::from_unix_millis(secs * 1000));
    let imf = imf_fixdate(secs);
    assert_eq!(parse_http_date(&imf), want, "{imf}");
    let wd = DAY_NAMES[(secs / 86_400 % 7) as usize];
    let asctime = format!("{wd} {} {d:2} {h:02}:{mi:02}:{s:02} {y}", MONTH_NAMES[m]);
    assert_eq!(parse_http_date(&asctime), want, "{asctime}");
    if (1970..2070).contains(&y) {
        let wd = DAY_FULL[(secs / 86_400 % 7) as usize];
        let rfc850 = format!(
            "{wd}, {d:02}-{}-{:02} {h:02}:{mi:02}:{s:02} GMT",
            MONTH_NAMES[m],
            y % 100
        );
        assert_eq!(parse_http_date(&rfc850), want, "{rfc850}");
    }
    let raw = String::from_utf8_lossy(inp.rest()).into_owned();
    if let Ok(t) = parse_http_date(&raw) {
        assert_eq!(
            t.as_unix_millis() % 1000,
            0,
            "an HTTP-date has whole seconds: {raw:?}"
        );
        let back = imf_fixdate(t.as_unix_millis() / 1000);
        assert_eq!(parse_http_date(&back), Ok(t), "{raw:?} -> {back}");
    }
}

fn rfc3339(inp: &mut Input<'_>) {
    let t = inp.below(253_402_300_800_000) as i64;
    let digits = inp.below(10) as usize;
    let offset = match inp.u8() % 3 {
        0 => None,
        _ => Some(inp.below(2 * 1440 - 1) as i64 - 1439),
    };
    let (y, m, d, h, mi, s) = ref_fields(t, offset.unwrap_or(0));
    let ms = t.rem_euclid(1000);
    let frac = format!("{ms:03}{}", inp.u32());
    let frac = &frac[..digits.min(frac.len())];
    let mut text = format!("{y:04}-{:02}-{d:02}T{h:02}:{mi:02}:{s:02}", m + 1);
    if digits > 0 {
        text.push('.');
        text.push_str(frac);
    }
    match offset {
        None => text.push('Z'),
        Some(o) => {
            let sign = if o < 0 { '-' } else { '+' };
            text.push_str(&format!("{sign}{:02}:{:02}", o.abs() / 60, o.abs() % 60));
        }
    }
    let kept = match digits {
        0 => 0,
        1 => ms / 100 * 100,
        2 => ms / 10 * 10,
        _ => ms,
    };
    let want = Timestamp::from_unix_millis((t - ms + kept) as u64);
    if (0..=9999).contains(&y) {
        assert_eq!(parse_rfc3339(&text), Ok(want), "{text}");
    }
    // Display is RFC 3339 with milliseconds and parses back (docs/protocol.md §2).
    let utc = Timestamp::from_unix_millis(t as u64);
    let (y, m, d, h, mi, s) = ref_fields(t, 0);
    let shown = format!("{y:04}-{:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z", m + 1);
    assert_eq!(utc.to_string(), shown);
    assert_eq!(parse_rfc3339(&shown), Ok(utc));
    let raw = String::from_utf8_lossy(inp.rest()).into_owned();
    if let Ok(t) = parse_rfc3339(&raw) {
        if t.as_unix_millis() < 253_402_300_800_000 {
            assert_eq!(parse_rfc3339(&t.to_string()), Ok(t), "{raw:?}");
        }
    }
}

fn content_range(inp: &mut Input<'_>) {
    let total = match inp.u8() % 3 {
        0 => u64::MAX,
        1 => 1 + u64::from(inp.u32()),
        _ => inp.u64().max(1),
    };
    let start = inp.below(total);
    let len = 1 + inp.below(total - start);
    if let Some(range) = ByteRange::new(start, start + len) {
        let cr = ContentRange { range, total };
        let text = cr.to_string();
        assert_eq!(
            text,
            format!("bytes {}-{}/{}", start, start + len - 1, total)
        );
        assert_eq!(ContentRange::parse(&text), Some(cr), "{text}");
        assert_eq!(range.len(), len);
        assert_eq!(range.last(), start + len - 1);
    }
    let raw = String::from_utf8_lossy(inp.rest()).into_owned();
    if let Some(cr) = ContentRange::parse(&raw) {
        assert!(cr.range.end() <= cr.total, "{raw:?} parsed past its total");
        assert_eq!(ContentRange::parse(&cr.to_string()), Some(cr), "{raw:?}");
        let canonical = !raw.contains("-0") && !raw.contains("/0") && !raw.starts_with("bytes 0");
        if canonical {
            assert_eq!(
                cr.to_string(),
                raw,
                "a canonical Content-Range formats back"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The machine harnesses' server: the Graph model, joined to the machine by a `Pair`, which
// also checks every action (`crate::check`). Answers the fuzzer makes up go around it.

/// Which destination a run uploads to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// To Do, `/me`.
    Todo,
    /// To Do, `/users/{id}`.
    TodoUser,
    /// OneDrive: 320 KiB grid, 202, JSON completion, pre-authenticated URL.
    Drive,
    /// OneDrive with `deferCommit`: every byte in, then the commit request.
    DriveDeferred,
}

/// The file every harness uploads.
fn test_file(size: u64) -> TestFile {
    TestFile::new("flower.jpg", size)
}

fn file(size: u64) -> FileInfo {
    test_file(size).info()
}

/// A pair whose model takes any size, on Graph's real origin so that made-up answers that
/// name it point at the model, with bytes left out of PUTs.
fn pair(size: u64, seed: u64) -> Pair {
    let config = Config {
        seed,
        max_size: u64::MAX,
        graph_origin: "https://graph.microsoft.com".to_string(),
        ..Config::default()
    };
    let mut pair = Pair::new(config, size);
    pair.file = test_file(size);
    pair.hold_bytes = 0;
    // Made-up answers plant this in URLs' queries; an error may never show it.
    pair.secret = Some("tempauth=SECRET".to_string());
    pair
}

fn target(kind: Kind, pair: &Pair) -> Target {
    let model = &pair.model;
    let t = match kind {
        Kind::Todo => Target::todo_task(BASE, Owner::Me, model.list_id(), model.task_id()),
        Kind::TodoUser => Target::todo_task(
            BASE,
            Owner::User(model.user_id().to_string()),
            model.list_id(),
            model.task_id(),
        ),
        Kind::Drive | Kind::DriveDeferred => Target::drive_item(
            BASE,
            Drive::Me,
            DrivePlace::Parent {
                item: "F1".to_string(),
                name: "flower.jpg".to_string(),
            },
            Conflict::Rename,
        )
        .and_then(|t| match kind {
            Kind::DriveDeferred => t.with_defer_commit(),
            _ => Ok(t),
        }),
    };
    match t {
        Ok(t) => t,
        Err(e) => panic!("the harness's own target is refused: {e}"),
    }
}

fn graph_error(code: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"error": {
        "code": code,
        "message": format!("Authorization: Bearer {TOKEN}"),
        "innerError": {"request-id": "r-1", "innererror": {"code": "fragmentOverlap"}},
    }}))
    .unwrap_or_default()
}

/// An HTTP answer the fuzzer made up, lent to the machine as a [`Response`].
#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    location: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, body: Vec<u8>) -> Self {
        Reply {
            status,
            location: None,
            retry_after: None,
            body,
        }
    }

    fn response(&self) -> Response<'_> {
        let mut r = Response::new(self.status).body(&self.body);
        if let Some(l) = &self.location {
            r = r.header("location", l);
        }
        if let Some(v) = &self.retry_after {
            r = r.header("Retry-After", v);
        }
        r.header("Content-Type", "application/json")
    }
}

/// Carries out one answer the fuzzer chose for `req`: the model's, or a made-up one after
/// the model took the request's effect (`keep`) or not.
fn deliver(pair: &mut Pair, up: &mut Upload, req: &Request, answer: &Answer) {
    let keep = match answer {
        Answer::Graph => {
            let got = pair.send(up, req);
            if let Err(e) = got.feed(up, pair.now, req) {
                panic!("the answer to the request in flight was refused: {e}");
            }
            return;
        }
        Answer::Custom { keep, .. } | Answer::Transport { keep, .. } => *keep,
    };
    if keep {
        // The server acted on it; what it answered never reaches the machine.
        let _ = pair.send(up, req);
        pair.model.unheard();
    }
    match answer {
        Answer::Custom { reply, .. } => {
            if let Err(e) = up.handle_response(pair.now, req.id(), reply.response()) {
                panic!("the answer to the request in flight was refused: {e}");
            }
            pair.checker().answered(Some(reply.status));
        }
        Answer::Transport { error, .. } => {
            if let Err(e) = up.handle_transport_error(pair.now, req.id(), *error) {
                panic!("the failure of the request in flight was refused: {e}");
            }
            pair.checker().answered(None);
        }
        Answer::Graph => {}
    }
}

/// Inputs that must change nothing: an answer for another id, a refresh nobody asked for,
/// an older `now`.
fn misuse(up: &mut Upload, now: Timestamp, which: u8) {
    let before = up.poll(now);
    match which % 3 {
        0 => {
            let id = match up.in_flight() {
                Some(r) => request_id(r.id().get() + 1 + u64::from(which)),
                None => request_id(u64::from(which)),
            };
            let res = up.handle_response(now, id, Response::new(200));
            assert!(
                matches!(res, Err(CallerError::NotInFlight { .. })),
                "{res:?}"
            );
            let res = up.handle_transport_error(now, id, TransportError::Timeout);
            assert!(
                matches!(res, Err(CallerError::NotInFlight { .. })),
                "{res:?}"
            );
        }
        1 => {
            if !matches!(before, Action::RefreshToken) {
                let res = up.token_refreshed(now);
                assert_eq!(res, Err(CallerError::NoRefreshAsked));
            }
        }
        _ => {
            let earlier = Timestamp::from_unix_millis(
                now.as_unix_millis()
                    .saturating_sub(1 + u64::from(which) * 1000),
            );
            let older = up.poll(earlier);
            assert_eq!(older, before, "an older now counts as the last one seen");
        }
    }
    assert_eq!(up.poll(now), before, "a refused input changed the machine");
}

/// The machine never puts the token into saved state. A finished upload keeps the
/// `Location` the server answered with, as the server wrote it: a server that echoed the
/// token there is the only way it can appear.
fn check_saved(up: &Upload) -> String {
    let saved = up.save();
    if saved.contains(TOKEN) {
        let mut v = saved_value(&saved);
        let location = v["phase"]["location"].take();
        assert!(
            location.as_str().is_some_and(|l| l.contains(TOKEN)),
            "saved state holds the token: {saved}"
        );
        assert!(
            !v.to_string().contains(TOKEN),
            "saved state holds the token outside the server's Location: {saved}"
        );
    }
    saved
}

// ---------------------------------------------------------------------------------------
// Target 4: a whole upload under any sequence of events.

/// A server answer chosen by the fuzzer.
#[derive(Clone, Debug)]
enum Answer {
    /// What Graph would answer.
    Graph,
    /// The server takes the request's effect (or not), then answers this.
    Custom { keep: bool, reply: Reply },
    /// No answer; the request took effect or not.
    Transport { keep: bool, error: TransportError },
}

const STATUSES: [u16; 20] = [
    200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409, 413, 416, 429, 500, 502, 503, 504, 299,
    0,
];

fn decode_answer(inp: &mut Input<'_>, kind: Kind) -> Answer {
    match inp.u8() % 8 {
        0..=2 => Answer::Graph,
        3 => Answer::Transport {
            keep: inp.bool(),
            error: [
                TransportError::Connect,
                TransportError::Timeout,
                TransportError::Interrupted,
            ][inp.below(3) as usize],
        },
        _ => {
            let keep = inp.bool();
            let status = match STATUSES[inp.below(STATUSES.len() as u64) as usize] {
                0 => inp.u16(),
                s => s,
            };
            let location = match inp.u8() % 8 {
                0 => Some(format!("{BASE}/users/u/todo/lists/L=/tasks/T=/Attachments/{}", percent_encode(&inp.text(40)))),
                1 => Some(format!("https://outlook.office.com/api/v2.0/Users('u')/Messages('m')/Attachments('{}')", percent_encode(&inp.text(20)))),
                2 => Some(inp.text(80)),
                3 => Some(format!("https://h/Attachments/x?{TOKEN}")),
                _ => None,
            };
            let retry_after = match inp.u8() % 8 {
                0 => Some(format!("{}", inp.u8() % 8)),
                1 => Some(format!("{}.{:03}", inp.u8() % 4, inp.u16() % 1000)),
                2 => Some(imf_fixdate(START / 1000 + u64::from(inp.u16()))),
                3 => Some(inp.text(40)),
                4 => Some(format!("{}", inp.u32())),
                _ => None,
            };
            let body = decode_body(inp, kind);
            Answer::Custom {
                keep,
                reply: Reply {
                    status,
                    location,
                    retry_after,
                    body,
                },
            }
        }
    }
}

/// A body that is either raw bytes or a templated JSON document with fuzzed parts, so the
/// run gets past the parsers into the machine's decisions.
/// Fuzzed URL text without the planted secrets, so that finding them later means a leak.
fn scrub(mut s: String) -> String {
    while s.contains(TOKEN) || s.contains("SECRET") {
        s = s.replace(TOKEN, "").replace("SECRET", "");
    }
    s
}

/// Raw body bytes without the planted secrets.
fn scrub_bytes(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    for secret in [TOKEN.as_bytes(), b"SECRET"] {
        while let Some(at) = v.windows(secret.len()).position(|w| w == secret) {
            v.drain(at..at + secret.len());
        }
    }
    v
}

fn decode_body(inp: &mut Input<'_>, kind: Kind) -> Vec<u8> {
    match inp.u8() % 10 {
        0 => Vec::new(),
        1 => scrub_bytes(inp.bytes(200)),
        2 => graph_error(&scrub(inp.text(20))),
        3 => serde_json::to_vec(
            &serde_json::json!({"id": inp.text(30), "name": "flower.jpg", "size": inp.u32()}),
        )
        .unwrap_or_default(),
        4 => {
            let next = match inp.u8() % 4 {
                0 => serde_json::Value::String(format!(
                    "{BASE}/me/todo/lists/L/tasks/T/attachments?$skip={}",
                    inp.u8()
                )),
                1 => serde_json::Value::String(format!("https://evil.example/next?{TOKEN}")),
                2 => serde_json::Value::String(inp.text(40)),
                _ => serde_json::Value::Null,
            };
            let items: Vec<serde_json::Value> = (0..inp.u8() % 3)
                .map(|i| serde_json::json!({"id": format!("A{i}="), "name": if inp.bool() { "flower.jpg".to_owned() } else { inp.text(12) }, "size": inp.u32()}))
                .collect();
            serde_json::to_vec(&serde_json::json!({"value": items, "@odata.nextLink": next}))
                .unwrap_or_default()
        }
        _ => {
            // An uploadSession with fuzzed URL, date and ranges.
            let url = match inp.u8() % 10 {
                0 => None,
                1 => Some(format!("{BASE}/s/{}", inp.u8())),
                2 => Some(format!(
                    "https://upload.example.net/up?tempauth=SECRET{}",
                    inp.u8()
                )),
                3 => Some("https://graph.microsoft.com@evil.example/x".to_owned()),
                4 => Some("http://graph.microsoft.com/x".to_owned()),
                5 => Some("https://graph.microsoft.com:8443/x".to_owned()),
                6 => Some(scrub(inp.text(60))),
                7 => Some(String::new()),
                8 if matches!(kind, Kind::Drive | Kind::DriveDeferred) => {
                    Some("https://upload.example.net/up/9".to_owned())
                }
                _ => Some(format!(
                    "{BASE}/users/u/todo/lists/L=/tasks/T=/attachmentSessions/S{}=",
                    inp.u8()
                )),
            };
            let date = match inp.u8() % 6 {
                0 => None,
                1 => Some(serde_json::Value::Null),
                2 => Some(serde_json::Value::String(inp.text(30))),
                3 => Some(serde_json::Value::String(
                    Timestamp::from_unix_millis(START + u64::from(inp.u32())).to_string(),
                )),
                _ => Some(serde_json::Value::String(
                    "2030-06-09T10:45:27.4324526Z".into(),
                )),
            };
            let ranges: Option<Vec<String>> = match inp.u8() % 6 {
                0 => None,
                1 => Some(Vec::new()),
                2 => Some((0..inp.u8() % 4).map(|_| inp.text(16)).collect()),
                _ => Some(
                    (0..1 + inp.u8() % 3)
                        .map(|_| {
                            let s = u64::from(inp.u32());
                            match inp.u8() % 3 {
                                0 => format!("{s}"),
                                1 => format!("{s}-"),
                                _ => format!("{s}-{}", s + u64::from(inp.u16())),
                            }
                        })
                        .collect(),
                ),
            };
            let pascal = inp.bool();
            let mut v = serde_json::Map::new();
            let key = |camel: &str| {
                if pascal {
                    let mut c = camel.to_owned();
                    c[..1].make_ascii_uppercase();
                    c
                } else {
                    camel.to_owned()
                }
            };
            if let Some(u) = url {
                v.insert(key("uploadUrl"), serde_json::Value::String(u));
            }
            if let Some(d) = date {
                v.insert(key("expirationDateTime"), d);
            }
            if let Some(r) = ranges {
                v.insert(key("nextExpectedRanges"), serde_json::json!(r));
            }
            serde_json::to_vec(&serde_json::Value::Object(v)).unwrap_or_default()
        }
    }
}

/// One input to a running upload.
#[derive(Clone, Debug)]
enum Event {
    /// Answer the request in flight (after waiting or refreshing as asked).
    Answer(Answer),
    /// Answer the next `count` requests cycling through these answers.
    Cycle(u16, Vec<Answer>),
    /// Let time pass.
    Advance(u64),
    /// Ask to cancel.
    Cancel,
    /// Inputs that must change nothing.
    Misuse(u8),
    /// Save, then restore into a new machine (the process died; the request in flight, if
    /// any, took effect or not).
    SaveRestore { keep: bool },
    /// From here on the model follows this fault plan when it answers: the one vocabulary
    /// of tests, property tests and the emulator.
    Plan(Faults),
}

fn decode_event(inp: &mut Input<'_>, kind: Kind) -> Event {
    match inp.u8() % 16 {
        0..=7 => Event::Answer(decode_answer(inp, kind)),
        8 | 9 => {
            let count = inp.u16() % 2048;
            let n = 1 + inp.below(3);
            Event::Cycle(count, (0..n).map(|_| decode_answer(inp, kind)).collect())
        }
        10 | 11 => Event::Advance(match inp.u8() % 4 {
            0 => u64::from(inp.u16()),
            1 => u64::from(inp.u32()),
            2 => 900_000 + u64::from(inp.u16()),
            _ => inp.u64() >> inp.below(64),
        }),
        12 => Event::Cancel,
        13 => Event::Misuse(inp.u8()),
        14 => Event::SaveRestore { keep: inp.bool() },
        _ => Event::Plan(decode_plan(inp)),
    }
}

/// Up to three rules of the model's fault vocabulary, and a seed.
fn decode_plan(inp: &mut Input<'_>) -> Faults {
    let ra = |inp: &mut Input<'_>| match inp.u8() % 3 {
        0 => None,
        1 => Some(RetryAfter::Delta(Duration::from_millis(u64::from(
            inp.u16() % 5000,
        )))),
        _ => Some(RetryAfter::Date(Duration::from_secs(u64::from(
            inp.u8() % 5,
        )))),
    };
    let mut faults = Faults::none().seeded(inp.u64());
    for _ in 0..1 + inp.below(3) {
        let fault = match inp.u8() % 18 {
            0 => Fault::CreatedStatus,
            1 => Fault::KeyCase(
                [KeyCase::Camel, KeyCase::Pascal, KeyCase::Mixed][inp.below(3) as usize],
            ),
            2 => Fault::StatusRefused(if inp.bool() { 405 } else { 400 }),
            3 => Fault::ForeignOrigin,
            4 => Fault::QueryOnGraphOrigin,
            5 => Fault::ExpireAfterChunks(u32::from(inp.u8() % 4)),
            6 => Fault::TooManyRequests(ra(inp)),
            7 => Fault::Unavailable(ra(inp)),
            8 => Fault::UnavailableKept(ra(inp)),
            9 => Fault::InternalError,
            10 => Fault::DropMidBody,
            11 => Fault::Stall {
                delay: Duration::from_millis(u64::from(inp.u16())),
                keep: inp.bool(),
            },
            12 => Fault::RangeNotSatisfiable,
            13 => Fault::LoseRange,
            14 => Fault::LostFinalAnswer,
            15 => Fault::AnswerLost,
            16 => Fault::Unauthorized,
            _ => Fault::SessionGone,
        };
        let when = match inp.u8() % 4 {
            0 | 1 => When::Nth(1 + inp.below(8)),
            2 => When::Every(1 + inp.below(4)),
            _ => When::From(1 + inp.below(8)),
        };
        let mut rule = FaultRule::nth(1, fault);
        rule.when = when;
        rule.times = Some(1 + inp.below(4));
        if !rule.fault.is_session_fault() {
            let kinds = [
                RequestKind::Create,
                RequestKind::Put,
                RequestKind::FinalPut,
                RequestKind::Status,
                RequestKind::Delete,
                RequestKind::Post,
                RequestKind::Read,
                RequestKind::Any,
            ];
            rule = rule.on(kinds[inp.below(kinds.len() as u64) as usize]);
        }
        faults = faults.with(rule);
    }
    faults
}

/// A whole upload driven by the fuzzer: the destination, a file size, options (chunk size,
/// `force_session`, `max_restarts`, retry policy), then events: answers of any status,
/// headers and body (raw, or templated session JSON with fuzzed parts, or the Graph model's,
/// under fault plans in its own vocabulary), transport errors, time steps, cancel, misuse,
/// and save plus restore. After every
/// step it checks DESIGN.md section 4 on every request and action.
pub fn machine(data: &[u8]) {
    let (kind, size, options, events) = decode_machine(data);
    run_machine(kind, size, &options, &events);
}

/// The input `machine` decodes from `data`, written out: for reading a crash.
pub fn explain_machine(data: &[u8]) -> String {
    let (kind, size, options, events) = decode_machine(data);
    let mut out = format!("{kind:?}, size {size}, {options:?}\n");
    for e in &events {
        out.push_str(&format!("{e:?}\n"));
    }
    out
}

fn decode_machine(data: &[u8]) -> (Kind, u64, Options, Vec<Event>) {
    let mut inp = Input(data);
    let kind =
        [Kind::Todo, Kind::TodoUser, Kind::Drive, Kind::DriveDeferred][inp.below(4) as usize];
    let size = match inp.u8() % 7 {
        0 => 1 + u64::from(inp.u16()),
        1 => 1 + inp.below(25 * 1024 * 1024),
        2 => 3_483_322,
        3 => u64::from(inp.u8()),
        4 => 2_999_990 + u64::from(inp.u8() % 20),
        5 => u64::MAX - u64::from(inp.u16()),
        _ => 1 + u64::from(inp.u32()),
    };
    let chunk_size = match inp.u8() % 6 {
        0 => None,
        1 => Some(1 + u64::from(inp.u16())),
        2 => Some(inp.u64()),
        3 => Some(327_680 * (1 + inp.below(12))),
        4 => Some(3_999_999 + inp.below(3)),
        _ => Some(1 + inp.below(3_999_999)),
    };
    let mut options = Options::default().with_force_session(inp.bool());
    options.chunk_size = chunk_size;
    options.retry = RetryPolicy {
        initial: Duration::from_millis(u64::from(inp.u16())),
        max_wait: Duration::from_millis(u64::from(inp.u32())),
        max_total: Duration::from_millis(u64::from(inp.u32()) * 8),
        max_attempts: u32::from(inp.u8() % 13),
        seed: inp.u64(),
    };
    options.max_restarts = u32::from(inp.u8() % 5);
    options.size_limit = match inp.u8() % 8 {
        0 => Some(u64::from(inp.u32())),
        1 => Some(u64::MAX),
        _ => None,
    };
    let mut events = Vec::new();
    while !inp.is_empty() && events.len() < 512 {
        events.push(decode_event(&mut inp, kind));
    }
    (kind, size, options, events)
}

fn run_machine(kind: Kind, size: u64, options: &Options, events: &[Event]) {
    let mut pair = pair(size, options.retry.seed);
    let target = target(kind, &pair);
    let mut up = match pair.upload_to(target.clone(), options.clone()) {
        Ok(up) => up,
        Err(e) => {
            // Refusals are exactly the options that cannot work.
            let p = target.profile();
            let chunk = options.chunk_size.unwrap_or(p.default_chunk);
            let bad_chunk = chunk == 0 || chunk > p.max_chunk || chunk % p.chunk_align != 0;
            let too_large = size > options.size_limit.unwrap_or(p.max_size);
            let no_post = size == 0 && p.single_post_below.is_none();
            assert!(
                bad_chunk || too_large || no_post || options.retry.max_attempts == 0,
                "a workable upload was refused: {e}"
            );
            return;
        }
    };
    let mut total = 0u64;
    let mut queue: Vec<Answer> = Vec::new();
    let mut events = events.iter();
    loop {
        // The next input: a queued cycle answer first, then the next event.
        let event = if let Some(a) = queue.pop() {
            Event::Answer(a)
        } else {
            match events.next() {
                Some(Event::Cycle(count, answers)) if !answers.is_empty() => {
                    queue = (0..*count as usize)
                        .map(|i| answers[i % answers.len()].clone())
                        .rev()
                        .collect();
                    continue;
                }
                Some(e) => e.clone(),
                None => break,
            }
        };
        let mut action = pair.poll(&mut up);
        match &event {
            Event::Advance(ms) => {
                pair.now = pair.now.saturating_add(Duration::from_millis(*ms));
                continue;
            }
            Event::Cancel => {
                up.cancel(pair.now);
                pair.checker().answered(None);
                continue;
            }
            Event::Misuse(w) => {
                misuse(&mut up, pair.now, *w);
                continue;
            }
            Event::SaveRestore { keep } => {
                let saved = check_saved(&up);
                if let (true, Action::Send(req)) = (keep, &action) {
                    // The process died with this request in flight; the server took it.
                    let _ = pair.send(&up, req);
                    pair.model.unheard();
                }
                match Upload::restore(
                    saved.as_bytes(),
                    target.clone(),
                    file(size),
                    options.clone(),
                ) {
                    Ok(restored) => {
                        check_restored(&saved, &restored);
                        up = restored;
                        // A finished or cancelled upload restores so: the same outcome must
                        // stay. A failed one restores into one that goes on.
                        let terminal = pair
                            .checker()
                            .terminal
                            .take()
                            .filter(|t| matches!(t, Action::Done(_) | Action::Cancelled));
                        let last_status = pair.checker().last_status;
                        pair.watch(&up, options);
                        pair.checker().terminal = terminal;
                        pair.checker().last_status = last_status;
                    }
                    Err(e) => panic!("a state the machine saved does not restore: {e}"),
                }
                continue;
            }
            Event::Plan(faults) => {
                pair.model.set_faults(faults.clone());
                continue;
            }
            Event::Answer(_) | Event::Cycle(..) => {}
        }
        // Answers go to a request: wait and refresh first, as a driver would.
        for _ in 0..4 {
            match action {
                Action::Wait { until, .. } => pair.now = until,
                Action::RefreshToken => {
                    if let Err(e) = up.token_refreshed(pair.now) {
                        panic!("a refresh that was asked for was refused: {e}");
                    }
                }
                _ => break,
            }
            action = pair.poll(&mut up);
        }
        let Action::Send(req) = action else {
            if pair.checker().terminal.is_some() {
                // Terminal: the remaining inputs must change nothing.
                up.cancel(pair.now);
                misuse(&mut up, pair.now, total as u8);
                let _ = pair.poll(&mut up);
            }
            continue;
        };
        total += 1;
        if total > RUN_CAP {
            break;
        }
        let Event::Answer(answer) = event else {
            continue;
        };
        deliver(&mut pair, &mut up, &req, &answer);
        pair.now = pair.now.saturating_add(Duration::from_millis(10));
    }
    // However it ended, the machine answers a poll and its state saves and restores.
    let _ = pair.poll(&mut up);
    let saved = check_saved(&up);
    if let Err(e) = Upload::restore(saved.as_bytes(), target, file(size), options.clone()) {
        panic!("a state the machine saved does not restore: {e}");
    }
}

/// Checks that `restored`, fresh from `restore(saved)`, kept what a restore must keep: the
/// destination, the file, the session, its ranges, the counters and the jitter generator.
/// Nothing moves until the first poll.
fn check_restored(saved: &str, restored: &Upload) {
    let want = saved_value(saved);
    let got = saved_value(&restored.save());
    for key in [
        "format",
        "version",
        "profile",
        "create_url",
        "file",
        "sessions",
        "requests",
        "rng",
    ] {
        assert_eq!(got[key], want[key], "restore changed {key}");
    }
    // Restoring decides nothing but a cancel that was asked for: with nothing to delete or
    // look for, it ends the upload at once; otherwise the phase saved again is the one saved.
    let kind = |v: &serde_json::Value| v["phase"]["kind"].as_str().unwrap_or("").to_owned();
    if want["cancel_asked"] == true && kind(&want) == "start" {
        assert_eq!(
            kind(&got),
            "cancelled",
            "a restored cancel without a session"
        );
    } else if want["cancel_asked"] == true && kind(&want) == "lookup" {
        // A result that may exist is still looked for; found, the upload stays completed.
        assert_eq!(kind(&got), "lookup", "a restored cancel with a look-up");
    } else {
        assert_eq!(got["phase"], want["phase"], "restore changed the phase");
    }
    // A wait outlives the restore, unless the restore ended the upload (a cancel with
    // nothing to delete): an ended upload waits for nothing.
    if !matches!(kind(&got).as_str(), "cancelled" | "done") {
        assert_eq!(got["wait"], want["wait"], "restore changed the wait");
    }
}

fn saved_value(saved: &str) -> serde_json::Value {
    match serde_json::from_str(saved) {
        Ok(v) => v,
        Err(e) => panic!("saved state is not JSON ({e}): {saved}"),
    }
}

// ---------------------------------------------------------------------------------------
// Target 2: any body in every state that reads one.

/// Any bytes as the body (and any status) of the answer to a session creation, a chunk PUT,
/// a status query, a single POST or an attachment listing, each fed to a machine brought
/// into the state that sent it; then a few more steps. Never a panic: a typed failure or a
/// coherent state whose later requests keep the invariants.
pub fn upload_session_body(data: &[u8]) {
    let mut inp = Input(data);
    let state = inp.u8() % 7;
    let status = match STATUSES[inp.below(STATUSES.len() as u64) as usize] {
        0 => inp.u16(),
        s if inp.bool() => s,
        _ => 200,
    };
    let size = match inp.u8() % 4 {
        0 => 3_483_322,
        1 => 1 + u64::from(inp.u16()),
        2 => 1 + inp.below(25 * 1024 * 1024),
        _ => 8_000_000,
    };
    let kind = if inp.u8() % 5 == 0 {
        Kind::Drive
    } else {
        Kind::Todo
    };
    let location = inp.bool().then(|| inp.text(60));
    let body = inp.rest();
    let reply = Reply {
        status,
        location,
        retry_after: None,
        body: body.to_vec(),
    };
    let single = state == 4 || state == 5;
    let (size, kind) = if single {
        (size.min(2_999_999), Kind::Todo)
    } else {
        (size, kind)
    };
    let chunk = if kind == Kind::Drive {
        327_680
    } else {
        1_000_000
    };
    let options = Options::default()
        .with_chunk_size(chunk)
        .with_force_session(!single);
    let mut pair = pair(size, u64::from(state));
    // Raw bodies may put the planted secret anywhere, where showing it is no leak.
    pair.secret = None;
    let Ok(mut up) = pair.upload_to(target(kind, &pair), options.clone()) else {
        panic!("the harness's own upload is refused");
    };
    // Bring the machine to the state, answering as Graph would.
    let script: &[Answer] = match state {
        0 => &[],
        1 => &[Answer::Graph],
        2 => &[Answer::Graph, Answer::Graph],
        3 => &[
            Answer::Graph,
            Answer::Transport {
                keep: true,
                error: TransportError::Interrupted,
            },
        ],
        4 => &[],
        5 => &[Answer::Custom {
            keep: false,
            reply: Reply::new(503, Vec::new()),
        }],
        _ => &[
            Answer::Graph,
            Answer::Graph,
            Answer::Graph,
            Answer::Transport {
                keep: true,
                error: TransportError::Timeout,
            },
        ],
    };
    let mut steps = script
        .iter()
        .cloned()
        .map(Some)
        .chain(std::iter::repeat_n(None, 2))
        .chain(std::iter::repeat_n(Some(Answer::Graph), 24));
    let mut fed = false;
    for _ in 0..64 {
        let action = pair.poll(&mut up);
        let req = match action {
            Action::Send(req) => req,
            Action::Wait { until, .. } => {
                pair.now = until;
                continue;
            }
            Action::RefreshToken => {
                let _ = up.token_refreshed(pair.now);
                continue;
            }
            _ => break,
        };
        let next = match steps.next() {
            Some(a) => a,
            None => break,
        };
        let answer = match next {
            // The fuzzed answer, once in the chosen state and once more after it.
            None => {
                if !fed {
                    let want = match state {
                        0 => Purpose::CreateSession,
                        1 | 2 => Purpose::UploadChunk,
                        3 | 6 => Purpose::QueryStatus,
                        4 => Purpose::SinglePost,
                        _ => Purpose::FindResult,
                    };
                    if state != 6 || req.purpose() == Purpose::QueryStatus {
                        assert_eq!(req.purpose(), want, "the harness did not reach its state");
                    }
                    fed = true;
                }
                Answer::Custom {
                    keep: false,
                    reply: reply.clone(),
                }
            }
            Some(a) => a,
        };
        deliver(&mut pair, &mut up, &req, &answer);
        pair.now = pair.now.saturating_add(Duration::from_millis(10));
    }
    let _ = check_saved(&up);
}

// ---------------------------------------------------------------------------------------
// Target 5: saved state.

/// Any bytes as saved state, and mutations of a state a real run saved: a restore gives a
/// typed error or a machine that keeps the invariants for a few steps (DESIGN.md 4.6).
pub fn restore(data: &[u8]) {
    let mut inp = Input(data);
    let mode = inp.u8() % 3;
    let kind = if inp.u8() % 4 == 0 {
        Kind::Drive
    } else {
        Kind::Todo
    };
    let size = match inp.u8() % 3 {
        0 => 3_483_322,
        1 => 1 + u64::from(inp.u16()),
        _ => 8_000_000,
    };
    let options = Options::default()
        .with_chunk_size(327_680 * (1 + inp.below(8)))
        .with_force_session(inp.u8() % 4 != 0)
        .with_max_restarts(u32::from(inp.u8() % 3));
    // One model for the run that saves and the one that goes on from the restore.
    let mut pair = pair(size, u64::from(mode));
    let target = target(kind, &pair);
    let saved: Vec<u8> = match mode {
        0 => inp.rest().to_vec(),
        _ => {
            // A state saved by a real run, after some steps.
            let Ok(mut up) = pair.upload_to(target.clone(), options.clone()) else {
                panic!("the harness's own upload is refused");
            };
            let steps = inp.u8() % 12;
            for _ in 0..steps {
                match pair.poll(&mut up) {
                    Action::Send(req) => deliver(&mut pair, &mut up, &req, &Answer::Graph),
                    Action::Wait { until, .. } => pair.now = until,
                    _ => break,
                }
                pair.now = pair.now.saturating_add(Duration::from_millis(10));
            }
            let saved = up.save();
            let back = match Upload::restore(
                saved.as_bytes(),
                target.clone(),
                file(size),
                options.clone(),
            ) {
                Ok(u) => u,
                Err(e) => panic!("a state the machine saved does not restore: {e}"),
            };
            check_restored(&saved, &back);
            if mode == 1 {
                mutate_json(&saved, &mut inp)
            } else {
                mutate_bytes(saved.into_bytes(), &mut inp)
            }
        }
    };
    let up = Upload::restore(&saved, target.clone(), file(size), options.clone());
    let Ok(mut up) = up else {
        return;
    };
    // A restored machine starts afresh, asks where its session stands (or, for one that
    // refuses status queries, tries its next PUT), goes on deleting it, looks for a result
    // that may exist, or keeps the outcome it had (docs/protocol.md §6, §11).
    let state = up.state();
    assert!(
        matches!(
            state,
            State::Creating
                | State::Posting
                | State::Querying
                | State::Uploading
                | State::Cancelling
                | State::FindingResult
                | State::Done
                | State::Cancelled
        ),
        "restored into {state:?}"
    );
    assert!(up.in_flight().is_none());
    let saved_again = up.save();
    assert!(!saved_again.contains(TOKEN) || String::from_utf8_lossy(&saved).contains(TOKEN));
    if matches!(state, State::Done | State::Cancelled) {
        // A finished upload restores finished: the same outcome, no request, ever.
        let now = pair.now;
        let first = up.poll(now);
        assert!(
            matches!(first, Action::Done(_) | Action::Cancelled),
            "{first:?}"
        );
        up.cancel(now);
        assert_eq!(up.poll(now), first, "a restored outcome must stay");
        return;
    }
    pair.watch(&up, &options);
    let unavailable = Answer::Custom {
        keep: false,
        reply: Reply::new(503, Vec::new()),
    };
    for i in 0..24u32 {
        let action = pair.poll(&mut up);
        match action {
            Action::Send(req) => {
                let answer = if i % 7 == 3 {
                    &unavailable
                } else {
                    &Answer::Graph
                };
                deliver(&mut pair, &mut up, &req, answer);
            }
            Action::Wait { until, .. } => pair.now = until,
            Action::RefreshToken => {
                let _ = up.token_refreshed(pair.now);
            }
            _ => break,
        }
        pair.now = pair.now.saturating_add(Duration::from_millis(10));
    }
}

/// Replaces fields of a saved state with fuzzed JSON values.
fn mutate_json(saved: &str, inp: &mut Input<'_>) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(saved) else {
        panic!("saved state is not JSON: {saved}");
    };
    const PATHS: [&[&str]; 22] = [
        &["format"],
        &["version"],
        &["profile"],
        &["create_url"],
        &["file", "name"],
        &["file", "size"],
        &["file", "fingerprint"],
        &["phase"],
        &["phase", "kind"],
        &["phase", "upload_url"],
        &["phase", "expires"],
        &["phase", "expected"],
        &["phase", "since"],
        &["phase", "result_may_exist_since"],
        &["phase", "status_query_refused"],
        &["phase", "cancelling"],
        &["phase", "id"],
        &["phase", "then"],
        &["sessions"],
        &["requests"],
        &["rng"],
        &["extra"],
    ];
    for _ in 0..1 + inp.u8() % 4 {
        let path = PATHS[inp.below(PATHS.len() as u64) as usize];
        let value = match inp.u8() % 9 {
            0 => serde_json::Value::Null,
            1 => serde_json::json!(inp.u64()),
            2 => serde_json::json!(inp.u32()),
            3 => serde_json::json!(inp.text(40)),
            4 => serde_json::json!(-1),
            5 => {
                serde_json::json!([{"start": inp.u32(), "end": inp.u32()}, {"start": inp.u16(), "end": inp.u16()}])
            }
            6 => {
                serde_json::json!({"upload_url": format!("{BASE}/s/{}", inp.u8()), "expires": inp.u64()})
            }
            7 => serde_json::json!({"upload_url": inp.text(40), "expires": null}),
            _ => serde_json::json!(1.5),
        };
        let mut at = &mut v;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                if let Some(obj) = at.as_object_mut() {
                    if inp.u8() % 8 == 0 {
                        obj.remove(*key);
                    } else {
                        obj.insert((*key).to_owned(), value.clone());
                    }
                }
                break;
            }
            at = match at.get_mut(*key) {
                Some(next) => next,
                None => break,
            };
        }
    }
    v.to_string().into_bytes()
}

/// Flips, inserts and deletes bytes of a saved state.
fn mutate_bytes(mut saved: Vec<u8>, inp: &mut Input<'_>) -> Vec<u8> {
    for _ in 0..1 + inp.u8() % 4 {
        if saved.is_empty() {
            break;
        }
        let at = inp.below(saved.len() as u64) as usize;
        match inp.u8() % 3 {
            0 => saved[at] = inp.u8(),
            1 => saved.insert(at, inp.u8()),
            _ => {
                saved.remove(at);
            }
        }
    }
    saved
}
