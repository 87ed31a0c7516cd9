//! Opening upload sessions (docs/protocol.md §2, §8) and the single POST of a small file
//! (docs/protocol.md §7).

use serde_json::{Map, Value};

use crate::codec::{base64_decode, encode_segment, query_param};
use crate::faults::{Fault, KeyCase, RequestKind};
use crate::rules::{
    body_len, digits, eq, get_ci, json_answer, Ctx, Effect, CREATE_BODY_LIMIT, POST_BODY_LIMIT,
};
use crate::store::{Attachment, Conflict, Finish, Origin, Session};
use crate::target::{Makes, Parent};
use crate::time::system_time;
use crate::wire::WireBody;
use crate::Model;

/// The largest drive item a simple upload takes (docs/protocol.md §8).
const SIMPLE_UPLOAD_LIMIT: u64 = 250_000_000;

impl Model {
    /// `POST .../attachments/createUploadSession` (docs/protocol.md §2).
    pub(crate) fn create_session(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent) -> Effect {
        let resource = format!("{parent:?}");
        if let Err(effect) = self.draw_fault(ctx, &resource, RequestKind::Create) {
            return effect;
        }
        let doc = match self.read_json(ctx, CREATE_BODY_LIMIT) {
            Ok(d) => d,
            Err(a) => return a.into(),
        };
        let rules = parent.rules();
        let key = rules.create_key;
        let Some(info) = get_ci(&doc, key).and_then(Value::as_object) else {
            return ctx
                .bad(&format!("{key} is required and must be an object."))
                .into();
        };
        // Attachments say they are files; print documents name themselves differently.
        let name_key = if rules.makes == Makes::Document {
            "documentName"
        } else {
            match get_ci(info, "attachmentType").and_then(Value::as_str) {
                Some(t) if eq(t, "file") => {}
                Some(_) => return ctx.bad("attachmentType must be \"file\".").into(),
                None => {
                    return ctx
                        .bad(&format!("{key}.attachmentType is required."))
                        .into()
                }
            }
            "name"
        };
        let name = match get_ci(info, name_key).and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() => n.to_string(),
            _ => {
                return ctx
                    .bad(&format!(
                        "{key}.{name_key} is required and must not be empty."
                    ))
                    .into()
            }
        };
        let Some(size) = get_ci(info, "size").and_then(Value::as_u64) else {
            return ctx
                .bad(&format!(
                    "{key}.size is required and must be a non-negative integer."
                ))
                .into();
        };
        let max = self.max_size.min(rules.max_session_size);
        if size > max {
            // A refusal the client must expect: the limit is the server's to set.
            return ctx
                .error(
                    400,
                    "invalidRequest",
                    &format!("{key}.size {size} exceeds the limit of {max} bytes."),
                )
                .into();
        }
        if size < rules.min_session_size {
            return ctx
                .error(
                    400,
                    "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                    &format!(
                        "Sessions take files of {} bytes and more; send a smaller one whole.",
                        rules.min_session_size
                    ),
                )
                .into();
        }
        let content_type = match get_ci(info, "contentType") {
            Some(Value::String(ct)) if !ct.is_empty() => ct.clone(),
            _ => "application/octet-stream".to_string(),
        };
        self.open_session(
            ctx,
            parent,
            name,
            Some(size),
            content_type,
            Finish::default(),
        )
    }

    /// `POST .../drive/items/{folder}:/{name}:/createUploadSession` (docs/protocol.md §8):
    /// the body is optional; its `item` may name the conflict behaviour (`fail` unless
    /// told) and repeat the name. The size comes with the first PUT.
    pub(crate) fn create_drive_session(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        name: &str,
    ) -> Effect {
        let resource = format!("{parent:?}");
        if let Err(effect) = self.draw_fault(ctx, &resource, RequestKind::Create) {
            return effect;
        }
        let empty = matches!(&ctx.req.body, WireBody::Bytes(f) if f.iter().all(|f| f.is_empty()));
        let doc = if empty {
            Map::new()
        } else {
            match self.read_json(ctx, CREATE_BODY_LIMIT) {
                Ok(d) => d,
                Err(a) => return a.into(),
            }
        };
        let item = get_ci(&doc, "item").and_then(Value::as_object);
        let conflict = match item
            .and_then(|i| get_ci(i, "@microsoft.graph.conflictBehavior"))
            .and_then(Value::as_str)
        {
            None => Conflict::Fail,
            Some(c) if eq(c, "fail") => Conflict::Fail,
            Some(c) if eq(c, "replace") => Conflict::Replace,
            Some(c) if eq(c, "rename") => Conflict::Rename,
            Some(_) => {
                return ctx
                    .bad("@microsoft.graph.conflictBehavior must be fail, replace or rename.")
                    .into()
            }
        };
        if let Some(n) = item.and_then(|i| get_ci(i, "name")).and_then(Value::as_str) {
            if n != name {
                return ctx
                    .bad("item.name differs from the name in the path.")
                    .into();
            }
        }
        if name.trim().is_empty() {
            return ctx.bad("The item needs a name.").into();
        }
        let content_type = "application/octet-stream".to_string();
        let defer_commit = match get_ci(&doc, "deferCommit") {
            None | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => return ctx.bad("deferCommit must be true or false.").into(),
        };
        let finish = Finish {
            conflict,
            defer_commit,
        };
        self.open_session(ctx, parent, name.to_string(), None, content_type, finish)
    }

    /// Opens a session once the request is known good: draws the session faults, writes
    /// the uploadUrl where the destination's rules put it.
    fn open_session(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        name: String,
        size: Option<u64>,
        content_type: String,
        finish: Finish,
    ) -> Effect {
        let rules = parent.rules();
        let faults = self.store.plan.draw_session();
        let sid = self.store.new_id("AAMkAD", 52);
        let mut status = rules.create_status;
        let mut key_case = KeyCase::Camel;
        let mut status_refused = None;
        let mut expire_after_chunks = None;
        let mut origin = rules.session_origin;
        let mut tempauth = None;
        for f in &faults {
            ctx.fault.get_or_insert(f.name());
            match f {
                Fault::CreatedStatus => status = 201,
                Fault::KeyCase(k) => key_case = *k,
                Fault::StatusRefused(c) => status_refused = Some(*c),
                Fault::ExpireAfterChunks(n) => expire_after_chunks = Some(*n),
                Fault::ForeignOrigin => origin = Origin::Foreign,
                Fault::QueryOnGraphOrigin if tempauth.is_none() => {
                    tempauth = Some(self.store.new_tempauth());
                }
                _ => {}
            }
        }
        // A foreign origin takes no token: the URL carries its own credential.
        if origin == Origin::Foreign && tempauth.is_none() {
            tempauth = Some(self.store.new_tempauth());
        }
        let host = match origin {
            Origin::Graph => &self.graph_origin,
            Origin::Foreign => &self.foreign_origin,
        };
        let mut upload_url = match rules.makes {
            Makes::Attachment => format!(
                "{host}/{}/users/{}/{}/{}/{}",
                ctx.version,
                encode_segment(&ctx.user),
                parent.path(),
                rules.session_segment,
                encode_segment(&sid)
            ),
            Makes::OutlookAttachment | Makes::DriveItem | Makes::Document => {
                format!("{host}/up/{}", encode_segment(&sid))
            }
        };
        if let Some(t) = &tempauth {
            upload_url.push('?');
            upload_url.push_str(rules.credential);
            upload_url.push('=');
            upload_url.push_str(t);
        }
        let session = Session {
            parent: parent.clone(),
            name,
            size: size.unwrap_or(u64::MAX),
            size_known: size.is_some(),
            finish,
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

    /// `PUT .../items/{folder}:/{name}:/content`: a small drive item in one request, the raw
    /// bytes as the body, the conflict behaviour in the query and *replace* when it is
    /// absent (docs/protocol.md §8).
    pub(crate) fn put_item(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        name: &str,
    ) -> Effect {
        let resource = format!("{parent:?}");
        let fault = match self.draw_fault(ctx, &resource, RequestKind::Post) {
            Ok(f) => f,
            Err(effect) => return effect,
        };
        let req = ctx.req;
        if req.has_header("transfer-encoding") || req.has_header("content-encoding") {
            return ctx
                .bad("Send the bytes as they are, with one exact Content-Length.")
                .into();
        }
        if req.has_header("content-range") {
            return ctx.bad("A simple upload takes no Content-Range.").into();
        }
        let Some(cl) = req.header("content-length").and_then(digits) else {
            return ctx
                .wrong(411, "lengthRequired", "Content-Length is required.")
                .into();
        };
        let conflict = match query_param(req.query(), "@microsoft.graph.conflictBehavior") {
            None => Conflict::Replace,
            Some(c) if eq(&c, "fail") => Conflict::Fail,
            Some(c) if eq(&c, "replace") => Conflict::Replace,
            Some(c) if eq(&c, "rename") => Conflict::Rename,
            Some(_) => {
                return ctx
                    .bad("@microsoft.graph.conflictBehavior must be fail, replace or rename.")
                    .into()
            }
        };
        if cl > SIMPLE_UPLOAD_LIMIT {
            return ctx
                .wrong(
                    413,
                    "requestEntityTooLarge",
                    "A simple upload takes up to 250 MB; use an upload session.",
                )
                .into();
        }
        let bytes = match &req.body {
            WireBody::Bytes(frames) if body_len(&req.body) == cl => frames.concat(),
            WireBody::Unseen(n) if *n == cl => Vec::new(),
            _ => {
                return ctx
                    .bad("The body length differs from Content-Length.")
                    .into()
            }
        };
        if name.trim().is_empty() {
            return ctx.bad("The item needs a name.").into();
        }
        let item = Attachment {
            id: self.store.new_id("AAMkAD", 64),
            name: name.to_string(),
            size: cl,
            content_type: "application/octet-stream".to_string(),
            bytes,
            last_modified: system_time(ctx.now),
        };
        let kept_503 = match &fault {
            Some(Fault::UnavailableKept(ra)) => Some(*ra),
            _ => None,
        };
        self.complete_item(ctx, &resource, (parent, conflict), item, &fault, kept_503)
    }

    /// The single `POST .../attachments` for small files (docs/protocol.md §7).
    pub(crate) fn post_attachment(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent) -> Effect {
        let resource = format!("{parent:?}");
        let fault = match self.draw_fault(ctx, &resource, RequestKind::Post) {
            Ok(f) => f,
            Err(effect) => return effect,
        };
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
}
