//! What the model holds: the parents that take attachments, their attachments, upload
//! sessions with the bytes received so far, and the record of requests. Decides nothing.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::SystemTime;

use crate::codec::base64_encode;
use crate::faults::{ActivePlan, KeyCase};
use crate::rng::SplitMix64;
use crate::target::{Parent, RangeStyle};
use crate::time::Millis;

/// Which origin a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The Graph origin, where the token is required.
    Graph,
    /// The second origin that foreign uploadUrls point at ([`crate::Fault::ForeignOrigin`]),
    /// where no token may come.
    Foreign,
}

/// An attachment the model holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its Graph-like id.
    pub id: String,
    /// The file name given at creation.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Content type (`application/octet-stream` unless given).
    pub content_type: String,
    /// The bytes; empty when they came as [`crate::WireBody::Unseen`].
    pub bytes: Vec<u8>,
    /// When it was created, on the server's clock.
    pub last_modified: SystemTime,
}

/// One request as the model saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// Path and query, as received (still percent-encoded).
    pub path: String,
    /// Which origin it came to.
    pub origin: Origin,
    /// Whether an `Authorization` header came.
    pub authorization: bool,
    /// Whether it was `Bearer {token}` with the accepted token.
    pub bearer_valid: bool,
    /// The `Content-Range` header, if any.
    pub content_range: Option<String>,
    /// The `Content-Length` header, if any and numeric.
    pub content_length: Option<u64>,
    /// The status answered; `None` when the connection was closed unanswered.
    pub status: Option<u16>,
    /// The name of the fault applied to it, if any (see [`crate::Fault::name`]).
    pub fault: Option<&'static str>,
    /// When it came, on the server's clock.
    pub at: SystemTime,
}

/// Most records kept; older ones are dropped first.
pub(crate) const RECORD_CAP: usize = 100_000;

/// A run of received bytes: their count, and the bytes themselves unless the session is
/// blind (some body came as [`crate::WireBody::Unseen`]).
#[derive(Debug, Default)]
pub(crate) struct Run {
    pub(crate) len: u64,
    pub(crate) bytes: Vec<u8>,
}

/// What a drive upload does when its name is taken (docs/protocol.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Conflict {
    /// `409 nameAlreadyExists` on the last range.
    #[default]
    Fail,
    /// The new bytes replace the item: `200`.
    Replace,
    /// The new item gets a free name: `name 1.ext`.
    Rename,
}

/// How a session finishes, given at creation (drive items, docs/protocol.md §8).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Finish {
    /// What to do when the name is taken at completion.
    pub(crate) conflict: Conflict,
    /// `deferCommit`: all bytes in, the item waits for `POST {uploadUrl}`.
    pub(crate) defer_commit: bool,
}

/// An upload session (docs/protocol.md §2-§6).
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) parent: Parent,
    pub(crate) name: String,
    /// The file size: given at creation, or (drive items) by the first PUT's total.
    pub(crate) size: u64,
    pub(crate) size_known: bool,
    /// How the session finishes (drive items: conflicts, deferred commit).
    pub(crate) finish: Finish,
    pub(crate) content_type: String,
    pub(crate) expires_at: Millis,
    pub(crate) upload_url: String,
    /// API version segment the session was created under (`v1.0`, `beta`).
    pub(crate) version: String,
    /// Received runs by start offset; runs never overlap.
    pub(crate) runs: BTreeMap<u64, Run>,
    /// Whether some body came without its bytes: then no bytes are kept at all.
    pub(crate) blind: bool,
    pub(crate) origin: Origin,
    pub(crate) tempauth: Option<String>,
    pub(crate) key_case: KeyCase,
    pub(crate) status_refused: Option<u16>,
    pub(crate) expire_after_chunks: Option<u32>,
    pub(crate) chunks_accepted: u32,
    /// Gone for good; answers 404.
    pub(crate) dead: bool,
}

impl Session {
    /// Missing byte ranges as `(start, end_exclusive)`, in order.
    pub(crate) fn missing(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0u64;
        for (&start, run) in &self.runs {
            if start > at {
                out.push((at, start));
            }
            at = at.max(start + run.len);
        }
        if at < self.size {
            out.push((at, self.size));
        }
        out
    }

    /// nextExpectedRanges: `"S-E"` (end inclusive) for gaps; the open last range in the
    /// destination's style (docs/protocol.md §3, §4, §8).
    pub(crate) fn next_expected_ranges(&self, style: RangeStyle) -> Vec<String> {
        let open = |s: u64| match style {
            RangeStyle::Todo if s == 0 => "0-".to_string(),
            RangeStyle::Todo | RangeStyle::Bare => s.to_string(),
            RangeStyle::Dash => format!("{s}-"),
        };
        let missing = self.missing();
        if missing.is_empty() {
            // Every byte held and waiting for the commit; or a 0-byte session before its
            // completing PUT.
            return match self.finish.defer_commit && self.size_known {
                true => Vec::new(),
                false => vec![open(0)],
            };
        }
        missing
            .into_iter()
            .map(|(s, e)| {
                if e == self.size {
                    open(s)
                } else {
                    format!("{s}-{}", e - 1)
                }
            })
            .collect()
    }

    /// Stores `len` bytes that start at `start`: `frames` when they came, nothing when the
    /// body was unseen. A PUT that continues the run before it is appended to that run, so
    /// that an upload in order ends as one buffer (reserved for the whole file at its first
    /// byte) that [`Session::assemble`] hands over without copying.
    pub(crate) fn receive(&mut self, start: u64, len: u64, frames: Option<&[&[u8]]>) {
        if len == 0 {
            return;
        }
        if frames.is_none() && !self.blind {
            self.blind = true;
            for run in self.runs.values_mut() {
                run.bytes = Vec::new();
            }
        }
        let run = match self.runs.range_mut(..start).next_back() {
            Some((&s, run)) if s + run.len == start => run,
            _ => {
                let mut run = Run::default();
                // The whole file's room at once when the upload starts, so that it is never
                // copied to grow; a size too large to reserve grows as it comes.
                if !self.blind {
                    let whole = usize::try_from(self.size - start).unwrap_or(usize::MAX);
                    if start != 0 || run.bytes.try_reserve_exact(whole).is_err() {
                        run.bytes.reserve_exact(usize::try_from(len).unwrap_or(0));
                    }
                }
                self.runs.entry(start).or_insert(run)
            }
        };
        run.len += len;
        if let (false, Some(frames)) = (self.blind, frames) {
            for f in frames {
                run.bytes.extend_from_slice(f);
            }
        }
    }

    /// Forgets the received bytes in `[a, b)`.
    pub(crate) fn forget(&mut self, a: u64, b: u64) {
        let hit: Vec<u64> = self
            .runs
            .range(..b)
            .filter(|(&s, run)| s + run.len > a)
            .map(|(&s, _)| s)
            .collect();
        for s in hit {
            let Some(run) = self.runs.remove(&s) else {
                continue;
            };
            let end = s + run.len;
            let part = |from: u64, to: u64| Run {
                len: to - from,
                bytes: if run.bytes.is_empty() {
                    Vec::new()
                } else {
                    run.bytes[(from - s) as usize..(to - s) as usize].to_vec()
                },
            };
            if s < a {
                self.runs.insert(s, part(s, a));
            }
            if end > b {
                self.runs.insert(b, part(b, end));
            }
        }
    }

    /// All bytes, once nothing is missing (none for a blind session).
    pub(crate) fn assemble(&mut self) -> Vec<u8> {
        if self.blind {
            return Vec::new();
        }
        if self.runs.len() == 1 {
            if let Some(run) = self.runs.remove(&0) {
                return run.bytes;
            }
        }
        let mut out = Vec::with_capacity(self.size.min(1 << 26) as usize);
        for (_, run) in std::mem::take(&mut self.runs) {
            out.extend_from_slice(&run.bytes);
        }
        out
    }
}

/// Everything the model holds.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) ids: SplitMix64,
    pub(crate) request_ids: SplitMix64,
    pub(crate) plan: ActivePlan,
    pub(crate) seed: u64,
    /// To Do: list id -> its task ids.
    pub(crate) lists: BTreeMap<String, Vec<String>>,
    /// List ids in creation order, as a listing reads them.
    pub(crate) list_order: Vec<String>,
    /// Each list's `displayName` and each task's `title`, by id.
    pub(crate) names: BTreeMap<String, String>,
    /// The attachments of each parent, in creation order.
    pub(crate) attachments: BTreeMap<Parent, Vec<Attachment>>,
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) sessions_created: usize,
    pub(crate) records: VecDeque<RecordedRequest>,
    /// Per resource (a session id, or a parent's collection), the server instant before
    /// which no request may come after a `Retry-After` (docs/protocol.md §9).
    pub(crate) not_before: HashMap<String, Millis>,
    /// The resource the last answer set a `Retry-After` on, and what it replaced.
    pub(crate) last_armed: Option<(String, Option<Millis>)>,
    pub(crate) violations: Vec<String>,
}

impl Store {
    pub(crate) fn new(seed: u64, plan: ActivePlan) -> Self {
        Store {
            ids: SplitMix64::new(seed),
            request_ids: SplitMix64::new(seed ^ 0x7265_7175_6573_7473),
            plan,
            seed,
            lists: BTreeMap::new(),
            list_order: Vec::new(),
            names: BTreeMap::new(),
            attachments: BTreeMap::new(),
            sessions: HashMap::new(),
            sessions_created: 0,
            records: VecDeque::new(),
            not_before: HashMap::new(),
            last_armed: None,
            violations: Vec::new(),
        }
    }

    /// A Graph-looking opaque id: base64 with `=` padding and at least one
    /// `+` or `/`, so that clients must percent-encode it (docs/protocol.md §2).
    pub(crate) fn new_id(&mut self, prefix: &str, len: usize) -> String {
        let mut raw = vec![0u8; len];
        self.ids.fill(&mut raw);
        let mut id = format!("{prefix}{}", base64_encode(&raw));
        if !id.contains(['+', '/']) {
            let at = prefix.len() + 3;
            id.replace_range(at..at + 1, if raw[0] & 1 == 0 { "+" } else { "/" });
        }
        if !id.ends_with('=') {
            id.push('=');
        }
        id
    }

    /// A URL-safe credential for a `?tempauth=` query.
    pub(crate) fn new_tempauth(&mut self) -> String {
        let mut raw = [0u8; 24];
        self.ids.fill(&mut raw);
        base64_encode(&raw).replace('+', "-").replace('/', "_")
    }

    pub(crate) fn record(&mut self, rec: RecordedRequest) {
        if self.records.len() >= RECORD_CAP {
            self.records.pop_front();
        }
        self.records.push_back(rec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(size: u64) -> Session {
        Session {
            parent: Parent::TodoTask {
                list: String::new(),
                task: String::new(),
            },
            name: "f".into(),
            size,
            size_known: true,
            finish: Finish::default(),
            content_type: String::new(),
            expires_at: 0,
            upload_url: String::new(),
            version: "v1.0".into(),
            runs: BTreeMap::new(),
            blind: false,
            origin: Origin::Graph,
            tempauth: None,
            key_case: KeyCase::Camel,
            status_refused: None,
            expire_after_chunks: None,
            chunks_accepted: 0,
            dead: false,
        }
    }

    fn put(s: &mut Session, start: u64, bytes: &[u8]) {
        s.receive(start, bytes.len() as u64, Some(&[bytes]));
    }

    #[test]
    fn ranges_and_forget() {
        let mut s = session(10_000);
        assert_eq!(s.next_expected_ranges(RangeStyle::Todo), ["0-"]);
        put(&mut s, 0, &[1; 5000]);
        assert_eq!(s.next_expected_ranges(RangeStyle::Todo), ["5000"]);
        s.forget(1000, 2000);
        assert_eq!(
            s.next_expected_ranges(RangeStyle::Todo),
            ["1000-1999", "5000"]
        );
        assert_eq!(s.missing(), [(1000, 2000), (5000, 10_000)]);
        assert_eq!(
            s.next_expected_ranges(RangeStyle::Dash),
            ["1000-1999", "5000-"]
        );
        assert_eq!(
            s.next_expected_ranges(RangeStyle::Bare),
            ["1000-1999", "5000"]
        );
        put(&mut s, 1000, &[2; 1000]);
        put(&mut s, 5000, &[3; 5000]);
        assert!(s.missing().is_empty());
        let all = s.assemble();
        assert_eq!(all.len(), 10_000);
        assert_eq!((all[999], all[1000], all[2000], all[9999]), (1, 2, 1, 3));
    }

    #[test]
    fn in_order_puts_make_one_buffer_handed_over_whole() {
        let mut s = session(10);
        s.receive(0, 4, Some(&[&b"abc"[..], &b"d"[..]]));
        put(&mut s, 4, b"efg");
        assert_eq!(s.runs.len(), 1);
        assert_eq!(s.next_expected_ranges(RangeStyle::Todo), ["7"]);
        let at = s.runs[&0].bytes.as_ptr();
        put(&mut s, 7, b"hij");
        assert!(s.missing().is_empty());
        let all = s.assemble();
        assert_eq!(all, b"abcdefghij");
        assert_eq!(all.as_ptr(), at, "no copy on the way");

        // Out of order after a forgotten stretch: still exact.
        let mut s = session(10);
        put(&mut s, 0, b"abcdefg");
        s.forget(2, 4);
        assert_eq!(s.next_expected_ranges(RangeStyle::Todo), ["2-3", "7"]);
        put(&mut s, 2, b"CD");
        put(&mut s, 7, b"hij");
        assert!(s.missing().is_empty());
        assert_eq!(s.assemble(), b"abCDefghij");
        // A declared size too large to reserve grows as bytes come.
        let mut s = session(u64::MAX / 2);
        put(&mut s, 0, b"xy");
        assert_eq!(s.runs[&0].bytes, b"xy");
    }

    #[test]
    fn unseen_bodies_keep_ranges_only() {
        let mut s = session(u64::MAX / 2);
        put(&mut s, 0, b"xy");
        s.receive(2, 1 << 40, None);
        assert!(s.blind && s.runs[&0].bytes.is_empty());
        assert_eq!(s.missing(), [(2 + (1 << 40), u64::MAX / 2)]);
        s.forget(1, 3);
        assert_eq!(s.missing()[0], (1, 3));
        assert!(s.assemble().is_empty());
    }

    #[test]
    fn ids_need_encoding() {
        let mut st = Store::new(3, ActivePlan::new(Default::default(), 0));
        for _ in 0..50 {
            let id = st.new_id("AAMkAD", 40);
            assert!(id.ends_with('='));
            assert!(id.contains(['+', '/']), "{id}");
        }
    }
}
