//! The state machine: the one place that decides what happens next. Every other module is a
//! pure helper; this one holds the upload's state, takes one input at a time (a poll at a
//! time, a response, a transport error, a cancel, a token refresh) and says what to send.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{CallerError, ConfigError, Error, Failure, ProtocolError, StatusError};
use crate::ranges::{next_chunk, ByteRange, ExpectedRanges};
use crate::request::{Action, Body, Completion, Method, Purpose, Request, RequestId, WaitReason};
use crate::response::{Response, TransportError};
use crate::retry::{parse_retry_after, RetryPolicy, Rng};
use crate::session::{
    attachment_id_from_location, parse_attachment, parse_attachment_list, parse_graph_error,
    parse_upload_session, LocationError,
};
use crate::target::{CompletionRule, PutUrl, SessionAuth, Target};
use crate::time::Timestamp;
use crate::url::{append_to_path, split_origin, Redacted, UrlError};

/// The file being uploaded, as the machine needs to know it. The machine never reads the file:
/// it names byte ranges, and the driver reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) content_type: String,
    pub(crate) fingerprint: String,
}

impl FileInfo {
    /// A file called `name` (the attachment's name) of `size` bytes, of content type
    /// `application/octet-stream` and an empty fingerprint.
    pub fn new(name: impl Into<String>, size: u64) -> Self {
        FileInfo {
            name: name.into(),
            size,
            content_type: "application/octet-stream".to_owned(),
            fingerprint: String::new(),
        }
    }

    /// The content type sent with the single POST (PROTOCOL.md 7).
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// An opaque fingerprint of the file's contents or version (e.g. size and modification
    /// time), recorded in saved state: restoring the state for a file with another
    /// fingerprint is refused.
    pub fn with_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = fingerprint.into();
        self
    }

    /// The attachment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// How an upload behaves; `Options::default()` suits To Do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Bytes per PUT; `None`: the target's default (3,932,160 for To Do). Must be at least 1
    /// and at most the target's limit (3,999,999 for To Do: "under 4 MB", PROTOCOL.md 3).
    pub chunk_size: Option<u64>,
    /// Use an upload session even where the single POST would do (PROTOCOL.md 7). A 0-byte
    /// file still goes by single POST: no `Content-Range` can describe it.
    pub force_session: bool,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// How many times an expired or lost session may be replaced by a new one from byte 0
    /// (PROTOCOL.md 6). 0 makes expiry a failure.
    pub max_restarts: u32,
    /// Overrides the target's file size limit (e.g. for an emulator with the limit lifted).
    pub size_limit: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunk_size: None,
            force_session: false,
            retry: RetryPolicy::default(),
            max_restarts: 2,
            size_limit: None,
        }
    }
}

/// Where the upload stands, for display and for tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Creating a session.
    Creating,
    /// Sending a small file by single POST.
    Posting,
    /// Uploading chunks.
    Uploading,
    /// Asking the session where it stands.
    Querying,
    /// Looking for a result whose answer was lost.
    FindingResult,
    /// Deleting the session.
    Cancelling,
    /// Finished.
    Done,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// Bytes the server confirmed holding, of the total.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Progress {
    /// Bytes the server confirmed (by its last `nextExpectedRanges`, or by completing).
    pub confirmed: u64,
    /// The file's size.
    pub total: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Step {
    Create,
    SinglePost,
    Upload,
    Query,
    Find,
    Cancel,
}

#[derive(Clone, Debug)]
pub(crate) enum Phase {
    Active(Step),
    Done(Completion),
    Failed(Error),
    Cancelled,
}

/// What to do when the look-up for a lost result finds nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AfterFind {
    /// The session is gone: start a new one.
    NewSession,
    /// The single POST did not land: send it again.
    Repost,
    /// The server said it completed but named no result.
    Fail,
}

struct Find {
    url: Arc<str>,
    pages: u32,
    then: AfterFind,
}

pub(crate) struct SessionUrls {
    pub(crate) upload_url: Arc<str>,
    put_url: Arc<str>,
    needs_token: bool,
    pub(crate) expires: Option<Timestamp>,
}

impl SessionUrls {
    fn new(target: &Target, upload_url: &str, expires: Option<Timestamp>) -> Self {
        let put_url: Arc<str> = match target.profile().put_url {
            // To Do PUTs go to uploadUrl + "/content", before any query (PROTOCOL.md 3).
            PutUrl::AppendContent => append_to_path(upload_url, "/content").into(),
            PutUrl::AsGiven => upload_url.into(),
        };
        SessionUrls {
            upload_url: upload_url.into(),
            put_url,
            // The token rides only on the target's say-so and only to Graph's origin
            // (PROTOCOL.md 8, 9).
            needs_token: target.profile().session_auth == SessionAuth::Bearer
                && target.is_graph_origin(upload_url),
            expires,
        }
    }
}

/// The longest `uploadUrl` accepted: Graph's are a few hundred bytes.
const MAX_UPLOAD_URL: usize = 16 * 1024;
/// Chunk answers in a row that may leave the server's missing bytes no fewer.
const MAX_STALLS: u32 = 8;
/// 416/409 answers in a row tolerated while the session refuses status queries.
const MAX_REFUSALS: u32 = 8;
/// How much older than the request that may have created it a result may look: clock skew
/// between the client and the server, and timestamps cut to the second.
const LOOKUP_SKEW: Duration = Duration::from_secs(2);
/// Pages of an attachments listing read while looking for a lost result.
const MAX_FIND_PAGES: u32 = 20;

/// One upload, as a sans-IO state machine. See the crate docs for the driving loop.
///
/// Inputs: [`Upload::poll`], [`Upload::handle_response`], [`Upload::handle_transport_error`],
/// [`Upload::token_refreshed`], [`Upload::cancel`]; each takes the current time. Output: the
/// [`Action`] that `poll` returns. The machine holds no token and never touches the file.
pub struct Upload {
    pub(crate) target: Target,
    pub(crate) file: FileInfo,
    chunk: u64,
    options: Options,
    pub(crate) phase: Phase,
    pub(crate) session: Option<SessionUrls>,
    pub(crate) expected: ExpectedRanges,
    scratch: ExpectedRanges,
    in_flight: Option<Request>,
    next_id: u64,
    now: Timestamp,
    wait: Option<(Timestamp, WaitReason)>,
    failures: u32,
    streak_start: Timestamp,
    pub(crate) rng: Rng,
    need_token: bool,
    refused_once: bool,
    cancel_requested: bool,
    pub(crate) sessions: u32,
    pub(crate) restarts: u32,
    pub(crate) requests: u64,
    puts_in_session: u64,
    stalls: u32,
    maybe_complete: bool,
    status_get_refused: bool,
    /// The ranges before a guess that a refused chunk was held (no status query to ask).
    guess: Option<ExpectedRanges>,
    /// 416/409 answers in a row while no status query can be asked.
    refusals: u32,
    /// Starts of chunks sent since the server's last word whose outcome is unknown.
    maybe_held: Vec<u64>,
    /// Start of the last chunk refused with 416/409 while no status query can be asked.
    last_refused: Option<u64>,
    /// The DELETE in flight or due abandons a session that keeps refusing, before a new one.
    discarding: bool,
    /// When the first request that may have created the result (a single POST, a last
    /// chunk) was sent: an attachment older than this is not ours (PROTOCOL.md 8).
    pub(crate) risky_since: Option<Timestamp>,
    find: Option<Find>,
    create_url: Arc<str>,
    collection_url: Option<Arc<str>>,
}

impl Upload {
    /// A new upload of `file` to `target`. Nothing is sent until the first [`Upload::poll`].
    pub fn new(target: Target, file: FileInfo, options: Options) -> Result<Upload, ConfigError> {
        let p = target.profile();
        let chunk = options.chunk_size.unwrap_or(p.default_chunk);
        if chunk == 0 || chunk > p.max_chunk || (p.chunk_align > 1 && chunk % p.chunk_align != 0) {
            return Err(ConfigError::ChunkSize {
                chunk,
                max: p.max_chunk,
                align: p.chunk_align,
            });
        }
        let max = options.size_limit.unwrap_or(p.max_size);
        if file.size > max {
            return Err(ConfigError::FileTooLarge {
                size: file.size,
                max,
            });
        }
        if file.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if options.retry.max_attempts == 0 {
            return Err(ConfigError::RetryPolicy("max_attempts must be at least 1"));
        }
        let single_post = p
            .single_post_below
            .is_some_and(|limit| file.size == 0 || (file.size < limit && !options.force_session));
        if file.size == 0 && !single_post {
            return Err(ConfigError::Profile(
                "a 0-byte file needs the single POST, which this target lacks",
            ));
        }
        let step = if single_post {
            Step::SinglePost
        } else {
            Step::Create
        };
        let create_url: Arc<str> = target.create_url().into();
        let collection_url = target.collection_url().map(Arc::from);
        let rng = Rng::new(options.retry.seed);
        Ok(Upload {
            chunk,
            phase: Phase::Active(step),
            session: None,
            expected: ExpectedRanges::whole(file.size),
            scratch: ExpectedRanges::default(),
            in_flight: None,
            next_id: 1,
            now: Timestamp::default(),
            wait: None,
            failures: 0,
            streak_start: Timestamp::default(),
            rng,
            need_token: false,
            refused_once: false,
            cancel_requested: false,
            sessions: 0,
            restarts: 0,
            requests: 0,
            puts_in_session: 0,
            stalls: 0,
            maybe_complete: false,
            status_get_refused: false,
            guess: None,
            refusals: 0,
            maybe_held: Vec::new(),
            last_refused: None,
            discarding: false,
            risky_since: None,
            find: None,
            create_url,
            collection_url,
            target,
            file,
            options,
        })
    }

    /// Puts a restored session back in place: the next request asks the server where it
    /// stands (PROTOCOL.md 6), and if the last chunk may have been sent before the state was
    /// lost, a vanished session is looked for among the attachments first (PROTOCOL.md 8).
    /// `result_may_exist` is the saved state's word; without it, the remaining bytes fitting in
    /// one chunk is taken as a sign that the last one may have been in flight.
    pub(crate) fn resume_session(
        &mut self,
        upload_url: &str,
        expires: Option<Timestamp>,
        result_may_exist: bool,
    ) {
        self.session = Some(SessionUrls::new(&self.target, upload_url, expires));
        self.phase = Phase::Active(Step::Query);
        // The first chunk may have been sent before the state was lost: a server that
        // refuses it (416) may hold it.
        if let Some(first) = self.expected.first() {
            self.maybe_held.push(first.start());
        }
        self.maybe_complete = result_may_exist
            || (self.expected.len() <= 1
                && self.expected.first().is_none_or(|r| r.len() <= self.chunk));
    }

    /// Whether the upload's result may already exist on the server while this machine does
    /// not know it: a single POST in flight, or a last chunk whose answer was lost.
    pub(crate) fn result_may_exist(&self) -> bool {
        self.maybe_complete
            || matches!(self.phase, Phase::Active(Step::Find))
            || self
                .in_flight
                .as_ref()
                .is_some_and(|r| r.purpose == Purpose::SinglePost)
    }

    /// After a restore whose state says the result may exist: look for it before sending
    /// anything again (PROTOCOL.md 8).
    pub(crate) fn resume_lookup(&mut self) {
        let then = match self.phase {
            Phase::Active(Step::SinglePost) => AfterFind::Repost,
            _ => AfterFind::NewSession,
        };
        self.maybe_complete = true;
        self.start_find(then);
    }

    /// The next thing to do, seen at `now`. Call it after every input; calling it again
    /// without new input returns the same action (a repeated or early wake-up does nothing).
    /// A `now` older than one already seen counts as the one already seen.
    pub fn poll(&mut self, now: Timestamp) -> Action {
        self.observe(now);
        loop {
            let step = match &self.phase {
                Phase::Done(c) => return Action::Done(c.clone()),
                Phase::Failed(e) => return Action::Failed(e.clone()),
                Phase::Cancelled => return Action::Cancelled,
                Phase::Active(step) => *step,
            };
            if let Some(req) = &self.in_flight {
                return Action::Send(req.clone());
            }
            if self.need_token {
                return Action::RefreshToken;
            }
            if let Some((until, reason)) = self.wait {
                if self.now < until {
                    return Action::Wait { until, reason };
                }
                self.wait = None;
            }
            // Past expirationDateTime the session is gone (PROTOCOL.md 6).
            if matches!(step, Step::Upload | Step::Query)
                && self
                    .session
                    .as_ref()
                    .and_then(|s| s.expires)
                    .is_some_and(|t| t <= self.now)
            {
                self.session_gone();
                continue;
            }
            if step == Step::Upload {
                self.puts_in_session += 1;
                let chunks = self.file.size.div_ceil(self.chunk);
                // Saturating: with `size_limit` lifted, 1-byte chunks of a huge file overflow.
                if self.puts_in_session > chunks.saturating_mul(4).saturating_add(32) {
                    let requests = self.puts_in_session - 1;
                    self.fail_protocol(
                        Purpose::UploadChunk,
                        ProtocolError::NoProgress { requests },
                    );
                    continue;
                }
            }
            if let Some(req) = self.build(step) {
                // Saturating: a restored state may carry any count (DESIGN.md 4.6).
                self.requests = self.requests.saturating_add(1);
                let risky = match req.purpose {
                    Purpose::SinglePost => true,
                    Purpose::UploadChunk => req
                        .file_range()
                        .is_some_and(|r| self.expected.len() == 1 && r.end() == self.file.size),
                    _ => false,
                };
                if risky {
                    self.risky_since.get_or_insert(self.now);
                }
                self.in_flight = Some(req.clone());
                return Action::Send(req);
            }
        }
    }

    fn build(&mut self, step: Step) -> Option<Request> {
        let id = RequestId(self.next_id);
        let graph = |url: &Arc<str>| url.clone();
        let (purpose, method, url, needs_token, body) = match step {
            Step::Create => (
                Purpose::CreateSession,
                Method::Post,
                graph(&self.create_url),
                true,
                Body::Json(self.target.create_body(
                    &self.file.name,
                    self.file.size,
                    &self.file.content_type,
                )),
            ),
            Step::SinglePost => {
                let (prefix, suffix) = self
                    .target
                    .single_post_body(&self.file.name, &self.file.content_type);
                (
                    Purpose::SinglePost,
                    Method::Post,
                    graph(self.collection_url.as_ref()?),
                    true,
                    Body::JsonWithBase64File {
                        prefix,
                        range: ByteRange::new(0, self.file.size),
                        suffix,
                    },
                )
            }
            Step::Upload => {
                let s = self.session.as_ref()?;
                let Some(range) = next_chunk(
                    &self.expected,
                    self.chunk,
                    self.target.profile().chunk_align,
                ) else {
                    // Nothing left to send but no completion seen: ask (PROTOCOL.md 8).
                    self.phase = Phase::Active(Step::Query);
                    return None;
                };
                (
                    Purpose::UploadChunk,
                    Method::Put,
                    s.put_url.clone(),
                    s.needs_token,
                    Body::FileRange(range),
                )
            }
            Step::Query | Step::Cancel => {
                let s = self.session.as_ref()?;
                let (purpose, method) = if step == Step::Query {
                    (Purpose::QueryStatus, Method::Get)
                } else {
                    (Purpose::Cancel, Method::Delete)
                };
                (
                    purpose,
                    method,
                    s.upload_url.clone(),
                    s.needs_token,
                    Body::Empty,
                )
            }
            Step::Find => {
                let f = self.find.as_ref()?;
                (
                    Purpose::FindResult,
                    Method::Get,
                    f.url.clone(),
                    true,
                    Body::Empty,
                )
            }
        };
        self.next_id += 1;
        Some(Request {
            id,
            purpose,
            method,
            url,
            needs_token,
            body,
            total: self.file.size,
        })
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
        self.observe(now);
        let retry_after = response
            .retry_after()
            .filter(|_| matches!(response.status(), 429 | 503))
            .and_then(|v| parse_retry_after(v, self.now));
        if !self.discarded(&req, retry_after) {
            self.on_response(&req, &response);
        }
        self.apply_cancel();
        Ok(())
    }

    /// Reports that request `id` got no answer. The machine retries, asking the server first
    /// where it stands when the request may have had an effect (PROTOCOL.md 9).
    pub fn handle_transport_error(
        &mut self,
        now: Timestamp,
        id: RequestId,
        error: TransportError,
    ) -> Result<(), CallerError> {
        let req = self.take_in_flight(id)?;
        self.observe(now);
        if !self.discarded(&req, None) {
            self.transient(&req, Failure::Transport(error), None);
        }
        self.apply_cancel();
        Ok(())
    }

    /// Says the driver has a fresh token after [`Action::RefreshToken`]; the refused request
    /// is sent again.
    pub fn token_refreshed(&mut self, now: Timestamp) -> Result<(), CallerError> {
        self.observe(now);
        if !self.need_token {
            return Err(CallerError::NoRefreshAsked);
        }
        self.need_token = false;
        Ok(())
    }

    /// Asks to cancel. A session that exists is deleted (PROTOCOL.md 6) once the request in
    /// flight, if any, has been answered; without a session the upload ends as cancelled at
    /// once. Does nothing once the upload has ended; an upload that completes before the
    /// cancel takes effect stays completed.
    pub fn cancel(&mut self, now: Timestamp) {
        self.observe(now);
        if matches!(self.phase, Phase::Active(_)) {
            self.cancel_requested = true;
            self.apply_cancel();
        }
    }

    /// Where the upload stands.
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::Active(Step::Create) => State::Creating,
            Phase::Active(Step::SinglePost) => State::Posting,
            Phase::Active(Step::Upload) => State::Uploading,
            Phase::Active(Step::Query) => State::Querying,
            Phase::Active(Step::Find) => State::FindingResult,
            Phase::Active(Step::Cancel) => State::Cancelling,
            Phase::Done(_) => State::Done,
            Phase::Failed(_) => State::Failed,
            Phase::Cancelled => State::Cancelled,
        }
    }

    /// Bytes the server confirmed, of the total.
    pub fn progress(&self) -> Progress {
        let total = self.file.size;
        let confirmed = match self.phase {
            Phase::Done(_) => total,
            _ if self.session.is_some() => total - self.expected.missing_bytes().min(total),
            _ => 0,
        };
        Progress { confirmed, total }
    }

    /// The ranges the server said it still expects (the whole file before a session exists).
    pub fn expected_ranges(&self) -> &ExpectedRanges {
        &self.expected
    }

    /// Requests emitted so far (resends counted), across saves and restores.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Upload sessions created so far, across saves and restores.
    pub fn sessions(&self) -> u32 {
        self.sessions
    }

    /// The chunk size in use.
    pub fn chunk_size(&self) -> u64 {
        self.chunk
    }

    /// The file being uploaded.
    pub fn file(&self) -> &FileInfo {
        &self.file
    }

    /// The destination.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The request in flight, if one is.
    pub fn in_flight(&self) -> Option<&Request> {
        self.in_flight.as_ref()
    }

    /// The session's `uploadUrl`, redacted for display, once a session exists.
    pub fn upload_url(&self) -> Option<Redacted> {
        self.session.as_ref().map(|s| Redacted::new(&s.upload_url))
    }

    /// The latest time seen in an input.
    pub(crate) fn last_seen(&self) -> Timestamp {
        self.now
    }

    pub(crate) fn observe(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
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

    /// Whatever came of the DELETE of an abandoned session, a new one follows, after the
    /// server's Retry-After if it sent one.
    fn discarded(&mut self, req: &Request, retry_after: Option<Duration>) -> bool {
        if !(self.discarding && req.purpose == Purpose::Cancel) {
            return false;
        }
        self.discarding = false;
        if self.cancel_requested {
            // Now a cancel: its DELETE must succeed or be retried.
            return false;
        }
        self.failures = 0;
        self.restart();
        if let Some(d) = retry_after.filter(|d| !d.is_zero()) {
            self.wait = Some((self.now.saturating_add(d), WaitReason::RetryAfter));
        }
        true
    }

    fn step_of(purpose: Purpose) -> Step {
        match purpose {
            Purpose::CreateSession => Step::Create,
            Purpose::UploadChunk => Step::Upload,
            Purpose::QueryStatus => Step::Query,
            Purpose::FindResult => Step::Find,
            Purpose::SinglePost => Step::SinglePost,
            Purpose::Cancel => Step::Cancel,
        }
    }

    fn on_response(&mut self, req: &Request, resp: &Response<'_>) {
        let status = resp.status();
        if status == 401 {
            return self.unauthorized(req);
        }
        self.refused_once = false;
        if matches!(status, 408 | 429 | 500 | 502 | 503 | 504) {
            let retry_after = resp
                .retry_after()
                .and_then(|v| parse_retry_after(v, self.now));
            return self.transient(req, Failure::Status(status), retry_after);
        }
        // A look-up for a single POST that failed transiently is part of that failure
        // streak: ending the streak here let POST, 503, GET, POST, 503... run for ever.
        let looking_after_failed_post = req.purpose == Purpose::FindResult
            && self
                .find
                .as_ref()
                .is_some_and(|f| f.then == AfterFind::Repost);
        if !looking_after_failed_post {
            self.failures = 0;
        }
        match Self::step_of(req.purpose) {
            Step::Create => self.on_created(resp),
            Step::Upload => self.on_chunk(req, resp),
            Step::Query => self.on_status(resp),
            Step::Find => self.on_listing(resp),
            Step::SinglePost => self.on_posted(resp),
            Step::Cancel => match status {
                // 404: already gone, which is what a cancel wants (PROTOCOL.md 6).
                200..=299 | 404 => self.phase = Phase::Cancelled,
                _ => self.fail_status(Purpose::Cancel, resp),
            },
        }
    }

    /// 401 (PROTOCOL.md 9): with a token, ask the driver for a fresh one once; without one,
    /// the pre-authenticated URL is dead and the session with it.
    fn unauthorized(&mut self, req: &Request) {
        if !req.needs_token {
            self.failures = 0;
            return self.session_gone();
        }
        if self.refused_once {
            return self.fail(Error::Unauthorized);
        }
        self.refused_once = true;
        self.need_token = true;
    }

    fn transient(&mut self, req: &Request, failure: Failure, retry_after: Option<Duration>) {
        let policy = &self.options.retry;
        if self.failures == 0 {
            self.streak_start = self.now;
        }
        self.failures += 1;
        let exhausted = Error::RetriesExhausted {
            purpose: req.purpose,
            attempts: self.failures,
            last: failure,
        };
        if self.failures >= policy.max_attempts {
            return self.fail(exhausted);
        }
        let (wait, reason) = match (retry_after, failure) {
            (Some(d), _) => (d, WaitReason::RetryAfter),
            // A dropped connection is retried at once the first time: the status query that
            // follows is cheap, and most drops are not an overloaded server.
            (None, Failure::Transport(_)) if self.failures == 1 => {
                (Duration::ZERO, WaitReason::Backoff)
            }
            (None, _) => (
                policy.backoff(self.failures, &mut self.rng),
                WaitReason::Backoff,
            ),
        };
        let until = self.now.saturating_add(wait);
        if until.saturating_duration_since(self.streak_start) > policy.max_total {
            return self.fail(exhausted);
        }
        self.wait = (until > self.now).then_some((until, reason));
        let outcome_unknown = match failure {
            Failure::Transport(t) => t.outcome_unknown(),
            // 429 is a refusal; a 5xx may have kept the bytes (PROTOCOL.md 9).
            Failure::Status(s) => s != 429,
        };
        if !outcome_unknown {
            return;
        }
        if let Some(r) = req.file_range() {
            self.maybe_held.push(r.start());
            // The last bytes may have landed and completed the upload, their answer lost:
            // remember it, so a vanished session is looked for, not re-uploaded (PROTOCOL.md 8).
            if self.expected.len() == 1 && r.end() == self.file.size {
                self.maybe_complete = true;
            }
        }
        match Self::step_of(req.purpose) {
            Step::Upload if !self.status_get_refused => self.phase = Phase::Active(Step::Query),
            // The POST may have created the attachment: look before posting again.
            Step::SinglePost if self.target.profile().can_list_attachments => {
                self.start_find(AfterFind::Repost)
            }
            _ => {}
        }
    }

    fn on_created(&mut self, resp: &Response<'_>) {
        // The reference says 200, the tutorial 201 (PROTOCOL.md 2): any 2xx with a session.
        if !(200..300).contains(&resp.status()) {
            return self.fail_status(Purpose::CreateSession, resp);
        }
        let fields =
            match parse_upload_session(resp.body_bytes(), self.file.size, &mut self.scratch) {
                Ok(f) => f,
                Err(e) => return self.fail_protocol(Purpose::CreateSession, e.into()),
            };
        let Some(url) = fields.upload_url.filter(|u| !u.is_empty()) else {
            return self.fail_protocol(Purpose::CreateSession, ProtocolError::MissingUploadUrl);
        };
        if let Err(e) = check_upload_url(&url) {
            return self.fail_protocol(Purpose::CreateSession, ProtocolError::UploadUrl(e));
        }
        if fields.has_ranges && !self.scratch.is_empty() {
            std::mem::swap(&mut self.expected, &mut self.scratch);
        } else {
            self.expected = ExpectedRanges::whole(self.file.size);
        }
        self.session = Some(SessionUrls::new(&self.target, &url, fields.expiration));
        self.sessions += 1;
        self.puts_in_session = 0;
        self.stalls = 0;
        self.maybe_complete = false;
        self.status_get_refused = false;
        self.forget_guesses();
        self.phase = Phase::Active(Step::Upload);
    }

    fn on_chunk(&mut self, req: &Request, resp: &Response<'_>) {
        let status = resp.status();
        let profile = self.target.profile();
        if profile.complete_statuses.contains(&status) {
            return self.complete(resp);
        }
        if profile.intermediate_statuses.contains(&status) {
            return self.follow_ranges(Purpose::UploadChunk, resp, true);
        }
        match status {
            // The client and the server disagree about what arrived: ask (PROTOCOL.md 9).
            416 | 409 => {
                if self.adopt_ranges_if_any(resp) {
                    return;
                }
                if !self.status_get_refused {
                    self.phase = Phase::Active(Step::Query);
                } else {
                    self.refused_without_query(req);
                }
            }
            404 => self.session_gone(),
            200..=299 => self.fail_protocol(
                Purpose::UploadChunk,
                ProtocolError::UnexpectedStatus(status),
            ),
            _ => self.fail_status(Purpose::UploadChunk, resp),
        }
    }

    /// A 416/409 while the session refuses status queries (PROTOCOL.md 9). The server then
    /// holds either what it last confirmed, or more: chunks whose answers were lost may have
    /// been kept. A refused chunk that was sent before with an unknown outcome is taken as
    /// held and skipped; a chunk refused twice in a row means the client is ahead of the
    /// server, so it goes back to what the server last confirmed. Never a skip over the last
    /// chunk, which a server holding it answers with 201 or 404, not 416. Bounded: a session
    /// that keeps refusing is deleted and a new one started.
    fn refused_without_query(&mut self, req: &Request) {
        self.refusals += 1;
        if self.refusals > MAX_REFUSALS {
            self.forget_guesses();
            self.discarding = true;
            self.phase = Phase::Active(Step::Cancel);
            return;
        }
        let Some(r) = req.file_range() else {
            return;
        };
        if r.end() < self.file.size && self.maybe_held.contains(&r.start()) {
            if self.guess.is_none() {
                self.guess = Some(self.expected.clone());
            }
            self.expected.consume_front(r);
            self.maybe_held.retain(|&s| s != r.start());
        } else if self.last_refused == Some(r.start()) {
            if let Some(confirmed) = self.guess.take() {
                self.expected = confirmed;
            }
            self.maybe_held.clear();
        }
        self.last_refused = Some(r.start());
    }

    /// The server spoke: guesses about what it holds are over.
    fn forget_guesses(&mut self) {
        self.guess = None;
        self.refusals = 0;
        self.maybe_held.clear();
        self.last_refused = None;
    }

    /// A 416/409 body that happens to carry ranges is the answer a status query would give.
    fn adopt_ranges_if_any(&mut self, resp: &Response<'_>) -> bool {
        match parse_upload_session(resp.body_bytes(), self.file.size, &mut self.scratch) {
            Ok(f) if f.has_ranges && !self.scratch.is_empty() => {
                std::mem::swap(&mut self.expected, &mut self.scratch);
                self.maybe_complete = false;
                self.phase = Phase::Active(Step::Upload);
                true
            }
            _ => false,
        }
    }

    /// An intermediate answer with `nextExpectedRanges`: the server's word is the truth
    /// (PROTOCOL.md 4), including ranges already sent that come back.
    fn follow_ranges(&mut self, purpose: Purpose, resp: &Response<'_>, after_put: bool) {
        let fields =
            match parse_upload_session(resp.body_bytes(), self.file.size, &mut self.scratch) {
                Ok(f) => f,
                Err(e) => return self.fail_protocol(purpose, e.into()),
            };
        if let (Some(s), Some(t)) = (self.session.as_mut(), fields.expiration) {
            s.expires = Some(t);
        }
        if !fields.has_ranges || self.scratch.is_empty() {
            if after_put {
                // An empty list after a server error: ask again (PROTOCOL.md 8). The session
                // expects nothing more, so it may have completed.
                self.maybe_complete = true;
                self.phase = Phase::Active(Step::Query);
            } else {
                // The session holds everything yet never completed: look for the result.
                self.maybe_complete = true;
                self.session_gone();
            }
            return;
        }
        if after_put {
            if self.scratch.missing_bytes() >= self.expected.missing_bytes() {
                self.stalls += 1;
                if self.stalls > MAX_STALLS {
                    let requests = self.puts_in_session;
                    return self.fail_protocol(purpose, ProtocolError::NoProgress { requests });
                }
            } else {
                self.stalls = 0;
            }
            // A chunk answer proves the session alive and incomplete. A status answer does
            // not clear the doubt: a last chunk whose PUT timed out may still be committing
            // (PROTOCOL.md 9), so a later 404 must still lead to a look-up.
            self.maybe_complete = false;
        }
        std::mem::swap(&mut self.expected, &mut self.scratch);
        self.forget_guesses();
        self.phase = Phase::Active(Step::Upload);
    }

    fn on_status(&mut self, resp: &Response<'_>) {
        match resp.status() {
            200..=299 => self.follow_ranges(Purpose::QueryStatus, resp, false),
            404 => self.session_gone(),
            // The status query is not documented for To Do (PROTOCOL.md 9): re-send from the
            // last acknowledged offset and follow the answer.
            400 | 405 => {
                self.status_get_refused = true;
                self.phase = Phase::Active(Step::Upload);
            }
            _ => self.fail_status(Purpose::QueryStatus, resp),
        }
    }

    fn complete(&mut self, resp: &Response<'_>) {
        let from_location = || resp.location().map(attachment_id_from_location);
        let from_body = || parse_attachment(resp.body_bytes()).ok().map(|a| a.id);
        let id = match self.target.profile().completion {
            CompletionRule::Location => match from_location() {
                Some(Ok(id)) => Some(id),
                _ => from_body(),
            },
            CompletionRule::JsonBody => {
                from_body().or_else(|| from_location().and_then(Result::ok))
            }
        };
        match id {
            Some(id) => self.done(id, resp.location().map(str::to_owned), false),
            // Completed, but the answer names nothing: the listing can.
            None if self.target.profile().can_list_attachments => {
                self.session = None;
                self.start_find(AfterFind::Fail)
            }
            None => {
                self.fail_protocol(Purpose::UploadChunk, ProtocolError::NoResult(LocationError))
            }
        }
    }

    fn on_posted(&mut self, resp: &Response<'_>) {
        if !(200..300).contains(&resp.status()) {
            return self.fail_status(Purpose::SinglePost, resp);
        }
        let location = resp.location().map(str::to_owned);
        match parse_attachment(resp.body_bytes()) {
            Ok(a) => self.done(a.id, location, false),
            Err(e) => match location.as_deref().map(attachment_id_from_location) {
                Some(Ok(id)) => self.done(id, location, false),
                _ => self.fail_protocol(Purpose::SinglePost, e.into()),
            },
        }
    }

    fn on_listing(&mut self, resp: &Response<'_>) {
        if !(200..300).contains(&resp.status()) {
            return self.fail_status(Purpose::FindResult, resp);
        }
        let (items, next) = match parse_attachment_list(resp.body_bytes()) {
            Ok(v) => v,
            Err(e) => return self.fail_protocol(Purpose::FindResult, e.into()),
        };
        // The newest match is the likeliest ours; listings are in creation order. An
        // attachment from before the request that may have created ours is not ours.
        let since = self.risky_since;
        let found = items.into_iter().rev().find(|a| {
            a.name.as_deref() == Some(self.file.name.as_str())
                && a.size == Some(self.file.size)
                && match (a.modified, since) {
                    (Some(m), Some(t)) => m.saturating_add(LOOKUP_SKEW) >= t,
                    _ => true,
                }
        });
        if let Some(a) = found {
            return self.done(a.id, None, true);
        }
        let Some(find) = self.find.as_mut() else {
            return;
        };
        match next {
            // The next page only on Graph's own origin: the token goes with it.
            Some(next) if find.pages < MAX_FIND_PAGES && self.target.is_graph_origin(&next) => {
                find.url = next.into();
                find.pages += 1;
            }
            _ => match find.then {
                AfterFind::NewSession => {
                    self.find = None;
                    self.restart();
                }
                AfterFind::Repost => {
                    self.find = None;
                    self.phase = Phase::Active(Step::SinglePost);
                }
                AfterFind::Fail => {
                    self.fail_protocol(Purpose::UploadChunk, ProtocolError::NoResult(LocationError))
                }
            },
        }
    }

    fn start_find(&mut self, then: AfterFind) {
        match self.collection_url.clone() {
            Some(url) => {
                self.find = Some(Find {
                    url,
                    pages: 1,
                    then,
                });
                self.phase = Phase::Active(Step::Find);
            }
            None => match then {
                AfterFind::NewSession => self.restart(),
                AfterFind::Repost => self.phase = Phase::Active(Step::SinglePost),
                AfterFind::Fail => {
                    self.fail_protocol(Purpose::UploadChunk, ProtocolError::NoResult(LocationError))
                }
            },
        }
    }

    /// The session expired or vanished (404, expiry time, dead pre-authenticated URL). If the
    /// last chunk may have landed, its answer lost, look for the result before starting over,
    /// so the file is not attached twice (PROTOCOL.md 8).
    fn session_gone(&mut self) {
        self.session = None;
        if self.maybe_complete
            && self.target.profile().can_list_attachments
            && !self.cancel_requested
        {
            self.start_find(AfterFind::NewSession);
        } else {
            self.restart();
        }
    }

    /// A new session from byte 0, within the restart budget (PROTOCOL.md 6).
    fn restart(&mut self) {
        self.session = None;
        if self.cancel_requested {
            self.phase = Phase::Cancelled;
            return;
        }
        if self.restarts >= self.options.max_restarts {
            let sessions = self.sessions;
            return self.fail(Error::SessionExpired { sessions });
        }
        self.restarts += 1;
        self.expected = ExpectedRanges::whole(self.file.size);
        self.maybe_complete = false;
        self.wait = None;
        self.phase = Phase::Active(Step::Create);
    }

    fn apply_cancel(&mut self) {
        if !self.cancel_requested || self.in_flight.is_some() {
            return;
        }
        match self.phase {
            Phase::Active(Step::Cancel) | Phase::Done(_) | Phase::Failed(_) | Phase::Cancelled => {}
            Phase::Active(_) if self.session.is_some() => {
                // A pending wait stays: the server's Retry-After covers the DELETE too.
                self.phase = Phase::Active(Step::Cancel);
                self.failures = 0;
                self.need_token = false;
            }
            Phase::Active(_) => {
                // Cancelled is terminal: a refresh asked for by a 401 is moot.
                self.phase = Phase::Cancelled;
                self.need_token = false;
            }
        }
    }

    fn done(&mut self, id: String, location: Option<String>, found_by_lookup: bool) {
        self.phase = Phase::Done(Completion {
            id,
            location,
            size: self.file.size,
            found_by_lookup,
        });
        self.session = None;
        self.find = None;
        self.wait = None;
    }

    fn fail(&mut self, e: Error) {
        self.phase = Phase::Failed(e);
        self.wait = None;
        self.need_token = false;
    }

    fn fail_protocol(&mut self, purpose: Purpose, error: ProtocolError) {
        self.fail(Error::Protocol { purpose, error });
    }

    fn fail_status(&mut self, purpose: Purpose, resp: &Response<'_>) {
        self.fail(Error::Status(StatusError {
            purpose,
            status: resp.status(),
            graph: parse_graph_error(resp.body_bytes()),
        }));
    }
}

/// An `uploadUrl` must be an absolute http(s) URL of sane length (PROTOCOL.md 2).
pub(crate) fn check_upload_url(url: &str) -> Result<(), UrlError> {
    if url.len() > MAX_UPLOAD_URL {
        return Err(UrlError::BadCharacters(Redacted::new(url)));
    }
    split_origin(url).map(|_| ())
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("state", &self.state())
            .field("target", &Redacted::new(self.target.create_url()))
            .field("file", &self.file.name)
            .field("progress", &self.progress())
            .field("upload_url", &self.upload_url())
            .field("in_flight", &self.in_flight.as_ref().map(|r| r.id))
            .field("wait", &self.wait)
            .field("requests", &self.requests)
            .field("sessions", &self.sessions)
            .finish()
    }
}
