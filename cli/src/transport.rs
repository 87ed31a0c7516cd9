//! Sends one core [`Request`] over blocking HTTP with ureq and brings back the answer, or the
//! [`TransportError`] that says whether the request may have reached the server.
//!
//! The rules the core sets for a driver (docs/protocol.md §9) are kept here: the URL verbatim,
//! the core's headers exactly, one exact `Content-Length` and never chunked encoding or
//! compression, no redirects followed, 4xx and 5xx returned as answers, and
//! `Authorization: Bearer` if and only if [`Request::needs_token`]. The request is built by the
//! core's own conversion to the `http` crate's type, which marks the token header sensitive.

use std::io;
use std::time::Duration;

use upload_session::{Body, Request, TransportError};
use ureq::http;
use ureq::{Agent, SendBody};

use crate::source::SourceFile;

/// The largest answer body read; Graph's answers are a few kilobytes, a listing of
/// attachments without their contents some more.
const MAX_ANSWER: u64 = 4 * 1024 * 1024;

/// Bytes read from the file and written to the socket per step of a PUT body. ureq reads the
/// body straight into its output buffer (128 KiB by default): 256 KiB halves the read and
/// write system calls of a chunk; 512 KiB was faster for 3.9 MB chunks but slower for
/// 320 KiB ones, whose reading then no longer overlaps the server's (see BENCHMARKS.md).
const SEND_BUFFER: usize = 256 * 1024;

/// An HTTP answer, owned; the core reads it through `upload_session::Response::from`.
pub type Answer = http::Response<Vec<u8>>;

/// A blocking HTTP client that holds the bearer token.
pub struct Http {
    agent: Agent,
    token: Option<String>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Http")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Http {
    /// A client whose answers must start within `timeout` (and whose reads and writes never
    /// stall longer), sending `token` where the core asks for it.
    pub fn new(timeout: Duration, token: Option<String>) -> Http {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(timeout.min(Duration::from_secs(30))))
            .timeout_send_body(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_recv_body(Some(timeout))
            .user_agent(concat!("todo-upload/", env!("CARGO_PKG_VERSION")))
            .output_buffer_size(SEND_BUFFER)
            .build();
        Http {
            agent: Agent::new_with_config(config),
            token,
        }
    }

    /// Sends `req`, reading any file bytes it names from `file`.
    pub fn send(&self, req: &Request, file: &mut SourceFile) -> Result<Answer, SendError> {
        let token = self.token.as_deref();
        let result = match req.body() {
            Body::Empty => self.run(req.to_http((), token)),
            Body::Json(json) => self.run(req.to_http(json.as_str(), token)),
            Body::FileRange(range) => {
                let mut reader = file.range_reader(*range).map_err(file_error)?;
                let result = self.run(req.to_http(SendBody::from_reader(&mut reader), token));
                if let Some(e) = reader.file_error() {
                    return Err(SendError::File(e.to_owned()));
                }
                result
            }
            Body::JsonWithBase64File {
                prefix,
                range,
                suffix,
            } => {
                let mut reader = file
                    .base64_json_reader(prefix, *range, suffix)
                    .map_err(file_error)?;
                let result = self.run(req.to_http(SendBody::from_reader(&mut reader), token));
                if let Some(e) = reader.file_error() {
                    return Err(SendError::File(e.to_owned()));
                }
                result
            }
        };
        let (parts, mut body) = result?.into_parts();
        let body = body
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| SendError::Transport(classify(e)))?;
        Ok(http::Response::from_parts(parts, body))
    }

    fn run<B: ureq::AsSendBody>(
        &self,
        request: Result<http::Request<B>, http::Error>,
    ) -> Result<http::Response<ureq::Body>, SendError> {
        let request = request.map_err(|e| SendError::Request(e.to_string()))?;
        self.agent
            .run(request)
            .map_err(|e| SendError::Transport(classify(e)))
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The network failed: the core decides what follows.
    Transport(TransportError),
    /// The file could not be read: the upload cannot go on.
    File(String),
    /// The request could not be built (a URL the HTTP library refuses).
    Request(String),
}

fn file_error(e: io::Error) -> SendError {
    SendError::File(e.to_string())
}

/// Connection refused and DNS: nothing was sent. A timeout: no answer in time. A reset, a
/// broken pipe, an early end of the stream: the outcome is unknown.
fn classify(e: ureq::Error) -> TransportError {
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportError::Connect,
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::Io(io) => classify_io(&io),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => TransportError::Connect,
        _ => TransportError::Interrupted,
    }
}

fn classify_io(e: &io::Error) -> TransportError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::NotFound => TransportError::Connect,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TransportError::Timeout,
        _ => TransportError::Interrupted,
    }
}
