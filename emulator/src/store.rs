//! What the emulator holds: lists, tasks, their attachments, upload sessions
//! with the bytes received so far, and the record of requests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::SystemTime;

use crate::codec::base64_encode;
use crate::faults::{ActivePlan, KeyCase};
use crate::rng::SplitMix64;

/// Which listener a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The Graph origin, [`crate::Emulator::base_url`].
    Graph,
    /// The second origin that foreign uploadUrls point at
    /// ([`crate::Fault::ForeignOrigin`]).
    Foreign,
}

/// An attachment the emulator holds.
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
    /// The bytes.
    pub bytes: Vec<u8>,
    /// When it was created.
    pub last_modified: SystemTime,
}

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// Path and query, as received (still percent-encoded).
    pub path: String,
    /// Which listener it came to.
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
}

/// Most records kept; older ones are dropped first.
pub(crate) const RECORD_CAP: usize = 100_000;

/// An upload session (docs/protocol.md §2-§6).
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) user: String,
    pub(crate) list: String,
    pub(crate) task: String,
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) content_type: String,
    pub(crate) expires_at: SystemTime,
    pub(crate) expiration_text: String,
    pub(crate) upload_url: String,
    /// API version segment the session was created under (`v1.0`, `beta`).
    pub(crate) version: String,
    /// Received bytes by start offset; chunks never overlap.
    pub(crate) chunks: BTreeMap<u64, Vec<u8>>,
    pub(crate) origin: Origin,
    pub(crate) tempauth: Option<String>,
    pub(crate) key_case: KeyCase,
    pub(crate) status_refused: Option<u16>,
    pub(crate) expire_after_chunks: Option<u32>,
    pub(crate) chunks_accepted: u32,
    /// Gone for good (the expire-after-chunks fault); answers 404.
    pub(crate) dead: bool,
}

impl Session {
    /// Missing byte ranges as `(start, end_exclusive)`, in order.
    pub(crate) fn missing(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0u64;
        for (&start, bytes) in &self.chunks {
            if start > at {
                out.push((at, start));
            }
            at = at.max(start + bytes.len() as u64);
        }
        if at < self.size {
            out.push((at, self.size));
        }
        out
    }

    /// nextExpectedRanges, To Do style: `"S-E"` (end inclusive) for gaps,
    /// the start alone for the open last range, `"0-"` when nothing arrived
    /// (docs/protocol.md §3, §4).
    pub(crate) fn next_expected_ranges(&self) -> Vec<String> {
        let missing = self.missing();
        if missing.is_empty() {
            // A 0-byte session before its completing PUT.
            return vec!["0-".to_string()];
        }
        missing
            .into_iter()
            .map(|(s, e)| {
                if e == self.size {
                    if s == 0 {
                        "0-".to_string()
                    } else {
                        s.to_string()
                    }
                } else {
                    format!("{s}-{}", e - 1)
                }
            })
            .collect()
    }

    /// Stores the bytes of a PUT that starts at `start`. A PUT that continues the run of
    /// bytes before it is appended to that run, so that an upload in order ends as one buffer
    /// (reserved for the whole file at its first byte) that [`Session::assemble`] hands over
    /// without copying.
    pub(crate) fn receive(&mut self, start: u64, frames: &[impl AsRef<[u8]>]) {
        let len: usize = frames.iter().map(|f| f.as_ref().len()).sum();
        if len == 0 {
            return;
        }
        let run = match self.chunks.range_mut(..start).next_back() {
            Some((&s, run)) if s + run.len() as u64 == start => run,
            _ => {
                let mut run = Vec::new();
                // The whole file's room at once when the upload starts, so that it is never
                // copied to grow; a size too large to reserve grows as it comes.
                let whole = usize::try_from(self.size - start).unwrap_or(usize::MAX);
                if start != 0 || run.try_reserve_exact(whole).is_err() {
                    run.reserve_exact(len);
                }
                self.chunks.entry(start).or_insert(run)
            }
        };
        for f in frames {
            run.extend_from_slice(f.as_ref());
        }
    }

    /// Forgets the received bytes in `[a, b)`.
    pub(crate) fn forget(&mut self, a: u64, b: u64) {
        let hit: Vec<u64> = self
            .chunks
            .range(..b)
            .filter(|(&s, v)| s + v.len() as u64 > a)
            .map(|(&s, _)| s)
            .collect();
        for s in hit {
            let Some(bytes) = self.chunks.remove(&s) else {
                continue;
            };
            let end = s + bytes.len() as u64;
            if s < a {
                self.chunks.insert(s, bytes[..(a - s) as usize].to_vec());
            }
            if end > b {
                self.chunks.insert(b, bytes[(b - s) as usize..].to_vec());
            }
        }
    }

    /// All bytes, once nothing is missing.
    pub(crate) fn assemble(&mut self) -> Vec<u8> {
        if self.chunks.len() == 1 {
            if let Some(bytes) = self.chunks.remove(&0) {
                return bytes;
            }
        }
        let mut out = Vec::with_capacity(self.size.min(1 << 26) as usize);
        for (_, bytes) in std::mem::take(&mut self.chunks) {
            out.extend_from_slice(&bytes);
        }
        out
    }
}

/// Everything behind the emulator's lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) ids: SplitMix64,
    pub(crate) request_ids: SplitMix64,
    pub(crate) plan: ActivePlan,
    pub(crate) seed: u64,
    /// list id -> task id -> attachments.
    pub(crate) lists: BTreeMap<String, BTreeMap<String, Vec<Attachment>>>,
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) sessions_created: usize,
    pub(crate) records: VecDeque<RecordedRequest>,
}

impl State {
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
            user: String::new(),
            list: String::new(),
            task: String::new(),
            name: "f".into(),
            size,
            content_type: String::new(),
            expires_at: SystemTime::now(),
            expiration_text: String::new(),
            upload_url: String::new(),
            version: "v1.0".into(),
            chunks: BTreeMap::new(),
            origin: Origin::Graph,
            tempauth: None,
            key_case: KeyCase::Camel,
            status_refused: None,
            expire_after_chunks: None,
            chunks_accepted: 0,
            dead: false,
        }
    }

    #[test]
    fn ranges_and_forget() {
        let mut s = session(10_000);
        assert_eq!(s.next_expected_ranges(), ["0-"]);
        s.chunks.insert(0, vec![1; 5000]);
        assert_eq!(s.next_expected_ranges(), ["5000"]);
        s.forget(1000, 2000);
        assert_eq!(s.next_expected_ranges(), ["1000-1999", "5000"]);
        assert_eq!(s.missing(), [(1000, 2000), (5000, 10_000)]);
        s.chunks.insert(1000, vec![2; 1000]);
        s.chunks.insert(5000, vec![3; 5000]);
        assert!(s.missing().is_empty());
        let all = s.assemble();
        assert_eq!(all.len(), 10_000);
        assert_eq!((all[999], all[1000], all[2000], all[9999]), (1, 2, 1, 3));
    }

    #[test]
    fn in_order_puts_make_one_buffer_handed_over_whole() {
        let mut s = session(10);
        s.receive(0, &[&b"abc"[..], &b"d"[..]]);
        s.receive(4, &[&b"efg"[..]]);
        assert_eq!(s.chunks.len(), 1);
        assert_eq!(s.next_expected_ranges(), ["7"]);
        let at = s.chunks[&0].as_ptr();
        s.receive(7, &[&b"hij"[..]]);
        assert!(s.missing().is_empty());
        let all = s.assemble();
        assert_eq!(all, b"abcdefghij");
        assert_eq!(all.as_ptr(), at, "no copy on the way");

        // Out of order after a forgotten stretch: still exact.
        let mut s = session(10);
        s.receive(0, &[&b"abcdefg"[..]]);
        s.forget(2, 4);
        assert_eq!(s.next_expected_ranges(), ["2-3", "7"]);
        s.receive(2, &[&b"CD"[..]]);
        s.receive(7, &[&b"hij"[..]]);
        assert!(s.missing().is_empty());
        assert_eq!(s.assemble(), b"abCDefghij");
        // A declared size too large to reserve grows as bytes come.
        let mut s = session(u64::MAX / 2);
        s.receive(0, &[&b"xy"[..]]);
        assert_eq!(s.chunks[&0], b"xy");
    }

    #[test]
    fn ids_need_encoding() {
        let mut st = State {
            ids: SplitMix64::new(3),
            request_ids: SplitMix64::new(4),
            plan: ActivePlan::new(Default::default(), 0),
            seed: 0,
            lists: BTreeMap::new(),
            sessions: HashMap::new(),
            sessions_created: 0,
            records: VecDeque::new(),
        };
        for _ in 0..50 {
            let id = st.new_id("AAMkAD", 40);
            assert!(id.ends_with('='));
            assert!(id.contains(['+', '/']), "{id}");
        }
    }
}
