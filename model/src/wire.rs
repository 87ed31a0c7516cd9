//! What crosses the wire, as plain data: a request as the server reads it, and what the
//! server does about it. The HTTP face (the emulator) and a sans-IO driver (the test kit)
//! both speak these.

use std::time::Duration;

use crate::store::Origin;

/// One request as a server reads it.
#[derive(Debug, Clone)]
pub struct WireRequest<'a> {
    /// Which origin it came to.
    pub origin: Origin,
    /// `GET`, `PUT`, ... as sent.
    pub method: &'a str,
    /// Path and query as sent, still percent-encoded: `/v1.0/me/todo/...?tempauth=...`.
    pub target: &'a str,
    /// Header names and values as sent; names compare without case.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// The body.
    pub body: WireBody<'a>,
}

/// A request body as the server received it.
#[derive(Debug, Clone)]
pub enum WireBody<'a> {
    /// The whole body, in the pieces it came in.
    Bytes(Vec<&'a [u8]>),
    /// A body of this many bytes that the caller does not hand over (a long file the test
    /// does not hold): the model keeps which ranges arrived, not their bytes.
    Unseen(u64),
    /// More bytes came than any Graph request carries; the rest was not read.
    TooLarge,
    /// The body broke off before its end (the client went away).
    Cut,
}

impl<'a> WireRequest<'a> {
    /// A request with no headers and no body.
    pub fn new(origin: Origin, method: &'a str, target: &'a str) -> Self {
        WireRequest {
            origin,
            method,
            target,
            headers: Vec::new(),
            body: WireBody::Bytes(Vec::new()),
        }
    }

    /// The first header of this name, if it is text.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether a header of this name came, text or not.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The path, without the query.
    pub fn path(&self) -> &'a str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    /// The query, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireAnswer {
    /// The status code.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl WireAnswer {
    /// The first header of this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.into()));
    }
}

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer now.
    Answer(WireAnswer),
    /// Answer after a stall: the request took effect at once, the answer leaves `after`
    /// later (its `Date` says so).
    Late {
        /// How long the server sits on the answer.
        after: Duration,
        /// The answer.
        answer: WireAnswer,
    },
    /// Close the connection without answering, `after` from now, having read
    /// `body_read` bytes of the body. Whether the request took effect is in the record of
    /// the model, not here: that is what the client cannot know.
    Drop {
        /// How long before the connection closes.
        after: Duration,
        /// How much of the body the server read before closing.
        body_read: u64,
    },
}

impl Outcome {
    /// The answer, if one comes.
    pub fn answer(&self) -> Option<&WireAnswer> {
        match self {
            Outcome::Answer(a) | Outcome::Late { answer: a, .. } => Some(a),
            Outcome::Drop { .. } => None,
        }
    }
}
