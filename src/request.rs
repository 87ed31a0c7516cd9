//! What the machine emits: [`Action`]s, and the [`Request`]s inside them. A request describes
//! an HTTP request completely except for two things the driver supplies: the bearer token
//! (when [`Request::needs_token`] says so) and the file's bytes (named by a [`ByteRange`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::ranges::{ByteRange, ContentRange};
use crate::time::Timestamp;
use crate::url::Redacted;

/// Identifies one emitted request; its response must be fed back with the same id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The number behind the id: increasing within one upload, 1 for the first request.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The HTTP methods the protocol uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Method {
    /// Session status and result look-up.
    Get,
    /// Session creation and the single POST.
    Post,
    /// A chunk.
    Put,
    /// Cancelling a session.
    Delete,
}

impl Method {
    /// The method's name as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Why a request is sent: what a log line or a progress display calls it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Purpose {
    /// `POST .../createUploadSession` (docs/protocol.md §2).
    CreateSession,
    /// `PUT` of one chunk (docs/protocol.md §3).
    UploadChunk,
    /// `GET {uploadUrl}`: where does the session stand (docs/protocol.md §6).
    QueryStatus,
    /// `GET` of the attachments listing, looking for a result whose answer was lost
    /// (docs/protocol.md §8).
    FindResult,
    /// The single POST of a small file (docs/protocol.md §7).
    SinglePost,
    /// The single PUT of a small drive item's bytes to its `/content` (docs/protocol.md §8).
    SinglePut,
    /// `DELETE {uploadUrl}` (docs/protocol.md §6).
    Cancel,
    /// `POST {uploadUrl}` with no body: a drive item's deferred commit (docs/protocol.md §8).
    Commit,
}

impl Purpose {
    /// The method a request of this purpose uses.
    pub fn method(self) -> Method {
        match self {
            Purpose::CreateSession | Purpose::SinglePost | Purpose::Commit => Method::Post,
            Purpose::UploadChunk | Purpose::SinglePut => Method::Put,
            Purpose::QueryStatus | Purpose::FindResult => Method::Get,
            Purpose::Cancel => Method::Delete,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Purpose::CreateSession => "session creation",
            Purpose::UploadChunk => "chunk upload",
            Purpose::QueryStatus => "session status query",
            Purpose::FindResult => "attachment look-up",
            Purpose::SinglePost => "single POST",
            Purpose::SinglePut => "single PUT",
            Purpose::Cancel => "session cancellation",
            Purpose::Commit => "commit",
        })
    }
}

/// A request body.
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    /// No body.
    Empty,
    /// A JSON document, sent as `application/json`.
    Json(String),
    /// These bytes of the file, sent as `application/octet-stream`. The driver reads exactly
    /// this range and sends it with the given `Content-Length`, uncompressed and not chunked
    /// (docs/protocol.md §9).
    FileRange(ByteRange),
    /// A JSON document that embeds the file base64-encoded (the single POST, docs/protocol.md §7):
    /// `prefix`, then the base64 of `range` (absent for a 0-byte file), then `suffix`.
    /// [`Base64Encoder`] streams the middle part without holding the file in memory.
    JsonWithBase64File {
        /// JSON text before the base64.
        prefix: String,
        /// The file's bytes to encode; `None` for an empty file.
        range: Option<ByteRange>,
        /// JSON text after the base64.
        suffix: String,
    },
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Json(s) => write!(f, "Json({} bytes)", s.len()),
            Body::FileRange(r) => write!(f, "FileRange({r})"),
            Body::JsonWithBase64File { range, .. } => match range {
                Some(r) => write!(f, "JsonWithBase64File({r})"),
                None => f.write_str("JsonWithBase64File(empty)"),
            },
        }
    }
}

/// Length of the base64 text of `n` bytes, with padding.
pub const fn base64_len(n: u64) -> u64 {
    n.div_ceil(3) * 4
}

/// A header value short enough to live inline, so that building a request allocates nothing.
#[derive(Clone, Copy)]
pub struct HeaderValue {
    buf: [u8; 72],
    len: u8,
}

impl HeaderValue {
    fn new(args: fmt::Arguments<'_>) -> Self {
        let mut v = HeaderValue {
            buf: [0; 72],
            len: 0,
        };
        // The longest value, "bytes {u64}-{u64}/{u64}", is 68 bytes: it always fits.
        let _ = fmt::Write::write_fmt(&mut v, args);
        v
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Write for HeaderValue {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let start = self.len as usize;
        let end = start + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[start..end].copy_from_slice(s.as_bytes());
        self.len = end as u8;
        Ok(())
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One HTTP request to send. Build it on the wire as: method, [`Request::url`] verbatim,
/// every header of [`Request::headers`], `Authorization: Bearer {token}` if and only if
/// [`Request::needs_token`], and the [`Body`]. Then feed the answer to
/// [`Upload::handle_response`](crate::Upload::handle_response) with [`Request::id`], or a
/// failure to [`Upload::handle_transport_error`](crate::Upload::handle_transport_error).
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) id: RequestId,
    pub(crate) purpose: Purpose,
    pub(crate) method: Method,
    pub(crate) url: Arc<str>,
    pub(crate) needs_token: bool,
    pub(crate) body: Body,
    pub(crate) total: u64,
    /// When it was emitted, by the client's clock: its answer's `Date` bounds the clock
    /// offset from above (docs/protocol.md §10).
    pub(crate) emitted: Timestamp,
    /// The request may create the result (docs/protocol.md §11).
    pub(crate) write_ahead: bool,
}

impl Request {
    /// The id to answer with.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Why it is sent.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL, to be used exactly as given (docs/protocol.md §2: `uploadUrl` is opaque). It may
    /// carry credentials in its query: print [`Request::redacted_url`] instead.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with its query hidden, for logs.
    pub fn redacted_url(&self) -> Redacted {
        Redacted::new(&self.url)
    }

    /// Whether the driver must add `Authorization: Bearer {token}`. True only for URLs on
    /// the Graph base URL's origin, and only when the target's rule asks for it
    /// (docs/protocol.md §8, 9). When false the driver must send no `Authorization` header.
    pub fn needs_token(&self) -> bool {
        self.needs_token
    }

    /// Whether the driver must write [`Upload::save`](crate::Upload::save) somewhere durable
    /// *before* sending this request: it may create the result (a single POST, or a PUT
    /// covering every byte the server still misses), so a crash while it is in flight must
    /// leave a state that knows to look for that result rather than send it again
    /// (docs/protocol.md §11). Save after every answer too.
    pub fn save_before_sending(&self) -> bool {
        self.write_ahead
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The file range a PUT carries.
    pub fn file_range(&self) -> Option<ByteRange> {
        match self.body {
            Body::FileRange(r) => Some(r),
            _ => None,
        }
    }

    /// The exact `Content-Length` of the body, `None` for a request without one.
    pub fn content_length(&self) -> Option<u64> {
        match &self.body {
            Body::Empty if matches!(self.method, Method::Post | Method::Put) => Some(0),
            Body::Empty => None,
            Body::Json(s) => Some(s.len() as u64),
            Body::FileRange(r) => Some(r.len()),
            Body::JsonWithBase64File {
                prefix,
                range,
                suffix,
            } => Some(
                prefix.len() as u64
                    + base64_len(range.map_or(0, |r| r.len()))
                    + suffix.len() as u64,
            ),
        }
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> Option<&'static str> {
        match self.body {
            Body::Empty => None,
            Body::Json(_) | Body::JsonWithBase64File { .. } => Some("application/json"),
            Body::FileRange(_) => Some("application/octet-stream"),
        }
    }

    /// The `Content-Range` of a PUT: `bytes S-E/T`, end inclusive (docs/protocol.md §3).
    pub fn content_range(&self) -> Option<ContentRange> {
        if self.purpose != Purpose::UploadChunk {
            return None;
        }
        self.file_range().map(|range| ContentRange {
            range,
            total: self.total,
        })
    }

    /// The headers to send, `Authorization` aside: `Content-Type`, `Content-Length` and
    /// `Content-Range` as they apply. Allocates nothing.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, HeaderValue)> + '_ {
        let ct = self
            .content_type()
            .map(|v| ("Content-Type", HeaderValue::new(format_args!("{v}"))));
        let cl = self
            .content_length()
            .map(|v| ("Content-Length", HeaderValue::new(format_args!("{v}"))));
        let cr = self
            .content_range()
            .map(|v| ("Content-Range", HeaderValue::new(format_args!("{v}"))));
        ct.into_iter().chain(cl).chain(cr)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("method", &self.method)
            .field("url", &self.redacted_url())
            .field("needs_token", &self.needs_token)
            .field("body", &self.body)
            .finish()
    }
}

/// Why the machine asks to wait.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum WaitReason {
    /// The server asked for it with `Retry-After` (docs/protocol.md §9).
    RetryAfter,
    /// Exponential backoff after a transient failure (docs/protocol.md §9).
    Backoff,
}

/// What the completed upload produced.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Completion {
    /// The attachment's (or item's) ID.
    pub id: String,
    /// The `Location` the server answered with, when it sent one.
    pub location: Option<String>,
    /// The file's size.
    pub size: u64,
    /// True when the answer to the final request was lost and the result was found by
    /// listing the attachments (docs/protocol.md §8).
    pub found_by_lookup: bool,
    /// The item's `webUrl`, when the answer carried one (drive items).
    pub web_url: Option<String>,
    /// The item's `file.hashes.quickXorHash` as the server reported it (drive items).
    pub quick_xor_hash: Option<String>,
}

/// What the driver must do next. Returned by [`Upload::poll`](crate::Upload::poll); polling
/// again without new input returns the same action.
#[must_use]
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this request, then feed its answer (or its failure) back with its id. Until then,
    /// polling returns the same request: it is still the one in flight. Save the state first
    /// when [`Request::save_before_sending`] says so.
    Send(Request),
    /// Send nothing before `until`; then poll again. Waking up early is harmless.
    Wait {
        /// When to poll again.
        until: Timestamp,
        /// Why.
        reason: WaitReason,
    },
    /// The server refused the token (401): get a fresh one, then call
    /// [`Upload::token_refreshed`](crate::Upload::token_refreshed). The session is kept.
    RefreshToken,
    /// The upload is complete. Terminal.
    Done(Completion),
    /// The upload failed. Terminal; the error says whose fault it was.
    Failed(Error),
    /// The upload was cancelled (and its session deleted, if it had one). Terminal.
    Cancelled,
}

/// Convenience for drivers: the wait, as a duration from `now`.
impl Action {
    /// For [`Action::Wait`], how long from `now`; zero if already due. `None` otherwise.
    pub fn wait_duration(&self, now: Timestamp) -> Option<Duration> {
        match self {
            Action::Wait { until, .. } => Some(until.saturating_duration_since(now)),
            _ => None,
        }
    }
}

/// Streams base64 (standard alphabet, padded) over input given in pieces of any size, for
/// [`Body::JsonWithBase64File`]: the driver reads the file in pieces and appends each piece's
/// encoding to its output buffer.
#[derive(Clone, Debug, Default)]
pub struct Base64Encoder {
    carry: [u8; 2],
    carried: u8,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Base64Encoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes `input`, appending whole 4-character groups to `out`; up to 2 bytes are held
    /// back for the next call.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while self.carried > 0 && self.carried < 3 && !input.is_empty() {
            if self.carried == 2 {
                let group = [self.carry[0], self.carry[1], input[0]];
                input = &input[1..];
                self.carried = 0;
                encode_group(&group, out);
            } else {
                self.carry[1] = input[0];
                input = &input[1..];
                self.carried = 2;
            }
        }
        let whole = input.len() / 3 * 3;
        out.reserve(whole / 3 * 4);
        for group in input[..whole].chunks_exact(3) {
            encode_group(group, out);
        }
        for &b in &input[whole..] {
            self.carry[self.carried as usize] = b;
            self.carried += 1;
        }
    }

    /// Writes the last group with its padding.
    pub fn finish(self, out: &mut Vec<u8>) {
        let c = self.carry;
        match self.carried {
            1 => out.extend_from_slice(&[
                B64[(c[0] >> 2) as usize],
                B64[((c[0] & 3) << 4) as usize],
                b'=',
                b'=',
            ]),
            2 => out.extend_from_slice(&[
                B64[(c[0] >> 2) as usize],
                B64[(((c[0] & 3) << 4) | (c[1] >> 4)) as usize],
                B64[((c[1] & 15) << 2) as usize],
                b'=',
            ]),
            _ => {}
        }
    }
}

fn encode_group(g: &[u8], out: &mut Vec<u8>) {
    let n = (u32::from(g[0]) << 16) | (u32::from(g[1]) << 8) | u32::from(g[2]);
    out.extend_from_slice(&[
        B64[(n >> 18) as usize & 63],
        B64[(n >> 12) as usize & 63],
        B64[(n >> 6) as usize & 63],
        B64[n as usize & 63],
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(pieces: &[&[u8]]) -> String {
        let mut e = Base64Encoder::new();
        let mut out = Vec::new();
        for p in pieces {
            e.push(p, &mut out);
        }
        e.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_known_answers_in_any_split() {
        assert_eq!(b64(&[b""]), "");
        assert_eq!(b64(&[b"f"]), "Zg==");
        assert_eq!(b64(&[b"fo"]), "Zm8=");
        assert_eq!(b64(&[b"foo"]), "Zm9v");
        assert_eq!(b64(&[b"foobar"]), "Zm9vYmFy");
        assert_eq!(b64(&[b"f", b"o", b"o", b"b", b"a"]), "Zm9vYmE=");
        assert_eq!(b64(&[b"fo", b"ob", b"ar"]), "Zm9vYmFy");
        let data: Vec<u8> = (0..=255).collect();
        let whole = b64(&[&data]);
        for split in 0..data.len() {
            assert_eq!(b64(&[&data[..split], &data[split..]]), whole);
        }
        assert_eq!(whole.len() as u64, base64_len(256));
    }

    #[test]
    fn headers_of_a_put_agree_with_its_range() {
        let req = Request {
            id: RequestId(3),
            purpose: Purpose::UploadChunk,
            method: Method::Put,
            url: Arc::from("https://g/s/1/content?tempauth=SECRET"),
            needs_token: true,
            body: Body::FileRange(ByteRange::new(0, 2_097_152).unwrap()),
            total: 3_483_322,
            emitted: Timestamp::default(),
            write_ahead: false,
        };
        let h: Vec<(String, String)> = req
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_string()))
            .collect();
        assert_eq!(
            h,
            [
                (
                    "Content-Type".to_owned(),
                    "application/octet-stream".to_owned()
                ),
                ("Content-Length".to_owned(), "2097152".to_owned()),
                (
                    "Content-Range".to_owned(),
                    "bytes 0-2097151/3483322".to_owned()
                ),
            ]
        );
        assert!(!format!("{req:?}").contains("SECRET"));
        let max = ContentRange {
            range: ByteRange::new(u64::MAX - 2, u64::MAX - 1).unwrap(),
            total: u64::MAX,
        };
        assert_eq!(
            HeaderValue::new(format_args!("{max}")).as_str(),
            max.to_string()
        );
    }
}
