//! The HTTP side: routing, the checks of docs/protocol.md §2-§7 and §9, and where
//! faults take effect. One `handle` call per request; state lives behind one
//! lock that is never held across an await.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::codec::{base64_decode, base64_encode, decode, encode_segment, query_param};
use crate::faults::{Fault, KeyCase, RequestKind, RetryAfter};
use crate::store::{Attachment, Origin, RecordedRequest, Session, State};
use crate::time::{graph_timestamp, http_date};

/// Each PUT must be strictly under this many bytes (docs/protocol.md §3).
pub const MAX_CHUNK: u64 = 4_000_000;
/// Default file size limit: 25 MiB (docs/protocol.md §1).
pub const DEFAULT_MAX_SIZE: u64 = 25 * 1024 * 1024;
/// The single POST takes files strictly under this many bytes (docs/protocol.md §7).
pub const SINGLE_POST_LIMIT: u64 = 3 * 1024 * 1024;

/// Largest JSON body read for createUploadSession.
const CREATE_BODY_LIMIT: usize = 64 * 1024;
/// Largest JSON body read for the single POST (base64 of 3 MiB plus room).
const POST_BODY_LIMIT: usize = 5 * 1024 * 1024;
/// Bodies of refused requests are read and dropped up to this many bytes, so
/// that the client reads the answer rather than a reset; past it the
/// connection is closed after the answer.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

pub(crate) type Reply = Response<Full<Bytes>>;

/// Returned to hyper to close the connection without an answer.
#[derive(Debug)]
pub(crate) struct Abort;

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection closed on purpose")
    }
}

impl std::error::Error for Abort {}

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) token: String,
    pub(crate) user_id: String,
    pub(crate) max_size: u64,
    pub(crate) lifetime: Duration,
    /// The emulated server's clock minus this machine's, in ms.
    pub(crate) clock_skew_ms: i64,
    /// `http://127.0.0.1:{port}` of the Graph listener.
    pub(crate) graph_origin: String,
    /// `http://127.0.0.1:{port}` of the second listener.
    pub(crate) foreign_origin: String,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Per-request context.
struct Ctx {
    origin: Origin,
    version: String,
    fault: Option<&'static str>,
    stall_after: Option<Duration>,
}

fn reply(status: u16, body: Vec<u8>, content_type: Option<&str>) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        set_header(&mut r, header::CONTENT_TYPE, ct);
    }
    r
}

fn set_header(r: &mut Reply, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

fn json_reply(status: u16, value: &Value) -> Reply {
    let body = serde_json::to_vec(value).unwrap_or_default();
    reply(status, body, Some("application/json"))
}

/// The ids of the request being answered, for error bodies and headers.
#[derive(Debug, Clone, Default)]
struct RequestIds {
    request_id: String,
    client_request_id: String,
    /// The server clock's skew, for every instant written while answering.
    clock_skew_ms: i64,
}

/// The emulated server's clock while answering a request.
fn now() -> SystemTime {
    let skew = IDS.try_with(|i| i.clock_skew_ms).unwrap_or(0);
    crate::time::skewed_now(skew)
}

tokio::task_local! {
    static IDS: RequestIds;
}

/// Graph's error shape (docs/protocol.md §9).
fn error(status: u16, code: &str, message: &str) -> Reply {
    let date = graph_timestamp(now());
    let ids = IDS.try_with(RequestIds::clone).unwrap_or_default();
    json_reply(
        status,
        &json!({"error": {"code": code, "message": message, "innerError": {
            "date": date.get(..19).unwrap_or(&date),
            "request-id": ids.request_id,
            "client-request-id": ids.client_request_id,
        }}}),
    )
}

fn retry_after_value(ra: &RetryAfter) -> String {
    match ra {
        RetryAfter::Delta(d) if d.subsec_nanos() == 0 => d.as_secs().to_string(),
        RetryAfter::Delta(d) => {
            let text = format!("{:.3}", d.as_secs_f64());
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        RetryAfter::Date(d) => {
            let up = Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0) + 1);
            http_date(now() + up)
        }
    }
}

fn refused(status: u16, code: &str, message: &str, ra: &Option<RetryAfter>) -> Reply {
    let mut r = error(status, code, message);
    if let Some(ra) = ra {
        set_header(&mut r, header::RETRY_AFTER, &retry_after_value(ra));
    }
    r
}

fn media_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

fn is_bearer(value: &str, token: &str) -> bool {
    match value.split_once(' ') {
        Some((scheme, rest)) => scheme.eq_ignore_ascii_case("bearer") && rest.trim() == token,
        None => false,
    }
}

/// A body read up to a limit.
enum BodyRead {
    Done(Vec<u8>),
    TooLarge,
    Broken,
}

async fn read_body(body: &mut Incoming, limit: usize) -> BodyRead {
    let hint = body.size_hint().exact().unwrap_or(0).min(limit as u64) as usize;
    let mut out = Vec::with_capacity(hint);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return BodyRead::Broken;
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return BodyRead::TooLarge;
            }
            out.extend_from_slice(&data);
        }
    }
    BodyRead::Done(out)
}

/// A PUT body as hyper handed it over: its frames, not copied, and their total length.
enum FramesRead {
    Done(Vec<Bytes>, u64),
    TooLarge,
    Broken,
}

/// Reads a body up to `limit` bytes keeping hyper's frames as they are: the bytes are copied
/// once, into the session, instead of into a buffer first.
async fn read_frames(body: &mut Incoming, limit: u64) -> FramesRead {
    let mut frames = Vec::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return FramesRead::Broken;
        };
        if let Ok(data) = frame.into_data() {
            len += data.len() as u64;
            if len > limit {
                return FramesRead::TooLarge;
            }
            if !data.is_empty() {
                frames.push(data);
            }
        }
    }
    FramesRead::Done(frames, len)
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

/// Reads at least `n` bytes (or one frame if `n` is 0) and drops them.
async fn read_some(body: &mut Incoming, n: u64) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
        }
        if seen >= n {
            break;
        }
    }
}

/// Entry point for one request on one listener.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    origin: Origin,
    req: Request<Incoming>,
) -> Result<Reply, Abort> {
    let (parts, mut body) = req.into_parts();
    let auth = parts.headers.get(header::AUTHORIZATION).map(|v| {
        v.to_str()
            .map(|s| is_bearer(s, &shared.token))
            .unwrap_or(false)
    });
    let mut rec = RecordedRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |pq| pq.to_string()),
        origin,
        authorization: auth.is_some(),
        bearer_valid: auth == Some(true),
        content_range: parts
            .headers
            .get(header::CONTENT_RANGE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        content_length: parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
        status: None,
        fault: None,
    };
    let request_id = shared.lock().request_ids.uuid();
    let client_request_id = parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map_or_else(|| request_id.clone(), str::to_string);
    let mut ctx = Ctx {
        origin,
        version: String::new(),
        fault: None,
        stall_after: None,
    };
    let ids = RequestIds {
        request_id,
        client_request_id,
        clock_skew_ms: shared.clock_skew_ms,
    };
    let outcome = IDS
        .scope(
            ids.clone(),
            route(&shared, &mut ctx, &parts, &mut body, auth),
        )
        .await;
    rec.status = outcome.as_ref().ok().map(|r| r.status().as_u16());
    rec.fault = ctx.fault;
    shared.lock().record(rec);
    let mut r = outcome?;
    if let Some(delay) = ctx.stall_after {
        tokio::time::sleep(delay).await;
    }
    if !drain(&mut body).await {
        set_header(&mut r, header::CONNECTION, "close");
    }
    fill_ids(&mut r, &ids);
    let date = http_date(crate::time::skewed_now(shared.clock_skew_ms));
    set_header(&mut r, header::DATE, &date);
    Ok(r)
}

/// Sets the `request-id` / `client-request-id` headers.
fn fill_ids(r: &mut Reply, ids: &RequestIds) {
    set_header(r, HeaderName::from_static("request-id"), &ids.request_id);
    set_header(
        r,
        HeaderName::from_static("client-request-id"),
        &ids.client_request_id,
    );
}

/// Where a request under `.../todo/lists/{l}/tasks/{t}` goes.
struct TaskRoute {
    user: String,
    list: String,
    task: String,
    tail: Vec<String>,
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

async fn route(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &Parts,
    body: &mut Incoming,
    auth: Option<bool>,
) -> Result<Reply, Abort> {
    // The token rule of docs/protocol.md §8-§9: required on Graph, refused elsewhere.
    match (ctx.origin, auth) {
        (Origin::Graph, Some(true)) | (Origin::Foreign, None) => {}
        (Origin::Graph, _) => {
            let mut r = error(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty or invalid.",
            );
            set_header(&mut r, header::WWW_AUTHENTICATE, "Bearer");
            return Ok(r);
        }
        (Origin::Foreign, Some(_)) => {
            return Ok(error(
                401,
                "InvalidAudience",
                "An Authorization header must not be sent to this uploadUrl.",
            ))
        }
    }
    let path = parts.uri.path();
    let mut segs = Vec::new();
    for raw in path.strip_prefix('/').unwrap_or(path).split('/') {
        match decode(raw) {
            Some(s) => segs.push(s),
            None => {
                return Ok(error(
                    400,
                    "BadRequest",
                    "Invalid percent-encoding in the path.",
                ))
            }
        }
    }
    let version = match segs.first() {
        Some(v) if eq(v, "v1.0") => "v1.0",
        Some(v) if eq(v, "beta") => "beta",
        _ => return Ok(error(400, "BadRequest", "Invalid version.")),
    };
    ctx.version = version.to_string();
    let (user, rest) = match (segs.get(1), segs.get(2)) {
        (Some(me), _) if eq(me, "me") => (shared.user_id.clone(), &segs[2..]),
        (Some(users), Some(u)) if eq(users, "users") => (u.clone(), &segs[3..]),
        _ => return Ok(not_found("Resource not found for the segment.")),
    };
    let route = match rest {
        [todo, lists, l, tasks, t, tail @ ..]
            if eq(todo, "todo") && eq(lists, "lists") && eq(tasks, "tasks") =>
        {
            TaskRoute {
                user,
                list: l.clone(),
                task: t.clone(),
                tail: tail.to_vec(),
            }
        }
        _ => return Ok(not_found("Resource not found for the segment.")),
    };
    if !eq(&route.user, &shared.user_id) {
        return Ok(not_found("The user was not found."));
    }
    let route = TaskRoute {
        user: shared.user_id.clone(),
        ..route
    };
    let tail: Vec<&str> = route.tail.iter().map(String::as_str).collect();
    let m = &parts.method;
    match (ctx.origin, tail.as_slice()) {
        (_, [s, sid]) if eq(s, "attachmentSessions") => {
            session_request(shared, ctx, parts, body, &route, sid).await
        }
        (_, [s, sid, c]) if eq(s, "attachmentSessions") && eq(c, "content") => {
            if m == Method::PUT {
                put_content(shared, ctx, parts, body, &route, sid).await
            } else {
                Ok(method_not_allowed())
            }
        }
        (Origin::Foreign, _) => Ok(not_found("Resource not found.")),
        (Origin::Graph, tail) => {
            if !task_exists(shared, &route) {
                return Ok(not_found(
                    "The specified object was not found in the store.",
                ));
            }
            match tail {
                [a, c] if eq(a, "attachments") && eq(c, "createUploadSession") => {
                    if m == Method::POST {
                        create_session(shared, ctx, parts, body, &route).await
                    } else {
                        Ok(method_not_allowed())
                    }
                }
                [a] if eq(a, "attachments") => match *m {
                    Method::POST => post_attachment(shared, ctx, parts, body, &route).await,
                    Method::GET => read_attachments(shared, ctx, body, &route, None, false).await,
                    _ => Ok(method_not_allowed()),
                },
                [a, id] if eq(a, "attachments") => match *m {
                    Method::GET => {
                        read_attachments(shared, ctx, body, &route, Some(id), false).await
                    }
                    Method::DELETE => delete_attachment(shared, ctx, body, &route, id).await,
                    _ => Ok(method_not_allowed()),
                },
                [a, id, v] if eq(a, "attachments") && eq(v, "$value") => {
                    if m == Method::GET {
                        read_attachments(shared, ctx, body, &route, Some(id), true).await
                    } else {
                        Ok(method_not_allowed())
                    }
                }
                _ => Ok(not_found("Resource not found for the segment.")),
            }
        }
    }
}

fn not_found(message: &str) -> Reply {
    error(404, "ErrorItemNotFound", message)
}

fn method_not_allowed() -> Reply {
    error(
        405,
        "MethodNotAllowed",
        "The HTTP method is not allowed on this resource.",
    )
}

fn task_exists(shared: &Shared, r: &TaskRoute) -> bool {
    shared
        .lock()
        .lists
        .get(&r.list)
        .is_some_and(|tasks| tasks.contains_key(&r.task))
}

/// Applies the request faults that do not depend on the handler. `Ok(None)`:
/// go on (a kept stall only delays the answer).
async fn pre_fault(
    ctx: &mut Ctx,
    fault: &Option<Fault>,
    body: &mut Incoming,
) -> Result<Option<Reply>, Abort> {
    let Some(f) = fault else {
        return Ok(None);
    };
    ctx.fault = Some(f.name());
    match f {
        Fault::TooManyRequests(ra) => Ok(Some(refused(
            429,
            "TooManyRequests",
            "Too many requests; retry after the time given.",
            ra,
        ))),
        Fault::Unavailable(ra) => Ok(Some(refused(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable.",
            ra,
        ))),
        Fault::InternalError => Ok(Some(error(
            500,
            "generalException",
            "An internal server error occurred.",
        ))),
        Fault::DropMidBody => {
            let len = body.size_hint().exact().unwrap_or(0);
            read_some(body, len / 2).await;
            Err(Abort)
        }
        Fault::Stall { delay, keep: false } => {
            drain(body).await;
            tokio::time::sleep(*delay).await;
            Err(Abort)
        }
        Fault::Stall { delay, keep: true } => {
            ctx.stall_after = Some(*delay);
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// A JSON object key, matched case-insensitively (docs/protocol.md §3).
fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| eq(k, key)).map(|(_, v)| v)
}

async fn read_json(
    parts: &Parts,
    body: &mut Incoming,
    limit: usize,
) -> Result<Map<String, Value>, Reply> {
    if !media_type_is(&parts.headers, "application/json") {
        return Err(error(
            415,
            "UnsupportedMediaType",
            "Content-Type must be application/json.",
        ));
    }
    let bytes = match read_body(body, limit).await {
        BodyRead::Done(b) => b,
        BodyRead::TooLarge => {
            return Err(error(
                413,
                "ErrorRequestEntityTooLarge",
                "The request body is too large.",
            ))
        }
        BodyRead::Broken => return Err(error(400, "BadRequest", "The request body was cut.")),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(error(400, "BadRequest", "The body must be a JSON object.")),
        Err(_) => Err(error(400, "BadRequest", "The body is not valid JSON.")),
    }
}

fn bad(message: &str) -> Reply {
    error(400, "invalidRequest", message)
}

fn graph_base(shared: &Shared, version: &str) -> String {
    format!("{}/{version}", shared.graph_origin)
}

fn task_path(r: &TaskRoute) -> String {
    format!(
        "users/{}/todo/lists/{}/tasks/{}",
        encode_segment(&r.user),
        encode_segment(&r.list),
        encode_segment(&r.task)
    )
}

/// The uploadSession JSON (docs/protocol.md §2, §3) in the session's key casing.
fn session_json(shared: &Shared, s: &Session, full: bool) -> Value {
    let (url, exp, ranges) = match s.key_case {
        KeyCase::Camel => ("uploadUrl", "expirationDateTime", "nextExpectedRanges"),
        KeyCase::Pascal => ("UploadUrl", "ExpirationDateTime", "NextExpectedRanges"),
        KeyCase::Mixed => ("uploadUrl", "ExpirationDateTime", "nextExpectedRanges"),
    };
    let mut o = Map::new();
    if full {
        o.insert(
            "@odata.context".into(),
            format!(
                "{}/$metadata#microsoft.graph.uploadSession",
                graph_base(shared, &s.version)
            )
            .into(),
        );
        o.insert(url.into(), s.upload_url.clone().into());
    }
    o.insert(exp.into(), s.expiration_text.clone().into());
    o.insert(ranges.into(), s.next_expected_ranges().into());
    Value::Object(o)
}

/// `POST .../attachments/createUploadSession` (docs/protocol.md §2).
async fn create_session(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &Parts,
    body: &mut Incoming,
    r: &TaskRoute,
) -> Result<Reply, Abort> {
    let fault = shared.lock().plan.draw_request(RequestKind::Create, false);
    if let Some(rep) = pre_fault(ctx, &fault, body).await? {
        return Ok(rep);
    }
    let doc = match read_json(parts, body, CREATE_BODY_LIMIT).await {
        Ok(d) => d,
        Err(rep) => return Ok(rep),
    };
    let Some(info) = get_ci(&doc, "attachmentInfo").and_then(Value::as_object) else {
        return Ok(bad("attachmentInfo is required and must be an object."));
    };
    match get_ci(info, "attachmentType").and_then(Value::as_str) {
        Some(t) if eq(t, "file") => {}
        Some(_) => return Ok(bad("attachmentType must be \"file\".")),
        None => return Ok(bad("attachmentInfo.attachmentType is required.")),
    }
    let name = match get_ci(info, "name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.to_string(),
        _ => {
            return Ok(bad(
                "attachmentInfo.name is required and must not be empty.",
            ))
        }
    };
    let Some(size) = get_ci(info, "size").and_then(Value::as_u64) else {
        return Ok(bad(
            "attachmentInfo.size is required and must be a non-negative integer.",
        ));
    };
    if size > shared.max_size {
        return Ok(bad(&format!(
            "attachmentInfo.size {size} exceeds the limit of {} bytes.",
            shared.max_size
        )));
    }
    let content_type = match get_ci(info, "contentType") {
        Some(Value::String(ct)) if !ct.is_empty() => ct.clone(),
        _ => "application/octet-stream".to_string(),
    };

    let mut st = shared.lock();
    let faults = st.plan.draw_session();
    let sid = st.new_id("AAMkAD", 52);
    let mut status = 200;
    let mut key_case = KeyCase::Camel;
    let mut status_refused = None;
    let mut expire_after_chunks = None;
    let mut origin = Origin::Graph;
    let mut tempauth = None;
    let mut names = Vec::new();
    for f in &faults {
        names.push(f.name());
        match f {
            Fault::CreatedStatus => status = 201,
            Fault::KeyCase(k) => key_case = *k,
            Fault::StatusRefused(c) => status_refused = Some(*c),
            Fault::ExpireAfterChunks(n) => expire_after_chunks = Some(*n),
            Fault::ForeignOrigin => {
                origin = Origin::Foreign;
                tempauth = Some(st.new_tempauth());
            }
            Fault::QueryOnGraphOrigin if tempauth.is_none() => {
                tempauth = Some(st.new_tempauth());
            }
            _ => {}
        }
    }
    if ctx.fault.is_none() {
        ctx.fault = names.first().copied();
    }
    let host = match origin {
        Origin::Graph => &shared.graph_origin,
        Origin::Foreign => &shared.foreign_origin,
    };
    let mut upload_url = format!(
        "{host}/{}/{}/attachmentSessions/{}",
        ctx.version,
        task_path(r),
        encode_segment(&sid)
    );
    if let Some(t) = &tempauth {
        upload_url.push_str("?tempauth=");
        upload_url.push_str(t);
    }
    let expires_at = now() + shared.lifetime;
    let session = Session {
        user: shared.user_id.clone(),
        list: r.list.clone(),
        task: r.task.clone(),
        name,
        size,
        content_type,
        expires_at,
        expiration_text: graph_timestamp(expires_at),
        upload_url,
        version: ctx.version.clone(),
        chunks: Default::default(),
        origin,
        tempauth,
        key_case,
        status_refused,
        expire_after_chunks,
        chunks_accepted: 0,
        dead: expire_after_chunks == Some(0),
    };
    let body = session_json(shared, &session, true);
    st.sessions.insert(sid, session);
    st.sessions_created += 1;
    Ok(json_reply(status, &body))
}

/// Finds a live session for a request on it, or the answer to give.
fn lookup<'a>(
    st: &'a mut State,
    ctx: &Ctx,
    parts: &Parts,
    r: &TaskRoute,
    sid: &str,
) -> Result<&'a mut Session, Box<Reply>> {
    let gone = || {
        Box::new(not_found(
            "The upload session was not found or has expired.",
        ))
    };
    let now = now();
    let expired = match st.sessions.get(sid) {
        None => return Err(gone()),
        Some(s) => s.dead || now >= s.expires_at,
    };
    if expired {
        st.sessions.remove(sid);
        return Err(gone());
    }
    let Some(s) = st.sessions.get_mut(sid) else {
        return Err(gone());
    };
    if !eq(&s.user, &r.user) || s.list != r.list || s.task != r.task || s.origin != ctx.origin {
        return Err(gone());
    }
    if let Some(expected) = &s.tempauth {
        if query_param(parts.uri.query(), "tempauth").as_deref() != Some(expected.as_str()) {
            return Err(Box::new(match ctx.origin {
                Origin::Foreign => error(
                    401,
                    "InvalidAuthenticationToken",
                    "The tempauth credential of the uploadUrl is missing or wrong.",
                ),
                Origin::Graph => error(
                    403,
                    "accessDenied",
                    "The tempauth credential of the uploadUrl is missing or wrong.",
                ),
            }));
        }
    }
    Ok(s)
}

/// `GET` and `DELETE {uploadUrl}` (docs/protocol.md §6).
async fn session_request(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &Parts,
    body: &mut Incoming,
    r: &TaskRoute,
    sid: &str,
) -> Result<Reply, Abort> {
    let kind = match parts.method {
        Method::GET => RequestKind::Status,
        Method::DELETE => RequestKind::Delete,
        Method::PUT => {
            return Ok(error(
                405,
                "MethodNotAllowed",
                "PUT byte ranges to the uploadUrl followed by /content.",
            ))
        }
        _ => return Ok(method_not_allowed()),
    };
    let fault = {
        let mut st = shared.lock();
        if let Err(rep) = lookup(&mut st, ctx, parts, r, sid) {
            return Ok(*rep);
        }
        st.plan.draw_request(kind, false)
    };
    if let Some(rep) = pre_fault(ctx, &fault, body).await? {
        return Ok(rep);
    }
    let mut st = shared.lock();
    let s = match lookup(&mut st, ctx, parts, r, sid) {
        Ok(s) => s,
        Err(rep) => return Ok(*rep),
    };
    if kind == RequestKind::Delete {
        st.sessions.remove(sid);
        return Ok(reply(204, Vec::new(), None));
    }
    if let Some(code) = s.status_refused {
        ctx.fault.get_or_insert("status-refused");
        return Ok(if code == 405 {
            method_not_allowed()
        } else {
            bad("Unsupported request on an attachment session.")
        });
    }
    Ok(json_reply(200, &session_json(shared, s, true)))
}

/// A `Content-Range` header of the exact form `bytes S-E/T`, or
/// `bytes */0` for a 0-byte file.
enum ContentRange {
    Bytes { start: u64, end: u64, total: u64 },
    Empty { total: u64 },
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_content_range(v: &str) -> Option<ContentRange> {
    let (range, total) = v.strip_prefix("bytes ")?.split_once('/')?;
    let total = digits(total)?;
    if range == "*" {
        return Some(ContentRange::Empty { total });
    }
    let (s, e) = range.split_once('-')?;
    Some(ContentRange::Bytes {
        start: digits(s)?,
        end: digits(e)?,
        total,
    })
}

/// Checks a range against what the session still expects (docs/protocol.md §3, §4):
/// it must start at the first missing byte and stay inside that gap. Returns
/// whether it completes the upload.
fn check_range(s: &Session, cr: &ContentRange) -> Result<bool, Box<Reply>> {
    let invalid = |m: String| Box::new(error(416, "invalidRange", &m));
    match *cr {
        ContentRange::Empty { .. } => Ok(true),
        ContentRange::Bytes { start, end, total } => {
            if end >= total {
                return Err(invalid(format!(
                    "Range end {end} is not below the total {total}."
                )));
            }
            let missing = s.missing();
            let Some(&(ms, me)) = missing.first() else {
                return Err(invalid("No bytes are expected.".into()));
            };
            if start != ms {
                return Err(invalid(format!(
                    "Expected a range starting at {ms}, got {start}."
                )));
            }
            if end >= me {
                return Err(invalid(format!(
                    "Range {start}-{end} runs past the expected range {ms}-{}.",
                    me - 1
                )));
            }
            Ok(missing.len() == 1 && end + 1 == me)
        }
    }
}

/// `PUT {uploadUrl}/content` (docs/protocol.md §3, §5, §9).
async fn put_content(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &Parts,
    body: &mut Incoming,
    r: &TaskRoute,
    sid: &str,
) -> Result<Reply, Abort> {
    if let Err(rep) = lookup(&mut shared.lock(), ctx, parts, r, sid) {
        return Ok(*rep);
    }
    let h = &parts.headers;
    if h.contains_key(header::TRANSFER_ENCODING) {
        return Ok(bad(
            "Transfer-Encoding is not accepted; send one exact Content-Length.",
        ));
    }
    if h.contains_key(header::CONTENT_ENCODING) {
        return Ok(bad("Content-Encoding is not accepted on a byte range."));
    }
    if !media_type_is(h, "application/octet-stream") {
        return Ok(error(
            415,
            "UnsupportedMediaType",
            "Content-Type must be application/octet-stream.",
        ));
    }
    let Some(cl) = h.get(header::CONTENT_LENGTH) else {
        return Ok(error(411, "lengthRequired", "Content-Length is required."));
    };
    let Some(cl) = cl.to_str().ok().and_then(digits) else {
        return Ok(bad("Content-Length is not a number."));
    };
    let Some(cr_text) = h.get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(bad("Content-Range is required."));
    };
    let Some(cr) = parse_content_range(cr_text) else {
        return Ok(bad("Content-Range must be of the form bytes S-E/T."));
    };
    let (start, total) = match cr {
        ContentRange::Bytes { start, end, total } => {
            if end < start {
                return Ok(bad("Content-Range ends before it starts."));
            }
            if (end - start).checked_add(1) != Some(cl) {
                return Ok(bad(&format!(
                    "Content-Length {cl} does not match Content-Range {start}-{end}."
                )));
            }
            (start, total)
        }
        ContentRange::Empty { total } => {
            if total != 0 || cl != 0 {
                return Ok(bad("bytes */T is accepted only for a 0-byte file."));
            }
            (0, 0)
        }
    };
    if cl >= MAX_CHUNK {
        return Ok(error(
            413,
            "ErrorRequestEntityTooLarge",
            &format!("Each PUT must be under {MAX_CHUNK} bytes; this one has {cl}."),
        ));
    }
    let fault = {
        let mut st = shared.lock();
        let s = match lookup(&mut st, ctx, parts, r, sid) {
            Ok(s) => s,
            Err(rep) => return Ok(*rep),
        };
        if total != s.size {
            return Ok(bad(&format!(
                "Content-Range total {total} differs from the size {} given at creation.",
                s.size
            )));
        }
        let is_final = match check_range(s, &cr) {
            Ok(f) => f,
            Err(rep) => return Ok(*rep),
        };
        st.plan.draw_request(RequestKind::Put, is_final)
    };
    if let Some(rep) = pre_fault(ctx, &fault, body).await? {
        return Ok(rep);
    }
    if fault == Some(Fault::RangeNotSatisfiable) {
        return Ok(error(
            416,
            "invalidRange",
            "The requested range is not satisfiable.",
        ));
    }
    let frames = match read_frames(body, cl).await {
        FramesRead::Done(frames, len) if len == cl => frames,
        FramesRead::Done(..) | FramesRead::TooLarge => {
            return Ok(bad("The body length differs from Content-Length."))
        }
        FramesRead::Broken => return Err(Abort),
    };

    let mut st = shared.lock();
    let s = match lookup(&mut st, ctx, parts, r, sid) {
        Ok(s) => s,
        Err(rep) => return Ok(*rep),
    };
    // Another connection may have moved the session on while the body came.
    if let Err(rep) = check_range(s, &cr) {
        return Ok(*rep);
    }
    s.receive(start, &frames);
    s.chunks_accepted = s.chunks_accepted.saturating_add(1);
    if fault == Some(Fault::LoseRange) {
        // Forget a stretch of earlier bytes (or of this chunk, if it is the
        // first): the answer then lists several ranges (docs/protocol.md §4).
        let held = if start > 0 { start } else { cl };
        if held > 0 {
            let a = held / 4;
            s.forget(a, (held / 2).max(a + 1));
        }
    }
    let ra_kept = match &fault {
        Some(Fault::UnavailableKept(ra)) => Some(*ra),
        _ => None,
    };
    if s.missing().is_empty() {
        // Completion (docs/protocol.md §5): the attachment exists, the session is gone.
        let Some(mut s) = st.sessions.remove(sid) else {
            return Ok(not_found("The upload session was not found."));
        };
        let id = st.new_id("AAMkAD", 64);
        let attachment = Attachment {
            id: id.clone(),
            name: std::mem::take(&mut s.name),
            size: s.size,
            content_type: std::mem::take(&mut s.content_type),
            bytes: s.assemble(),
            last_modified: now(),
        };
        st.lists
            .entry(s.list.clone())
            .or_default()
            .entry(s.task.clone())
            .or_default()
            .push(attachment);
        drop(st);
        if fault == Some(Fault::LostFinalAnswer) {
            return Err(Abort);
        }
        if let Some(ra) = ra_kept {
            return Ok(refused(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
                &ra,
            ));
        }
        let location = format!(
            "{}/{}/Attachments/{}",
            graph_base(shared, &s.version),
            task_path(r),
            encode_segment(&id)
        );
        let mut rep = reply(201, Vec::new(), None);
        set_header(&mut rep, header::LOCATION, &location);
        set_header(&mut rep, header::CONTENT_LENGTH, "0");
        return Ok(rep);
    }
    if s.expire_after_chunks
        .is_some_and(|n| s.chunks_accepted >= n)
    {
        s.dead = true;
        ctx.fault.get_or_insert("expire");
    }
    let answer = session_json(shared, s, false);
    Ok(match ra_kept {
        Some(ra) => refused(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable.",
            &ra,
        ),
        None => json_reply(200, &answer),
    })
}

fn attachment_json(a: &Attachment, with_bytes: bool) -> Value {
    let mut v = json!({
        "@odata.type": "#microsoft.graph.taskFileAttachment",
        "id": a.id,
        "name": a.name,
        "size": a.size,
        "contentType": a.content_type,
        "lastModifiedDateTime": graph_timestamp(a.last_modified),
        "isInline": false,
    });
    if with_bytes {
        v["contentBytes"] = base64_encode(&a.bytes).into();
    }
    v
}

/// The single `POST .../attachments` for files under 3 MB (docs/protocol.md §7).
async fn post_attachment(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &Parts,
    body: &mut Incoming,
    r: &TaskRoute,
) -> Result<Reply, Abort> {
    let fault = shared.lock().plan.draw_request(RequestKind::Post, false);
    if let Some(rep) = pre_fault(ctx, &fault, body).await? {
        return Ok(rep);
    }
    let doc = match read_json(parts, body, POST_BODY_LIMIT).await {
        Ok(d) => d,
        Err(rep) => return Ok(rep),
    };
    match get_ci(&doc, "@odata.type").and_then(Value::as_str) {
        Some(t) if eq(t, "#microsoft.graph.taskFileAttachment") => {}
        _ => {
            return Ok(bad(
                "@odata.type must be #microsoft.graph.taskFileAttachment.",
            ))
        }
    }
    let name = match get_ci(&doc, "name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.to_string(),
        _ => return Ok(bad("name is required and must not be empty.")),
    };
    let Some(bytes) = get_ci(&doc, "contentBytes")
        .and_then(Value::as_str)
        .and_then(base64_decode)
    else {
        return Ok(bad("contentBytes is required and must be base64."));
    };
    if bytes.len() as u64 >= SINGLE_POST_LIMIT {
        return Ok(error(
            413,
            "ErrorRequestEntityTooLarge",
            &format!(
                "The single POST takes files under {SINGLE_POST_LIMIT} bytes; use an upload session."
            ),
        ));
    }
    let content_type = match get_ci(&doc, "contentType") {
        Some(Value::String(ct)) if !ct.is_empty() => ct.clone(),
        _ => "application/octet-stream".to_string(),
    };
    let mut st = shared.lock();
    let id = st.new_id("AAMkAD", 64);
    let a = Attachment {
        id: id.clone(),
        name,
        size: bytes.len() as u64,
        content_type,
        bytes,
        last_modified: now(),
    };
    let mut v = attachment_json(&a, false);
    st.lists
        .entry(r.list.clone())
        .or_default()
        .entry(r.task.clone())
        .or_default()
        .push(a);
    drop(st);
    let base = graph_base(shared, &ctx.version);
    v["@odata.context"] = format!(
        "{base}/$metadata#users('{}')/todo/lists('{}')/tasks('{}')/attachments/$entity",
        r.user, r.list, r.task
    )
    .into();
    let mut rep = json_reply(201, &v);
    let location = format!(
        "{base}/{}/attachments/{}",
        task_path(r),
        encode_segment(&id)
    );
    set_header(&mut rep, header::LOCATION, &location);
    Ok(rep)
}

/// `GET .../attachments`, `.../attachments/{id}` and `.../{id}/$value`.
async fn read_attachments(
    shared: &Shared,
    ctx: &mut Ctx,
    body: &mut Incoming,
    r: &TaskRoute,
    id: Option<&str>,
    raw: bool,
) -> Result<Reply, Abort> {
    let fault = shared.lock().plan.draw_request(RequestKind::Read, false);
    if let Some(rep) = pre_fault(ctx, &fault, body).await? {
        return Ok(rep);
    }
    let st = shared.lock();
    let empty = Vec::new();
    let all = st
        .lists
        .get(&r.list)
        .and_then(|t| t.get(&r.task))
        .unwrap_or(&empty);
    let Some(id) = id else {
        let value: Vec<Value> = all
            .iter()
            .map(|a| {
                let mut v = attachment_json(a, false);
                if let Some(o) = v.as_object_mut() {
                    o.remove("isInline");
                }
                v
            })
            .collect();
        return Ok(json_reply(200, &json!({ "value": value })));
    };
    let Some(a) = all.iter().find(|a| a.id == id) else {
        return Ok(not_found("The attachment was not found."));
    };
    if raw {
        return Ok(reply(200, a.bytes.clone(), Some(&a.content_type)));
    }
    Ok(json_reply(200, &attachment_json(a, true)))
}

/// `DELETE .../attachments/{id}`.
async fn delete_attachment(
    shared: &Shared,
    ctx: &mut Ctx,
    body: &mut Incoming,
    r: &TaskRoute,
    id: &str,
) -> Result<Reply, Abort> {
    let fault = shared.lock().plan.draw_request(RequestKind::Delete, false);
    if let Some(rep) = pre_fault(ctx, &fault, body).await? {
        return Ok(rep);
    }
    let mut st = shared.lock();
    let Some(all) = st.lists.get_mut(&r.list).and_then(|t| t.get_mut(&r.task)) else {
        return Ok(not_found("The task was not found."));
    };
    let before = all.len();
    all.retain(|a| a.id != id);
    if all.len() == before {
        return Ok(not_found("The attachment was not found."));
    }
    Ok(reply(204, Vec::new(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms() {
        assert!(matches!(
            parse_content_range("bytes 0-9/10"),
            Some(ContentRange::Bytes {
                start: 0,
                end: 9,
                total: 10
            })
        ));
        assert!(matches!(
            parse_content_range("bytes */0"),
            Some(ContentRange::Empty { total: 0 })
        ));
        for bad in [
            "bytes=0-9/10",
            "bytes 0-9/*",
            "bytes 0-/10",
            "bytes -9/10",
            "bytes  0-9/10",
            "bytes 0-9/10 ",
            "bytes +0-9/10",
            "bytes 0-99999999999999999999999/10",
            "0-9/10",
        ] {
            assert!(parse_content_range(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            retry_after_value(&RetryAfter::Delta(Duration::from_secs(2))),
            "2"
        );
        assert_eq!(
            retry_after_value(&RetryAfter::Delta(Duration::from_millis(250))),
            "0.25"
        );
        assert!(retry_after_value(&RetryAfter::Date(Duration::from_secs(1))).ends_with(" GMT"));
    }

    #[test]
    fn bearer() {
        assert!(is_bearer("Bearer abc", "abc"));
        assert!(is_bearer("bearer abc", "abc"));
        assert!(!is_bearer("Bearer abd", "abc"));
        assert!(!is_bearer("Basic abc", "abc"));
        assert!(!is_bearer("abc", "abc"));
    }
}
