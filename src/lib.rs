//! A sans-IO client core for Microsoft Graph upload sessions: it never opens a socket, never
//! reads a clock, never reads the file and never holds the token.
//!
//! [`Upload`] is a state machine. Feed it the time and the server's answers; it answers with
//! the next [`Action`]: send this [`Request`] (method, URL, headers, and a *byte range* of the
//! file rather than bytes), wait until a time, refresh the token, or stop with a result. Any
//! transport drives it: blocking or async HTTP, another language through FFI, a fuzzer, a
//! simulated network. The protocol it speaks is Microsoft To Do's task attachment upload
//! (create a session, PUT end-inclusive `Content-Range`s in order following
//! `nextExpectedRanges`, finish on `201 Created` with a `Location`), with resumption, retries,
//! expiry, cancellation, the single POST for small files, and saved state; other Graph
//! resources are a [`Profile`] away.
//!
//! # Driving loop
//!
//! The loop below runs against a fake server written in a few lines. A real driver replaces
//! `fake_server` with an HTTP client that sends [`Request::url`], [`Request::headers`], the
//! bearer token when [`Request::needs_token`], and the file bytes of [`Body::FileRange`].
//!
//! ```
//! use upload_session::{Action, Body, FileInfo, Options, Owner, Request, Response, Target, Timestamp, Upload};
//!
//! // A 5 MB file in 2 MiB chunks to a task of the signed-in user.
//! let target = Target::todo_task("https://graph.microsoft.com/v1.0", Owner::Me, "list=", "task=")?;
//! let file = FileInfo::new("report.pdf", 5_000_000);
//! let options = Options::default().with_chunk_size(2 * 1024 * 1024);
//! let mut upload = Upload::new(target, file, options)?;
//!
//! // The fake server: a session, then `nextExpectedRanges` after each PUT, 201 at the end.
//! let mut received = 0u64;
//! let mut fake_server = |req: &Request| -> (u16, Vec<(&'static str, String)>, String) {
//!     match req.body() {
//!         Body::Json(_) => (200, vec![], r#"{"uploadUrl": "https://graph.microsoft.com/v1.0/up/1",
//!             "expirationDateTime": "2030-01-01T00:00:00.0000000Z", "nextExpectedRanges": ["0-"]}"#.into()),
//!         Body::FileRange(range) => {
//!             assert_eq!(range.start(), received, "in order, where the server expects");
//!             received = range.end();
//!             if received == 5_000_000 {
//!                 (201, vec![("Location", "https://graph.microsoft.com/v1.0/x/Attachments/AAMk=".into())], String::new())
//!             } else {
//!                 (200, vec![], format!(r#"{{"NextExpectedRanges": ["{received}"]}}"#))
//!             }
//!         }
//!         _ => unreachable!("this upload needs no other request"),
//!     }
//! };
//!
//! let mut now = Timestamp::from_unix_millis(1_700_000_000_000);
//! let completion = loop {
//!     match upload.poll(now) {
//!         Action::Send(req) => {
//!             let (status, headers, body) = fake_server(&req);
//!             let resp = Response::new(status)
//!                 .headers(headers.iter().map(|(n, v)| (*n, v.as_str())))
//!                 .body(body.as_bytes());
//!             upload.handle_response(now, req.id(), resp)?;
//!         }
//!         Action::Wait { until, .. } => now = until,
//!         Action::RefreshToken => upload.token_refreshed(now)?,
//!         Action::Done(done) => break done,
//!         Action::Failed(e) => return Err(e.into()),
//!         Action::Cancelled => unreachable!("nobody cancelled"),
//!         other => unreachable!("this version's actions are all handled: {other:?}"),
//!     }
//! };
//! assert_eq!(completion.id, "AAMk=");
//! assert_eq!(upload.requests(), 4); // create + 3 PUTs
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the driver owes the machine
//!
//! - Send each [`Request`] as described: the URL verbatim, exactly [`Request::content_length`]
//!   bytes, no compression, no chunked encoding, `Authorization` only when
//!   [`Request::needs_token`] is true.
//! - Answer every request exactly once: [`Upload::handle_response`] or
//!   [`Upload::handle_transport_error`], with the request's id.
//! - Pass every answer's headers, `Date` included: the machine reads the server's clock from it
//!   (expiry, `Retry-After` dates and the look-up for a lost result compare server times with
//!   server times, `docs/protocol.md §10`).
//! - To survive a crash, write [`Upload::save`] somewhere durable after each answer and, when
//!   [`Request::save_before_sending`] says so, before sending the request: it may create the
//!   result, and a restored machine must know to look for it rather than send it twice.
//!   Resume with [`Upload::restore`], which asks the server where the session stands, looks for
//!   a result that may exist, or returns the saved outcome of an upload that already ended.
//!
//! The protocol facts the crate relies on, each with its source, are in `docs/protocol.md`
//! in the repository and the package; the code cites its sections as `docs/protocol.md §N`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// The parsers' window (`fuzzing`) makes a few leaf items public only with that feature.
#![cfg_attr(feature = "fuzzing", warn(unreachable_pub))]

mod answer;
mod error;
#[cfg(feature = "http")]
mod interop;
mod machine;
mod options;
mod phase;
mod quickxor;
mod ranges;
mod request;
mod response;
mod retry;
mod session;
mod state;
mod target;
mod time;
mod url;

pub use error::{
    CallerError, ConfigError, Error, Failure, ProtocolError, RestoreError, StatusError,
};
pub use machine::{Upload, MAX_STALLS};
pub use options::{FileInfo, Options, Progress, State};
pub use phase::{LOOKUP_TOLERANCE, MAX_LOOKUP_PAGES};
pub use quickxor::{HashGap, QuickXorHash};
pub use ranges::{ByteRange, ContentRange, ExpectedRanges, RangeError};
pub use request::{
    base64_len, Action, Base64Encoder, Body, Completion, HeaderValue, Method, Purpose, Request,
    RequestId, WaitReason,
};
pub use response::{Response, TransportError};
pub use retry::{RetryPolicy, Rng};
pub use session::{BodyError, GraphError, LocationError};
pub use state::STATE_VERSION;
pub use target::{
    CompletionRule, Conflict, CreateBody, Drive, DrivePlace, OutlookItem, Owner, Profile, PutUrl,
    SessionAuth, Target,
};
pub use time::{DateError, Timestamp};
pub use url::{Redacted, UrlError};

/// The parsers behind the machine, for fuzzers and property tests. Only with the `fuzzing`
/// feature; the harnesses that use them are in `upload-session-testkit`.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
