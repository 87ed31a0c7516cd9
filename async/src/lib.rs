//! An async driver for the [`upload_session`] core: tokio for time and files, hyper 1.x's
//! HTTP/1 client connection for the wire. The core needs nothing of its driver but "send this,
//! tell me what came back, and what time it is"; requests and answers cross through the core's
//! own `http` conversions (which mark the token header sensitive).
//!
//! Kept small on purpose: one connection per request (so a dropped connection never poisons
//! the next request), plain `http://` only (an emulator or a local proxy), and each chunk read
//! with `tokio::fs` into one buffer of at most the chunk size. It does not save state.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use upload_session::{
    Action, Base64Encoder, Body, ByteRange, Completion, Request, Response, Timestamp,
    TransportError, Upload,
};

/// An answer, owned.
type Answer = hyper::Response<Bytes>;

/// Why [`upload`] stopped without an attachment.
#[derive(Debug)]
pub enum AsyncError {
    /// The core gave up: its typed error says why.
    Upload(upload_session::Error),
    /// The file could not be read.
    File(std::io::Error),
    /// The upload was cancelled.
    Cancelled,
    /// A URL this small driver cannot reach (not `http://`), or a core misuse (a bug).
    Driver(String),
}

impl std::fmt::Display for AsyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsyncError::Upload(e) => write!(f, "{e}"),
            AsyncError::File(e) => write!(f, "cannot read the file: {e}"),
            AsyncError::Cancelled => f.write_str("the upload was cancelled"),
            AsyncError::Driver(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for AsyncError {}

/// Drives `upload` to its end, reading the file at `path`, sending `token` where the core
/// asks for it, and giving each request `timeout` to be answered.
pub async fn upload(
    mut upload: Upload,
    path: &std::path::Path,
    token: &str,
    timeout: Duration,
) -> Result<Completion, AsyncError> {
    let mut file = File::open(path).await.map_err(AsyncError::File)?;
    loop {
        let now = Timestamp::from_system_time(SystemTime::now());
        match upload.poll(now) {
            Action::Send(req) => {
                // Read the body first: a file error stops the upload, it is not the network's.
                let body = read_body(&mut file, &req).await.map_err(AsyncError::File)?;
                let result = match tokio::time::timeout(timeout, send(&req, body, token)).await {
                    Ok(result) => result,
                    Err(_elapsed) => Err(TransportError::Timeout),
                };
                let now = Timestamp::from_system_time(SystemTime::now());
                let fed = match &result {
                    Ok(answer) => upload.handle_response(now, req.id(), Response::from(answer)),
                    Err(e) => upload.handle_transport_error(now, req.id(), *e),
                };
                fed.map_err(|e| AsyncError::Driver(e.to_string()))?;
            }
            // The core never sleeps; the driver does, until the time it was given.
            Action::Wait { until, .. } => {
                tokio::time::sleep(until.saturating_duration_since(now)).await
            }
            // A static token: say it was "refreshed"; a second 401 in a row ends the upload.
            Action::RefreshToken => upload
                .token_refreshed(now)
                .map_err(|e| AsyncError::Driver(e.to_string()))?,
            Action::Done(c) => return Ok(c),
            Action::Failed(e) => return Err(AsyncError::Upload(e)),
            Action::Cancelled => return Err(AsyncError::Cancelled),
            other => return Err(AsyncError::Driver(format!("an unknown action {other:?}"))),
        }
    }
}

/// The request's body bytes: JSON as given, a file range read with a seek and an exact read,
/// or the single POST's JSON with the file base64-encoded piece by piece.
async fn read_body(file: &mut File, req: &Request) -> std::io::Result<Bytes> {
    Ok(match req.body() {
        Body::Empty => Bytes::new(),
        Body::Json(json) => Bytes::from(json.clone()),
        Body::FileRange(range) => Bytes::from(read_range(file, *range).await?),
        Body::JsonWithBase64File {
            prefix,
            range,
            suffix,
        } => {
            let len = req.content_length().unwrap_or(0);
            let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            out.extend_from_slice(prefix.as_bytes());
            if let Some(range) = range {
                let mut encoder = Base64Encoder::new();
                let mut at = range.start();
                while at < range.end() {
                    let piece = ByteRange::new(at, range.end().min(at + 48 * 1024));
                    if let Some(piece) = piece {
                        encoder.push(&read_range(file, piece).await?, &mut out);
                        at = piece.end();
                    }
                }
                encoder.finish(&mut out);
            }
            out.extend_from_slice(suffix.as_bytes());
            Bytes::from(out)
        }
    })
}

async fn read_range(file: &mut File, range: ByteRange) -> std::io::Result<Vec<u8>> {
    file.seek(std::io::SeekFrom::Start(range.start())).await?;
    let mut buf = vec![0; usize::try_from(range.len()).unwrap_or(usize::MAX)];
    file.read_exact(&mut buf).await?;
    Ok(buf)
}

/// One request on a fresh connection. Connecting failed: nothing was sent (`Connect`). The
/// connection broke after that: the outcome is unknown (`Interrupted`).
async fn send(req: &Request, body: Bytes, token: &str) -> Result<Answer, TransportError> {
    let uri: hyper::Uri = req.url().parse().map_err(|_| TransportError::Connect)?;
    let (Some("http"), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(TransportError::Connect);
    };
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|_| TransportError::Connect)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| TransportError::Connect)?;
    tokio::spawn(conn);

    // The core's request, headers and token as it says; then the origin-form target (path and
    // query, verbatim) and Host, as an HTTP/1 client connection sends them.
    let mut request = req
        .to_http(Full::new(body), Some(token))
        .map_err(|_| TransportError::Connect)?;
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    *request.uri_mut() = target.parse().map_err(|_| TransportError::Connect)?;
    let host = uri.authority().map_or(host, |a| a.as_str());
    let host = hyper::header::HeaderValue::from_str(host).map_err(|_| TransportError::Connect)?;
    request.headers_mut().insert(hyper::header::HOST, host);

    let resp = sender
        .send_request(request)
        .await
        .map_err(|_| TransportError::Interrupted)?;
    let (parts, body) = resp.into_parts();
    let body = Limited::new(body, 4 << 20)
        .collect()
        .await
        .map_err(|_| TransportError::Interrupted)?
        .to_bytes();
    Ok(hyper::Response::from_parts(parts, body))
}
