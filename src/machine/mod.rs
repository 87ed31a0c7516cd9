//! The state machine: the one place that decides what happens next. It holds the upload's
//! phase, takes one input at a time (a poll, an answer, a transport error, a cancel, a token
//! refresh) and says what to send. Answers are read by `answer.rs`; phase data lives in
//! `phase.rs`; saved state is mapped by `state.rs`. Beside this file: `failure.rs` (failure
//! streaks, waits, stalls), `restore.rs` (what a restored upload does) and `inspect.rs` (what a
//! caller can read).
//!
//! Every move, as (phase, what came) -> (next phase): the table is the code's contract.
//!
//! | phase | what came | next |
//! |---|---|---|
//! | any live | 401 to a request with the token | same, after `RefreshToken`; a 401 after a refresh, with no other answer between: Failed |
//! | any live | transient status or no answer | same (but see below), after a wait that never shrinks within the streak; the policy's tries or time spent: Failed |
//! | Creating | Created | Uploading: the streak ends |
//! | Posting (the single POST, or a drive item's single PUT) | Completed | Done |
//! | Posting | 429, 401, 4xx or could not connect | Posting (or Failed): this POST created nothing |
//! | Posting | other transient or no answer | Finding (then Posting) when the target lists, else Posting |
//! | Uploading | Ranges | Uploading: fewer missing bytes than ever ends the streak; otherwise a stall |
//! | Uploading | NoRanges | Querying, the result may exist since the session began; a stall |
//! | Uploading | Completed | Done |
//! | Uploading, Committing, Posting | CompletedUnnamed | Finding (then Failed) |
//! | Uploading | Disagreement | Querying, a stall; without status queries, a guess (Blind), and at the 9th in a row Cancelling (abandon) |
//! | Uploading | Gone, or 401 without the token | Finding (then Creating) when the target lists, else Creating; under a cancel, Finding only if the result may exist, else Cancelled |
//! | Uploading | transient with an unknown outcome | Querying; without status queries, Uploading |
//! | Uploading | (poll) expiry hint passed | Querying: the session is tried before it is given up |
//! | Uploading | (poll) nothing left to send (a refused guess) | Querying |
//! | Querying | Ranges | Uploading; a hint it outlived is dropped for good |
//! | Querying | NoRanges | Finding (then Creating) |
//! | Uploading, Querying | NoRanges, the target defers its commit | Committing |
//! | Committing | Completed | Done |
//! | Committing | NoRanges | Querying, a stall |
//! | Committing | Ranges | Uploading |
//! | Committing | Gone | as Uploading |
//! | Committing | transient with an unknown outcome | Querying |
//! | Querying | Gone | as Uploading |
//! | Querying | QueryRefused | Uploading, Blind, expiry decided by the server alone; Finding after a chunk answer said nothing is missing |
//! | Finding | Listing with the result | Done, found by look-up |
//! | Finding | Listing, more pages on Graph's origin | Finding, up to 20 pages |
//! | Finding | Listing that cannot tell (undated candidate, too many pages, foreign next page; a drive item renamed on conflict whose path holds an older item) | Failed, the look-up kept for a restore |
//! | Finding | Listing, no result | Creating, Posting, Failed or Cancelled, as the look-up said |
//! | Cancelling | Deleted | Cancelled |
//! | Cancelling | Gone; for an abandoned session's DELETE also Deleted, refused or broken | as Uploading, Gone |
//! | Uploading | NameConflict (a drive item's 409) | Failed: nothing was overwritten |
//! | live | refused or broken answer | Failed, keeping the session or look-up for a restore |
//! | live | cancel | once no request is in flight: Cancelling with a session; Finding (then Cancelled, or Failed when the server said it completed) when the result may exist; else Cancelled |
//! | Failed with a session | (a cancel asked before the failure) | Cancelling, unless the DELETE itself failed |
//!
//! "Creating" after a lost session counts against `max_restarts` (past it: Failed); a streak
//! counts against the retry policy; chunk answers that add no bytes count against
//! [`MAX_STALLS`] and, after the first, back off. A request that may complete the upload
//! (the single POST, a PUT covering every missing byte) is recorded before it leaves; only an
//! answer that says what became of it clears that record (docs/protocol.md §11).

mod failure;
mod inspect;
mod restore;

use std::sync::Arc;
use std::time::Duration;

use crate::answer::{classify, no_result, Answer};
use crate::error::{CallerError, ConfigError, Error, Failure, ProtocolError};
use crate::options::{FileInfo, Options};
use crate::phase::{
    AfterDelete, AfterLookup, Blind, Expiry, Lookup, Resume, Session, StatusQuery, Verdict,
};
use crate::ranges::{next_chunk, ByteRange, ExpectedRanges};
use crate::request::{Action, Body, Completion, Purpose, Request, RequestId, WaitReason};
use crate::response::{Response, TransportError};
use crate::retry::{Rng, Streak};
use crate::session::{AttachmentJson, ItemFacts};
use crate::target::{CreateBody, Target};
use crate::time::{parse_http_date, SentAt, ServerClock, Timestamp};

/// Chunk answers in a row that add no bytes before the upload gives up: a server that takes
/// bytes and never counts them would otherwise be fed for ever.
pub const MAX_STALLS: u32 = 8;

/// Where the upload is. Data lives in the phase that needs it.
#[derive(Clone, Debug)]
pub(crate) enum Phase {
    Creating,
    /// The single POST; `Some` once sent: it may have created the result.
    Posting(Option<SentAt>),
    Uploading(Session),
    Querying(Session),
    /// Every byte is in; the `deferCommit` POST makes the item (docs/protocol.md §8).
    Committing(Session),
    Finding(Lookup),
    Cancelling(Session, AfterDelete),
    Done(Completion),
    /// Failure is final for this machine; a saved state keeps what a new one resumes from.
    Failed(Error, Resume),
    Cancelled,
}

/// Nothing may be sent before the end of a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    Until(Timestamp, WaitReason),
    /// A wait restored from saved state: this long from the first poll.
    For(Duration, WaitReason),
}

/// The token's story: a 401 asks for a refresh, and a 401 right after one is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Valid,
    RefreshAsked,
    Refreshed,
}

/// Retry budget and counters: one streak for the unit of progress, stalls, sessions, requests.
#[derive(Clone, Debug)]
struct Budget {
    streak: Option<Streak>,
    stalls: u32,
    sessions: u32,
    restarts: u32,
    requests: u64,
    rng: Rng,
}

/// One upload, as a sans-IO state machine. See the crate docs for the driving loop.
///
/// Inputs: [`Upload::poll`], [`Upload::handle_response`], [`Upload::handle_transport_error`],
/// [`Upload::token_refreshed`], [`Upload::cancel`]; each takes the current time. Output: the
/// [`Action`] that `poll` returns. The machine holds no token and never touches the file.
pub struct Upload {
    target: Target,
    file: FileInfo,
    options: Options,
    phase: Phase,
    in_flight: Option<Request>,
    wait: Option<Wait>,
    token: Token,
    cancel_asked: bool,
    clock: ServerClock,
    budget: Budget,
    now: Timestamp,
    next_id: u64,
    scratch: ExpectedRanges,
}

impl Upload {
    /// A new upload of `file` to `target`. Nothing is sent until the first [`Upload::poll`].
    pub fn new(target: Target, file: FileInfo, options: Options) -> Result<Upload, ConfigError> {
        // A deferred commit is a session's: it asks for one (docs/protocol.md §8).
        // (A 0-byte file has no bytes to defer: one request.)
        let single_post =
            options.check(target.profile(), &file)? && (!target.defers_commit() || file.size == 0);
        Ok(Upload {
            phase: if single_post {
                Phase::Posting(None)
            } else {
                Phase::Creating
            },
            in_flight: None,
            wait: None,
            token: Token::Valid,
            cancel_asked: false,
            clock: ServerClock::default(),
            budget: Budget {
                streak: None,
                stalls: 0,
                sessions: 0,
                restarts: 0,
                requests: 0,
                rng: Rng::new(options.retry.seed),
            },
            now: Timestamp::default(),
            next_id: 1,
            scratch: ExpectedRanges::default(),
            target,
            file,
            options,
        })
    }

    /// The next thing to do, seen at `now`. Call it after every input; calling it again
    /// without new input returns the same action (a repeated or early wake-up does nothing).
    /// A `now` older than one already seen counts as the one already seen.
    pub fn poll(&mut self, now: Timestamp) -> Action {
        self.now = self.now.max(now);
        loop {
            match &self.phase {
                Phase::Done(c) => return Action::Done(c.clone()),
                Phase::Failed(e, _) => return Action::Failed(e.clone()),
                Phase::Cancelled => return Action::Cancelled,
                _ => {}
            }
            if let Some(req) = &self.in_flight {
                return Action::Send(req.clone());
            }
            if self.token == Token::RefreshAsked {
                return Action::RefreshToken;
            }
            if let Some(Wait::For(d, reason)) = self.wait {
                // Restored: counted from the first time seen, so that a clock corrected while
                // the process was down cannot shorten it.
                self.wait = Some(Wait::Until(self.now.saturating_add(d), reason));
            }
            if let Some(Wait::Until(until, reason)) = self.wait {
                if self.now < until {
                    return Action::Wait { until, reason };
                }
                self.wait = None;
            }
            if let Some(req) = self.emit() {
                return Action::Send(req);
            }
        }
    }

    /// Builds the phase's request and marks it in flight; `None` when the phase moved instead.
    fn emit(&mut self) -> Option<Request> {
        let server_now = self.clock.server_time_or_local(self.now);
        let sent = SentAt::new(self.now, &self.clock);
        // Whether it may create the result: then recorded now, before it leaves (§11).
        let mut write_ahead = false;
        let (purpose, url, needs_token, body) = match &mut self.phase {
            Phase::Creating => {
                let f = &self.file;
                let body = self.target.create_body(&f.name, f.size, &f.content_type);
                let url = Arc::from(self.target.create_url());
                (Purpose::CreateSession, url, true, Body::Json(body))
            }
            Phase::Posting(doubt) => {
                *doubt = Some(doubt.map_or(sent, |d| d.earliest(sent)));
                write_ahead = true;
                let f = &self.file;
                let range = ByteRange::new(0, f.size);
                // A drive item: the raw bytes to its `/content` (docs/protocol.md §8).
                if self.target.profile().single_put {
                    let url = Arc::from(self.target.single_put_url());
                    let body = range.map_or(Body::Empty, Body::FileRange);
                    (Purpose::SinglePut, url, true, body)
                } else {
                    let (prefix, suffix) = self.target.single_post_body(&f.name, &f.content_type);
                    // Target::new guarantees a collection URL to a profile with a single POST.
                    let url = Arc::from(self.target.collection_url().unwrap_or_default());
                    let body = Body::JsonWithBase64File {
                        prefix,
                        range,
                        suffix,
                    };
                    (Purpose::SinglePost, url, true, body)
                }
            }
            Phase::Uploading(s) => {
                let p = self.target.profile();
                let chunk = self.options.chunk_size.unwrap_or(p.default_chunk);
                let next = next_chunk(&s.expected, chunk, p.chunk_align);
                // Past expirationDateTime by the server's clock the session is likely gone
                // (docs/protocol.md §6, §10): ask rather than give it up on a hint. With
                // nothing left to send and no completion seen, ask too (§8).
                let Some(range) = next.filter(|_| !s.expiry.passed(server_now)) else {
                    self.phase = into_querying(&mut self.phase);
                    return None;
                };
                // Under a deferred commit no PUT makes the item: only the commit may.
                if s.is_final(range) && !self.target.defers_commit() {
                    s.risky = Some(sent);
                    write_ahead = true;
                }
                let body = Body::FileRange(range);
                (Purpose::UploadChunk, s.put_url.clone(), s.needs_token, body)
            }
            Phase::Querying(s) => {
                let url = s.upload_url.clone();
                (Purpose::QueryStatus, url, s.needs_token, Body::Empty)
            }
            Phase::Committing(s) => {
                s.risky = Some(sent);
                write_ahead = true;
                let url = s.upload_url.clone();
                (Purpose::Commit, url, s.needs_token, Body::Empty)
            }
            Phase::Cancelling(s, _) => (
                Purpose::Cancel,
                s.upload_url.clone(),
                s.needs_token,
                Body::Empty,
            ),
            // The listing is a Graph URL: the token goes only if it is on Graph's origin.
            Phase::Finding(l) => {
                let token = self.target.is_graph_origin(&l.url);
                (Purpose::FindResult, l.url.clone(), token, Body::Empty)
            }
            Phase::Done(_) | Phase::Failed(..) | Phase::Cancelled => return None,
        };
        let req = Request {
            id: RequestId(self.next_id),
            purpose,
            method: purpose.method(),
            url,
            needs_token,
            body,
            total: self.file.size,
            emitted: self.now,
            write_ahead,
        };
        self.next_id += 1;
        // Saturating: a restored state may carry any count (DESIGN.md §4.6).
        self.budget.requests = self.budget.requests.saturating_add(1);
        self.in_flight = Some(req.clone());
        Some(req)
    }

    /// Feeds the answer to request `id`, received at `now`. An answer for anything but the
    /// request in flight is refused and changes nothing.
    pub fn handle_response(
        &mut self,
        now: Timestamp,
        id: RequestId,
        response: Response<'_>,
    ) -> Result<(), CallerError> {
        let req = self.take_in_flight(id)?;
        self.now = self.now.max(now);
        // Each answer's Date tells the server's clock (docs/protocol.md §10).
        if let Some(date) = response.date().and_then(|d| parse_http_date(d).ok()) {
            let moved = self.clock.measure(date, req.emitted, self.now);
            self.pin_sends(moved);
        }
        let server_now = self.clock.server_time_or_local(self.now);
        let answer = classify(
            req.purpose,
            &response,
            self.target.profile(),
            self.file.size,
            server_now,
            &mut self.scratch,
        );
        if answer_is_not_401(&answer) && self.token == Token::Refreshed {
            self.token = Token::Valid;
        }
        // Only answers that say what became of the bytes settle a request that may have
        // completed the upload: a 5xx or an unreadable answer may hide a completion.
        let known = match &answer {
            Answer::Transient { status, .. } => *status == 429,
            Answer::Refused(e) => (400..500).contains(&e.status),
            Answer::NameConflict(_) => true,
            Answer::Broken(_) => false,
            _ => true,
        };
        self.settle_risk(!known);
        self.on_answer(&req, answer);
        self.apply_cancel(Some(req.purpose));
        Ok(())
    }

    /// Reports that request `id` got no answer. The machine retries, asking the server first
    /// where it stands when the request may have had an effect (docs/protocol.md §9).
    pub fn handle_transport_error(
        &mut self,
        now: Timestamp,
        id: RequestId,
        error: TransportError,
    ) -> Result<(), CallerError> {
        let req = self.take_in_flight(id)?;
        self.now = self.now.max(now);
        self.settle_risk(error.outcome_unknown());
        self.failed(&req, Failure::Transport(error), None);
        self.apply_cancel(Some(req.purpose));
        Ok(())
    }

    /// Says the driver has a fresh token after [`Action::RefreshToken`]; the refused request
    /// is built again. Refused, changing nothing, when no refresh was asked for.
    pub fn token_refreshed(&mut self, now: Timestamp) -> Result<(), CallerError> {
        if self.token != Token::RefreshAsked || self.is_over() {
            return Err(CallerError::NoRefreshAsked);
        }
        self.now = self.now.max(now);
        self.token = Token::Refreshed;
        Ok(())
    }

    /// Asks to cancel. A session that exists is deleted (docs/protocol.md §6) once the request
    /// in flight, if any, has been answered; without a session the upload ends as cancelled.
    /// Does nothing once the upload has ended; an upload that completes before the cancel
    /// takes effect stays completed.
    pub fn cancel(&mut self, now: Timestamp) {
        if self.is_over() {
            return;
        }
        self.now = self.now.max(now);
        self.cancel_asked = true;
        self.apply_cancel(None);
    }

    /// The first server time learned pins the sends that had none, so that a clock corrected
    /// later (and a restore) cannot move them. When an answer showed the client clock moved
    /// forward (`moved`), the times pinned with the old offset were too late: pinned again,
    /// at worst early by the step, which only widens the look-up (docs/protocol.md §10).
    fn pin_sends(&mut self, moved: bool) {
        let clock = self.clock;
        let pin = |s: &mut SentAt| {
            if s.server.is_none() || moved {
                s.server = clock.server_time(s.client);
            }
        };
        match &mut self.phase {
            Phase::Posting(Some(sent)) => pin(sent),
            Phase::Finding(l) => pin(&mut l.since),
            Phase::Uploading(s) | Phase::Querying(s) | Phase::Committing(s) => {
                for sent in [Some(&mut s.since), s.doubt.as_mut(), s.risky.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    pin(sent);
                }
            }
            _ => {}
        }
    }

    /// The request in flight that could create the result (a final PUT, the single POST) has
    /// its answer, or none: a known outcome clears the record, an unknown one keeps it.
    fn settle_risk(&mut self, unknown: bool) {
        match &mut self.phase {
            Phase::Uploading(s) | Phase::Committing(s) => s.settle(unknown),
            Phase::Posting(doubt) if !unknown => *doubt = None,
            _ => {}
        }
    }

    fn on_answer(&mut self, req: &Request, answer: Answer) {
        let phase = std::mem::replace(&mut self.phase, Phase::Cancelled);
        self.phase = match (phase, answer) {
            (phase, Answer::Unauthorized) => return self.unauthorized(req, phase),
            (
                phase,
                Answer::Transient {
                    status,
                    retry_after,
                },
            ) => {
                self.phase = phase;
                return self.failed(req, Failure::Status(status), retry_after);
            }
            // Whatever came of the DELETE of an abandoned session, it is over: look, then anew.
            (
                Phase::Cancelling(s, AfterDelete::NewSession),
                Answer::Refused(_) | Answer::Broken(_),
            ) => self.session_gone(s),
            (phase, Answer::Refused(e)) => self.fail_in(phase, Error::Status(e)),
            (phase, Answer::NameConflict(e)) => self.fail_in(phase, Error::NameConflict(e)),
            (phase, Answer::Broken(error)) => {
                let e = Error::Protocol {
                    purpose: req.purpose,
                    error,
                };
                self.fail_in(phase, e)
            }
            (
                Phase::Creating,
                Answer::Created {
                    upload_url,
                    expires,
                    ranges,
                },
            ) => {
                let expected = if ranges {
                    std::mem::take(&mut self.scratch)
                } else {
                    ExpectedRanges::whole(self.file.size)
                };
                let since = SentAt::new(self.now, &self.clock);
                self.budget.sessions = self.budget.sessions.saturating_add(1);
                self.advanced();
                Phase::Uploading(Session::new(
                    &self.target,
                    &upload_url,
                    expires,
                    expected,
                    since,
                ))
            }
            (
                _,
                Answer::Completed {
                    id,
                    location,
                    facts,
                },
            ) => self.done(req.purpose, id, location, facts, false),
            (Phase::Uploading(mut s), Answer::Ranges { expires }) => {
                s.expiry.update(expires);
                // The doubt stays for the session's life: a final PUT whose answer was lost
                // may commit after a later answer; only a look-up settles it (§11).
                if s.follow(&mut self.scratch) {
                    self.advanced();
                } else if let Some(failed) = self.stall(&s) {
                    return self.phase = failed;
                }
                Phase::Uploading(s)
            }
            (Phase::Querying(mut s), Answer::Ranges { expires }) => {
                // Alive past the hint: from now on only a 404 ends it (the server's later
                // expirationDateTime cannot re-arm a hint it just disproved).
                s.expiry
                    .overruled(self.clock.server_time_or_local(self.now));
                s.expiry.update(expires);
                // A status answer does not clear the doubt: a final PUT whose answer was lost
                // may still be committing (docs/protocol.md §9).
                if s.follow(&mut self.scratch) {
                    self.advanced();
                }
                Phase::Uploading(s)
            }
            // Every byte in: the item waits for its commit (docs/protocol.md §8). Straight on
            // after the PUT that sent the last bytes; after any other, ask first (§8: an empty
            // list after a server error says nothing).
            (Phase::Uploading(mut s), Answer::NoRanges) if self.target.defers_commit() => {
                if req.file_range().is_some_and(|r| s.is_final(r)) {
                    self.advanced();
                    Phase::Committing(s)
                } else {
                    s.nothing_missing = true;
                    match self.stall(&s) {
                        Some(failed) => failed,
                        None => Phase::Querying(s),
                    }
                }
            }
            // The failure streak goes on: a commit that keeps failing ends (§11).
            (Phase::Querying(s), Answer::NoRanges) if self.target.defers_commit() => {
                Phase::Committing(s)
            }
            // A commit answered with nothing missing and no item: a stall, then ask.
            (Phase::Committing(s), Answer::NoRanges) => match self.stall(&s) {
                Some(failed) => failed,
                None => Phase::Querying(s),
            },
            // The server lost bytes before the commit: send them again.
            (Phase::Committing(mut s), Answer::Ranges { expires }) => {
                s.expiry.update(expires);
                if !s.follow(&mut self.scratch) {
                    if let Some(failed) = self.stall(&s) {
                        return self.phase = failed;
                    }
                }
                Phase::Uploading(s)
            }
            (Phase::Uploading(mut s), Answer::NoRanges) => {
                // Nothing missing: any PUT of the session may have completed it.
                s.doubt = Some(s.since);
                s.nothing_missing = true;
                if let Some(failed) = self.stall(&s) {
                    return self.phase = failed;
                }
                Phase::Querying(s)
            }
            // The session holds every byte yet never completed: look for the result.
            (Phase::Querying(s), Answer::NoRanges) => {
                let since = s.doubt.unwrap_or(s.since);
                self.lookup(since, AfterLookup::NewSession)
            }
            (Phase::Uploading(s) | Phase::Committing(s), Answer::CompletedUnnamed) => {
                let since = s.doubt.unwrap_or(s.since);
                self.lookup(since, AfterLookup::Fail)
            }
            // Made, but unnamed: never sent again (a second copy), looked for instead.
            (Phase::Posting(_), Answer::CompletedUnnamed) => {
                let since = SentAt::new(req.emitted, &self.clock);
                self.lookup(since, AfterLookup::Fail)
            }
            (Phase::Uploading(mut s), Answer::Disagreement) => {
                let range = req.file_range();
                match (&mut s.query, range) {
                    (StatusQuery::Allowed, _) | (_, None) => match self.stall(&s) {
                        Some(failed) => failed,
                        None => Phase::Querying(s),
                    },
                    (StatusQuery::Refused(blind), Some(r)) => {
                        if blind.refused(r, &mut s.expected) {
                            if let Some(n) = blind.refusals().checked_sub(1).filter(|n| *n > 0) {
                                let d = self.options.retry.backoff(n, &mut self.budget.rng);
                                self.wait = Some(Wait::Until(
                                    self.now.saturating_add(d),
                                    WaitReason::Backoff,
                                ));
                            }
                            Phase::Uploading(s)
                        } else {
                            // Abandon it (DELETE), then start anew.
                            Phase::Cancelling(s, AfterDelete::NewSession)
                        }
                    }
                }
            }
            // Nothing left to send and no way to ask: look for the result (§11).
            // The server said nothing is missing and cannot be asked: look for the result.
            (Phase::Querying(s), Answer::QueryRefused) if s.nothing_missing => {
                let since = s.doubt.unwrap_or(s.since);
                self.lookup(since, AfterLookup::NewSession)
            }
            (Phase::Querying(mut s), Answer::QueryRefused) => {
                if let StatusQuery::Allowed = s.query {
                    let first = s.expected.first().map(|r| r.start());
                    s.query = StatusQuery::Refused(Blind::new(first));
                }
                // No way to ask: only PUTs test the session, so only a 404 ends it
                // (docs/protocol.md §9, §10).
                s.expiry = Expiry::ServerDecides;
                Phase::Uploading(s)
            }
            (Phase::Uploading(s) | Phase::Querying(s) | Phase::Committing(s), Answer::Gone) => {
                self.session_gone(s)
            }
            (Phase::Cancelling(_, AfterDelete::Cancelled), Answer::Deleted) => Phase::Cancelled,
            // Gone before the DELETE (perhaps completed), or an abandoned session deleted.
            (Phase::Cancelling(s, _), Answer::Deleted | Answer::Gone) => self.session_gone(s),
            (Phase::Finding(l), Answer::Listing { items, next }) => {
                self.on_listing(l, &items, next)
            }
            // No other pair can happen: each phase sends one kind of request. Keep the phase.
            (phase, _) => phase,
        };
    }

    /// 401 (docs/protocol.md §9): with a token, ask the driver for a fresh one once; without
    /// one, the pre-authenticated URL is dead and the session with it.
    fn unauthorized(&mut self, req: &Request, phase: Phase) {
        if !req.needs_token {
            self.phase = match phase {
                Phase::Uploading(s) | Phase::Querying(s) | Phase::Committing(s) => {
                    self.session_gone(s)
                }
                Phase::Cancelling(s, _) => self.session_gone(s),
                other => other,
            };
            return;
        }
        if self.token == Token::Refreshed {
            self.phase = self.fail_in(phase, Error::Unauthorized);
            return;
        }
        self.phase = phase;
        self.token = Token::RefreshAsked;
    }

    /// The session expired, vanished or completed. Look for the result before starting over,
    /// so the file is not attached twice (docs/protocol.md §8, §11): since the first request
    /// that may have completed it, or, without one, since the session began (a server that
    /// listed as missing ranges it held could complete on any PUT; one listing settles it).
    /// Under a cancel, only a result that may exist is looked for: found, the upload stays
    /// completed.
    fn session_gone(&mut self, s: Session) -> Phase {
        if !self.target.profile().can_list_attachments {
            return self.restart();
        }
        match (self.cancel_asked, s.doubt) {
            (true, Some(since)) => self.lookup(since, AfterLookup::Cancel),
            (true, None) => Phase::Cancelled,
            // Deferred: no commit sent (or none whose answer was lost), so no item.
            (false, None) if self.target.defers_commit() => self.restart(),
            (false, doubt) => self.lookup(doubt.unwrap_or(s.since), AfterLookup::NewSession),
        }
    }

    /// A new session from byte 0, within the restart budget (docs/protocol.md §6).
    fn restart(&mut self) -> Phase {
        if self.cancel_asked {
            return Phase::Cancelled;
        }
        if self.budget.restarts >= self.options.max_restarts {
            let sessions = self.budget.sessions;
            return Phase::Failed(Error::SessionExpired { sessions }, Resume::Afresh);
        }
        self.budget.restarts += 1;
        self.budget.stalls = 0;
        Phase::Creating
    }

    fn lookup(&mut self, since: SentAt, then: AfterLookup) -> Phase {
        match self.target.lookup_url() {
            Some(url) => Phase::Finding(Lookup {
                url: Arc::from(url),
                pages: 1,
                since,
                then,
            }),
            None => self.found_nothing(then, since),
        }
    }

    fn found_nothing(&mut self, then: AfterLookup, since: SentAt) -> Phase {
        match then {
            AfterLookup::NewSession => self.restart(),
            AfterLookup::Repost if self.cancel_asked => Phase::Cancelled,
            AfterLookup::Cancel => Phase::Cancelled,
            AfterLookup::Repost => Phase::Posting(None),
            AfterLookup::Fail => {
                let e = Error::Protocol {
                    purpose: Purpose::UploadChunk,
                    error: no_result(),
                };
                let lookup = self.lookup_data(since, then);
                Phase::Failed(e, lookup)
            }
        }
    }

    fn lookup_data(&self, since: SentAt, then: AfterLookup) -> Resume {
        match self.target.lookup_url() {
            Some(url) => Resume::Lookup(Lookup {
                url: Arc::from(url),
                pages: 1,
                since,
                then,
            }),
            None => Resume::Afresh,
        }
    }

    /// A page of the listing (docs/protocol.md §10, §11). A listing that cannot tell ends the
    /// upload rather than risk a second copy; the look-up is kept for a restore.
    fn on_listing(&mut self, l: Lookup, items: &[AttachmentJson], next: Option<String>) -> Phase {
        let (file, clock) = (&self.file, &self.clock);
        let by_item = self.target.profile().lookup_by_item;
        let verdict = match l.judge(items, next, file, clock, by_item, |u| {
            self.target.is_graph_origin(u)
        }) {
            // A drive item renamed on conflict is not at the path read: an older item there
            // means the result, if any, has another name. Only Found settles it then
            // (docs/protocol.md §8).
            Verdict::Nothing(l) if self.renames_on_conflict() && !items.is_empty() => {
                Verdict::Inconclusive(l, "the item's name was taken before the upload, and a result renamed on conflict cannot be found by the path")
            }
            v => v,
        };
        match verdict {
            Verdict::Found(a) => self.done(Purpose::FindResult, a.id, None, a.facts, true),
            Verdict::NextPage(l) => Phase::Finding(l),
            Verdict::Nothing(l) => self.found_nothing(l.then, l.since),
            Verdict::Inconclusive(mut l, why) => {
                l.pages = 1;
                l.url = Arc::from(self.target.lookup_url().unwrap_or_default());
                let error = ProtocolError::LookupInconclusive(why);
                let e = Error::Protocol {
                    purpose: Purpose::FindResult,
                    error,
                };
                Phase::Failed(e, Resume::Lookup(l))
            }
        }
    }

    /// Whether the destination is a drive item that takes a free name when its own is taken.
    fn renames_on_conflict(&self) -> bool {
        let p = self.target.profile();
        p.lookup_by_item
            && matches!(p.create_body, CreateBody::DriveItem { conflict_behavior } if conflict_behavior == "rename")
    }

    /// The result, unless the item reports other bytes than the file's (docs/protocol.md §8).
    fn done(
        &mut self,
        purpose: Purpose,
        id: String,
        location: Option<String>,
        facts: ItemFacts,
        found_by_lookup: bool,
    ) -> Phase {
        self.advanced();
        self.wait = None;
        if let (Some(file), Some(server)) = (&self.file.quick_xor_hash, &facts.quick_xor_hash) {
            if file != server {
                let error = ProtocolError::HashMismatch {
                    id,
                    file: file.clone(),
                    server: server.clone(),
                };
                return Phase::Failed(Error::Protocol { purpose, error }, Resume::Never);
            }
        }
        Phase::Done(Completion {
            id,
            location,
            size: self.file.size,
            found_by_lookup,
            web_url: facts.web_url,
            quick_xor_hash: facts.quick_xor_hash,
        })
    }

    /// Failure, keeping what a restore needs to resume: the session, or the look-up.
    fn fail_in(&mut self, phase: Phase, e: Error) -> Phase {
        self.wait = None;
        self.token = Token::Valid;
        let resume = match phase {
            Phase::Uploading(s)
            | Phase::Querying(s)
            | Phase::Committing(s)
            | Phase::Cancelling(s, _) => Resume::Session(Box::new(s)),
            Phase::Finding(l) => Resume::Lookup(l),
            Phase::Posting(Some(since)) => self.lookup_data(since, AfterLookup::Repost),
            _ => Resume::Afresh,
        };
        Phase::Failed(e, resume)
    }

    /// Carries out a cancel once no request is in flight; `after` is the purpose of the request
    /// just answered, if any. A session left by a failure is deleted too, unless the failure
    /// was the DELETE's own.
    fn apply_cancel(&mut self, after: Option<Purpose>) {
        if !self.cancel_asked || self.in_flight.is_some() {
            return;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Cancelled);
        self.phase = match phase {
            Phase::Failed(e, Resume::Session(s)) if after == Some(Purpose::Cancel) => {
                Phase::Failed(e, Resume::Session(s))
            }
            // Already deleting: its streak goes on.
            Phase::Cancelling(s, _) => Phase::Cancelling(s, AfterDelete::Cancelled),
            Phase::Uploading(s) | Phase::Querying(s) | Phase::Committing(s) => self.cancelling(s),
            Phase::Failed(_, Resume::Session(s)) if after.is_some() => self.cancelling(*s),
            p @ (Phase::Done(_) | Phase::Failed(..) | Phase::Cancelled) => p,
            // A result that may exist is looked for first: found, the upload stays completed.
            Phase::Finding(mut l) => {
                if l.then != AfterLookup::Fail {
                    l.then = AfterLookup::Cancel;
                }
                Phase::Finding(l)
            }
            Phase::Posting(Some(since)) if self.target.profile().can_list_attachments => {
                self.lookup(since, AfterLookup::Cancel)
            }
            // No session to delete.
            _ => {
                self.token = Token::Valid;
                self.wait = None;
                Phase::Cancelled
            }
        };
    }

    fn cancelling(&mut self, s: Session) -> Phase {
        // Deleting is a new unit of work with its own streak. A pending wait stays: the server's Retry-After covers the DELETE too. A refresh
        // asked for stays asked when the DELETE needs the token.
        if !s.needs_token && self.token == Token::RefreshAsked {
            self.token = Token::Valid;
        }
        self.budget.streak = None;
        Phase::Cancelling(s, AfterDelete::Cancelled)
    }

    fn take_in_flight(&mut self, id: RequestId) -> Result<Request, CallerError> {
        match self.in_flight.take() {
            Some(req) if req.id == id => Ok(req),
            other => {
                let in_flight = other.as_ref().map(|r| r.id);
                self.in_flight = other;
                Err(CallerError::NotInFlight { got: id, in_flight })
            }
        }
    }

    fn is_over(&self) -> bool {
        matches!(
            self.phase,
            Phase::Done(_) | Phase::Failed(..) | Phase::Cancelled
        )
    }
}

fn answer_is_not_401(a: &Answer) -> bool {
    !matches!(a, Answer::Unauthorized)
}

/// The same session, now to be asked where it stands.
fn into_querying(phase: &mut Phase) -> Phase {
    match std::mem::replace(phase, Phase::Cancelled) {
        Phase::Uploading(s) => Phase::Querying(s),
        other => other,
    }
}
