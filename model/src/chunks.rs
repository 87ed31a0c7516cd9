//! Byte ranges into a session, its status and its cancel, and completion
//! (docs/protocol.md §3-§6, §8, §9).

use crate::codec::encode_segment;
use crate::faults::{Fault, RequestKind, RetryAfter};
use crate::rules::{answer, body_len, digits, json_answer, media_type_is, Ctx, Effect};
use crate::store::{Attachment, Conflict, Session};
use crate::target::{Makes, Parent};
use crate::time::system_time;
use crate::wire::{WireAnswer, WireBody};
use crate::Model;

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

impl Model {
    /// `GET` and `DELETE {uploadUrl}` (docs/protocol.md §6).
    pub(crate) fn session_request(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        sid: &str,
    ) -> Effect {
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
    pub(crate) fn put_content(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        sid: &str,
    ) -> Effect {
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
            // A drive session learns the size from its first PUT (docs/protocol.md §8).
            if !s.size_known {
                s.size = total;
                s.size_known = true;
            }
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
        let align = parent.rules().chunk_align;
        let gap_end = self
            .store
            .sessions
            .get(sid)
            .and_then(|s| s.missing().first().map(|m| m.1));
        if let (false, ContentRange::Bytes { end, .. }) = (is_final, &cr) {
            // Every fragment but the last ends on the grid, or where a gap ends: after a
            // partly kept one the next may start off it and realign (docs/protocol.md §8).
            if (end + 1) % align != 0 && Some(end + 1) != gap_end {
                return ctx
                    .bad(&format!(
                        "A fragment that is not the last must end on a multiple of {align} bytes."
                    ))
                    .into();
            }
        }
        let fault = match self.draw_session_fault(ctx, sid, is_final) {
            Ok(f) => f,
            Err(effect) => return effect,
        };
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
        if s.missing().is_empty() && !s.finish.defer_commit {
            return self.complete(ctx, sid, &fault, kept_503);
        }
        if parent.rules().fragment_extends_expiry {
            s.expires_at = ctx
                .now
                .saturating_add(self.session_lifetime.as_millis() as u64);
        }
        if s.expire_after_chunks
            .is_some_and(|n| s.chunks_accepted >= n)
        {
            s.dead = true;
            ctx.fault.get_or_insert("expire");
        }
        let body = Self::session_json(&self.graph_origin, s, false);
        match kept_503 {
            Some(ra) => self.kept_but_unavailable(ctx, sid, &ra),
            None => {
                let status = parent.rules().intermediate_status;
                self.lost_or(&fault, json_answer(status, &body))
            }
        }
    }

    /// `POST {uploadUrl}` with no body: commits a session created with `deferCommit` once it
    /// holds every byte (docs/protocol.md §8).
    pub(crate) fn commit(&mut self, ctx: &mut Ctx<'_, '_>, parent: &Parent, sid: &str) -> Effect {
        self.check_not_before(ctx, sid);
        if body_len(&ctx.req.body) != 0 {
            return ctx.bad("The commit request takes no body.").into();
        }
        let s = match Self::live_session(&mut self.store.sessions, ctx, parent, sid) {
            Ok(s) => s,
            Err(a) => return a.into(),
        };
        if !s.finish.defer_commit {
            return ctx
                .bad("The session was not created with deferCommit.")
                .into();
        }
        if !s.missing().is_empty() {
            return ctx.bad("The session does not hold every byte yet.").into();
        }
        let fault = match self.draw_session_fault(ctx, sid, true) {
            Ok(f) => f,
            Err(effect) => return effect,
        };
        let kept_503 = match &fault {
            Some(Fault::UnavailableKept(ra)) => Some(*ra),
            _ => None,
        };
        self.complete(ctx, sid, &fault, kept_503)
    }

    /// The `kept503` fault: the bytes were taken, the answer says 503 (docs/protocol.md §9).
    fn kept_but_unavailable(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        sid: &str,
        ra: &Option<RetryAfter>,
    ) -> Effect {
        self.refused(
            ctx,
            sid,
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable.",
            ra,
        )
        .into()
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
        let location = match s.parent.rules().makes {
            Makes::DriveItem | Makes::Document => {
                let place = (&s.parent, s.finish.conflict);
                return self.complete_item(ctx, sid, place, attachment, fault, kept_503);
            }
            Makes::Attachment => format!(
                "{}/{}/{}",
                self.parent_url(ctx, &s.parent),
                s.parent.rules().location_segment,
                encode_segment(&id)
            ),
            // Outlook names the attachment on its own host, OData style (docs/protocol.md §8).
            Makes::OutlookAttachment => {
                let (collection, item) = match &s.parent {
                    Parent::Outlook { collection, id } => (collection.as_str(), id.as_str()),
                    _ => ("messages", ""),
                };
                let kind = if collection == "events" {
                    "Events"
                } else {
                    "Messages"
                };
                format!(
                    "{}/api/v2.0/Users('{}')/{kind}('{}')/Attachments('{}')",
                    self.foreign_origin,
                    ctx.user,
                    encode_segment(item),
                    encode_segment(&id)
                )
            }
        };
        self.store
            .attachments
            .entry(s.parent)
            .or_default()
            .push(attachment);
        if let Some(ra) = kept_503 {
            return self.kept_but_unavailable(ctx, sid, &ra);
        }
        let mut a = answer(201, Vec::new(), None);
        a.set("Location", location);
        self.lost_or(fault, a)
    }

    /// A drive item's or print document's completion (docs/protocol.md §8): a drive name
    /// already taken fails with 409, is replaced (200), or is renamed; the answer carries
    /// what was made.
    pub(crate) fn complete_item(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        sid: &str,
        (parent, conflict): (&Parent, Conflict),
        mut item: Attachment,
        fault: &Option<Fault>,
        kept_503: Option<Option<RetryAfter>>,
    ) -> Effect {
        // A print document is made with its job: the upload fills it, under its own id.
        if let Parent::PrintDocument { document, .. } = parent {
            item.id = document.clone();
        }
        let items = self.store.attachments.entry(parent.clone()).or_default();
        // A print document slot holds one document: a new upload replaces it.
        let taken = match parent {
            Parent::PrintDocument { .. } => (!items.is_empty()).then_some(0),
            _ => items.iter().position(|i| i.name == item.name),
        };
        let conflict = match parent {
            Parent::PrintDocument { .. } => Conflict::Replace,
            _ => conflict,
        };
        let mut status = 201;
        match (taken, conflict) {
            (None, _) => items.push(item.clone()),
            (Some(_), Conflict::Fail) => {
                return ctx
                    .error(
                        409,
                        "nameAlreadyExists",
                        "An item with the same name already exists.",
                    )
                    .into()
            }
            (Some(at), Conflict::Replace) => {
                // The item keeps its id; its bytes change.
                item.id = items[at].id.clone();
                items[at] = item.clone();
                status = 200;
            }
            (Some(_), Conflict::Rename) => {
                let (stem, ext) = match item.name.rsplit_once('.') {
                    Some((stem, ext)) => (stem.to_string(), format!(".{ext}")),
                    None => (item.name.clone(), String::new()),
                };
                let free = (1..)
                    .map(|n| format!("{stem} {n}{ext}"))
                    .find(|n| !items.iter().any(|i| &i.name == n))
                    .unwrap_or_default();
                item.name = free;
                items.push(item.clone());
            }
        }
        if let Some(ra) = kept_503 {
            return self.kept_but_unavailable(ctx, sid, &ra);
        }
        let v = self.item_json(&item, parent);
        self.lost_or(fault, json_answer(status, &v))
    }
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
}
