//! Sends one core [`Request`] over blocking HTTP with ureq and brings back the answer, or the
//! [`TransportError`] that says whether the request may have reached the server.
//!
//! The rules the core sets for a driver (docs/protocol.md §9) are kept here: the URL verbatim,
//! the core's headers exactly, one exact `Content-Length` and never chunked encoding or
//! compression, no redirects followed, 4xx and 5xx returned as answers, and
//! `Authorization: Bearer` if and only if [`Request::needs_token`]. The request is built by the
//! core's own conversion to the `http` crate's type, which marks the token header sensitive.

use std::io;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use upload_session::{Body, Request, TransportError};
use ureq::http;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
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

/// A blocking HTTP client that holds the bearer token. Proxies come from `HTTPS_PROXY`,
/// `HTTP_PROXY` and `NO_PROXY` (ureq reads them); trusted roots are the system's.
pub struct Http {
    agent: Agent,
    token: Mutex<Option<String>>,
    timeout: Duration,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Http")
            .field("token", &"<redacted>")
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
            .tls_config(TlsConfig::builder().root_certs(system_roots()).build())
            .build();
        Http {
            agent: Agent::new_with_config(config),
            token: Mutex::new(token),
            timeout,
        }
    }

    /// Replaces the token: the next requests that need one carry this.
    pub fn set_token(&self, token: String) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
    }

    /// The token sent now.
    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `GET url` with the token, for a JSON answer: names looked up before an upload. The
    /// caller checks that `url` is on Graph's origin.
    pub fn get_json(&self, url: &str) -> Result<serde_json::Value, GetError> {
        let mut req = self.agent.get(url);
        if let Some(t) = self.token() {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let transport = |e| GetError::Transport(describe(e, url, self.timeout).1);
        let resp = req.call().map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp
            .into_body()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(transport)?;
        if !(200..300).contains(&status) {
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            return Err(GetError::Status {
                status,
                retry_after,
                text: format!("HTTP {status}{code}"),
            });
        }
        serde_json::from_slice(&body)
            .map_err(|e| GetError::Refused(format!("the answer is not JSON: {e}")))
    }

    /// Sends `req`, reading any file bytes it names from `file`.
    pub fn send(&self, req: &Request, file: &mut SourceFile) -> Result<Answer, SendError> {
        let token = self.token();
        let token = token.as_deref();
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
            .map_err(|e| transport(e, req.url(), self.timeout))?;
        Ok(http::Response::from_parts(parts, body))
    }

    fn run<B: ureq::AsSendBody>(
        &self,
        request: Result<http::Request<B>, http::Error>,
    ) -> Result<http::Response<ureq::Body>, SendError> {
        let request = request.map_err(|e| SendError::Request(e.to_string()))?;
        let url = request.uri().to_string();
        self.agent
            .run(request)
            .map_err(|e| transport(e, &url, self.timeout))
    }
}

/// The system's trusted roots (`SSL_CERT_FILE` and `SSL_CERT_DIR` included), loaded once;
/// the bundled Mozilla roots when the system has none.
fn system_roots() -> RootCerts {
    static ROOTS: OnceLock<RootCerts> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let certs: Vec<Certificate<'static>> = found
                .certs
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            if certs.is_empty() {
                RootCerts::WebPki
            } else {
                RootCerts::new_with_certs(&certs)
            }
        })
        .clone()
}

/// Why a [`Http::get_json`] brought no JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    /// An HTTP error status, and the seconds of its `Retry-After`, if any.
    Status {
        /// The status.
        status: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<Duration>,
        /// What to say.
        text: String,
    },
    /// No answer.
    Transport(String),
    /// An answer that is not what was asked for.
    Refused(String),
}

impl std::fmt::Display for GetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GetError::Status { text, .. } | GetError::Transport(text) | GetError::Refused(text) => {
                f.write_str(text)
            }
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The network failed: the core decides what follows. The text says what failed, for
    /// people (never a URL's query, never the token).
    Transport(TransportError, String),
    /// The file could not be read: the upload cannot go on.
    File(String),
    /// The request could not be built (a URL the HTTP library refuses).
    Request(String),
}

fn file_error(e: io::Error) -> SendError {
    SendError::File(e.to_string())
}

fn transport(e: ureq::Error, url: &str, timeout: Duration) -> SendError {
    let (kind, text) = describe(e, url, timeout);
    SendError::Transport(kind, text)
}

/// What failed, precisely, and whether the request may have reached the server: nothing
/// was sent when the name did not resolve, the connection was refused or timed out, or the
/// TLS handshake failed (a known outcome, docs/protocol.md §9); after that, no answer in time
/// or a broken connection leaves the outcome unknown.
fn describe(e: ureq::Error, url: &str, timeout: Duration) -> (TransportError, String) {
    use ureq::Timeout as T;
    let host = host_of(url);
    let secs = match timeout.as_secs_f64() {
        s if s < 10.0 => format!("{s:.1}"),
        s => format!("{s:.0}"),
    };
    match e {
        ureq::Error::HostNotFound => (
            TransportError::Connect,
            format!("DNS lookup found no address for {host}"),
        ),
        ureq::Error::ConnectionFailed => (
            TransportError::Connect,
            format!("could not connect to {host}"),
        ),
        ureq::Error::Timeout(T::Resolve) => (
            TransportError::Connect,
            format!("DNS lookup for {host} timed out"),
        ),
        ureq::Error::Timeout(T::Connect) => (
            TransportError::Connect,
            format!("connecting to {host} timed out"),
        ),
        ureq::Error::Timeout(T::SendRequest | T::SendBody | T::PerWrite) => (
            TransportError::Timeout,
            format!("sending to {host} stalled for {secs} s"),
        ),
        ureq::Error::Timeout(_) => (
            TransportError::Timeout,
            format!("no answer from {host} within {secs} s"),
        ),
        ureq::Error::Rustls(e) => describe_tls(&e, &host),
        ureq::Error::Tls(e) => (
            TransportError::Connect,
            format!("TLS handshake with {host} failed: {e}"),
        ),
        ureq::Error::Io(io) => describe_io(&io, &host),
        ureq::Error::Protocol(e) => (
            TransportError::Interrupted,
            format!("{host} answered with something that is not HTTP/1.1: {e}"),
        ),
        other => (TransportError::Interrupted, format!("{host}: {other}")),
    }
}

fn describe_io(e: &io::Error, host: &str) -> (TransportError, String) {
    use io::ErrorKind as K;
    // The TLS handshake's failures come wrapped in an I/O error.
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return describe_tls(tls, host);
    }
    match e.kind() {
        K::ConnectionRefused => (
            TransportError::Connect,
            format!("{host} refused the connection"),
        ),
        // These also end connections that had carried bytes: the outcome is not known.
        K::AddrNotAvailable | K::NotFound | K::HostUnreachable | K::NetworkUnreachable => (
            TransportError::Interrupted,
            format!("cannot reach {host}: {e}"),
        ),
        K::TimedOut | K::WouldBlock => (
            TransportError::Timeout,
            format!("no answer from {host} in time"),
        ),
        K::ConnectionReset => (
            TransportError::Interrupted,
            format!("{host} reset the connection"),
        ),
        K::BrokenPipe | K::ConnectionAborted => (
            TransportError::Interrupted,
            format!("{host} closed the connection while the request was sent"),
        ),
        K::UnexpectedEof => (
            TransportError::Interrupted,
            format!("{host} closed the connection before answering"),
        ),
        _ => (TransportError::Interrupted, format!("{host}: {e}")),
    }
}

/// A certificate or negotiation failure can only happen in the handshake, before any byte
/// of the request: a known outcome. Other TLS errors may come later: unknown.
fn describe_tls(e: &rustls::Error, host: &str) -> (TransportError, String) {
    use rustls::Error as R;
    match e {
        R::InvalidCertificate(_)
        | R::NoCertificatesPresented
        | R::PeerIncompatible(_)
        | R::InappropriateHandshakeMessage { .. }
        | R::AlertReceived(_) => (
            TransportError::Connect,
            format!("TLS handshake with {host} failed: {e}"),
        ),
        _ => (
            TransportError::Interrupted,
            format!("TLS error with {host}: {e}"),
        ),
    }
}

/// `host[:port]` of a URL, for messages: never its path or query.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_before_sending_are_known_outcomes() {
        let url = "https://graph.example/v1.0/me?secret=1";
        let t = Duration::from_secs(30);
        let (k, m) = describe(ureq::Error::HostNotFound, url, t);
        assert_eq!(
            (k, m.as_str()),
            (
                TransportError::Connect,
                "DNS lookup found no address for graph.example"
            )
        );
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            describe(ureq::Error::Io(refused), url, t).0,
            TransportError::Connect
        );
        let (k, m) = describe(ureq::Error::Timeout(ureq::Timeout::Connect), url, t);
        assert_eq!(k, TransportError::Connect, "{m}");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let (k, m) = describe(ureq::Error::Io(reset), url, t);
        assert_eq!(k, TransportError::Interrupted);
        assert!(m.contains("reset") && !m.contains("secret"), "{m}");
        let (k, m) = describe(ureq::Error::Timeout(ureq::Timeout::RecvResponse), url, t);
        assert_eq!(
            (k, m.as_str()),
            (
                TransportError::Timeout,
                "no answer from graph.example within 30 s"
            )
        );
        assert_eq!(host_of("http://u:p@h:8080/x"), "h:8080");
        // A certificate refused in the handshake arrives wrapped in an I/O error: nothing
        // was sent. An unreachable network may end a connection that carried bytes.
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, cert);
        let (k, m) = describe(ureq::Error::Io(io), url, t);
        assert_eq!(k, TransportError::Connect, "{m}");
        assert!(
            m.starts_with("TLS handshake with graph.example failed"),
            "{m}"
        );
        let io = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(
            describe(ureq::Error::Io(io), url, t).0,
            TransportError::Interrupted
        );
        let unreachable = io::Error::from(io::ErrorKind::HostUnreachable);
        assert_eq!(
            describe(ureq::Error::Io(unreachable), url, t).0,
            TransportError::Interrupted
        );
    }
}
