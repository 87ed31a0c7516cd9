//! What the driver feeds back: the server's [`Response`], borrowed so that feeding it costs
//! no copy, or a [`TransportError`] when no answer came.

use std::fmt;

/// An HTTP answer, borrowed from the driver's buffers. Only the headers the machine reads
/// are kept (`Location`, `Retry-After` and `Date`); [`Response::header`] ignores the others,
/// so a driver can pass every header it received. Pass `Date`: it is how the machine knows the
/// server's clock (docs/protocol.md §10).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    status: u16,
    location: Option<&'a str>,
    retry_after: Option<&'a str>,
    date: Option<&'a str>,
    body: &'a [u8],
}

impl<'a> Response<'a> {
    /// An answer with this status, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            location: None,
            retry_after: None,
            date: None,
            body: &[],
        }
    }

    /// Adds a header. Names match in any casing (HTTP/2 lowercases them, docs/protocol.md §8); the
    /// first of a repeated header wins; headers the machine does not read are ignored.
    pub fn header(mut self, name: &str, value: &'a str) -> Self {
        let value = value.trim();
        if name.eq_ignore_ascii_case("location") {
            self.location.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("retry-after") {
            self.retry_after.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("date") {
            self.date.get_or_insert(value);
        }
        self
    }

    /// Adds every header of an iterator of `(name, value)` pairs.
    pub fn headers<I, N>(self, headers: I) -> Self
    where
        I: IntoIterator<Item = (N, &'a str)>,
        N: AsRef<str>,
    {
        headers
            .into_iter()
            .fold(self, |r, (n, v)| r.header(n.as_ref(), v))
    }

    /// Sets the body.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `Location` header.
    pub fn location(&self) -> Option<&'a str> {
        self.location
    }

    /// The `Retry-After` header.
    pub fn retry_after(&self) -> Option<&'a str> {
        self.retry_after
    }

    /// The `Date` header: the server's clock when it answered.
    pub fn date(&self) -> Option<&'a str> {
        self.date
    }

    /// The body bytes.
    pub fn body_bytes(&self) -> &'a [u8] {
        self.body
    }
}

impl fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("location", &self.location.map(crate::url::Redacted::new))
            .field("retry_after", &self.retry_after)
            .field("date", &self.date)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A request that got no HTTP answer. The kind tells the machine whether the request may have
/// reached the server (docs/protocol.md §9: after an unknown outcome, ask before sending more).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// Nothing was sent: DNS failure, connection refused, TLS handshake failure. Safe to
    /// repeat.
    Connect,
    /// The request was sent, in whole or in part, and no answer came in time.
    Timeout,
    /// The connection broke while sending or receiving: the outcome is unknown.
    Interrupted,
}

impl TransportError {
    /// Whether the server may have acted on the request.
    pub fn outcome_unknown(self) -> bool {
        !matches!(self, TransportError::Connect)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportError::Connect => "could not connect",
            TransportError::Timeout => "timed out waiting for the answer",
            TransportError::Interrupted => "connection interrupted",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_headers_the_machine_reads_are_kept_in_any_casing() {
        let r = Response::new(201).headers([
            ("content-length", "0"),
            ("LOCATION", " https://g/Attachments/a "),
            ("location", "https://second"),
            ("Retry-After", "2.128"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert_eq!(r.date(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(r.location(), Some("https://g/Attachments/a"));
        assert_eq!(r.retry_after(), Some("2.128"));
        assert_eq!(r.body_bytes(), b"");
    }
}
