//! A small window on the parsers behind the machine, for fuzzers and property tests (the
//! harnesses live in the `upload-session-testkit` crate). Only with the `fuzzing` feature; not
//! for applications.

pub use crate::ranges::{next_chunk, parse_range, MAX_RANGES};
pub use crate::retry::parse_retry_after;
pub use crate::session::{attachment_id_from_location, parse_upload_session, SessionFields};
pub use crate::time::{parse_http_date, parse_rfc3339};

use crate::request::RequestId;

/// A request id of any number, to feed the machine answers for requests it never sent.
pub fn request_id(n: u64) -> RequestId {
    RequestId(n)
}
