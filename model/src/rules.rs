//! The Graph rules, one `serve` call per request: routing, the token rule, where faults
//! take effect, and what every handler shares (docs/protocol.md §2, §8, §9). The handlers
//! live by the protocol's seams: `create.rs` (sessions and the single POST), `chunks.rs`
//! (byte ranges, status, cancel, completion), `read.rs` (reading back). Sans-IO: the caller
//! hands over the whole request and the time, and gets back what to do.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::codec::{decode, encode_segment, query_param};
use crate::faults::{Fault, KeyCase, RequestKind, RetryAfter};
use crate::store::{Origin, RecordedRequest, Session};
use crate::target::Parent;
use crate::time::{graph_timestamp, http_date, skewed, system_time, Millis};
use crate::wire::{Outcome, WireAnswer, WireBody, WireRequest};
use crate::Model;

/// Largest JSON body read for createUploadSession.
pub(crate) const CREATE_BODY_LIMIT: usize = 64 * 1024;
/// Largest JSON body read for the single POST (base64 of 3 MiB plus room).
pub(crate) const POST_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// The per-request context.
pub(crate) struct Ctx<'r, 'a> {
    pub(crate) req: &'r WireRequest<'a>,
    /// The server's clock.
    pub(crate) now: Millis,
    pub(crate) version: String,
    pub(crate) user: String,
    pub(crate) fault: Option<&'static str>,
    pub(crate) stall: Option<Duration>,
    pub(crate) request_id: String,
    pub(crate) client_request_id: String,
    /// What was wrong with the request, when a correct client would not have sent it.
    pub(crate) violation: Option<String>,
}

/// What a handler decided.
pub(crate) enum Effect {
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

pub(crate) fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

pub(crate) fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(crate) fn body_len(body: &WireBody<'_>) -> u64 {
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

pub(crate) fn media_type_is(req: &WireRequest<'_>, expected: &str) -> bool {
    req.header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

pub(crate) fn answer(status: u16, body: Vec<u8>, content_type: Option<&str>) -> WireAnswer {
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

pub(crate) fn json_answer(status: u16, value: &Value) -> WireAnswer {
    answer(
        status,
        serde_json::to_vec(value).unwrap_or_default(),
        Some("application/json"),
    )
}

impl Ctx<'_, '_> {
    /// Graph's error shape (docs/protocol.md §9).
    pub(crate) fn error(&self, status: u16, code: &str, message: &str) -> WireAnswer {
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
    pub(crate) fn wrong(&mut self, status: u16, code: &str, message: &str) -> WireAnswer {
        self.violation.get_or_insert_with(|| message.to_string());
        self.error(status, code, message)
    }

    pub(crate) fn bad(&mut self, message: &str) -> WireAnswer {
        self.wrong(400, "invalidRequest", message)
    }

    pub(crate) fn not_found(&self, message: &str) -> WireAnswer {
        self.error(404, "ErrorItemNotFound", message)
    }

    /// A path that names nothing Graph serves: the client built a wrong URL.
    pub(crate) fn no_route(&mut self) -> WireAnswer {
        self.wrong(
            404,
            "ErrorItemNotFound",
            "Resource not found for the segment.",
        )
    }

    pub(crate) fn method_not_allowed(&mut self) -> WireAnswer {
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
    pub(crate) fn check_not_before(&mut self, ctx: &Ctx<'_, '_>, resource: &str) {
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

    pub(crate) fn refused(
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
        if let (Origin::Foreign, Some(sid)) = (ctx.req.origin, path.strip_prefix("/up/")) {
            return self.upload_url_request(ctx, sid);
        }
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
        // A drive by id, or a group's or a site's: the model has one drive, whichever way it
        // is named (`/drives/{id}/items/..`, `/groups/{id}/drive/..`, `/sites/{id}/drive/..`).
        let drive_path: Vec<String>;
        let (user, rest) = match (segs.get(1), segs.get(2), segs.get(3)) {
            (Some(d), Some(_), _) if eq(d, "drives") => {
                drive_path = ["drive".to_string()]
                    .into_iter()
                    .chain(segs[3..].iter().cloned())
                    .collect();
                (self.user_id.clone(), &drive_path[..])
            }
            (Some(g), Some(_), Some(drive))
                if (eq(g, "groups") || eq(g, "sites")) && eq(drive, "drive") =>
            {
                (self.user_id.clone(), &segs[3..])
            }
            _ => match (segs.get(1), segs.get(2)) {
                // Print lives under the tenant, not a user.
                (Some(print), _) if eq(print, "print") => (self.user_id.clone(), &segs[1..]),
                (Some(me), _) if eq(me, "me") => (self.user_id.clone(), &segs[2..]),
                (Some(users), Some(u)) if eq(users, "users") => (u.clone(), &segs[3..]),
                _ => return ctx.no_route().into(),
            },
        };
        // To Do's lists and a list's tasks, read by name look-ups (docs/protocol.md §8).
        match rest {
            [todo, lists] if eq(todo, "todo") && eq(lists, "lists") => {
                return self.read_lists(ctx, &user, None);
            }
            [todo, lists, l, tasks]
                if eq(todo, "todo") && eq(lists, "lists") && eq(tasks, "tasks") =>
            {
                return self.read_lists(ctx, &user, Some(l));
            }
            _ => {}
        }
        // A drive item by its id: `/drive/items/{id}`, the id without the path's colon.
        if let [drive, items, id] = rest {
            if eq(drive, "drive") && eq(items, "items") && !id.ends_with(':') {
                if !eq(&user, &self.user_id) {
                    return ctx.not_found("The user was not found.").into();
                }
                return match ctx.req.method {
                    "GET" if ctx.req.origin == Origin::Graph => self.read_item_by_id(ctx, id),
                    "GET" => ctx.not_found("Resource not found.").into(),
                    _ => ctx.method_not_allowed().into(),
                };
            }
        }
        let Some((parent, tail)) = Parent::route(rest) else {
            return ctx.no_route().into();
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
                match parent {
                    Parent::DriveFolder { .. } => return self.drive_request(ctx, &parent, tail),
                    Parent::PrintDocument { .. } => {
                        return match (m, tail) {
                            ("POST", [c]) if eq(c, "createUploadSession") => {
                                self.create_session(ctx, &parent)
                            }
                            _ => ctx.no_route().into(),
                        }
                    }
                    Parent::TodoTask { .. } | Parent::Outlook { .. } => {}
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
                    _ => ctx.no_route().into(),
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
            // Every folder, message, event and print document id stands for one.
            Parent::DriveFolder { .. } | Parent::Outlook { .. } | Parent::PrintDocument { .. } => {
                true
            }
        }
    }

    /// `.../drive/items/{folder}:/{name}:[/createUploadSession]` (docs/protocol.md §8).
    fn drive_request(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent, tail: &[&str]) -> Effect {
        // The item path runs to the first segment that ends with ':' (`root:/a/b.bin:`).
        let Some(end) = tail.iter().position(|s| s.ends_with(':')) else {
            return ctx.bad("The item path must end with ':'.").into();
        };
        let name = tail[end].trim_end_matches(':');
        // Folders on the way are folders under the parent: `root/Docs` holds `r.pdf`.
        let parent = match (parent, &tail[..end]) {
            (Parent::DriveFolder { folder }, dirs) if !dirs.is_empty() => Parent::DriveFolder {
                folder: format!("{folder}/{}", dirs.join("/")),
            },
            (p, _) => p.clone(),
        };
        match (ctx.req.method, &tail[end + 1..]) {
            ("POST", [c]) if eq(c, "createUploadSession") => {
                self.create_drive_session(ctx, &parent, name)
            }
            ("GET", []) => self.read_item(ctx, &parent, name),
            ("PUT", [c]) if eq(c, "content") => self.put_item(ctx, &parent, name),
            _ => ctx.no_route().into(),
        }
    }

    /// A request on a drive uploadUrl, `/up/{session}` on the other origin: `PUT` a range,
    /// `GET` the status, `DELETE` to cancel (docs/protocol.md §8).
    fn upload_url_request(&mut self, ctx: &mut Ctx<'_, '_>, sid: &str) -> Effect {
        let Some(sid) = decode(sid) else {
            return ctx.bad("Invalid percent-encoding in the path.").into();
        };
        let Some(parent) = self.store.sessions.get(&sid).map(|s| s.parent.clone()) else {
            return ctx
                .not_found("The upload session was not found or has expired.")
                .into();
        };
        match ctx.req.method {
            "PUT" => self.put_content(ctx, &parent, &sid),
            "POST" => self.commit(ctx, &parent, &sid),
            _ => self.session_request(ctx, &parent, &sid),
        }
    }

    /// A request on `resource`: the `Retry-After` it may break, then its fault drawn and,
    /// when the fault decides the answer alone, that answer (`Err`).
    pub(crate) fn draw_fault(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        resource: &str,
        kind: RequestKind,
    ) -> Result<Option<Fault>, Effect> {
        self.check_not_before(ctx, resource);
        let fault = self.store.plan.draw_request(kind, false);
        match self.pre_fault(ctx, resource, &fault) {
            Some(effect) => Err(effect),
            None => Ok(fault),
        }
    }

    /// A PUT or commit on session `sid`: its fault drawn; `gone` ends the session first.
    pub(crate) fn draw_session_fault(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        sid: &str,
        is_final: bool,
    ) -> Result<Option<Fault>, Effect> {
        let fault = self.store.plan.draw_request(RequestKind::Put, is_final);
        if fault == Some(Fault::SessionGone) {
            ctx.fault = Some("gone");
            self.store.sessions.remove(sid);
            return Err(ctx
                .not_found("The upload session was not found or has expired.")
                .into());
        }
        match self.pre_fault(ctx, sid, &fault) {
            Some(effect) => Err(effect),
            None => Ok(fault),
        }
    }

    /// Applies the request faults that do not depend on the handler. `None`: go on (a kept
    /// stall only delays the answer).
    pub(crate) fn pre_fault(
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
            Fault::Unauthorized | Fault::RotateToken => {
                if *f == Fault::RotateToken {
                    self.rotations += 1;
                    self.token = format!("{}.{}", self.token_root, self.rotations);
                }
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
    pub(crate) fn read_json(
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

    pub(crate) fn graph_base(&self, version: &str) -> String {
        format!("{}/{version}", self.graph_origin)
    }

    pub(crate) fn parent_url(&self, ctx: &Ctx<'_, '_>, parent: &Parent) -> String {
        format!(
            "{}/users/{}/{}",
            self.graph_base(&ctx.version),
            encode_segment(&ctx.user),
            parent.path()
        )
    }

    /// The uploadSession JSON (docs/protocol.md §2, §3) in the session's key casing.
    pub(crate) fn session_json(graph_origin: &str, s: &Session, full: bool) -> Value {
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
        o.insert(
            ranges.into(),
            s.next_expected_ranges(s.parent.rules().range_style).into(),
        );
        Value::Object(o)
    }

    /// Finds a live session for a request on it, or the answer to give.
    pub(crate) fn live_session<'s>(
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
            let param = s.parent.rules().credential;
            if query_param(ctx.req.query(), param).as_deref() != Some(expected.as_str()) {
                let message = "The tempauth credential of the uploadUrl is missing or wrong.";
                return Err(match ctx.req.origin {
                    Origin::Foreign => ctx.wrong(401, "InvalidAuthenticationToken", message),
                    Origin::Graph => ctx.wrong(403, "accessDenied", message),
                });
            }
        }
        Ok(s)
    }

    /// The request took effect; its answer is lost when the fault says so.
    pub(crate) fn lost_or(&self, fault: &Option<Fault>, a: WireAnswer) -> Effect {
        match fault {
            Some(Fault::AnswerLost | Fault::LostFinalAnswer) => Effect::Drop {
                after: Duration::ZERO,
                body_read: u64::MAX,
            },
            _ => a.into(),
        }
    }
}

/// A JSON object key, matched case-insensitively (docs/protocol.md §3).
pub(crate) fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| eq(k, key)).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer() {
        assert!(is_bearer("Bearer abc", "abc"));
        assert!(is_bearer("bearer abc", "abc"));
        assert!(!is_bearer("Bearer abd", "abc"));
        assert!(!is_bearer("Basic abc", "abc"));
        assert!(!is_bearer("abc", "abc"));
    }
}
