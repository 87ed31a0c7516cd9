//! Typed errors, by whose fault: the server's answers ([`ProtocolError`], [`StatusError`]), the
//! network ([`Error::RetriesExhausted`]), the caller's options ([`ConfigError`]), the caller's
//! calls ([`CallerError`]) and saved state ([`RestoreError`]). No message carries a token;
//! URLs in messages are redacted.

use crate::request::{Purpose, RequestId};
use crate::response::TransportError;
use crate::session::{BodyError, GraphError, LocationError};
use crate::url::{Redacted, UrlError};

/// Why an upload failed ([`Action::Failed`](crate::Action::Failed)). Failure is final: the
/// machine answers the same error to every later poll; a state saved then restores into a
/// machine that goes on from where this one stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server's answer broke the protocol.
    #[error("the server's answer to the {purpose} broke the protocol: {error}")]
    Protocol {
        /// Which request it answered.
        purpose: Purpose,
        /// What was wrong.
        error: ProtocolError,
    },
    /// The server refused a request with a status that retrying cannot fix.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The destination's name is taken and the conflict behaviour is `fail`: a drive item's
    /// final PUT answered 409 (docs/protocol.md §8). Nothing was overwritten; upload again
    /// with another name or conflict behaviour.
    #[error("the name is taken at the destination and the conflict behaviour is fail ({0})")]
    NameConflict(StatusError),
    /// Transient failures went on past the retry policy's limits.
    #[error("gave up on the {purpose} after {attempts} failed tries in a row (last: {last})")]
    RetriesExhausted {
        /// Which request kept failing.
        purpose: Purpose,
        /// How many tries failed in a row.
        attempts: u32,
        /// The last failure.
        last: Failure,
    },
    /// The server asked to wait (`Retry-After`) longer than what is left of the retry
    /// policy's `max_total` for the failure streak (docs/protocol.md §9): waiting less is not
    /// allowed, and waiting that long is not wanted.
    #[error("the server asked to wait {:.3} s before the next {purpose} (Retry-After), more than the {:.3} s left of the {} s the retry policy allows a failure streak", .asked.as_secs_f64(), .left.as_secs_f64(), .max_total.as_secs())]
    RetryAfterTooLong {
        /// Which request.
        purpose: Purpose,
        /// How long the server asked for.
        asked: std::time::Duration,
        /// What was left of the policy's time for the streak.
        left: std::time::Duration,
        /// The policy's limit for a whole streak.
        max_total: std::time::Duration,
    },
    /// The session expired or vanished and no new one may be created (the restart budget is
    /// spent or the caller allowed none).
    #[error("the upload session expired or was lost after {sessions} session(s), and no restart is allowed")]
    SessionExpired {
        /// Sessions created in all.
        sessions: u32,
    },
    /// The server refused the token twice in a row, even after a refresh.
    #[error("the server refused the token again after it was refreshed (401 twice in a row)")]
    Unauthorized,
}

/// A failure that retrying may fix: a transient status or a transport error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 408, 429, 500, 502, 503 or 504.
    Status(u16),
    /// No answer.
    Transport(TransportError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(s) => write!(f, "HTTP {s}"),
            Failure::Transport(t) => write!(f, "{t}"),
        }
    }
}

/// An answer that breaks the protocol (docs/protocol.md §2-§5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A JSON body was malformed or out of range.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The created session has no `uploadUrl`.
    #[error("the uploadSession has no uploadUrl")]
    MissingUploadUrl,
    /// `uploadUrl` is not an absolute http(s) URL.
    #[error("uploadUrl is unusable: {0}")]
    UploadUrl(UrlError),
    /// A completed upload named no result: no usable `Location`, no `id` in the body.
    #[error("the upload completed but the answer names no result: {0}")]
    NoResult(LocationError),
    /// The server keeps answering chunks without holding more bytes than before.
    #[error("the server answered {answers} chunk uploads in a row without holding more bytes than before; giving up rather than looping")]
    NoProgress {
        /// Chunk answers in a row that added no bytes.
        answers: u32,
    },
    /// The look-up for a result that may exist could not tell (docs/protocol.md §11): the
    /// listing had more pages than are read, pointed off Graph's origin, or listed a
    /// candidate without `lastModifiedDateTime`. Sending again could attach the file twice;
    /// a state saved now looks again when restored.
    #[error("could not tell whether the upload's result already exists: {0}")]
    LookupInconclusive(&'static str),
    /// The completed drive item reports a QuickXorHash other than the file's
    /// ([`FileInfo::with_quick_xor_hash`](crate::FileInfo::with_quick_xor_hash)): the
    /// server holds other bytes than the file's (docs/protocol.md §8).
    #[error(
        "the server's item {id} has QuickXorHash {server}, the file has {file}: its bytes differ"
    )]
    HashMismatch {
        /// The item the upload made, whose bytes differ.
        id: String,
        /// The file's hash.
        file: String,
        /// The hash the server reported.
        server: String,
    },
    /// A status answer that makes no sense for the request, e.g. 204 to a PUT.
    #[error("unexpected status {0}")]
    UnexpectedStatus(u16),
}

/// The server refused a request (docs/protocol.md §9: other 4xx, and 5xx beyond the retry policy's
/// reach). Carries Graph's error code, the most detailed one understood, never a decision
/// made on its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{purpose} answered HTTP {status}{}{}", code_text(.graph), message_text(.graph))]
pub struct StatusError {
    /// Which request.
    pub purpose: Purpose,
    /// The status code.
    pub status: u16,
    /// Graph's error body, as far as it was understood.
    pub graph: GraphError,
}

fn code_text(g: &GraphError) -> String {
    match (&g.code, &g.inner_code) {
        (Some(c), Some(i)) if c != i => format!(" ({c}: {i})"),
        (Some(c), _) | (None, Some(c)) => format!(" ({c})"),
        (None, None) => String::new(),
    }
}

fn message_text(g: &GraphError) -> String {
    g.message
        .as_ref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

/// Options or arguments that cannot work: nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The base URL is not an absolute http(s) URL.
    #[error("Graph base URL: {0}")]
    BaseUrl(UrlError),
    /// The base URL has a query or fragment.
    #[error("the Graph base URL must not have a query or fragment")]
    BaseUrlQuery,
    /// A resource URL is on another origin than the base URL.
    #[error("resource URLs must be on the Graph base URL's origin")]
    ForeignResourceUrl,
    /// An ID was empty.
    #[error("the {0} is empty")]
    EmptyId(&'static str),
    /// The file name was empty.
    #[error("the file name is empty")]
    EmptyName,
    /// The chunk size is 0, above the target's limit, or off its grid.
    #[error("chunk size {chunk} is not allowed: it must be between 1 and {max} bytes{}", align_text(*.align))]
    ChunkSize {
        /// What was asked.
        chunk: u64,
        /// The target's largest chunk.
        max: u64,
        /// The grid chunks must sit on.
        align: u64,
    },
    /// The file is larger than the target takes.
    #[error("the file has {size} bytes; the target takes at most {max}")]
    FileTooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The retry policy cannot retry at all or never waits.
    #[error("retry policy: {0}")]
    RetryPolicy(&'static str),
    /// An option asked of a target that has no such thing.
    #[error("{0} applies only to {1}")]
    NotForTarget(&'static str, &'static str),
    /// A profile's numbers contradict each other.
    #[error("target profile: {0}")]
    Profile(&'static str),
}

fn align_text(align: u64) -> String {
    if align > 1 {
        format!(" and a multiple of {align}")
    } else {
        String::new()
    }
}

/// A misuse of the machine by its caller: reported at once, the machine's state unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    /// An answer was fed for a request that is not the one in flight.
    #[error("an answer for request {got} was fed, but {}", in_flight_text(*.in_flight))]
    NotInFlight {
        /// The id that was fed.
        got: RequestId,
        /// The request actually in flight.
        in_flight: Option<RequestId>,
    },
    /// `token_refreshed` was called while no refresh was asked for.
    #[error("token_refreshed was called, but the machine did not ask for a token refresh")]
    NoRefreshAsked,
}

fn in_flight_text(r: Option<RequestId>) -> String {
    match r {
        Some(id) => format!("the request in flight is {id}"),
        None => "no request is in flight".to_owned(),
    }
}

/// Saved state that cannot be restored. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// Not JSON of the saved-state shape.
    #[error("the saved state is not valid: {0}")]
    Malformed(String),
    /// Written by another format version.
    #[error("the saved state has format version {found}; this version reads {expected}")]
    Version {
        /// What the state says.
        found: u32,
        /// What this crate writes.
        expected: u32,
    },
    /// The state is for another file: its size, name or fingerprint differs.
    #[error("the saved state is for another file ({what} differs: saved {saved}, now {current})")]
    DifferentFile {
        /// Which property differs.
        what: &'static str,
        /// The saved value.
        saved: String,
        /// The current file's value.
        current: String,
    },
    /// The state is for another destination (base URL, task, or resource kind).
    #[error("the saved state is for another destination: saved {saved}, now {current}")]
    DifferentTarget {
        /// The saved create URL, redacted.
        saved: Redacted,
        /// The current one, redacted.
        current: Redacted,
    },
    /// A field is out of range or inconsistent.
    #[error("the saved state is inconsistent: {0}")]
    Invalid(String),
}
