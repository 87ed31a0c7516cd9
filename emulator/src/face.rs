//! The HTTP face: reads a request off hyper, hands it whole to the model, and carries out
//! what the model decided (answer, answer late, close unanswered). No Graph rule lives
//! here.

use std::fmt;
use std::sync::Arc;

use graph_model::{Origin, Outcome, WireAnswer, WireBody, WireRequest, MAX_BODY};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::Shared;

pub(crate) type Reply = Response<Full<Bytes>>;

/// Bodies past what the model reads are read and dropped up to this many bytes, so that
/// the client reads the answer rather than a reset; past it the connection is closed after
/// the answer.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Returned to hyper to close the connection without an answer.
#[derive(Debug)]
pub(crate) struct Abort;

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection closed on purpose")
    }
}

impl std::error::Error for Abort {}

/// A body as it came: hyper's frames, not copied, or why it did not come whole.
enum Frames {
    Whole(Vec<Bytes>),
    TooLarge,
    Cut,
}

/// Reads a body up to [`MAX_BODY`] bytes, keeping hyper's frames as they are: the bytes
/// are copied once, into the model's session.
async fn read_frames(body: &mut Incoming) -> Frames {
    if body.size_hint().lower() > MAX_BODY {
        return Frames::TooLarge;
    }
    let mut frames = Vec::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Frames::Cut;
        };
        if let Ok(data) = frame.into_data() {
            len += data.len() as u64;
            if len > MAX_BODY {
                return Frames::TooLarge;
            }
            if !data.is_empty() {
                frames.push(data);
            }
        }
    }
    Frames::Whole(frames)
}

/// Reads and drops the rest of a body; `true` if it all came.
async fn drain(body: &mut Incoming) -> bool {
    if body.is_end_stream() {
        return true;
    }
    if body.size_hint().lower() > DRAIN_LIMIT {
        return false;
    }
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return false;
        };
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if seen > DRAIN_LIMIT {
                return false;
            }
        }
    }
    true
}

fn reply(answer: WireAnswer) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(answer.body)));
    *r.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            r.headers_mut().insert(n, v);
        }
    }
    r
}

/// Entry point for one request on one listener.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    origin: Origin,
    req: Request<Incoming>,
) -> Result<Reply, Abort> {
    let (parts, mut body) = req.into_parts();
    let frames = read_frames(&mut body).await;
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |pq| pq.to_string());
    let wire = WireRequest {
        origin,
        method: parts.method.as_str(),
        target: &target,
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect(),
        body: match &frames {
            Frames::Whole(f) => WireBody::Bytes(f.iter().map(|b| &b[..]).collect()),
            Frames::TooLarge => WireBody::TooLarge,
            Frames::Cut => WireBody::Cut,
        },
    };
    let outcome = shared.lock().handle(crate::now(), &wire);
    drop(wire);
    drop(frames);
    let mut r = match outcome {
        Outcome::Answer(a) => reply(a),
        Outcome::Late { after, answer } => {
            tokio::time::sleep(after).await;
            reply(answer)
        }
        Outcome::Drop { after, .. } => {
            tokio::time::sleep(after).await;
            return Err(Abort);
        }
    };
    if !drain(&mut body).await {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(r)
}
