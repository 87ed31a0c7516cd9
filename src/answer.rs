//! One pure reading of each answer: what the server said, in the protocol's own terms, to the
//! request it answers. Each body is parsed once, here; what follows from it is decided in
//! `machine/`.

use std::time::Duration;

use crate::error::{ProtocolError, StatusError};
use crate::ranges::ExpectedRanges;
use crate::request::Purpose;
use crate::response::Response;
use crate::retry::parse_retry_after;
use crate::session::{
    attachment_id_from_location, parse_attachment, parse_attachment_list, parse_graph_error,
    parse_upload_session, AttachmentJson, ItemFacts, LocationError,
};
use crate::target::{CompletionRule, Profile};
use crate::time::Timestamp;
use crate::url::{split_origin, Redacted, UrlError};

/// The longest `uploadUrl` accepted: Graph's are a few hundred bytes.
const MAX_UPLOAD_URL: usize = 16 * 1024;

/// What an answer says.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A session exists (docs/protocol.md §2). When `ranges` is true the body named the ranges
    /// it expects, now in the scratch list; otherwise it expects the whole file.
    Created {
        upload_url: String,
        expires: Option<Timestamp>,
        ranges: bool,
    },
    /// The session still misses the ranges now in the scratch list, never empty
    /// (docs/protocol.md §3, §4).
    Ranges { expires: Option<Timestamp> },
    /// A session body whose `nextExpectedRanges` is absent or empty: nothing missing, yet no
    /// completion (docs/protocol.md §8: ask again).
    NoRanges,
    /// The upload is complete and this is its result (docs/protocol.md §5, §7).
    Completed {
        id: String,
        location: Option<String>,
        facts: ItemFacts,
    },
    /// The upload is complete, but the answer names no result.
    CompletedUnnamed,
    /// A page of the attachments listing (docs/protocol.md §8).
    Listing {
        items: Vec<AttachmentJson>,
        next: Option<String>,
    },
    /// The session is deleted (docs/protocol.md §6).
    Deleted,
    /// 404 on the session: expired, deleted, or completed (docs/protocol.md §6, §8).
    Gone,
    /// 400 or 405 to a status query: this session cannot be asked (docs/protocol.md §9).
    QueryRefused,
    /// 416 or 409 to a PUT, without ranges: client and server disagree (docs/protocol.md §9).
    Disagreement,
    /// 401 (docs/protocol.md §9).
    Unauthorized,
    /// 408, 429, 500, 502, 503, 504: try again after `retry_after` at least. All but 429 may
    /// have had an effect (docs/protocol.md §9).
    Transient {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Refused for good.
    Refused(StatusError),
    /// A drive item's name is taken, and the conflict behaviour says fail.
    NameConflict(StatusError),
    /// Broke the protocol.
    Broken(ProtocolError),
}

/// Reads `resp`, the answer to a request for `purpose`, for a file of `size` bytes.
/// `server_now` is the server's time as best known (docs/protocol.md §10), for a
/// `Retry-After` given as a date. Ranges land in `scratch` so that no answer allocates.
pub(crate) fn classify(
    purpose: Purpose,
    resp: &Response<'_>,
    profile: &Profile,
    size: u64,
    server_now: Timestamp,
    scratch: &mut ExpectedRanges,
) -> Answer {
    let status = resp.status();
    match status {
        401 => return Answer::Unauthorized,
        408 | 429 | 500 | 502 | 503 | 504 => {
            return Answer::Transient {
                status,
                retry_after: resp
                    .retry_after()
                    .and_then(|v| parse_retry_after(v, server_now)),
            }
        }
        _ => {}
    }
    let ok = (200..300).contains(&status);
    match purpose {
        // The reference says 200, the tutorial 201 (docs/protocol.md §2): any 2xx.
        Purpose::CreateSession if ok => created(resp, size, scratch),
        Purpose::UploadChunk | Purpose::Commit | Purpose::SinglePut
            if profile.complete_statuses.contains(&status) =>
        {
            completed(resp, profile)
        }
        Purpose::UploadChunk | Purpose::Commit
            if profile.intermediate_statuses.contains(&status) =>
        {
            session_ranges(resp, size, scratch)
        }
        // A drive item's name is taken (docs/protocol.md §8).
        Purpose::UploadChunk | Purpose::Commit | Purpose::SinglePut
            if status == 409 && profile.name_conflict_on_409 =>
        {
            Answer::NameConflict(StatusError {
                purpose,
                status,
                graph: parse_graph_error(resp.body_bytes()),
            })
        }
        // A disagreement whose body happens to carry ranges answers itself.
        Purpose::UploadChunk if matches!(status, 409 | 416) => {
            match parse_upload_session(resp.body_bytes(), size, scratch) {
                Ok(f) if f.has_ranges && !scratch.is_empty() => Answer::Ranges {
                    expires: f.expiration,
                },
                _ => Answer::Disagreement,
            }
        }
        Purpose::UploadChunk if ok => Answer::Broken(ProtocolError::UnexpectedStatus(status)),
        Purpose::QueryStatus if ok => session_ranges(resp, size, scratch),
        Purpose::QueryStatus if matches!(status, 400 | 405) => Answer::QueryRefused,
        Purpose::UploadChunk | Purpose::QueryStatus | Purpose::Cancel | Purpose::Commit
            if status == 404 =>
        {
            Answer::Gone
        }
        Purpose::Cancel if ok => Answer::Deleted,
        // A drive item read by its path: there (a one-item listing) or not (docs/protocol.md §8).
        Purpose::FindResult if status == 404 && profile.lookup_by_item => Answer::Listing {
            items: Vec::new(),
            next: None,
        },
        Purpose::FindResult if ok && profile.lookup_by_item => {
            match parse_attachment(resp.body_bytes()) {
                Ok(item) => Answer::Listing {
                    items: vec![item],
                    next: None,
                },
                Err(e) => Answer::Broken(e.into()),
            }
        }
        Purpose::FindResult if ok => match parse_attachment_list(resp.body_bytes()) {
            Ok((items, next)) => Answer::Listing { items, next },
            Err(e) => Answer::Broken(e.into()),
        },
        Purpose::SinglePost if ok => {
            let location = resp.location().map(str::to_owned);
            match parse_attachment(resp.body_bytes()) {
                Ok(a) => Answer::Completed {
                    id: a.id,
                    location,
                    facts: a.facts,
                },
                Err(e) => match location.as_deref().map(attachment_id_from_location) {
                    Some(Ok(id)) => Answer::Completed {
                        id,
                        location,
                        facts: ItemFacts::default(),
                    },
                    _ => Answer::Broken(e.into()),
                },
            }
        }
        _ => Answer::Refused(StatusError {
            purpose,
            status,
            graph: parse_graph_error(resp.body_bytes()),
        }),
    }
}

fn created(resp: &Response<'_>, size: u64, scratch: &mut ExpectedRanges) -> Answer {
    scratch.clear();
    let fields = match parse_upload_session(resp.body_bytes(), size, scratch) {
        Ok(f) => f,
        Err(e) => return Answer::Broken(e.into()),
    };
    let Some(upload_url) = fields.upload_url.filter(|u| !u.is_empty()) else {
        return Answer::Broken(ProtocolError::MissingUploadUrl);
    };
    if let Err(e) = check_upload_url(&upload_url) {
        return Answer::Broken(ProtocolError::UploadUrl(e));
    }
    Answer::Created {
        upload_url,
        expires: fields.expiration,
        ranges: fields.has_ranges && !scratch.is_empty(),
    }
}

fn session_ranges(resp: &Response<'_>, size: u64, scratch: &mut ExpectedRanges) -> Answer {
    scratch.clear();
    match parse_upload_session(resp.body_bytes(), size, scratch) {
        Ok(f) if f.has_ranges && !scratch.is_empty() => Answer::Ranges {
            expires: f.expiration,
        },
        Ok(_) => Answer::NoRanges,
        Err(e) => Answer::Broken(e.into()),
    }
}

/// The result of a completed upload: the `Location` (To Do, Outlook) or the body's `id`
/// (OneDrive, Print), each the other's fallback (docs/protocol.md §5, §8).
fn completed(resp: &Response<'_>, profile: &Profile) -> Answer {
    let location = resp.location().map(str::to_owned);
    let from_location = || {
        location
            .as_deref()
            .map(attachment_id_from_location)
            .and_then(Result::ok)
    };
    let item = parse_attachment(resp.body_bytes()).ok();
    let facts = item.as_ref().map(|a| a.facts.clone()).unwrap_or_default();
    let from_body = || item.map(|a| a.id);
    let id = match profile.completion {
        CompletionRule::Location => from_location().or_else(from_body),
        CompletionRule::JsonBody => from_body().or_else(from_location),
    };
    match id {
        Some(id) => Answer::Completed {
            id,
            location,
            facts,
        },
        None => Answer::CompletedUnnamed,
    }
}

/// An `uploadUrl` must be an absolute http(s) URL of sane length (docs/protocol.md §2).
pub(crate) fn check_upload_url(url: &str) -> Result<(), UrlError> {
    if url.len() > MAX_UPLOAD_URL {
        return Err(UrlError::BadCharacters(Redacted::new(url)));
    }
    split_origin(url).map(|_| ())
}

/// The error of a completion that named nothing.
pub(crate) fn no_result() -> ProtocolError {
    ProtocolError::NoResult(LocationError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(purpose: Purpose, resp: Response<'_>) -> (Answer, ExpectedRanges) {
        let mut scratch = ExpectedRanges::default();
        let a = classify(
            purpose,
            &resp,
            &Profile::TODO_TASK,
            1000,
            Timestamp::from_unix_millis(784_111_777_000),
            &mut scratch,
        );
        (a, scratch)
    }

    #[test]
    fn each_answer_reads_as_the_protocol_names_it() {
        let (a, r) = read(
            Purpose::UploadChunk,
            Response::new(200).body(br#"{"NextExpectedRanges":["100-199"]}"#),
        );
        assert!(matches!(a, Answer::Ranges { .. }), "{a:?}");
        assert_eq!(r.missing_bytes(), 100);
        let (a, _) = read(
            Purpose::UploadChunk,
            Response::new(200).body(br#"{"nextExpectedRanges":[]}"#),
        );
        assert!(matches!(a, Answer::NoRanges), "{a:?}");
        let (a, _) = read(
            Purpose::UploadChunk,
            Response::new(201).header("location", "https://g/x/Attachments/AAMk%3D"),
        );
        assert!(
            matches!(a, Answer::Completed { ref id, .. } if id == "AAMk="),
            "{a:?}"
        );
        let (a, _) = read(Purpose::UploadChunk, Response::new(201));
        assert!(matches!(a, Answer::CompletedUnnamed), "{a:?}");
        let (a, _) = read(Purpose::UploadChunk, Response::new(416));
        assert!(matches!(a, Answer::Disagreement), "{a:?}");
        let (a, _) = read(
            Purpose::UploadChunk,
            Response::new(416).body(br#"{"nextExpectedRanges":["0-"]}"#),
        );
        assert!(matches!(a, Answer::Ranges { .. }), "{a:?}");
        let (a, _) = read(Purpose::UploadChunk, Response::new(204));
        assert!(
            matches!(a, Answer::Broken(ProtocolError::UnexpectedStatus(204))),
            "{a:?}"
        );
        let (a, _) = read(Purpose::QueryStatus, Response::new(405));
        assert!(matches!(a, Answer::QueryRefused), "{a:?}");
        let (a, _) = read(Purpose::QueryStatus, Response::new(404));
        assert!(matches!(a, Answer::Gone), "{a:?}");
        let (a, _) = read(Purpose::Cancel, Response::new(204));
        assert!(matches!(a, Answer::Deleted), "{a:?}");
        let (a, _) = read(Purpose::FindResult, Response::new(404));
        assert!(
            matches!(a, Answer::Refused(ref e) if e.status == 404),
            "{a:?}"
        );
        let (a, _) = read(Purpose::Cancel, Response::new(401));
        assert!(matches!(a, Answer::Unauthorized), "{a:?}");
    }

    #[test]
    fn a_retry_after_date_is_read_on_the_servers_clock() {
        // server_now is 08:49:37 exactly; the server asks for 08:49:40.
        let (a, _) = read(
            Purpose::UploadChunk,
            Response::new(503).header("Retry-After", "Sun, 06 Nov 1994 08:49:40 GMT"),
        );
        assert!(
            matches!(a, Answer::Transient { status: 503, retry_after: Some(d) } if d == Duration::from_secs(3)),
            "{a:?}"
        );
        let (a, _) = read(
            Purpose::CreateSession,
            Response::new(429).header("Retry-After", "40000000"),
        );
        assert!(
            matches!(a, Answer::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(40_000_000)),
            "{a:?}"
        );
    }

    #[test]
    fn a_created_session_needs_a_usable_upload_url() {
        let (a, _) = read(
            Purpose::CreateSession,
            Response::new(200).body(br#"{"nextExpectedRanges":["0-"]}"#),
        );
        assert!(
            matches!(a, Answer::Broken(ProtocolError::MissingUploadUrl)),
            "{a:?}"
        );
        let (a, _) = read(
            Purpose::CreateSession,
            Response::new(201).body(br#"{"uploadUrl":"ftp://x/y"}"#),
        );
        assert!(
            matches!(a, Answer::Broken(ProtocolError::UploadUrl(_))),
            "{a:?}"
        );
        let (a, _) = read(
            Purpose::CreateSession,
            Response::new(201).body(br#"{"uploadUrl":"https://g/s","nextExpectedRanges":["0-"]}"#),
        );
        assert!(matches!(a, Answer::Created { ranges: true, .. }), "{a:?}");
    }
}
