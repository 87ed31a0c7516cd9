//! The Graph rules, one `serve` call per request: routing, the checks of docs/protocol.md
//! §2-§7 and §9, and where faults take effect. Sans-IO: the caller hands over the whole
//! request and the time, and gets back what to do.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::codec::{base64_decode, base64_encode, decode, encode_segment, query_param};
use crate::faults::{Fault, KeyCase, RequestKind, RetryAfter};
use crate::store::{Attachment, Origin, RecordedRequest, Session};
use crate::target::Parent;
use crate::time::{graph_timestamp, http_date, skewed, system_time, Millis};
use crate::wire::{Outcome, WireAnswer, WireBody, WireRequest};
use crate::Model;

/// Largest JSON body read for createUploadSession.
const CREATE_BODY_LIMIT: usize = 64 * 1024;
/// Largest JSON body read for the single POST (base64 of 3 MiB plus room).
const POST_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// The per-request context.
struct Ctx<'r, 'a> {
    req: &'r WireRequest<'a>,
    /// The server's clock.
    now: Millis,
    version: String,
    user: String,
    fault: Option<&'static str>,
    stall: Option<Duration>,
    request_id: String,
    client_request_id: String,
    /// What was wrong with the request, when a correct client would not have sent it.
    violation: Option<String>,
}

/// What a handler decided.
enum Effect {
    Answer(WireAnswer),
    /// Close without answering after `after`, having read `body_read` bytes.
    Drop {
        after: Duration,
        body_read: u64,
    },
}

impl From<WireAnswer> for Effect {
    fn from(a: WireAnswer) -> Self {
        Effect::Answer(a)
    }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn body_len(body: &WireBody<'_>) -> u64 {
    match body {
        WireBody::Bytes(frames) => frames.iter().map(|f| f.len() as u64).sum(),
        WireBody::Unseen(n) => *n,
        WireBody::TooLarge | WireBody::Cut => 0,
    }
}

fn is_bearer(value: &str, token: &str) -> bool {
    match value.split_once(' ') {
        Some((scheme, rest)) => scheme.eq_ignore_ascii_case("bearer") && rest.trim() == token,
        None => false,
    }
}

fn media_type_is(req: &WireRequest<'_>, expected: &str) -> bool {
    req.header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

fn answer(status: u16, body: Vec<u8>, content_type: Option<&str>) -> WireAnswer {
    let mut a = WireAnswer {
        status,
        headers: Vec::new(),
        body,
    };
    if let Some(ct) = content_type {
        a.set("Content-Type", ct);
    }
    a
}

fn json_answer(status: u16, value: &Value) -> WireAnswer {
    answer(
        status,
        serde_json::to_vec(value).unwrap_or_default(),
        Some("application/json"),
    )
}

/// A `Content-Range` header of the exact form `bytes S-E/T`, or `bytes */0` for a 0-byte
/// file.
enum ContentRange {
    Bytes { start: u64, end: u64, total: u64 },
    Empty { total: u64 },
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

impl Ctx<'_, '_> {
    /// Graph's error shape (docs/protocol.md §9).
    fn error(&self, status: u16, code: &str, message: &str) -> WireAnswer {
        let date = graph_timestamp(self.now);
        json_answer(
            status,
            &json!({"error": {"code": code, "message": message, "innerError": {
                "date": date.get(..19).unwrap_or(&date),
                "request-id": self.request_id,
                "client-request-id": self.client_request_id,
            }}}),
        )
    }

    /// A refusal that a correct client never meets: recorded as a violation.
    fn wrong(&mut self, status: u16, code: &str, message: &str) -> WireAnswer {
        self.violation.get_or_insert_with(|| message.to_string());
        self.error(status, code, message)
    }

    fn bad(&mut self, message: &str) -> WireAnswer {
        self.wrong(400, "invalidRequest", message)
    }

    fn not_found(&self, message: &str) -> WireAnswer {
        self.error(404, "ErrorItemNotFound", message)
    }

    fn method_not_allowed(&mut self) -> WireAnswer {
        self.wrong(
            405,
            "MethodNotAllowed",
            "The HTTP method is not allowed on this resource.",
        )
    }

    fn retry_after_value(&self, ra: &RetryAfter) -> (String, Millis) {
        match ra {
            RetryAfter::Delta(d) => {
                let text = if d.subsec_nanos() == 0 {
                    d.as_secs().to_string()
                } else {
                    let text = format!("{:.3}", d.as_secs_f64());
                    text.trim_end_matches('0').trim_end_matches('.').to_string()
                };
                let ms = u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
                (text, self.now.saturating_add(ms))
            }
            RetryAfter::Date(d) => {
                let up = d.as_secs() + u64::from(d.subsec_nanos() > 0) + 1;
                let at = self.now.saturating_add(up * 1000);
                (http_date(at), at / 1000 * 1000)
            }
        }
    }
}

impl Model {
    /// Answers one request at client instant `now` (see [`Model::handle`]).
    pub(crate) fn serve(&mut self, now: Millis, req: &WireRequest<'_>) -> Outcome {
        let server_now = skewed(now, self.clock_skew_ms);
        let auth = req
            .headers
            .iter()
            .find(|(n, _)| eq(n, "authorization"))
            .map(|(_, v)| std::str::from_utf8(v).is_ok_and(|s| is_bearer(s, &self.token)));
        let request_id = self.store.request_ids.uuid();
        let client_request_id = req
            .header("client-request-id")
            .filter(|v| !v.is_empty() && v.len() <= 200)
            .map_or_else(|| request_id.clone(), str::to_string);
        let mut ctx = Ctx {
            req,
            now: server_now,
            version: String::new(),
            user: String::new(),
            fault: None,
            stall: None,
            request_id,
            client_request_id,
            violation: None,
        };
        self.store.last_armed = None;
        let effect = self.route(&mut ctx, auth);
        if let Some(v) = ctx.violation.take() {
            self.store
                .violations
                .push(format!("{} {}: {v}", req.method, req.target));
        }
        let outcome = match effect {
            Effect::Drop { after, body_read } => Outcome::Drop {
                after,
                body_read: body_read.min(body_len(&req.body)),
            },
            Effect::Answer(mut a) => {
                let after = ctx.stall.unwrap_or_default();
                let sent = server_now.saturating_add(after.as_millis() as u64);
                a.set("request-id", ctx.request_id.clone());
                a.set("client-request-id", ctx.client_request_id.clone());
                a.set("Date", http_date(sent));
                match ctx.stall {
                    Some(after) => Outcome::Late { after, answer: a },
                    None => Outcome::Answer(a),
                }
            }
        };
        self.store.record(RecordedRequest {
            method: req.method.to_string(),
            path: req.target.to_string(),
            origin: req.origin,
            authorization: auth.is_some(),
            bearer_valid: auth == Some(true),
            content_range: req.header("content-range").map(str::to_string),
            content_length: req.header("content-length").and_then(digits),
            status: outcome.answer().map(|a| a.status),
            fault: ctx.fault,
            at: system_time(server_now),
        });
        outcome
    }

    /// Records a request that came before the `Retry-After` given on `resource` allowed.
    fn check_not_before(&mut self, ctx: &Ctx<'_, '_>, resource: &str) {
        if let Some(t) = self.store.not_before.remove(resource) {
            if ctx.now < t {
                self.store.violations.push(format!(
                    "{} {}: {} ms before the Retry-After allowed",
                    ctx.req.method,
                    ctx.req.target,
                    t - ctx.now
                ));
            }
        }
    }

    fn refused(
        &mut self,
        ctx: &Ctx<'_, '_>,
        resource: &str,
        status: u16,
        code: &str,
        message: &str,
        ra: &Option<RetryAfter>,
    ) -> WireAnswer {
        let mut a = ctx.error(status, code, message);
        if let Some(ra) = ra {
            let (text, until) = ctx.retry_after_value(ra);
            a.set("Retry-After", text);
            let before = self.store.not_before.insert(resource.to_string(), until);
            self.store.last_armed = Some((resource.to_string(), before));
        }
        a
    }

    fn route(&mut self, ctx: &mut Ctx<'_, '_>, auth: Option<bool>) -> Effect {
        if matches!(ctx.req.body, WireBody::Cut) {
            // The client went away mid-body: nothing happens, nobody hears.
            return Effect::Drop {
                after: Duration::ZERO,
                body_read: 0,
            };
        }
        // The token rule of docs/protocol.md §8-§9: required on Graph, refused elsewhere.
        match (ctx.req.origin, auth) {
            (Origin::Graph, Some(true)) | (Origin::Foreign, None) => {}
            (Origin::Graph, _) => {
                let mut a = ctx.wrong(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token is empty or invalid.",
                );
                a.set("WWW-Authenticate", "Bearer");
                return a.into();
            }
            (Origin::Foreign, Some(_)) => {
                return ctx
                    .wrong(
                        401,
                        "InvalidAudience",
                        "An Authorization header must not be sent to this uploadUrl.",
                    )
                    .into()
            }
        }
        let path = ctx.req.path();
        let mut segs = Vec::new();
        for raw in path.strip_prefix('/').unwrap_or(path).split('/') {
            match decode(raw) {
                Some(s) => segs.push(s),
                None => return ctx.bad("Invalid percent-encoding in the path.").into(),
            }
        }
        let version = match segs.first() {
            Some(v) if eq(v, "v1.0") => "v1.0",
            Some(v) if eq(v, "beta") => "beta",
            _ => return ctx.bad("Invalid version.").into(),
        };
        ctx.version = version.to_string();
        let (user, rest) = match (segs.get(1), segs.get(2)) {
            (Some(me), _) if eq(me, "me") => (self.user_id.clone(), &segs[2..]),
            (Some(users), Some(u)) if eq(users, "users") => (u.clone(), &segs[3..]),
            _ => {
                return ctx
                    .wrong(
                        404,
                        "ErrorItemNotFound",
                        "Resource not found for the segment.",
                    )
                    .into()
            }
        };
        let Some((parent, tail)) = Parent::route(rest) else {
            return ctx
                .wrong(
                    404,
                    "ErrorItemNotFound",
                    "Resource not found for the segment.",
                )
                .into();
        };
        if !eq(&user, &self.user_id) {
            return ctx.not_found("The user was not found.").into();
        }
        ctx.user = self.user_id.clone();
        let tail: Vec<&str> = tail.iter().map(String::as_str).collect();
        let rules = parent.rules();
        let m = ctx.req.method;
        match (ctx.req.origin, tail.as_slice()) {
            (_, [s, sid]) if eq(s, rules.session_segment) => {
                self.session_request(ctx, &parent, sid)
            }
            (_, [s, sid, c]) if eq(s, rules.session_segment) && eq(c, "content") => {
                if m == "PUT" {
                    self.put_content(ctx, &parent, sid)
                } else {
                    ctx.method_not_allowed().into()
                }
            }
            (Origin::Foreign, _) => ctx.not_found("Resource not found.").into(),
            (Origin::Graph, tail) => {
                if !self.parent_exists(&parent) {
                    return ctx
                        .not_found("The specified object was not found in the store.")
                        .into();
                }
                match (m, tail) {
                    ("POST", [a, c]) if eq(a, "attachments") && eq(c, "createUploadSession") => {
                        self.create_session(ctx, &parent)
                    }
                    ("POST", [a]) if eq(a, "attachments") => self.post_attachment(ctx, &parent),
                    ("GET", [a]) if eq(a, "attachments") => {
                        self.read_attachments(ctx, &parent, None, false)
                    }
                    ("GET", [a, id]) if eq(a, "attachments") => {
                        self.read_attachments(ctx, &parent, Some(id), false)
                    }
                    ("DELETE", [a, id]) if eq(a, "attachments") => {
                        self.delete_attachment(ctx, &parent, id)
                    }
                    ("GET", [a, id, v]) if eq(a, "attachments") && eq(v, "$value") => {
                        self.read_attachments(ctx, &parent, Some(id), true)
                    }
                    (_, [a, ..]) if eq(a, "attachments") => ctx.method_not_allowed().into(),
                    _ => ctx
                        .wrong(
                            404,
                            "ErrorItemNotFound",
                            "Resource not found for the segment.",
                        )
                        .into(),
                }
            }
        }
    }

    pub(crate) fn parent_exists(&self, parent: &Parent) -> bool {
        match parent {
            Parent::TodoTask { list, task } => self
                .store
                .lists
                .get(list)
                .is_some_and(|tasks| tasks.contains(task)),
        }
    }

    /// Applies the request faults that do not depend on the handler. `None`: go on (a kept
    /// stall only delays the answer).
    fn pre_fault(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        resource: &str,
        fault: &Option<Fault>,
    ) -> Option<Effect> {
        let f = fault.as_ref()?;
        ctx.fault = Some(f.name());
        let len = body_len(&ctx.req.body);
        let effect: Effect = match f {
            Fault::TooManyRequests(ra) => self
                .refused(
                    ctx,
                    resource,
                    429,
                    "TooManyRequests",
                    "Too many requests; retry after the time given.",
                    ra,
                )
                .into(),
            Fault::Unavailable(ra) => self
                .refused(
                    ctx,
                    resource,
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable.",
                    ra,
                )
                .into(),
            Fault::InternalError => ctx
                .error(
                    500,
                    "generalException",
                    "An internal server error occurred.",
                )
                .into(),
            Fault::Unauthorized => {
                let mut a = ctx.error(
                    401,
                    "InvalidAuthenticationToken",
                    "Lifetime validation failed, the token is expired.",
                );
                a.set("WWW-Authenticate", "Bearer");
                a.into()
            }
            Fault::DropMidBody => Effect::Drop {
                after: Duration::ZERO,
                body_read: len / 2,
            },
            Fault::Stall { delay, keep: false } => Effect::Drop {
                after: *delay,
                body_read: len,
            },
            Fault::Stall { delay, keep: true } => {
                ctx.stall = Some(*delay);
                return None;
            }
            _ => return None,
        };
        Some(effect)
    }

    /// A JSON object body up to `limit` bytes, or the answer to give.
    fn read_json(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        limit: usize,
    ) -> Result<Map<String, Value>, WireAnswer> {
        if !media_type_is(ctx.req, "application/json") {
            return Err(ctx.wrong(
                415,
                "UnsupportedMediaType",
                "Content-Type must be application/json.",
            ));
        }
        let bytes: Vec<u8> = match &ctx.req.body {
            WireBody::Bytes(frames) if body_len(&ctx.req.body) <= limit as u64 => frames.concat(),
            WireBody::Bytes(_) | WireBody::TooLarge => {
                return Err(ctx.wrong(
                    413,
                    "ErrorRequestEntityTooLarge",
                    "The request body is too large.",
                ))
            }
            WireBody::Unseen(_) | WireBody::Cut => {
                return Err(ctx.bad("A JSON body must come whole."))
            }
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(o)) => Ok(o),
            Ok(_) => Err(ctx.bad("The body must be a JSON object.")),
            Err(_) => Err(ctx.bad("The body is not valid JSON.")),
        }
    }

    fn graph_base(&self, version: &str) -> String {
        format!("{}/{version}", self.graph_origin)
    }

    fn parent_url(&self, ctx: &Ctx<'_, '_>, parent: &Parent) -> String {
        format!(
            "{}/users/{}/{}",
            self.graph_base(&ctx.version),
            encode_segment(&ctx.user),
            parent.path()
        )
    }

    /// The uploadSession JSON (docs/protocol.md §2, §3) in the session's key casing.
    fn session_json(graph_origin: &str, s: &Session, full: bool) -> Value {
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
                    "{graph_origin}/{}/$metadata#microsoft.graph.uploadSession",
                    s.version
                )
                .into(),
            );
            o.insert(url.into(), s.upload_url.clone().into());
        }
        o.insert(exp.into(), graph_timestamp(s.expires_at).into());
        o.insert(ranges.into(), s.next_expected_ranges().into());
        Value::Object(o)
    }

    /// `POST .../attachments/createUploadSession` (docs/protocol.md §2).
    fn create_session(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent) -> Effect {
        let resource = format!("{parent:?}");
        self.check_not_before(ctx, &resource);
        let fault = self.store.plan.draw_request(RequestKind::Create, false);
        if let Some(effect) = self.pre_fault(ctx, &resource, &fault) {
            return effect;
        }
        let doc = match self.read_json(ctx, CREATE_BODY_LIMIT) {
            Ok(d) => d,
            Err(a) => return a.into(),
        };
        let Some(info) = get_ci(&doc, "attachmentInfo").and_then(Value::as_object) else {
            return ctx
                .bad("attachmentInfo is required and must be an object.")
                .into();
        };
        match get_ci(info, "attachmentType").and_then(Value::as_str) {
            Some(t) if eq(t, "file") => {}
            Some(_) => return ctx.bad("attachmentType must be \"file\".").into(),
            None => return ctx.bad("attachmentInfo.attachmentType is required.").into(),
        }
        let name = match get_ci(info, "name").and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() => n.to_string(),
            _ => {
                return ctx
                    .bad("attachmentInfo.name is required and must not be empty.")
                    .into()
            }
        };
        let Some(size) = get_ci(info, "size").and_then(Value::as_u64) else {
            return ctx
                .bad("attachmentInfo.size is required and must be a non-negative integer.")
                .into();
        };
        if size > self.max_size {
            // A refusal the client must expect: the limit is the server's to set.
            return ctx
                .error(
                    400,
                    "invalidRequest",
                    &format!(
                        "attachmentInfo.size {size} exceeds the limit of {} bytes.",
                        self.max_size
                    ),
                )
                .into();
        }
        let content_type = match get_ci(info, "contentType") {
            Some(Value::String(ct)) if !ct.is_empty() => ct.clone(),
            _ => "application/octet-stream".to_string(),
        };

        let faults = self.store.plan.draw_session();
        let sid = self.store.new_id("AAMkAD", 52);
        let mut status = 200;
        let mut key_case = KeyCase::Camel;
        let mut status_refused = None;
        let mut expire_after_chunks = None;
        let mut origin = Origin::Graph;
        let mut tempauth = None;
        for f in &faults {
            ctx.fault.get_or_insert(f.name());
            match f {
                Fault::CreatedStatus => status = 201,
                Fault::KeyCase(k) => key_case = *k,
                Fault::StatusRefused(c) => status_refused = Some(*c),
                Fault::ExpireAfterChunks(n) => expire_after_chunks = Some(*n),
                Fault::ForeignOrigin => {
                    origin = Origin::Foreign;
                    tempauth = Some(self.store.new_tempauth());
                }
                Fault::QueryOnGraphOrigin if tempauth.is_none() => {
                    tempauth = Some(self.store.new_tempauth());
                }
                _ => {}
            }
        }
        let host = match origin {
            Origin::Graph => &self.graph_origin,
            Origin::Foreign => &self.foreign_origin,
        };
        let mut upload_url = format!(
            "{host}/{}/users/{}/{}/{}/{}",
            ctx.version,
            encode_segment(&ctx.user),
            parent.path(),
            parent.rules().session_segment,
            encode_segment(&sid)
        );
        if let Some(t) = &tempauth {
            upload_url.push_str("?tempauth=");
            upload_url.push_str(t);
        }
        let session = Session {
            parent: parent.clone(),
            name,
            size,
            content_type,
            expires_at: ctx
                .now
                .saturating_add(self.session_lifetime.as_millis() as u64),
            upload_url,
            version: ctx.version.clone(),
            runs: Default::default(),
            blind: false,
            origin,
            tempauth,
            key_case,
            status_refused,
            expire_after_chunks,
            chunks_accepted: 0,
            dead: expire_after_chunks == Some(0),
        };
        let body = Self::session_json(&self.graph_origin, &session, true);
        self.store.sessions.insert(sid, session);
        self.store.sessions_created += 1;
        json_answer(status, &body).into()
    }

    /// Finds a live session for a request on it, or the answer to give.
    fn live_session<'s>(
        sessions: &'s mut HashMap<String, Session>,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        sid: &str,
    ) -> Result<&'s mut Session, WireAnswer> {
        let gone =
            |ctx: &Ctx<'_, '_>| ctx.not_found("The upload session was not found or has expired.");
        let expired = match sessions.get(sid) {
            None => return Err(gone(ctx)),
            Some(s) => s.dead || ctx.now >= s.expires_at,
        };
        if expired {
            sessions.remove(sid);
            return Err(gone(ctx));
        }
        let Some(s) = sessions.get_mut(sid) else {
            return Err(gone(ctx));
        };
        if s.parent != *parent || s.origin != ctx.req.origin {
            return Err(gone(ctx));
        }
        if let Some(expected) = &s.tempauth {
            if query_param(ctx.req.query(), "tempauth").as_deref() != Some(expected.as_str()) {
                let message = "The tempauth credential of the uploadUrl is missing or wrong.";
                return Err(match ctx.req.origin {
                    Origin::Foreign => ctx.wrong(401, "InvalidAuthenticationToken", message),
                    Origin::Graph => ctx.wrong(403, "accessDenied", message),
                });
            }
        }
        Ok(s)
    }

    /// `GET` and `DELETE {uploadUrl}` (docs/protocol.md §6).
    fn session_request(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent, sid: &str) -> Effect {
        let kind = match ctx.req.method {
            "GET" => RequestKind::Status,
            "DELETE" => RequestKind::Delete,
            "PUT" => {
                return ctx
                    .wrong(
                        405,
                        "MethodNotAllowed",
                        "PUT byte ranges to the uploadUrl followed by /content.",
                    )
                    .into()
            }
            _ => return ctx.method_not_allowed().into(),
        };
        self.check_not_before(ctx, sid);
        if let Err(a) = Self::live_session(&mut self.store.sessions, ctx, parent, sid) {
            return a.into();
        }
        let fault = self.store.plan.draw_request(kind, false);
        if fault == Some(Fault::SessionGone) {
            ctx.fault = Some("gone");
            self.store.sessions.remove(sid);
        } else if let Some(effect) = self.pre_fault(ctx, sid, &fault) {
            return effect;
        }
        let session = match Self::live_session(&mut self.store.sessions, ctx, parent, sid) {
            Ok(s) => s,
            Err(a) => return a.into(),
        };
        if kind == RequestKind::Delete {
            self.store.sessions.remove(sid);
            return self.lost_or(&fault, answer(204, Vec::new(), None));
        }
        if let Some(code) = session.status_refused {
            ctx.fault.get_or_insert("status-refused");
            // The server's choice, not the client's fault: no violation.
            return if code == 405 {
                ctx.error(
                    405,
                    "MethodNotAllowed",
                    "The HTTP method is not allowed on this resource.",
                )
            } else {
                ctx.error(
                    400,
                    "invalidRequest",
                    "Unsupported request on an attachment session.",
                )
            }
            .into();
        }
        let body = Self::session_json(&self.graph_origin, session, true);
        self.lost_or(&fault, json_answer(200, &body))
    }

    /// The request took effect; its answer is lost when the fault says so.
    fn lost_or(&self, fault: &Option<Fault>, a: WireAnswer) -> Effect {
        match fault {
            Some(Fault::AnswerLost | Fault::LostFinalAnswer) => Effect::Drop {
                after: Duration::ZERO,
                body_read: u64::MAX,
            },
            _ => a.into(),
        }
    }

    /// Checks a range against what the session still expects (docs/protocol.md §3, §4): it
    /// must start at the first missing byte and stay inside that gap. Returns whether it
    /// completes the upload.
    fn check_range(ctx: &Ctx<'_, '_>, s: &Session, cr: &ContentRange) -> Result<bool, WireAnswer> {
        let invalid = |m: String| ctx.error(416, "invalidRange", &m);
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
    fn put_content(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent, sid: &str) -> Effect {
        self.check_not_before(ctx, sid);
        if let Err(a) = Self::live_session(&mut self.store.sessions, ctx, parent, sid) {
            return a.into();
        }
        let req = ctx.req;
        if req.has_header("transfer-encoding") {
            return ctx
                .bad("Transfer-Encoding is not accepted; send one exact Content-Length.")
                .into();
        }
        if req.has_header("content-encoding") {
            return ctx
                .bad("Content-Encoding is not accepted on a byte range.")
                .into();
        }
        if !media_type_is(req, "application/octet-stream") {
            return ctx
                .wrong(
                    415,
                    "UnsupportedMediaType",
                    "Content-Type must be application/octet-stream.",
                )
                .into();
        }
        if !req.has_header("content-length") {
            return ctx
                .wrong(411, "lengthRequired", "Content-Length is required.")
                .into();
        }
        let Some(cl) = req.header("content-length").and_then(digits) else {
            return ctx.bad("Content-Length is not a number.").into();
        };
        let Some(cr_text) = req.header("content-range") else {
            return ctx.bad("Content-Range is required.").into();
        };
        let Some(cr) = parse_content_range(cr_text) else {
            return ctx
                .bad("Content-Range must be of the form bytes S-E/T.")
                .into();
        };
        let (start, total) = match cr {
            ContentRange::Bytes { start, end, total } => {
                if end < start {
                    return ctx.bad("Content-Range ends before it starts.").into();
                }
                if (end - start).checked_add(1) != Some(cl) {
                    return ctx
                        .bad(&format!(
                            "Content-Length {cl} does not match Content-Range {start}-{end}."
                        ))
                        .into();
                }
                (start, total)
            }
            ContentRange::Empty { total } => {
                if total != 0 || cl != 0 {
                    return ctx
                        .bad("bytes */T is accepted only for a 0-byte file.")
                        .into();
                }
                (0, 0)
            }
        };
        let max_chunk = parent.rules().max_chunk;
        if cl >= max_chunk {
            return ctx
                .wrong(
                    413,
                    "ErrorRequestEntityTooLarge",
                    &format!("Each PUT must be under {max_chunk} bytes; this one has {cl}."),
                )
                .into();
        }
        let (size, is_final) = {
            let s = match Self::live_session(&mut self.store.sessions, ctx, parent, sid) {
                Ok(s) => s,
                Err(a) => return a.into(),
            };
            let size = s.size;
            match Self::check_range(ctx, s, &cr) {
                Ok(f) => (size, f),
                Err(a) => return a.into(),
            }
        };
        if total != size {
            return ctx
                .bad(&format!(
                    "Content-Range total {total} differs from the size {size} given at creation."
                ))
                .into();
        }
        let fault = self.store.plan.draw_request(RequestKind::Put, is_final);
        if fault == Some(Fault::SessionGone) {
            ctx.fault = Some("gone");
            self.store.sessions.remove(sid);
            return ctx
                .not_found("The upload session was not found or has expired.")
                .into();
        }
        if let Some(effect) = self.pre_fault(ctx, sid, &fault) {
            return effect;
        }
        if fault == Some(Fault::RangeNotSatisfiable) {
            return ctx
                .error(
                    416,
                    "invalidRange",
                    "The requested range is not satisfiable.",
                )
                .into();
        }
        let frames: Option<Vec<&[u8]>> = match &req.body {
            WireBody::Bytes(frames) if body_len(&req.body) == cl => Some(frames.clone()),
            WireBody::Unseen(n) if *n == cl => None,
            _ => {
                return ctx
                    .bad("The body length differs from Content-Length.")
                    .into()
            }
        };
        let s = match Self::live_session(&mut self.store.sessions, ctx, parent, sid) {
            Ok(s) => s,
            Err(a) => return a.into(),
        };
        s.receive(start, cl, frames.as_deref());
        s.chunks_accepted = s.chunks_accepted.saturating_add(1);
        if fault == Some(Fault::LoseRange) {
            // Forget a stretch of earlier bytes (or of this chunk, if it is the first): the
            // answer then lists several ranges (docs/protocol.md §4).
            let held = if start > 0 { start } else { cl };
            if held > 0 {
                let a = held / 4;
                s.forget(a, (held / 2).max(a + 1));
            }
        }
        let kept_503 = match &fault {
            Some(Fault::UnavailableKept(ra)) => Some(*ra),
            _ => None,
        };
        if s.missing().is_empty() {
            return self.complete(ctx, sid, &fault, kept_503);
        }
        if s.expire_after_chunks
            .is_some_and(|n| s.chunks_accepted >= n)
        {
            s.dead = true;
            ctx.fault.get_or_insert("expire");
        }
        let body = Self::session_json(&self.graph_origin, s, false);
        match kept_503 {
            Some(ra) => self
                .refused(
                    ctx,
                    sid,
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable.",
                    &ra,
                )
                .into(),
            None => self.lost_or(&fault, json_answer(200, &body)),
        }
    }

    /// Completion (docs/protocol.md §5): the attachment exists, the session is gone.
    fn complete(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        sid: &str,
        fault: &Option<Fault>,
        kept_503: Option<Option<RetryAfter>>,
    ) -> Effect {
        let Some(mut s) = self.store.sessions.remove(sid) else {
            return ctx.not_found("The upload session was not found.").into();
        };
        let id = self.store.new_id("AAMkAD", 64);
        let attachment = Attachment {
            id: id.clone(),
            name: std::mem::take(&mut s.name),
            size: s.size,
            content_type: std::mem::take(&mut s.content_type),
            bytes: s.assemble(),
            last_modified: system_time(ctx.now),
        };
        let location = format!(
            "{}/{}/{}",
            self.parent_url(ctx, &s.parent),
            s.parent.rules().location_segment,
            encode_segment(&id)
        );
        self.store
            .attachments
            .entry(s.parent)
            .or_default()
            .push(attachment);
        if let Some(ra) = kept_503 {
            return self
                .refused(
                    ctx,
                    sid,
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable.",
                    &ra,
                )
                .into();
        }
        let mut a = answer(201, Vec::new(), None);
        a.set("Location", location);
        self.lost_or(fault, a)
    }

    fn attachment_json(&self, a: &Attachment, parent: &Parent, with_bytes: bool) -> Value {
        let mut v = json!({
            "@odata.type": parent.rules().odata_type,
            "id": a.id,
            "name": a.name,
            "size": a.size,
            "contentType": a.content_type,
            "lastModifiedDateTime": graph_timestamp(crate::time::millis(a.last_modified)),
            "isInline": false,
        });
        if with_bytes {
            v["contentBytes"] = base64_encode(&a.bytes).into();
        }
        v
    }

    /// The single `POST .../attachments` for small files (docs/protocol.md §7).
    fn post_attachment(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent) -> Effect {
        let resource = format!("{parent:?}");
        self.check_not_before(ctx, &resource);
        let fault = self.store.plan.draw_request(RequestKind::Post, false);
        if let Some(effect) = self.pre_fault(ctx, &resource, &fault) {
            return effect;
        }
        let doc = match self.read_json(ctx, POST_BODY_LIMIT) {
            Ok(d) => d,
            Err(a) => return a.into(),
        };
        let rules = parent.rules();
        match get_ci(&doc, "@odata.type").and_then(Value::as_str) {
            Some(t) if eq(t, rules.odata_type) => {}
            _ => {
                return ctx
                    .bad(&format!("@odata.type must be {}.", rules.odata_type))
                    .into()
            }
        }
        let name = match get_ci(&doc, "name").and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() => n.to_string(),
            _ => return ctx.bad("name is required and must not be empty.").into(),
        };
        let Some(bytes) = get_ci(&doc, "contentBytes")
            .and_then(Value::as_str)
            .and_then(base64_decode)
        else {
            return ctx
                .bad("contentBytes is required and must be base64.")
                .into();
        };
        let limit = rules.single_post_limit;
        if bytes.len() as u64 >= limit {
            return ctx
                .wrong(
                    413,
                    "ErrorRequestEntityTooLarge",
                    &format!(
                        "The single POST takes files under {limit} bytes; use an upload session."
                    ),
                )
                .into();
        }
        let content_type = match get_ci(&doc, "contentType") {
            Some(Value::String(ct)) if !ct.is_empty() => ct.clone(),
            _ => "application/octet-stream".to_string(),
        };
        let id = self.store.new_id("AAMkAD", 64);
        let a = Attachment {
            id: id.clone(),
            name,
            size: bytes.len() as u64,
            content_type,
            bytes,
            last_modified: system_time(ctx.now),
        };
        let mut v = self.attachment_json(&a, parent, false);
        self.store
            .attachments
            .entry(parent.clone())
            .or_default()
            .push(a);
        v["@odata.context"] = format!(
            "{}/$metadata#{}",
            self.graph_base(&ctx.version),
            parent.context(&ctx.user)
        )
        .into();
        let mut a = json_answer(201, &v);
        a.set(
            "Location",
            format!(
                "{}/attachments/{}",
                self.parent_url(ctx, parent),
                encode_segment(&id)
            ),
        );
        self.lost_or(&fault, a)
    }

    /// `GET .../attachments`, `.../attachments/{id}` and `.../{id}/$value`.
    fn read_attachments(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        id: Option<&str>,
        raw: bool,
    ) -> Effect {
        let fault = self.store.plan.draw_request(RequestKind::Read, false);
        if let Some(effect) = self.pre_fault(ctx, &format!("{parent:?}"), &fault) {
            return effect;
        }
        let empty = Vec::new();
        let all = self.store.attachments.get(parent).unwrap_or(&empty);
        let Some(id) = id else {
            let value: Vec<Value> = all
                .iter()
                .map(|a| {
                    let mut v = self.attachment_json(a, parent, false);
                    if let Some(o) = v.as_object_mut() {
                        o.remove("isInline");
                    }
                    v
                })
                .collect();
            return self.lost_or(&fault, json_answer(200, &json!({ "value": value })));
        };
        let Some(a) = all.iter().find(|a| a.id == id) else {
            return ctx.not_found("The attachment was not found.").into();
        };
        let answer = if raw {
            answer(200, a.bytes.clone(), Some(&a.content_type))
        } else {
            json_answer(200, &self.attachment_json(a, parent, true))
        };
        self.lost_or(&fault, answer)
    }

    /// `DELETE .../attachments/{id}`.
    fn delete_attachment(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent, id: &str) -> Effect {
        let fault = self.store.plan.draw_request(RequestKind::Delete, false);
        if let Some(effect) = self.pre_fault(ctx, &format!("{parent:?}"), &fault) {
            return effect;
        }
        let Some(all) = self.store.attachments.get_mut(parent) else {
            return ctx.not_found("The attachment was not found.").into();
        };
        let before = all.len();
        all.retain(|a| a.id != id);
        if all.len() == before {
            return ctx.not_found("The attachment was not found.").into();
        }
        self.lost_or(&fault, answer(204, Vec::new(), None))
    }
}

/// A JSON object key, matched case-insensitively (docs/protocol.md §3).
fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| eq(k, key)).map(|(_, v)| v)
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
    fn bearer() {
        assert!(is_bearer("Bearer abc", "abc"));
        assert!(is_bearer("bearer abc", "abc"));
        assert!(!is_bearer("Bearer abd", "abc"));
        assert!(!is_bearer("Basic abc", "abc"));
        assert!(!is_bearer("abc", "abc"));
    }
}
