//! Reading back and deleting what uploads made: attachments and drive items.

use serde_json::{json, Value};

use crate::codec::{base64_encode, encode_segment, query_param};
use crate::faults::RequestKind;
use crate::hash::quick_xor_hash;
use crate::rules::{answer, json_answer, Ctx, Effect};
use crate::store::Attachment;
use crate::target::Parent;
use crate::time::graph_timestamp;
use crate::Model;

/// Lists and tasks per page of a listing.
pub(crate) const LIST_PAGE: usize = 10;

/// Where drive items' `webUrl`s point: a SharePoint-like host that serves no API.
const WEB_ORIGIN: &str = "https://contoso-my.sharepoint.com";

impl Model {
    pub(crate) fn attachment_json(
        &self,
        a: &Attachment,
        parent: &Parent,
        with_bytes: bool,
    ) -> Value {
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

    /// `GET .../attachments`, `.../attachments/{id}` and `.../{id}/$value`.
    pub(crate) fn read_attachments(
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
    pub(crate) fn delete_attachment(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        id: &str,
    ) -> Effect {
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

    /// A drive item's or print document's JSON (docs/protocol.md §8).
    pub(crate) fn item_json(&self, item: &Attachment, parent: &Parent) -> Value {
        let folder = match parent {
            Parent::DriveFolder { folder } => folder.as_str(),
            _ => "",
        };
        if let Parent::PrintDocument { .. } = parent {
            return json!({
                "@odata.type": parent.rules().odata_type,
                "id": item.id,
                "displayName": item.name,
                "contentType": item.content_type,
                "size": item.size,
            });
        }
        let mut file = json!({"mimeType": item.content_type});
        // The hash of bytes the model saw; a body it was told only the length of has none.
        if item.bytes.len() as u64 == item.size {
            file["hashes"] = json!({"quickXorHash": quick_xor_hash(&item.bytes)});
        }
        let path = folder
            .split('/')
            .skip(1)
            .chain([item.name.as_str()])
            .map(encode_segment)
            .collect::<Vec<_>>()
            .join("/");
        json!({
            "@odata.type": parent.rules().odata_type,
            "id": item.id,
            "name": item.name,
            "size": item.size,
            "lastModifiedDateTime": graph_timestamp(crate::time::millis(item.last_modified)),
            "parentReference": {"id": folder},
            "webUrl": format!("{WEB_ORIGIN}/personal/{}/Documents/{path}", encode_segment(&self.user_id)),
            "file": file,
        })
    }

    /// `GET .../todo/lists` (`list` `None`) or `.../todo/lists/{list}/tasks`: one page of
    /// [`LIST_PAGE`] entries, `@odata.nextLink` to the next (docs/protocol.md §8).
    pub(crate) fn read_lists(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        user: &str,
        list: Option<&String>,
    ) -> Effect {
        if ctx.req.method != "GET" {
            return ctx.method_not_allowed().into();
        }
        if user != self.user_id {
            return ctx.not_found("The user was not found.").into();
        }
        let fault = self.store.plan.draw_request(RequestKind::Read, false);
        if let Some(effect) = self.pre_fault(ctx, "lists", &fault) {
            return effect;
        }
        let ids: Vec<&String> = match list {
            None => self.store.list_order.iter().collect(),
            Some(l) => match self.store.lists.get(l.as_str()) {
                Some(tasks) => tasks.iter().collect(),
                None => {
                    return ctx
                        .not_found("The specified object was not found in the store.")
                        .into()
                }
            },
        };
        let skip = match query_param(ctx.req.query(), "$skiptoken") {
            None => 0,
            Some(s) => match s.parse::<usize>() {
                Ok(n) => n,
                Err(_) => return ctx.bad("Invalid $skiptoken.").into(),
            },
        };
        let key = if list.is_some() {
            "title"
        } else {
            "displayName"
        };
        let value: Vec<Value> = ids
            .iter()
            .skip(skip)
            .take(LIST_PAGE)
            .map(|id| json!({"id": id, key: self.store.names.get(*id).map_or("", String::as_str)}))
            .collect();
        let mut path = format!(
            "{}/users/{}/todo/lists",
            self.graph_base(&ctx.version),
            encode_segment(user)
        );
        if let Some(l) = list {
            path = format!("{path}/{}/tasks", encode_segment(l));
        }
        let mut v = json!({ "value": value });
        if skip + LIST_PAGE < ids.len() {
            v["@odata.nextLink"] = format!("{path}?$skiptoken={}", skip + LIST_PAGE).into();
        }
        self.lost_or(&fault, json_answer(200, &v))
    }

    /// `GET .../drive/items/{id}`: the drive item with that id, in any folder, or 404.
    pub(crate) fn read_item_by_id(&mut self, ctx: &mut Ctx<'_, '_>, id: &str) -> Effect {
        let fault = self.store.plan.draw_request(RequestKind::Read, false);
        if let Some(effect) = self.pre_fault(ctx, &format!("drive item {id}"), &fault) {
            return effect;
        }
        let found = self.store.attachments.iter().find_map(|(parent, items)| {
            let drive = matches!(parent, Parent::DriveFolder { .. });
            let item = items.iter().find(|i| drive && i.id == id)?;
            Some((parent.clone(), item.clone()))
        });
        match found {
            Some((parent, item)) => {
                let v = self.item_json(&item, &parent);
                self.lost_or(&fault, json_answer(200, &v))
            }
            None => ctx.not_found("The item was not found.").into(),
        }
    }

    /// `GET .../drive/items/{folder}:/{name}:`: the item, or 404 (docs/protocol.md §8).
    pub(crate) fn read_item(
        &mut self,
        ctx: &mut Ctx<'_, '_>,
        parent: &Parent,
        name: &str,
    ) -> Effect {
        let fault = self.store.plan.draw_request(RequestKind::Read, false);
        if let Some(effect) = self.pre_fault(ctx, &format!("{parent:?}"), &fault) {
            return effect;
        }
        let found = self
            .attachments_of(parent)
            .iter()
            .find(|i| i.name == name)
            .cloned();
        match found {
            Some(item) => {
                let v = self.item_json(&item, parent);
                self.lost_or(&fault, json_answer(200, &v))
            }
            None => ctx.not_found("The item was not found.").into(),
        }
    }
}
