//! The data each phase of an upload owns: a live session with what is known of it, a look-up
//! for a result whose answer was lost, and the guesses made while a session refuses status
//! queries. Small pure methods; `machine/` decides when to use them.

use std::sync::Arc;
use std::time::Duration;

use crate::options::FileInfo;
use crate::session::AttachmentJson;
use crate::time::ServerClock;

use crate::ranges::{ByteRange, ExpectedRanges};
use crate::target::{PutUrl, SessionAuth, Target};
use crate::time::{SentAt, Timestamp};
use crate::url::append_to_path;

/// 416/409 answers in a row tolerated while the session refuses status queries.
const MAX_REFUSALS: u32 = 8;
/// Pages of an attachments listing read while looking for a lost result.
pub const MAX_LOOKUP_PAGES: u32 = 20;
/// How much older than the request that may have created it a result may look, on the
/// server's clock: `lastModifiedDateTime` comes from another machine of the service than
/// `Date` does. The request's time is itself a lower bound (docs/protocol.md §10, §11).
pub const LOOKUP_TOLERANCE: Duration = Duration::from_secs(1);

/// An upload session the server created, and the facts known about it.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The session's URL: status queries and the DELETE go here (docs/protocol.md §6).
    pub(crate) upload_url: Arc<str>,
    /// Where PUTs go (docs/protocol.md §3, §8).
    pub(crate) put_url: Arc<str>,
    /// The token rides only on the target's rule and Graph's origin (docs/protocol.md §8, §9).
    pub(crate) needs_token: bool,
    pub(crate) expiry: Expiry,
    /// What the server last said it still misses.
    pub(crate) expected: ExpectedRanges,
    /// The fewest missing bytes the server has confirmed: fewer than this is progress.
    pub(crate) best_missing: u64,
    /// When the request that created the session was sent.
    pub(crate) since: SentAt,
    /// A PUT that may have completed the upload went without a known outcome then: the
    /// result may exist until a look-up says otherwise (docs/protocol.md §11).
    pub(crate) doubt: Option<SentAt>,
    /// The PUT in flight covers every missing byte (sent then): it may complete the upload.
    /// Its answer settles it: completion, a known refusal (cleared), or an unknown outcome
    /// (moved to `doubt`).
    pub(crate) risky: Option<SentAt>,
    /// The last chunk answer said nothing is missing, yet named no result.
    pub(crate) nothing_missing: bool,
    pub(crate) query: StatusQuery,
}

impl Session {
    pub(crate) fn new(
        target: &Target,
        upload_url: &str,
        expires: Option<Timestamp>,
        expected: ExpectedRanges,
        since: SentAt,
    ) -> Session {
        let put_url: Arc<str> = match target.profile().put_url {
            // To Do PUTs go to uploadUrl + "/content", before any query (docs/protocol.md §3).
            PutUrl::AppendContent => append_to_path(upload_url, "/content").into(),
            PutUrl::AsGiven => upload_url.into(),
        };
        Session {
            upload_url: upload_url.into(),
            put_url,
            needs_token: target.profile().session_auth == SessionAuth::Bearer
                && target.is_graph_origin(upload_url),
            expiry: Expiry::from(expires),
            best_missing: expected.missing_bytes(),
            expected,
            since,
            doubt: None,
            risky: None,
            nothing_missing: false,
            query: StatusQuery::Allowed,
        }
    }

    /// Takes the ranges in `scratch` as the server's word (docs/protocol.md §4); true when
    /// the server now misses fewer bytes than it ever confirmed: progress.
    pub(crate) fn follow(&mut self, scratch: &mut ExpectedRanges) -> bool {
        std::mem::swap(&mut self.expected, scratch);
        self.nothing_missing = false;
        if let StatusQuery::Refused(blind) = &mut self.query {
            blind.server_spoke();
        }
        let missing = self.expected.missing_bytes();
        let progress = missing < self.best_missing;
        self.best_missing = self.best_missing.min(missing);
        progress
    }

    /// Notes that the result may exist since `sent`.
    pub(crate) fn doubt_from(&mut self, sent: SentAt) {
        self.doubt = Some(self.doubt.map_or(sent, |d| d.earliest(sent)));
    }

    /// The answer to the PUT in flight came: with `unknown` it may have completed the upload.
    pub(crate) fn settle(&mut self, unknown: bool) {
        if let Some(sent) = self.risky.take() {
            if unknown {
                self.doubt_from(sent);
            }
        }
    }

    /// Since when the result may exist, counting a PUT in flight that may create it: what a
    /// state saved now must remember.
    pub(crate) fn may_exist_since(&self) -> Option<SentAt> {
        match (self.doubt, self.risky) {
            (Some(d), Some(r)) => Some(d.earliest(r)),
            (d, r) => d.or(r),
        }
    }

    /// Whether `range` covers every byte the server still misses, wherever the gap is: its
    /// PUT may complete the upload (docs/protocol.md §11).
    pub(crate) fn is_final(&self, range: ByteRange) -> bool {
        self.expected.len() == 1 && self.expected.first() == Some(range)
    }
}

/// What is known of a session's end (docs/protocol.md §6, §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The server's `expirationDateTime`, on its clock: a hint, checked by asking.
    At(Timestamp),
    /// The server named none.
    Unknown,
    /// The session answered after the hint said it had expired: only a 404 ends it now.
    ServerDecides,
}

impl From<Option<Timestamp>> for Expiry {
    fn from(t: Option<Timestamp>) -> Self {
        t.map_or(Expiry::Unknown, Expiry::At)
    }
}

impl Expiry {
    /// Whether the hint says the session has ended by `server_now`.
    pub(crate) fn passed(self, server_now: Timestamp) -> bool {
        matches!(self, Expiry::At(t) if t <= server_now)
    }

    /// A later answer's `expirationDateTime` (OneDrive extends it with each fragment).
    pub(crate) fn update(&mut self, t: Option<Timestamp>) {
        if let (Some(t), Expiry::At(_) | Expiry::Unknown) = (t, *self) {
            *self = Expiry::At(t);
        }
    }

    /// The session proved alive while the hint said it had ended.
    pub(crate) fn overruled(&mut self, server_now: Timestamp) {
        if self.passed(server_now) {
            *self = Expiry::ServerDecides;
        }
    }

    /// The instant to save, if any.
    pub(crate) fn hint(self) -> Option<Timestamp> {
        match self {
            Expiry::At(t) => Some(t),
            _ => None,
        }
    }
}

/// Whether the session answers status queries (docs/protocol.md §9: documented for OneDrive and
/// Print only).
#[derive(Clone, Debug)]
pub(crate) enum StatusQuery {
    Allowed,
    /// It refused one: PUT answers are the only word, and refusals are guessed around.
    Refused(Blind),
}

/// Guesses while no status query can be asked. After a 416/409 the server holds what it last
/// confirmed, or more: chunks whose answers were lost may have been kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct Blind {
    /// 416/409 answers in a row.
    refusals: u32,
    /// The ranges before the first guess, to go back to.
    confirmed: Option<ExpectedRanges>,
    /// Starts of chunks sent since the server's last word whose outcome is unknown.
    maybe_held: Vec<u64>,
    /// Start of the last chunk refused.
    last_refused: Option<u64>,
}

impl Blind {
    /// Entered when a status query is refused; the first expected chunk may already have been
    /// sent (the query was asked because its outcome was unknown, or after a restore).
    pub(crate) fn new(first: Option<u64>) -> Blind {
        Blind {
            maybe_held: first.into_iter().collect(),
            ..Blind::default()
        }
    }

    /// 416/409 answers in a row.
    pub(crate) fn refusals(&self) -> u32 {
        self.refusals
    }

    /// A chunk starting at `start` got no answer.
    pub(crate) fn sent_unknown(&mut self, start: u64) {
        if !self.maybe_held.contains(&start) {
            self.maybe_held.push(start);
        }
    }

    /// A 416/409 to the chunk `range`. A refused chunk sent before with an unknown outcome is
    /// taken as held and skipped; one refused twice in a row means the client ran ahead, so
    /// back to what the server confirmed. Never a skip of a chunk that covers every byte
    /// still expected: a server holding it would have completed (201) or be gone (404), and
    /// skipping it would leave nothing to send. False when the session keeps refusing and
    /// should be abandoned.
    pub(crate) fn refused(&mut self, range: ByteRange, expected: &mut ExpectedRanges) -> bool {
        self.refusals += 1;
        if self.refusals > MAX_REFUSALS {
            return false;
        }
        let covers_the_rest = expected.len() == 1 && expected.first() == Some(range);
        if !covers_the_rest && self.maybe_held.contains(&range.start()) {
            self.confirmed.get_or_insert_with(|| expected.clone());
            expected.consume_front(range);
            self.maybe_held.retain(|&s| s != range.start());
        } else if self.last_refused == Some(range.start()) {
            if let Some(confirmed) = self.confirmed.take() {
                *expected = confirmed;
            }
            self.maybe_held.clear();
        }
        self.last_refused = Some(range.start());
        true
    }

    /// The server gave its ranges: guesses are over.
    fn server_spoke(&mut self) {
        self.refusals = 0;
        self.confirmed = None;
        self.maybe_held.clear();
        self.last_refused = None;
    }
}

/// A look-up for a result whose answer was lost (docs/protocol.md §8, §11).
#[derive(Clone, Debug)]
pub(crate) struct Lookup {
    /// The listing page to read next.
    pub(crate) url: Arc<str>,
    /// Pages read so far.
    pub(crate) pages: u32,
    /// When the first request that may have created the result was sent: anything older is
    /// not this upload's.
    pub(crate) since: SentAt,
    pub(crate) then: AfterLookup,
}

/// What one page of the listing says of the result.
#[derive(Debug)]
pub(crate) enum Verdict {
    Found(AttachmentJson),
    NextPage(Lookup),
    /// No result, and nothing more to read.
    Nothing(Lookup),
    /// The listing cannot tell, and why.
    Inconclusive(Lookup, &'static str),
}

impl Lookup {
    /// Reads one page: ours is the newest attachment of the file's name and size made after
    /// the request that may have created it, on the server's clock (docs/protocol.md §10,
    /// §11). A candidate without a date cannot be told from an older one; a next page is read
    /// only on Graph's origin (`on_graph`: the token goes with it) and up to
    /// [`MAX_LOOKUP_PAGES`].
    pub(crate) fn judge(
        mut self,
        items: &[AttachmentJson],
        next: Option<String>,
        file: &FileInfo,
        clock: &ServerClock,
        by_item: bool,
        on_graph: impl Fn(&str) -> bool,
    ) -> Verdict {
        let cutoff = self.since.on_server(clock);
        let mut undated = false;
        for a in items.iter().rev() {
            // An item read by its own URL is the one the URL names, whatever the local
            // file is called; a listing is matched by name.
            let named = by_item || a.name.as_deref() == Some(file.name());
            if !named || a.size != Some(file.size()) {
                continue;
            }
            // Other bytes under the same name and size are not this upload's (§8).
            if let (Some(ours), Some(theirs)) = (file.quick_xor_hash(), &a.facts.quick_xor_hash) {
                if ours != theirs {
                    continue;
                }
            }
            match a.modified {
                Some(m) if m.saturating_add(LOOKUP_TOLERANCE) >= cutoff => {
                    return Verdict::Found(a.clone())
                }
                Some(_) => {}
                None => undated = true,
            }
        }
        match next {
            _ if undated => Verdict::Inconclusive(
                self,
                "a listed attachment of the same name and size has no date",
            ),
            Some(_) if self.pages >= MAX_LOOKUP_PAGES => {
                Verdict::Inconclusive(self, "the listing has more pages than are read")
            }
            Some(next) if on_graph(&next) => {
                self.url = next.into();
                self.pages += 1;
                Verdict::NextPage(self)
            }
            Some(_) => Verdict::Inconclusive(self, "the listing's next page is off Graph's origin"),
            None => Verdict::Nothing(self),
        }
    }
}

/// What a failed upload leaves for a restore to go on from.
#[derive(Clone, Debug)]
pub(crate) enum Resume {
    /// Nothing: start again.
    Afresh,
    /// Nothing, ever: the outcome is final though not a success (an item was made with
    /// other bytes than the file's); a restore fails the same way rather than send again.
    Never,
    /// The session, still open on the server.
    Session(Box<Session>),
    /// A look-up for a result that may exist.
    Lookup(Lookup),
}

/// What follows a look-up that finds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterLookup {
    /// The session is gone: a new one.
    NewSession,
    /// The single POST did not land: send it again.
    Repost,
    /// The caller cancelled: end so, unless the result is found.
    Cancel,
    /// The server said it completed but named no result.
    Fail,
}

/// What follows the DELETE of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterDelete {
    /// The caller cancelled.
    Cancelled,
    /// A session that kept refusing chunks was abandoned: a new one.
    NewSession,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::ItemFacts;

    fn r(s: u64, e: u64) -> ByteRange {
        ByteRange::new(s, e).unwrap()
    }

    #[test]
    fn a_final_request_covers_every_missing_byte_wherever_the_gap_is() {
        let target = Target::todo_task("https://g/v1.0", crate::Owner::Me, "l", "t").unwrap();
        let sent = SentAt {
            client: Timestamp::from_unix_millis(1),
            server: None,
        };
        let mut s = Session::new(
            &target,
            "https://g/s",
            None,
            ExpectedRanges::from_ranges([r(100, 200)]),
            sent,
        );
        assert!(s.is_final(r(100, 200)), "a gap in the middle");
        assert!(!s.is_final(r(100, 150)));
        s.expected = ExpectedRanges::from_ranges([r(0, 10), r(20, 30)]);
        assert!(!s.is_final(r(0, 10)), "another gap remains");
        let mut scratch = ExpectedRanges::from_ranges([r(20, 30)]);
        assert!(s.follow(&mut scratch), "fewer missing bytes: progress");
        let mut scratch = ExpectedRanges::from_ranges([r(0, 10), r(20, 30)]);
        assert!(!s.follow(&mut scratch), "ranges coming back: no progress");
        let mut scratch = ExpectedRanges::from_ranges([r(20, 30)]);
        assert!(
            !s.follow(&mut scratch),
            "back to the best: still no progress"
        );
    }

    #[test]
    fn expiry_is_a_hint_the_server_can_overrule() {
        let t = Timestamp::from_unix_millis(1_000);
        let mut e = Expiry::from(Some(t));
        assert!(!e.passed(Timestamp::from_unix_millis(999)));
        assert!(e.passed(t));
        e.overruled(Timestamp::from_unix_millis(5_000));
        assert_eq!(e, Expiry::ServerDecides);
        e.update(Some(t));
        assert!(!e.passed(Timestamp::from_unix_millis(u64::MAX)));
    }

    #[test]
    fn blind_skips_a_chunk_held_and_goes_back_when_refused_twice() {
        let mut expected = ExpectedRanges::from_ranges([r(0, 300)]);
        let mut b = Blind::new(Some(0));
        assert!(b.refused(r(0, 100), &mut expected));
        assert_eq!(
            expected.first(),
            Some(r(100, 300)),
            "skipped the held chunk"
        );
        assert!(b.refused(r(100, 200), &mut expected));
        assert!(b.refused(r(100, 200), &mut expected));
        assert_eq!(
            expected.first(),
            Some(r(0, 300)),
            "back to the confirmed ranges"
        );
        for _ in 0..5 {
            assert!(b.refused(r(0, 100), &mut expected));
        }
        assert!(!b.refused(r(0, 100), &mut expected), "gives up");
    }

    #[test]
    fn a_listing_is_judged_on_the_servers_clock_and_may_be_inconclusive() {
        let file = FileInfo::new("a.bin", 10);
        let mut clock = ServerClock::default();
        // The server runs 60 s behind the client.
        clock.measure(
            Timestamp::from_unix_millis(40_000),
            Timestamp::from_unix_millis(100_000),
            Timestamp::from_unix_millis(100_000),
        );
        let lookup = || Lookup {
            url: "https://g/l".into(),
            pages: 1,
            since: SentAt {
                client: Timestamp::from_unix_millis(100_000),
                server: None,
            },
            then: AfterLookup::NewSession,
        };
        let item = |id: &str, modified: Option<u64>| AttachmentJson {
            id: id.to_owned(),
            name: Some("a.bin".to_owned()),
            size: Some(10),
            modified: modified.map(Timestamp::from_unix_millis),
            facts: ItemFacts::default(),
        };
        let graph = |u: &str| u.starts_with("https://g/");
        let old = item("OLD", Some(30_000));
        let ours = item("OURS", Some(40_500));
        let v = lookup().judge(&[old.clone(), ours], None, &file, &clock, false, graph);
        assert!(
            matches!(v, Verdict::Found(ref a) if a.id == "OURS"),
            "{v:?}"
        );
        let v = lookup().judge(
            std::slice::from_ref(&old),
            None,
            &file,
            &clock,
            false,
            graph,
        );
        assert!(matches!(v, Verdict::Nothing(_)), "{v:?}");
        let v = lookup().judge(&[item("X", None)], None, &file, &clock, false, graph);
        assert!(matches!(v, Verdict::Inconclusive(..)), "{v:?}");
        let next = Some("https://evil/l?page=2".to_owned());
        let v = lookup().judge(&[], next, &file, &clock, false, graph);
        assert!(matches!(v, Verdict::Inconclusive(..)), "{v:?}");
        let mut last = lookup();
        last.pages = MAX_LOOKUP_PAGES;
        let v = last.judge(
            &[],
            Some("https://g/l?page=21".to_owned()),
            &file,
            &clock,
            false,
            graph,
        );
        assert!(matches!(v, Verdict::Inconclusive(..)), "{v:?}");

        // A drive item of the same name, size and time but other bytes is not ours.
        let hashed = file.clone().with_quick_xor_hash("MINE");
        let mut theirs = item("THEIRS", Some(40_500));
        theirs.facts.quick_xor_hash = Some("OTHER".to_owned());
        let v = lookup().judge(
            std::slice::from_ref(&theirs),
            None,
            &hashed,
            &clock,
            false,
            graph,
        );
        assert!(matches!(v, Verdict::Nothing(_)), "{v:?}");
        theirs.facts.quick_xor_hash = Some("MINE".to_owned());
        let v = lookup().judge(&[theirs], None, &hashed, &clock, false, graph);
        assert!(
            matches!(v, Verdict::Found(ref a) if a.id == "THEIRS"),
            "{v:?}"
        );
    }
}
