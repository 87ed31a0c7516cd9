//! Byte ranges of the file: the server's `nextExpectedRanges` (docs/protocol.md §4) and the
//! `Content-Range` of a PUT (docs/protocol.md §3). Knows nothing of HTTP statuses or JSON.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A non-empty half-open range of byte offsets, `start..end`, of the file.
///
/// The wire forms are end-inclusive (`bytes 0-2097151/3483322`); this type is end-exclusive so
/// that lengths are a subtraction. [`ByteRange::last`] gives the inclusive end.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawRange")]
pub struct ByteRange {
    start: u64,
    end: u64,
}

impl ByteRange {
    /// The range `start..end`, or `None` when it would be empty or reversed.
    pub const fn new(start: u64, end: u64) -> Option<Self> {
        if start < end {
            Some(ByteRange { start, end })
        } else {
            None
        }
    }

    /// First byte offset.
    pub const fn start(self) -> u64 {
        self.start
    }

    /// One past the last byte offset.
    pub const fn end(self) -> u64 {
        self.end
    }

    /// The last byte offset (inclusive), as `Content-Range` writes it.
    pub const fn last(self) -> u64 {
        self.end - 1
    }

    /// Number of bytes, never zero.
    pub const fn len(self) -> u64 {
        self.end - self.start
    }

    /// Always false: a `ByteRange` is never empty. Present for API symmetry with slices.
    pub const fn is_empty(self) -> bool {
        false
    }
}

#[derive(Deserialize)]
struct RawRange {
    start: u64,
    end: u64,
}

impl TryFrom<RawRange> for ByteRange {
    type Error = String;
    fn try_from(r: RawRange) -> Result<Self, String> {
        ByteRange::new(r.start, r.end)
            .ok_or_else(|| format!("byte range {}..{} is empty or reversed", r.start, r.end))
    }
}

impl fmt::Display for ByteRange {
    /// The end-inclusive form the protocol uses: `0-2097151`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.last())
    }
}

/// The value of a PUT's `Content-Range` header: `bytes {first}-{last}/{total}` (docs/protocol.md §3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ContentRange {
    /// Which bytes the request carries.
    pub range: ByteRange,
    /// The size of the whole file.
    pub total: u64,
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}/{}", self.range, self.total)
    }
}

impl ContentRange {
    /// Parses `bytes S-E/T` strictly: the form a server checks a client's header against.
    /// Returns `None` for anything else, including `E < S`, `E >= T` and overflow.
    pub fn parse(s: &str) -> Option<ContentRange> {
        let rest = s.strip_prefix("bytes ")?;
        let (span, total) = rest.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        let (first, last, total) = (dec(first)?, dec(last)?, dec(total)?);
        if last >= total {
            return None;
        }
        let range = ByteRange::new(first, last.checked_add(1)?)?;
        Some(ContentRange { range, total })
    }
}

fn dec(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The most ranges one answer may list. A file of at most a few gigabytes uploaded in
/// chunks of hundreds of kilobytes never has more gaps than this; a longer list is hostile.
pub const MAX_RANGES: usize = 10_000;

/// Why a `nextExpectedRanges` entry was refused. The message quotes the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not digits, `digits-`, or `digits-digits`.
    #[error("range {0:?} in nextExpectedRanges is not of the form \"S\", \"S-\" or \"S-E\"")]
    Syntax(String),
    /// A number does not fit in 64 bits.
    #[error("range {0:?} in nextExpectedRanges has a number too large for 64 bits")]
    Overflow(String),
    /// The end is before the start.
    #[error("range {0:?} in nextExpectedRanges ends before it starts")]
    Reversed(String),
    /// The range reaches outside the file.
    #[error("range {range:?} in nextExpectedRanges lies outside the file of {size} bytes")]
    OutsideFile {
        /// The entry as the server wrote it.
        range: String,
        /// The file's size.
        size: u64,
    },
    /// More entries than [`MAX_RANGES`].
    #[error("nextExpectedRanges lists more than {MAX_RANGES} ranges")]
    TooMany,
}

fn quoted(s: &str) -> String {
    // A hostile server's entry can be huge: quote a bounded prefix.
    s.chars().take(48).collect()
}

/// A run of ASCII digits as a number: `None` if empty or not all digits, `Some(Err(()))` on
/// overflow. Runs for every entry of every answer, so up to 19 digits (which always fit in 64
/// bits) are folded without overflow checks.
fn decimal(t: &[u8]) -> Option<Result<u64, ()>> {
    if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let fold = |acc: u64, &b: &u8| acc * 10 + u64::from(b - b'0');
    if t.len() <= 19 {
        return Some(Ok(t.iter().fold(0, fold)));
    }
    Some(
        t.iter()
            .try_fold(0u64, |acc, &b| {
                acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })
            .ok_or(()),
    )
}

/// Parses one `nextExpectedRanges` entry against a file of `size` bytes (docs/protocol.md §4).
///
/// `"S"` and `"S-"` mean from `S` to the end of the file; `"S-E"` means `S..=E`. An end equal to
/// `size` (one past the last index, seen on some targets) is read as `size - 1`. Surrounding
/// ASCII spaces are tolerated.
pub fn parse_range(entry: &str, size: u64) -> Result<ByteRange, RangeError> {
    let s = entry.trim_matches(|c: char| c == ' ' || c == '\t');
    let number = |t: &str| -> Result<u64, RangeError> {
        match decimal(t.as_bytes()) {
            Some(Ok(v)) => Ok(v),
            Some(Err(())) => Err(RangeError::Overflow(quoted(entry))),
            None => Err(RangeError::Syntax(quoted(entry))),
        }
    };
    let (start, last) = match s.split_once('-') {
        None => (number(s)?, None),
        Some((a, "")) => (number(a)?, None),
        Some((a, b)) => (number(a)?, Some(number(b)?)),
    };
    let outside = || RangeError::OutsideFile {
        range: quoted(entry),
        size,
    };
    let end = match last {
        None => size,
        Some(last) if last < start => return Err(RangeError::Reversed(quoted(entry))),
        Some(last) if last < size => last + 1,
        Some(last) if last == size => size,
        Some(_) => return Err(outside()),
    };
    ByteRange::new(start, end).ok_or_else(outside)
}

/// The ranges the server still expects, sorted and disjoint: the truth the machine follows
/// (docs/protocol.md §4). Built up entry by entry so that parsing an answer allocates nothing once
/// the set has grown to its working size.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct ExpectedRanges {
    ranges: Vec<ByteRange>,
}

impl ExpectedRanges {
    /// The whole file, `0..size`; empty for a 0-byte file.
    pub fn whole(size: u64) -> Self {
        ExpectedRanges {
            ranges: ByteRange::new(0, size).into_iter().collect(),
        }
    }

    /// Builds a set from ranges in any order; overlapping or touching ranges are merged.
    pub fn from_ranges(ranges: impl IntoIterator<Item = ByteRange>) -> Self {
        let mut set = ExpectedRanges::default();
        set.ranges.extend(ranges);
        set.normalise();
        set
    }

    /// Parses a whole answer's entries, as [`parse_range`] does each, into `self`.
    pub fn parse_all<'s>(
        &mut self,
        entries: impl IntoIterator<Item = &'s str>,
        size: u64,
    ) -> Result<(), RangeError> {
        self.clear();
        for e in entries {
            self.push_entry(e, size)?;
        }
        self.normalise();
        Ok(())
    }

    /// Empties the set, keeping its buffer.
    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Adds one entry; [`ExpectedRanges::normalise`] must follow the last one.
    pub(crate) fn push_entry(&mut self, entry: &str, size: u64) -> Result<(), RangeError> {
        if self.ranges.len() >= MAX_RANGES {
            return Err(RangeError::TooMany);
        }
        self.ranges.push(parse_range(entry, size)?);
        Ok(())
    }

    /// Sorts and merges; linear when the entries already come in order, as servers send them.
    pub(crate) fn normalise(&mut self) {
        if !self.ranges.windows(2).all(|w| w[0].start <= w[1].start) {
            self.ranges.sort_unstable_by_key(|r| r.start);
        }
        let mut out = 0;
        for i in 0..self.ranges.len() {
            let r = self.ranges[i];
            if out > 0 && r.start <= self.ranges[out - 1].end {
                let prev = &mut self.ranges[out - 1];
                prev.end = prev.end.max(r.end);
            } else {
                self.ranges[out] = r;
                out += 1;
            }
        }
        self.ranges.truncate(out);
    }

    /// The ranges, sorted and disjoint.
    pub fn as_slice(&self) -> &[ByteRange] {
        &self.ranges
    }

    /// The first range the server expects, where the next PUT must start.
    pub fn first(&self) -> Option<ByteRange> {
        self.ranges.first().copied()
    }

    /// True when the server expects nothing more.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Bytes still expected.
    pub fn missing_bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.len()).sum()
    }

    /// Removes `r` from the front of the first range: the bytes of a chunk that the server is
    /// taken to hold. `r` must start where the first range starts.
    pub(crate) fn consume_front(&mut self, r: ByteRange) {
        if let Some(first) = self.ranges.first_mut() {
            if first.start == r.start {
                if r.end >= first.end {
                    self.ranges.remove(0);
                } else {
                    first.start = r.end;
                }
            }
        }
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Checks a set that did not come from [`parse_range`] (a saved state): sorted, disjoint,
    /// inside `0..size`, at most [`MAX_RANGES`] entries.
    pub fn validate(&self, size: u64) -> Result<(), String> {
        if self.ranges.len() > MAX_RANGES {
            return Err(format!("more than {MAX_RANGES} ranges"));
        }
        let mut prev_end = None;
        for r in &self.ranges {
            if r.start >= r.end || r.end > size {
                return Err(format!("range {r} lies outside the file of {size} bytes"));
            }
            if prev_end.is_some_and(|p| r.start <= p) {
                return Err(format!(
                    "range {r} is out of order or overlaps the one before"
                ));
            }
            prev_end = Some(r.end);
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ExpectedRanges {
    /// Reads the form [`Serialize`] writes and normalises it; [`ExpectedRanges::validate`]
    /// still has to check it against the file.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ExpectedRanges {
            ranges: Vec::<ByteRange>::deserialize(d)?,
        })
    }
}

/// The next chunk to PUT: it starts where the first expected range starts (docs/protocol.md §3), is
/// at most `chunk` bytes, stays inside that range, and, when `align` is above 1, ends on a
/// multiple of `align` unless the range ends first (OneDrive's 320 KiB rule, docs/protocol.md §8:
/// a start off the grid is realigned by a shorter chunk).
pub fn next_chunk(expected: &ExpectedRanges, chunk: u64, align: u64) -> Option<ByteRange> {
    let first = expected.first()?;
    let mut end = first.start.saturating_add(chunk.max(1));
    if align > 1 {
        let aligned = end - end % align;
        if aligned > first.start {
            end = aligned;
        }
    }
    ByteRange::new(first.start, end.min(first.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: u64, e: u64) -> ByteRange {
        ByteRange::new(s, e).unwrap()
    }

    #[test]
    fn every_form_of_the_protocol() {
        let size = 3_483_322;
        assert_eq!(parse_range("0-", size), Ok(r(0, size)));
        assert_eq!(parse_range("2097152", size), Ok(r(2_097_152, size)));
        assert_eq!(parse_range("2097152-", size), Ok(r(2_097_152, size)));
        assert_eq!(parse_range("12345-55232", size), Ok(r(12_345, 55_233)));
        assert_eq!(parse_range("26-26", size), Ok(r(26, 27)));
        // An end equal to the size means the last byte (docs/protocol.md §8).
        assert_eq!(parse_range("0-3483322", size), Ok(r(0, size)));
        assert_eq!(parse_range(" 5- ", size), Ok(r(5, size)));
        assert_eq!(parse_range(" 5-", size), Ok(r(5, size)));
    }

    #[test]
    fn refusals_are_typed_and_quote_the_entry() {
        let size = 100;
        assert_eq!(
            parse_range("5-2", size),
            Err(RangeError::Reversed("5-2".into()))
        );
        assert_eq!(
            parse_range("5-2", size).unwrap_err().to_string(),
            "range \"5-2\" in nextExpectedRanges ends before it starts"
        );
        assert!(matches!(
            parse_range("100-", size),
            Err(RangeError::OutsideFile { .. })
        ));
        assert!(matches!(
            parse_range("100", size),
            Err(RangeError::OutsideFile { .. })
        ));
        assert!(matches!(
            parse_range("0-101", size),
            Err(RangeError::OutsideFile { .. })
        ));
        assert!(matches!(
            parse_range("0-", 0),
            Err(RangeError::OutsideFile { .. })
        ));
        for bad in [
            "", "-", "-5", "a-b", "1-2-3", "+1", "1 - 2", "0x10", "1e3", "٣",
        ] {
            assert!(
                matches!(parse_range(bad, size), Err(RangeError::Syntax(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_range("99999999999999999999-", size),
            Err(RangeError::Overflow(_))
        ));
        assert!(matches!(
            parse_range("1-99999999999999999999", size),
            Err(RangeError::Overflow(_))
        ));
    }

    #[test]
    fn several_ranges_any_order_are_sorted_and_merged() {
        let mut set = ExpectedRanges::default();
        set.parse_all(
            ["77829-99375", "12345-55232", "55233-60000", "100000"],
            200_000,
        )
        .unwrap();
        assert_eq!(
            set.as_slice(),
            &[r(12_345, 60_001), r(77_829, 99_376), r(100_000, 200_000)]
        );
        assert_eq!(set.first(), Some(r(12_345, 60_001)));
        assert_eq!(set.missing_bytes(), 47_656 + 21_547 + 100_000);
        set.parse_all(["0-10", "5-20", "3-4"], 100).unwrap();
        assert_eq!(set.as_slice(), &[r(0, 21)]);
    }

    #[test]
    fn too_many_ranges_is_refused() {
        let entries: Vec<String> = (0..=MAX_RANGES as u64)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect();
        let mut set = ExpectedRanges::default();
        let res = set.parse_all(entries.iter().map(String::as_str), 1 << 40);
        assert_eq!(res, Err(RangeError::TooMany));
    }

    #[test]
    fn content_range_formats_end_inclusive_and_round_trips() {
        let cr = ContentRange {
            range: r(0, 2_097_152),
            total: 3_483_322,
        };
        assert_eq!(cr.to_string(), "bytes 0-2097151/3483322");
        assert_eq!(ContentRange::parse(&cr.to_string()), Some(cr));
        for bad in [
            "bytes=0-1/2",
            "bytes 1-0/2",
            "bytes 0-2/2",
            "bytes 0-1/",
            "bytes -1/2",
            "0-1/2",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn chunks_follow_the_first_range_and_the_grid() {
        let set = ExpectedRanges::whole(3_483_322);
        assert_eq!(next_chunk(&set, 2_097_152, 1), Some(r(0, 2_097_152)));
        let set = ExpectedRanges::from_ranges([r(2_097_152, 3_483_322)]);
        assert_eq!(
            next_chunk(&set, 2_097_152, 1),
            Some(r(2_097_152, 3_483_322))
        );
        // A gap is filled without reaching past its end.
        let set = ExpectedRanges::from_ranges([r(10, 20), r(50, 100)]);
        assert_eq!(next_chunk(&set, 64, 1), Some(r(10, 20)));
        // Off the 320 KiB grid: the chunk ends on the grid.
        let grid = 327_680;
        let set = ExpectedRanges::from_ranges([r(1000, 10 * grid)]);
        assert_eq!(next_chunk(&set, 2 * grid, grid), Some(r(1000, 2 * grid)));
        assert_eq!(next_chunk(&ExpectedRanges::whole(0), 10, 1), None);
    }

    #[test]
    fn validate_catches_hostile_saved_sets() {
        assert!(ExpectedRanges::from_ranges([r(0, 10)]).validate(10).is_ok());
        assert!(ExpectedRanges::from_ranges([r(0, 11)])
            .validate(10)
            .is_err());
        let unsorted = ExpectedRanges {
            ranges: vec![r(5, 6), r(0, 1)],
        };
        assert!(unsorted.validate(10).is_err());
        let overlapping = ExpectedRanges {
            ranges: vec![r(0, 6), r(5, 7)],
        };
        assert!(overlapping.validate(10).is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn every_valid_range_form_means_what_the_protocol_says(size in 1u64..u64::MAX, a in any::<u64>(), b in any::<u64>()) {
                let start = a % size;
                let last = start + b % (size - start);
                prop_assert_eq!(parse_range(&format!("{start}-{last}"), size), Ok(ByteRange::new(start, last + 1).unwrap()));
                prop_assert_eq!(parse_range(&format!("{start}"), size), Ok(ByteRange::new(start, size).unwrap()));
                prop_assert_eq!(parse_range(&format!("{start}-"), size), Ok(ByteRange::new(start, size).unwrap()));
                if last > start {
                    let reversed = parse_range(&format!("{last}-{start}"), size);
                    prop_assert!(matches!(reversed, Err(RangeError::Reversed(_))));
                }
            }

            #[test]
            fn range_parsing_never_panics_and_accepts_only_what_fits(s in "\\PC{0,24}", size in 0u64..1_000_000) {
                if let Ok(r) = parse_range(&s, size) {
                    prop_assert!(r.start() < r.end() && r.end() <= size);
                    prop_assert!(s.trim_matches([' ', '\t']).bytes().all(|c| c.is_ascii_digit() || c == b'-'));
                }
            }

            #[test]
            fn any_order_of_ranges_gives_the_same_sorted_disjoint_set(
                mut spans in prop::collection::vec((0u64..10_000, 1u64..500), 1..40),
                seed in any::<u64>(),
            ) {
                let size = 20_000;
                let entries: Vec<String> = spans.iter().map(|(s, l)| format!("{s}-{}", s + l - 1)).collect();
                let mut a = ExpectedRanges::default();
                a.parse_all(entries.iter().map(String::as_str), size).unwrap();
                // Shuffle deterministically and parse again.
                let mut rng = crate::retry::Rng::new(seed);
                for i in (1..spans.len()).rev() {
                    spans.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let shuffled: Vec<String> = spans.iter().map(|(s, l)| format!("{s}-{}", s + l - 1)).collect();
                let mut b = ExpectedRanges::default();
                b.parse_all(shuffled.iter().map(String::as_str), size).unwrap();
                prop_assert_eq!(&a, &b);
                prop_assert!(a.validate(size).is_ok());
                // Every byte of every entry is covered, and nothing else.
                let covered = |x: u64| a.as_slice().iter().any(|r| r.start() <= x && x < r.end());
                for (s, l) in &spans {
                    prop_assert!(covered(*s) && covered(s + l - 1));
                }
                let total: u64 = a.as_slice().iter().map(|r| r.len()).sum();
                prop_assert_eq!(total, a.missing_bytes());
            }
        }
    }
}
