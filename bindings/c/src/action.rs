//! What `us_upload_poll` hands out: the action, and the request inside a send action, with
//! every string the caller may read made ready (NUL-terminated) when the action is made.
//! Both are owned by the upload; pointers to them and into them live until the next
//! `us_upload_poll` or `us_upload_free` on that upload.

use std::ffi::{c_char, CStr};

use upload_session::{
    base64_len, Action, Base64Encoder, Body, Completion, Error, Failure, Method, Purpose, Request,
    WaitReason,
};

use crate::ffi::{borrow, guard, us_result, Buffer, CText, Fail, Out, Outcome};

/// What the caller must do next.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_action_kind {
    /// Send the request (`us_action_request`), then feed its answer back with its id.
    Send = 0,
    /// Send nothing before the time of `us_action_wait`, then poll again.
    Wait = 1,
    /// The server refused the token: get a fresh one, then `us_upload_token_refreshed`.
    RefreshToken = 2,
    /// The upload is complete (`us_action_done_*`). Terminal.
    Done = 3,
    /// The upload failed (`us_action_failure_*`). Terminal.
    Failed = 4,
    /// The upload was cancelled. Terminal.
    Cancelled = 5,
}

/// Why a wait.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_wait_reason {
    /// The server asked for it with `Retry-After`.
    RetryAfter = 0,
    /// Backoff after a transient failure.
    Backoff = 1,
    /// A reason newer than this binding.
    Other = 255,
}

/// Why a request is sent: what a log line calls it.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_purpose {
    /// `POST .../createUploadSession`.
    CreateSession = 0,
    /// `PUT` of one chunk.
    UploadChunk = 1,
    /// `GET {uploadUrl}`: where does the session stand.
    QueryStatus = 2,
    /// `GET` of the destination, looking for a result whose answer was lost.
    FindResult = 3,
    /// The single POST of a small file.
    SinglePost = 4,
    /// `DELETE {uploadUrl}`.
    Cancel = 5,
    /// `POST {uploadUrl}` with no body: a drive item's deferred commit.
    Commit = 6,
    /// The single `PUT` of a small drive item's bytes to its `/content`.
    SinglePut = 7,
    /// A purpose newer than this binding.
    Other = 255,
}

/// A request body.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_body_kind {
    /// No body.
    None = 0,
    /// A JSON document (`us_request_body_json`).
    Json = 1,
    /// Bytes `[start, end)` of the file (`us_request_body_range`), read by the caller and
    /// sent as they are.
    FileRange = 2,
    /// JSON that embeds the file in base64: the prefix, the base64 of the file range (none for
    /// an empty file), the suffix (`us_request_body_base64_json`, `us_request_body_range`,
    /// `us_base64_encode`).
    JsonBase64File = 3,
}

/// Whose fault a failure was.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum us_failure_category {
    /// The server's answer broke the protocol.
    Protocol = 0,
    /// The server refused a request with a status retrying cannot fix.
    Status = 1,
    /// A drive item's name is taken and the conflict behaviour is fail.
    NameConflict = 2,
    /// Transient failures went on past the retry policy's limits.
    RetriesExhausted = 3,
    /// The server asked to wait longer than the retry policy allows.
    RetryAfterTooLong = 4,
    /// The session expired or vanished and no new one may be created.
    SessionExpired = 5,
    /// The server refused the token again after a refresh.
    Unauthorized = 6,
    /// A failure newer than this binding; the message says what it is.
    Other = 255,
}

/// One request to send, owned by its action. Build it on the wire as: the method, the URL
/// verbatim, every header of `us_request_header`, `Authorization: Bearer {token}` if and only if
/// `us_request_needs_token` says so, and the body its kind describes.
pub struct us_request {
    request: Request,
    method: &'static CStr,
    url: CText,
    headers: Vec<(CText, CText)>,
    json: Option<CText>,
    base64_json: Option<(CText, CText)>,
}

impl us_request {
    fn new(request: Request) -> us_request {
        let method = match request.method() {
            Method::Get => c"GET",
            Method::Post => c"POST",
            Method::Put => c"PUT",
            Method::Delete => c"DELETE",
        };
        let headers = request
            .headers()
            .map(|(n, v)| (CText::new(n), CText::new(v.as_str())))
            .collect();
        let (json, base64_json) = match request.body() {
            Body::Json(j) => (Some(CText::new(j)), None),
            Body::JsonWithBase64File { prefix, suffix, .. } => {
                (None, Some((CText::new(prefix), CText::new(suffix))))
            }
            _ => (None, None),
        };
        us_request {
            url: CText::new(request.url()),
            method,
            headers,
            json,
            base64_json,
            request,
        }
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }
}

struct DoneView {
    id: CText,
    location: Option<CText>,
    size: u64,
    found_by_lookup: bool,
    web_url: Option<CText>,
    quick_xor_hash: Option<CText>,
}

struct FailedView {
    message: CText,
    category: us_failure_category,
    status: Option<u16>,
}

enum View {
    Send(us_request),
    Wait(u64, us_wait_reason),
    RefreshToken,
    Done(DoneView),
    Failed(FailedView),
    Cancelled,
}

/// What `us_upload_poll` returned, owned by the upload: valid until the next
/// `us_upload_poll` or `us_upload_free` on it.
pub struct us_action {
    view: View,
}

impl us_action {
    pub(crate) fn new(action: Action) -> Outcome<us_action> {
        let view = match action {
            Action::Send(req) => View::Send(us_request::new(req)),
            Action::Wait { until, reason } => View::Wait(
                until.as_unix_millis(),
                match reason {
                    WaitReason::RetryAfter => us_wait_reason::RetryAfter,
                    WaitReason::Backoff => us_wait_reason::Backoff,
                    _ => us_wait_reason::Other,
                },
            ),
            Action::RefreshToken => View::RefreshToken,
            Action::Done(c) => View::Done(done_view(&c)),
            Action::Failed(e) => View::Failed(failed_view(&e)),
            Action::Cancelled => View::Cancelled,
            other => {
                return Err(Fail::new(
                    us_result::Unsupported,
                    format!("the core asked for an action this binding does not know: {other:?}"),
                ))
            }
        };
        Ok(us_action { view })
    }

    pub(crate) fn request(&self) -> Option<&us_request> {
        match &self.view {
            View::Send(r) => Some(r),
            _ => None,
        }
    }

    fn kind(&self) -> us_action_kind {
        match self.view {
            View::Send(_) => us_action_kind::Send,
            View::Wait(..) => us_action_kind::Wait,
            View::RefreshToken => us_action_kind::RefreshToken,
            View::Done(_) => us_action_kind::Done,
            View::Failed(_) => us_action_kind::Failed,
            View::Cancelled => us_action_kind::Cancelled,
        }
    }

    fn done(&self) -> Outcome<&DoneView> {
        match &self.view {
            View::Done(d) => Ok(d),
            _ => Err(self.wrong("done")),
        }
    }

    fn failed(&self) -> Outcome<&FailedView> {
        match &self.view {
            View::Failed(f) => Ok(f),
            _ => Err(self.wrong("failed")),
        }
    }

    fn wrong(&self, wanted: &str) -> Fail {
        Fail::new(
            us_result::WrongKind,
            format!("the action is {:?}, not {wanted}", self.kind()),
        )
    }
}

fn done_view(c: &Completion) -> DoneView {
    DoneView {
        id: CText::new(&c.id),
        location: c.location.as_deref().map(CText::new),
        size: c.size,
        found_by_lookup: c.found_by_lookup,
        web_url: c.web_url.as_deref().map(CText::new),
        quick_xor_hash: c.quick_xor_hash.as_deref().map(CText::new),
    }
}

fn failed_view(e: &Error) -> FailedView {
    let (category, status) = match e {
        Error::Protocol { .. } => (us_failure_category::Protocol, None),
        Error::Status(s) => (us_failure_category::Status, Some(s.status)),
        Error::NameConflict(s) => (us_failure_category::NameConflict, Some(s.status)),
        Error::RetriesExhausted { last, .. } => (
            us_failure_category::RetriesExhausted,
            match last {
                Failure::Status(s) => Some(*s),
                Failure::Transport(_) => None,
            },
        ),
        Error::RetryAfterTooLong { .. } => (us_failure_category::RetryAfterTooLong, None),
        Error::SessionExpired { .. } => (us_failure_category::SessionExpired, None),
        Error::Unauthorized => (us_failure_category::Unauthorized, Some(401)),
        _ => (us_failure_category::Other, None),
    };
    FailedView {
        message: CText::new(&e.to_string()),
        category,
        status,
    }
}

/// Runs an accessor of an action.
///
/// # Safety
/// As the crate's pointer contract.
unsafe fn with_action(
    action: *const us_action,
    f: impl FnOnce(&us_action) -> Outcome,
) -> us_result {
    guard(|| {
        // SAFETY: the caller's contract.
        let a = unsafe { borrow(action, "action") }?;
        f(a)
    })
}

/// Runs an accessor of a request.
///
/// # Safety
/// As the crate's pointer contract.
unsafe fn with_request(
    request: *const us_request,
    f: impl FnOnce(&us_request) -> Outcome,
) -> us_result {
    guard(|| {
        // SAFETY: the caller's contract.
        let r = unsafe { borrow(request, "request") }?;
        f(r)
    })
}

/// The action's kind.
#[no_mangle]
pub unsafe extern "C" fn us_action_get_kind(
    action: *const us_action,
    kind_out: *mut us_action_kind,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_action(action, |a| {
            Out::new(kind_out, "kind_out")?.set(a.kind());
            Ok(())
        })
    }
}

/// The request of a `US_ACTION_KIND_SEND` action, owned by the action (same lifetime);
/// `US_RESULT_WRONG_KIND` for another kind.
#[no_mangle]
pub unsafe extern "C" fn us_action_request(
    action: *const us_action,
    request_out: *mut *const us_request,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(request_out, "request_out")?;
            let r = a.request().ok_or_else(|| a.wrong("send"))?;
            out.set(r);
            Ok(())
        })
    }
}

/// Until when a `US_ACTION_KIND_WAIT` action waits (milliseconds since the Unix epoch, on the
/// clock the caller passes as `now_ms`) and why (`reason_out` may be NULL).
#[no_mangle]
pub unsafe extern "C" fn us_action_wait(
    action: *const us_action,
    until_ms_out: *mut u64,
    reason_out: *mut us_wait_reason,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_action(action, |a| {
            let until_out = Out::new(until_ms_out, "until_ms_out")?;
            let reason_out = Out::optional(reason_out);
            let View::Wait(until, reason) = a.view else {
                return Err(a.wrong("wait"));
            };
            until_out.set(until);
            if let Some(r) = reason_out {
                r.set(reason);
            }
            Ok(())
        })
    }
}

/// The id of what a `US_ACTION_KIND_DONE` upload made (attachment, item or document id),
/// NUL-terminated; `id_len_out` (may be NULL) gets its length.
#[no_mangle]
pub unsafe extern "C" fn us_action_done_id(
    action: *const us_action,
    id_out: *mut *const c_char,
    id_len_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(id_out, "id_out")?;
            a.done()?.id.hand_out(out, id_len_out);
            Ok(())
        })
    }
}

/// The `Location` the server answered a `US_ACTION_KIND_DONE` upload with;
/// `US_RESULT_ABSENT` when it sent none.
#[no_mangle]
pub unsafe extern "C" fn us_action_done_location(
    action: *const us_action,
    location_out: *mut *const c_char,
    location_len_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(location_out, "location_out")?;
            let location = a.done()?.location.as_ref().ok_or_else(|| {
                Fail::new(us_result::Absent, "the server's answer had no Location")
            })?;
            location.hand_out(out, location_len_out);
            Ok(())
        })
    }
}

/// The item's `webUrl` of a `US_ACTION_KIND_DONE` drive upload; `US_RESULT_ABSENT` when the
/// answer carried none.
#[no_mangle]
pub unsafe extern "C" fn us_action_done_web_url(
    action: *const us_action,
    web_url_out: *mut *const c_char,
    web_url_len_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(web_url_out, "web_url_out")?;
            let url =
                a.done()?.web_url.as_ref().ok_or_else(|| {
                    Fail::new(us_result::Absent, "the server's answer had no webUrl")
                })?;
            url.hand_out(out, web_url_len_out);
            Ok(())
        })
    }
}

/// The QuickXorHash (base64) the server reported for a `US_ACTION_KIND_DONE` drive item;
/// `US_RESULT_ABSENT` when it reported none.
#[no_mangle]
pub unsafe extern "C" fn us_action_done_quick_xor_hash(
    action: *const us_action,
    hash_out: *mut *const c_char,
    hash_len_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(hash_out, "hash_out")?;
            let hash = a.done()?.quick_xor_hash.as_ref().ok_or_else(|| {
                Fail::new(us_result::Absent, "the server reported no quickXorHash")
            })?;
            hash.hand_out(out, hash_len_out);
            Ok(())
        })
    }
}

/// The size of the uploaded file, of a `US_ACTION_KIND_DONE` action.
#[no_mangle]
pub unsafe extern "C" fn us_action_done_size(
    action: *const us_action,
    size_out: *mut u64,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(size_out, "size_out")?;
            out.set(a.done()?.size);
            Ok(())
        })
    }
}

/// Whether the answer to the final request was lost and the result found by looking for it.
#[no_mangle]
pub unsafe extern "C" fn us_action_done_found_by_lookup(
    action: *const us_action,
    found_out: *mut bool,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(found_out, "found_out")?;
            out.set(a.done()?.found_by_lookup);
            Ok(())
        })
    }
}

/// Why a `US_ACTION_KIND_FAILED` upload failed, in words: NUL-terminated, URLs redacted,
/// never a token.
#[no_mangle]
pub unsafe extern "C" fn us_action_failure_message(
    action: *const us_action,
    message_out: *mut *const c_char,
    message_len_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(message_out, "message_out")?;
            a.failed()?.message.hand_out(out, message_len_out);
            Ok(())
        })
    }
}

/// Whose fault a `US_ACTION_KIND_FAILED` upload's failure was.
#[no_mangle]
pub unsafe extern "C" fn us_action_failure_category(
    action: *const us_action,
    category_out: *mut us_failure_category,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(category_out, "category_out")?;
            out.set(a.failed()?.category);
            Ok(())
        })
    }
}

/// The HTTP status that ended a `US_ACTION_KIND_FAILED` upload; `US_RESULT_ABSENT` when no
/// status did (a broken answer, a network failure, an expired session).
#[no_mangle]
pub unsafe extern "C" fn us_action_failure_status(
    action: *const us_action,
    status_out: *mut u16,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_action(action, |a| {
            let out = Out::new(status_out, "status_out")?;
            let status = a
                .failed()?
                .status
                .ok_or_else(|| Fail::new(us_result::Absent, "no HTTP status ended this upload"))?;
            out.set(status);
            Ok(())
        })
    }
}

/// The id to answer the request with (`us_upload_handle_response`,
/// `us_upload_handle_transport_error`): increasing within one upload, from 1.
#[no_mangle]
pub unsafe extern "C" fn us_request_id(request: *const us_request, id_out: *mut u64) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_request(request, |r| {
            Out::new(id_out, "id_out")?.set(r.request.id().get());
            Ok(())
        })
    }
}

/// Why the request is sent.
#[no_mangle]
pub unsafe extern "C" fn us_request_purpose(
    request: *const us_request,
    purpose_out: *mut us_purpose,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_request(request, |r| {
            let purpose = match r.request.purpose() {
                Purpose::CreateSession => us_purpose::CreateSession,
                Purpose::UploadChunk => us_purpose::UploadChunk,
                Purpose::QueryStatus => us_purpose::QueryStatus,
                Purpose::FindResult => us_purpose::FindResult,
                Purpose::SinglePost => us_purpose::SinglePost,
                Purpose::Cancel => us_purpose::Cancel,
                Purpose::Commit => us_purpose::Commit,
                Purpose::SinglePut => us_purpose::SinglePut,
                _ => us_purpose::Other,
            };
            Out::new(purpose_out, "purpose_out")?.set(purpose);
            Ok(())
        })
    }
}

/// The method, "GET", "POST", "PUT" or "DELETE": static, NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn us_request_method(
    request: *const us_request,
    method_out: *mut *const c_char,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_request(request, |r| {
            Out::new(method_out, "method_out")?.set(r.method.as_ptr());
            Ok(())
        })
    }
}

/// The URL, to be used exactly as given, NUL-terminated; `url_len_out` (may be NULL) gets its
/// length. It may carry a credential in its query: do not log it whole.
#[no_mangle]
pub unsafe extern "C" fn us_request_url(
    request: *const us_request,
    url_out: *mut *const c_char,
    url_len_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_request(request, |r| {
            let out = Out::new(url_out, "url_out")?;
            r.url.hand_out(out, url_len_out);
            Ok(())
        })
    }
}

/// How many headers to send (`Authorization` aside): `Content-Type`, `Content-Length` and
/// `Content-Range` as they apply.
#[no_mangle]
pub unsafe extern "C" fn us_request_header_count(
    request: *const us_request,
    count_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_request(request, |r| {
            Out::new(count_out, "count_out")?.set(r.headers.len());
            Ok(())
        })
    }
}

/// The header at `index` (from 0 to the count - 1): name and value, NUL-terminated.
/// `US_RESULT_INVALID_ARGUMENT` for an index past the end.
#[no_mangle]
pub unsafe extern "C" fn us_request_header(
    request: *const us_request,
    index: usize,
    name_out: *mut *const c_char,
    value_out: *mut *const c_char,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_request(request, |r| {
            let name_out = Out::new(name_out, "name_out")?;
            let value_out = Out::new(value_out, "value_out")?;
            let (name, value) = r.headers.get(index).ok_or_else(|| {
                Fail::new(
                    us_result::InvalidArgument,
                    format!("header {index} of {}", r.headers.len()),
                )
            })?;
            name_out.set(name.ptr());
            value_out.set(value.ptr());
            Ok(())
        })
    }
}

/// Whether to add `Authorization: Bearer {token}`. When false, send no `Authorization` header
/// at all: the URL is pre-authenticated or on another origin.
#[no_mangle]
pub unsafe extern "C" fn us_request_needs_token(
    request: *const us_request,
    needs_out: *mut bool,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_request(request, |r| {
            Out::new(needs_out, "needs_out")?.set(r.request.needs_token());
            Ok(())
        })
    }
}

/// Whether to write `us_upload_save`'s state somewhere durable *before* sending: the request
/// may create the result, and a restored upload must know to look for it.
#[no_mangle]
pub unsafe extern "C" fn us_request_save_before_sending(
    request: *const us_request,
    save_out: *mut bool,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_request(request, |r| {
            Out::new(save_out, "save_out")?.set(r.request.save_before_sending());
            Ok(())
        })
    }
}

/// The body's kind.
#[no_mangle]
pub unsafe extern "C" fn us_request_body_kind(
    request: *const us_request,
    kind_out: *mut us_body_kind,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_request(request, |r| {
            let kind = match r.request.body() {
                Body::Empty => us_body_kind::None,
                Body::Json(_) => us_body_kind::Json,
                Body::FileRange(_) => us_body_kind::FileRange,
                Body::JsonWithBase64File { .. } => us_body_kind::JsonBase64File,
            };
            Out::new(kind_out, "kind_out")?.set(kind);
            Ok(())
        })
    }
}

/// The JSON text of a `US_BODY_KIND_JSON` body, NUL-terminated; `json_len_out` (may be NULL)
/// gets its length, which is the body's length.
#[no_mangle]
pub unsafe extern "C" fn us_request_body_json(
    request: *const us_request,
    json_out: *mut *const c_char,
    json_len_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_request(request, |r| {
            let out = Out::new(json_out, "json_out")?;
            let json = r
                .json
                .as_ref()
                .ok_or_else(|| Fail::new(us_result::WrongKind, "the body is not JSON"))?;
            json.hand_out(out, json_len_out);
            Ok(())
        })
    }
}

/// The file bytes a body carries: `[start, end)`, end exclusive. For `US_BODY_KIND_FILE_RANGE`
/// the body is exactly these bytes; for `US_BODY_KIND_JSON_BASE64_FILE` their base64 goes
/// between the prefix and suffix (`US_RESULT_ABSENT` for an empty file: nothing to encode).
/// `US_RESULT_WRONG_KIND` for other bodies.
#[no_mangle]
pub unsafe extern "C" fn us_request_body_range(
    request: *const us_request,
    start_out: *mut u64,
    end_out: *mut u64,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_request(request, |r| {
            let start_out = Out::new(start_out, "start_out")?;
            let end_out = Out::new(end_out, "end_out")?;
            let range = match r.request.body() {
                Body::FileRange(range) => *range,
                Body::JsonWithBase64File {
                    range: Some(range), ..
                } => *range,
                Body::JsonWithBase64File { range: None, .. } => {
                    return Err(Fail::new(
                        us_result::Absent,
                        "the file is empty: no bytes to encode",
                    ))
                }
                _ => {
                    return Err(Fail::new(
                        us_result::WrongKind,
                        "the body carries no file bytes",
                    ))
                }
            };
            start_out.set(range.start());
            end_out.set(range.end());
            Ok(())
        })
    }
}

/// The JSON around the base64 of a `US_BODY_KIND_JSON_BASE64_FILE` body: the body is the
/// prefix, then the base64 of the file range, then the suffix. Both NUL-terminated; the
/// length pointers may be NULL.
#[no_mangle]
pub unsafe extern "C" fn us_request_body_base64_json(
    request: *const us_request,
    prefix_out: *mut *const c_char,
    prefix_len_out: *mut usize,
    suffix_out: *mut *const c_char,
    suffix_len_out: *mut usize,
) -> us_result {
    // SAFETY: the caller's contract, for every pointer.
    unsafe {
        with_request(request, |r| {
            let prefix_out = Out::new(prefix_out, "prefix_out")?;
            let suffix_out = Out::new(suffix_out, "suffix_out")?;
            let (prefix, suffix) = r.base64_json.as_ref().ok_or_else(|| {
                Fail::new(us_result::WrongKind, "the body does not embed the file")
            })?;
            prefix.hand_out(prefix_out, prefix_len_out);
            suffix.hand_out(suffix_out, suffix_len_out);
            Ok(())
        })
    }
}

/// The exact `Content-Length` to send; `US_RESULT_ABSENT` for a request without a body
/// (a GET or DELETE). Also among the headers.
#[no_mangle]
pub unsafe extern "C" fn us_request_content_length(
    request: *const us_request,
    length_out: *mut u64,
) -> us_result {
    // SAFETY: the caller's contract, for both pointers.
    unsafe {
        with_request(request, |r| {
            let out = Out::new(length_out, "length_out")?;
            let len = r
                .request
                .content_length()
                .ok_or_else(|| Fail::new(us_result::Absent, "the request has no body"))?;
            out.set(len);
            Ok(())
        })
    }
}

/// Length of the base64 text of `n` bytes, with padding.
#[no_mangle]
pub extern "C" fn us_base64_len(n: u64) -> u64 {
    base64_len(n)
}

/// Writes the base64 (standard alphabet, padded) of `input_len` bytes at `input` to `out`,
/// no NUL added, and its length to `*written`. `out_cap` must be at least
/// `us_base64_len(input_len)`, else `US_RESULT_BUFFER_TOO_SMALL`. Pieces whose lengths are
/// multiples of 3 encode to text that concatenates: encode a file range in such pieces, the
/// last one of any length.
#[no_mangle]
pub unsafe extern "C" fn us_base64_encode(
    input: *const u8,
    input_len: usize,
    out: *mut c_char,
    out_cap: usize,
    written: *mut usize,
) -> us_result {
    guard(|| {
        // SAFETY: the crate's pointer contract, for every pointer.
        let (input, buf, written) = unsafe {
            (
                crate::ffi::bytes(input, input_len, "input")?,
                Buffer::new(out, out_cap, "out")?,
                Out::new(written, "written")?,
            )
        };
        let need = base64_len(input.len() as u64);
        if need > buf.capacity() as u64 {
            return Err(Fail::new(
                us_result::BufferTooSmall,
                format!("{need} bytes needed, {} given", buf.capacity()),
            ));
        }
        let mut text = Vec::with_capacity(need as usize);
        let mut encoder = Base64Encoder::new();
        encoder.push(input, &mut text);
        encoder.finish(&mut text);
        buf.fill(&text);
        written.set(text.len());
        Ok(())
    })
}
