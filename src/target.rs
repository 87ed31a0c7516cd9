//! Where an upload goes, and the only place that knows how the Graph resources differ
//! (docs/protocol.md §8): URLs of the create, single-POST and listing requests, where PUTs go, when
//! the token may ride along, the chunk rule, the size limit, which statuses mean "go on" and
//! "done", and how completion names the result. A [`Profile`] is plain data, so a new resource
//! is a new constant, not new code in the machine.

use serde_json::json;

use crate::error::ConfigError;
use crate::url::{push_segment, same_origin, split_origin, Origin};

/// What the create request's JSON body looks like (docs/protocol.md §2, 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateBody {
    /// To Do: `{"attachmentInfo": {"attachmentType": "file", "name", "size"}}`.
    AttachmentInfo,
    /// Outlook messages and events: `{"AttachmentItem": {"attachmentType": "file", "name", "size"}}`.
    AttachmentItem,
    /// OneDrive: `{"item": {"@microsoft.graph.conflictBehavior": .., "name"}}`.
    DriveItem {
        /// `fail`, `replace` or `rename`.
        conflict_behavior: &'static str,
    },
    /// Print: `{"properties": {"documentName", "contentType", "size"}}`.
    PrintDocument,
}

/// Where chunk PUTs go, given the session's `uploadUrl` (docs/protocol.md §3, 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutUrl {
    /// To Do: `uploadUrl` + `/content`, on the path before any query string.
    AppendContent,
    /// Every other resource: `uploadUrl` as given.
    AsGiven,
}

/// Whether requests to the session URL carry the bearer token (docs/protocol.md §8). On top of the
/// rule, a token never goes to an origin other than the Graph base URL's (docs/protocol.md §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionAuth {
    /// To Do: the session lives on Graph and needs the token.
    Bearer,
    /// OneDrive, Outlook, Print: the `uploadUrl` is pre-authenticated; a token may earn a 401.
    PreAuthenticated,
}

/// How a finished upload names its result (docs/protocol.md §5, 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompletionRule {
    /// `Location` header ending in `Attachments/{id}` (To Do, Outlook); a JSON body with `id`
    /// is accepted too.
    Location,
    /// A JSON body with `id` (OneDrive driveItem, Print document); `Location` as a fallback.
    JsonBody,
}

/// A resource's quirks, as data: [`Profile::TODO_TASK`], [`Profile::DRIVE_ITEM`],
/// [`Profile::OUTLOOK_ATTACHMENT`] and [`Profile::PRINT_DOCUMENT`] ship; the `Target`
/// constructors pick them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// A short name, used in saved state and messages.
    pub name: &'static str,
    /// The create request's body.
    pub create_body: CreateBody,
    /// Where PUTs go.
    pub put_url: PutUrl,
    /// Whether session requests carry the token.
    pub session_auth: SessionAuth,
    /// The largest chunk the service takes in one PUT, inclusive.
    pub max_chunk: u64,
    /// Chunks end on multiples of this (1: any length).
    pub chunk_align: u64,
    /// The chunk size used when the caller sets none.
    pub default_chunk: u64,
    /// The largest file the service takes.
    pub max_size: u64,
    /// Statuses of an intermediate PUT answer that carries `nextExpectedRanges`.
    pub intermediate_statuses: &'static [u16],
    /// Statuses of the answer to the PUT that completed the upload.
    pub complete_statuses: &'static [u16],
    /// How completion names the result.
    pub completion: CompletionRule,
    /// Files strictly smaller than this go by one request instead of a session: the single
    /// POST of a file attachment with base64 `contentBytes` (docs/protocol.md §7), or with
    /// [`Profile::single_put`] the PUT of the raw bytes; `None`: never.
    pub single_post_below: Option<u64>,
    /// Whether that one request is a PUT of the raw bytes to the destination item's
    /// `/content` (OneDrive, docs/protocol.md §8) rather than a POST to the collection.
    pub single_put: bool,
    /// Whether the result can be looked for in the listing of the collection's attachments
    /// when the answer to the final request was lost (docs/protocol.md §8).
    pub can_list_attachments: bool,
    /// The `@odata.type` of the single POST's attachment (docs/protocol.md §7, §8).
    pub single_post_type: &'static str,
    /// Whether a `409` to a PUT means the destination's name is taken (OneDrive,
    /// docs/protocol.md §8) rather than a disagreement about ranges.
    pub name_conflict_on_409: bool,
    /// Whether the result is looked for by reading the destination item itself (OneDrive:
    /// `GET` the item's path, 404 when it is not there) rather than by listing a collection
    /// (docs/protocol.md §8).
    pub lookup_by_item: bool,
}

impl Profile {
    /// A To Do task attachment (docs/protocol.md §2-§7): PUTs under 4,000,000 bytes to
    /// `uploadUrl/content` with the token, files up to 25 MiB, 200 while going on, 201 with a
    /// `Location` when done, a single POST below 3,000,000 bytes.
    pub const TODO_TASK: Profile = Profile {
        name: "todo-task",
        create_body: CreateBody::AttachmentInfo,
        put_url: PutUrl::AppendContent,
        session_auth: SessionAuth::Bearer,
        // "Under 4 MB" read as the smaller 4,000,000 (docs/protocol.md §3).
        max_chunk: 3_999_999,
        chunk_align: 1,
        default_chunk: 3_932_160,
        // "25 MB" read as the larger 25 MiB: the service, not the client, refuses the
        // ambiguous last megabyte if it must.
        max_size: 25 * 1024 * 1024,
        intermediate_statuses: &[200],
        complete_statuses: &[201],
        completion: CompletionRule::Location,
        // 3 MB read as 3,000,000: under both readings (docs/protocol.md §7).
        single_post_below: Some(3_000_000),
        single_put: false,
        can_list_attachments: true,
        single_post_type: "#microsoft.graph.taskFileAttachment",
        name_conflict_on_409: false,
        lookup_by_item: false,
    };

    /// A OneDrive or SharePoint drive item (docs/protocol.md §8): PUTs to the uploadUrl as
    /// given and without the token, chunks on the 327,680-byte grid and under 60 MiB (10 MiB
    /// by default), files up to 250 GiB, 202 while going on, 200 or 201 with the item's JSON
    /// when done, and a 409 to a PUT is a name already taken. The conflict behaviour is
    /// `fail` here; [`Target::drive_item`] sets the one asked for.
    pub const DRIVE_ITEM: Profile = Profile {
        name: "drive-item",
        create_body: CreateBody::DriveItem {
            conflict_behavior: "fail",
        },
        put_url: PutUrl::AsGiven,
        session_auth: SessionAuth::PreAuthenticated,
        // "Less than 60 MiB", on the grid: the largest multiple of 327,680 below it.
        max_chunk: 60 * 1024 * 1024 - 327_680,
        chunk_align: 327_680,
        // 10 MiB, the top of the recommended 5-10 MiB.
        default_chunk: 32 * 327_680,
        max_size: 250 * 1024 * 1024 * 1024,
        intermediate_statuses: &[202],
        complete_statuses: &[200, 201],
        completion: CompletionRule::JsonBody,
        // The classic simple-upload limit: larger files gain from a resumable session
        // (docs/protocol.md §8).
        single_post_below: Some(4 * 1024 * 1024),
        single_put: true,
        // A lost final answer is settled by reading the item (docs/protocol.md §8).
        can_list_attachments: true,
        single_post_type: "",
        name_conflict_on_409: true,
        lookup_by_item: true,
    };

    /// An Outlook message or event attachment (docs/protocol.md §8): PUTs to the uploadUrl
    /// as given (another host, `authtoken` in its query) and without the token, under
    /// 4,000,000 bytes each, files up to 150 MiB by session and the single POST of a
    /// `fileAttachment` below 3,000,000 bytes, 200 while going on, 201 with a `Location`
    /// ending `Attachments('{id}')` when done.
    pub const OUTLOOK_ATTACHMENT: Profile = Profile {
        name: "outlook-attachment",
        create_body: CreateBody::AttachmentItem,
        put_url: PutUrl::AsGiven,
        session_auth: SessionAuth::PreAuthenticated,
        max_chunk: 3_999_999,
        chunk_align: 1,
        default_chunk: 3_932_160,
        max_size: 150 * 1024 * 1024,
        intermediate_statuses: &[200],
        complete_statuses: &[201],
        completion: CompletionRule::Location,
        // Sessions are for 3 MB and up; below, the service may refuse one.
        single_post_below: Some(3_000_000),
        single_put: false,
        can_list_attachments: true,
        single_post_type: "#microsoft.graph.fileAttachment",
        name_conflict_on_409: false,
        lookup_by_item: false,
    };

    /// A Universal Print document (docs/protocol.md §8): PUTs to the uploadUrl as given and
    /// without the token, under 10,000,000 bytes each, 202 while going on (several ranges
    /// possible), 201 with the document's JSON when done. No single POST, no listing.
    pub const PRINT_DOCUMENT: Profile = Profile {
        name: "print-document",
        create_body: CreateBody::PrintDocument,
        put_url: PutUrl::AsGiven,
        session_auth: SessionAuth::PreAuthenticated,
        max_chunk: 9_999_999,
        chunk_align: 1,
        default_chunk: 3_932_160,
        // The service's limit is not documented: it refuses what it must.
        max_size: u64::MAX,
        intermediate_statuses: &[202],
        complete_statuses: &[200, 201],
        completion: CompletionRule::JsonBody,
        single_post_below: None,
        single_put: false,
        can_list_attachments: false,
        single_post_type: "",
        name_conflict_on_409: false,
        lookup_by_item: false,
    };
}

/// Which drive a drive item lives in (docs/protocol.md §8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drive {
    /// The signed-in user's: `/me/drive`.
    Me,
    /// A drive by ID: `/drives/{id}`.
    Id(String),
    /// A user's: `/users/{id}/drive`.
    User(String),
    /// A group's: `/groups/{id}/drive`.
    Group(String),
    /// A SharePoint site's: `/sites/{id}/drive`.
    Site(String),
}

/// Where in the drive the item goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrivePlace {
    /// By path from the root: `/folder/name.ext`.
    Path(String),
    /// By the parent folder's item ID and the item's name.
    Parent {
        /// The folder's item ID.
        item: String,
        /// The file's name in it.
        name: String,
    },
}

/// What a drive upload does when the name is taken (docs/protocol.md §8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Conflict {
    /// The final PUT fails with 409 ([`crate::Error::NameConflict`]): nothing is
    /// overwritten. The service's default.
    #[default]
    Fail,
    /// The new bytes replace the item.
    Replace,
    /// The new item gets a free name.
    Rename,
}

impl Conflict {
    /// The value of `@microsoft.graph.conflictBehavior`.
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::Fail => "fail",
            Conflict::Replace => "replace",
            Conflict::Rename => "rename",
        }
    }
}

/// Which Outlook item an attachment goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutlookItem {
    /// A message: `/messages/{id}`.
    Message,
    /// An event: `/events/{id}`.
    Event,
}

/// Who owns the To Do task (docs/protocol.md §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The signed-in user: `/me/...`.
    Me,
    /// A user by ID or principal name: `/users/{id}/...`.
    User(String),
}

/// A validated upload destination: a Graph base URL, a resource and its [`Profile`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    profile: Profile,
    base: String,
    origin: Origin,
    create_url: String,
    collection_url: Option<String>,
    lookup_url: Option<String>,
    /// A drive item's `deferCommit`: the item is made by the commit request.
    defer_commit: bool,
    /// An Outlook attachment shown in the body: its `contentId`.
    inline_content_id: Option<String>,
}

impl Target {
    /// A To Do task's attachments: `{base}/me/todo/lists/{list}/tasks/{task}/attachments` or
    /// the `/users/{id}` form. `base` is e.g. `https://graph.microsoft.com/v1.0`, a national
    /// cloud's, or an emulator's; IDs are percent-encoded as path segments.
    pub fn todo_task(
        base: &str,
        owner: Owner,
        list_id: &str,
        task_id: &str,
    ) -> Result<Target, ConfigError> {
        let base = Self::check_base(base)?;
        let mut collection = owner_url(&base, &owner)?;
        non_empty("list ID", list_id)?;
        non_empty("task ID", task_id)?;
        collection.push_str("/todo/lists/");
        push_segment(&mut collection, list_id);
        collection.push_str("/tasks/");
        push_segment(&mut collection, task_id);
        collection.push_str("/attachments");
        let create_url = format!("{collection}/createUploadSession");
        Target::new(&base, Profile::TODO_TASK, create_url, Some(collection))
    }

    /// A drive item: `{base}{drive}/root:{path}:/createUploadSession` or
    /// `{base}{drive}/items/{parent}:/{name}:/createUploadSession`, each path segment
    /// percent-encoded, with the conflict behaviour asked for.
    pub fn drive_item(
        base: &str,
        drive: Drive,
        place: DrivePlace,
        conflict: Conflict,
    ) -> Result<Target, ConfigError> {
        let base = Self::check_base(base)?;
        let mut url = base.clone();
        let mut id_segment = |what: &'static str, prefix: &str, id: &str| {
            non_empty(what, id)?;
            url.push_str(prefix);
            push_segment(&mut url, id);
            Ok::<(), ConfigError>(())
        };
        match &drive {
            Drive::Me => url.push_str("/me/drive"),
            Drive::Id(id) => id_segment("drive ID", "/drives/", id)?,
            Drive::User(id) => {
                id_segment("user ID", "/users/", id)?;
                url.push_str("/drive");
            }
            Drive::Group(id) => {
                id_segment("group ID", "/groups/", id)?;
                url.push_str("/drive");
            }
            Drive::Site(id) => {
                id_segment("site ID", "/sites/", id)?;
                url.push_str("/drive");
            }
        }
        match &place {
            DrivePlace::Path(path) => {
                let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                if segments.is_empty() {
                    return Err(ConfigError::EmptyId("item path"));
                }
                url.push_str("/root:");
                for segment in segments {
                    url.push('/');
                    push_segment(&mut url, segment);
                }
                url.push(':');
            }
            DrivePlace::Parent { item, name } => {
                non_empty("parent item ID", item)?;
                non_empty("item name", name)?;
                url.push_str("/items/");
                push_segment(&mut url, item);
                url.push_str(":/");
                push_segment(&mut url, name);
                url.push(':');
            }
        }
        let mut profile = Profile::DRIVE_ITEM;
        profile.create_body = CreateBody::DriveItem {
            conflict_behavior: conflict.as_str(),
        };
        // The item's own URL is where a lost final answer is settled.
        let create_url = format!("{url}/createUploadSession");
        Target::build(&base, profile, create_url, None, Some(url))
    }

    /// An Outlook message's or event's attachments: `{base}/me/messages/{id}/attachments`
    /// (or `/events/`, or the `/users/{id}` forms).
    pub fn outlook_attachment(
        base: &str,
        owner: Owner,
        item: OutlookItem,
        item_id: &str,
    ) -> Result<Target, ConfigError> {
        let base = Self::check_base(base)?;
        let mut collection = owner_url(&base, &owner)?;
        let (what, segment) = match item {
            OutlookItem::Message => ("message ID", "/messages/"),
            OutlookItem::Event => ("event ID", "/events/"),
        };
        non_empty(what, item_id)?;
        collection.push_str(segment);
        push_segment(&mut collection, item_id);
        collection.push_str("/attachments");
        let create_url = format!("{collection}/createUploadSession");
        // Outlook lists file attachments with their contentBytes: the look-up asks for
        // what it reads and no more (docs/protocol.md §8).
        let lookup = format!("{collection}?$select=id,name,size,lastModifiedDateTime");
        Target::build(
            &base,
            Profile::OUTLOOK_ATTACHMENT,
            create_url,
            Some(collection),
            Some(lookup),
        )
    }

    /// A Universal Print document:
    /// `{base}/print/printers/{p}/jobs/{j}/documents/{d}/createUploadSession`.
    pub fn print_document(
        base: &str,
        printer_id: &str,
        job_id: &str,
        document_id: &str,
    ) -> Result<Target, ConfigError> {
        let base = Self::check_base(base)?;
        non_empty("printer ID", printer_id)?;
        non_empty("job ID", job_id)?;
        non_empty("document ID", document_id)?;
        let mut url = format!("{base}/print/printers/");
        push_segment(&mut url, printer_id);
        url.push_str("/jobs/");
        push_segment(&mut url, job_id);
        url.push_str("/documents/");
        push_segment(&mut url, document_id);
        url.push_str("/createUploadSession");
        Target::new(&base, Profile::PRINT_DOCUMENT, url, None)
    }

    /// Any resource: its profile, the URL to POST the session creation to, and, when the
    /// profile uses them, the collection URL for the single POST and the listing. Both URLs
    /// must be on the base URL's origin.
    pub fn new(
        base: &str,
        profile: Profile,
        create_url: String,
        collection_url: Option<String>,
    ) -> Result<Target, ConfigError> {
        let lookup_url = collection_url.clone();
        Target::build(base, profile, create_url, collection_url, lookup_url)
    }

    fn build(
        base: &str,
        profile: Profile,
        create_url: String,
        collection_url: Option<String>,
        lookup_url: Option<String>,
    ) -> Result<Target, ConfigError> {
        let base = Self::check_base(base)?;
        let (origin, _) = split_origin(&base).map_err(ConfigError::BaseUrl)?;
        let urls = [
            Some(&create_url),
            collection_url.as_ref(),
            lookup_url.as_ref(),
        ];
        for url in urls.into_iter().flatten() {
            if !same_origin(url, &origin) {
                return Err(ConfigError::ForeignResourceUrl);
            }
        }
        if profile.max_chunk == 0
            || profile.default_chunk == 0
            || profile.default_chunk > profile.max_chunk
        {
            return Err(ConfigError::Profile(
                "default_chunk must be in 1..=max_chunk",
            ));
        }
        let single_url = match profile.single_put {
            true => &lookup_url,
            false => &collection_url,
        };
        if (profile.single_post_below.is_some() && single_url.is_none())
            || (profile.can_list_attachments && lookup_url.is_none())
        {
            return Err(ConfigError::Profile(
                "single POST and listing need a collection URL",
            ));
        }
        Ok(Target {
            profile,
            base,
            origin,
            create_url,
            collection_url,
            lookup_url,
            defer_commit: false,
            inline_content_id: None,
        })
    }

    /// A drive item made only by an explicit commit (`deferCommit`, docs/protocol.md §8):
    /// once the session holds every byte the machine sends `POST {uploadUrl}` with no body,
    /// and the item exists from its answer on. Drive items only.
    pub fn with_defer_commit(mut self) -> Result<Target, ConfigError> {
        if !matches!(self.profile.create_body, CreateBody::DriveItem { .. }) {
            return Err(ConfigError::NotForTarget("deferCommit", "drive items"));
        }
        self.defer_commit = true;
        Ok(self)
    }

    /// An inline Outlook attachment (`isInline`, and the `contentId` the message body's
    /// `cid:` references name), by session or single POST (docs/protocol.md §8). Outlook
    /// messages and events only.
    pub fn with_inline(mut self, content_id: &str) -> Result<Target, ConfigError> {
        if self.profile.create_body != CreateBody::AttachmentItem {
            return Err(ConfigError::NotForTarget(
                "an inline attachment",
                "Outlook messages and events",
            ));
        }
        non_empty("content ID", content_id)?;
        self.inline_content_id = Some(content_id.to_owned());
        Ok(self)
    }

    /// Whether the session ends with the commit request ([`Target::with_defer_commit`]).
    pub fn defers_commit(&self) -> bool {
        self.defer_commit
    }

    /// The content ID of an inline attachment ([`Target::with_inline`]).
    pub fn inline_content_id(&self) -> Option<&str> {
        self.inline_content_id.as_deref()
    }

    fn check_base(base: &str) -> Result<String, ConfigError> {
        let trimmed = base.trim_end_matches('/');
        let (_, rest) = split_origin(trimmed).map_err(ConfigError::BaseUrl)?;
        if rest.contains(['?', '#']) {
            return Err(ConfigError::BaseUrlQuery);
        }
        Ok(trimmed.to_owned())
    }

    /// The resource's profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The Graph base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The URL the session is created with.
    pub fn create_url(&self) -> &str {
        &self.create_url
    }

    /// The attachments collection: single POST and listing.
    pub fn collection_url(&self) -> Option<&str> {
        self.collection_url.as_deref()
    }

    /// The one-request PUT of a drive item (docs/protocol.md §8): the item's `/content`,
    /// with the conflict behaviour in the query (its default differs from a session's).
    pub(crate) fn single_put_url(&self) -> String {
        let item = self.lookup_url.as_deref().unwrap_or_default();
        match self.profile.create_body {
            CreateBody::DriveItem { conflict_behavior } => {
                format!("{item}/content?@microsoft.graph.conflictBehavior={conflict_behavior}")
            }
            _ => format!("{item}/content"),
        }
    }

    /// Where a result whose answer was lost is looked for: the collection to list, or (for
    /// a drive item) the item to read (docs/protocol.md §8, §11).
    pub fn lookup_url(&self) -> Option<&str> {
        self.lookup_url.as_deref()
    }

    /// Whether a request to `url` may carry the bearer token: only on the base URL's origin
    /// (docs/protocol.md §9).
    pub fn is_graph_origin(&self, url: &str) -> bool {
        same_origin(url, &self.origin)
    }

    /// The create request's JSON body.
    pub(crate) fn create_body(&self, name: &str, size: u64, content_type: &str) -> String {
        let v = match self.profile.create_body {
            CreateBody::AttachmentInfo => json!({
                "attachmentInfo": {"attachmentType": "file", "name": name, "size": size}
            }),
            CreateBody::AttachmentItem => {
                let mut item = json!({"attachmentType": "file", "name": name, "size": size});
                if let Some(cid) = &self.inline_content_id {
                    item["isInline"] = true.into();
                    item["contentId"] = cid.as_str().into();
                }
                json!({ "AttachmentItem": item })
            }
            // The URL names the item; the body says what to do when the name is taken.
            CreateBody::DriveItem { conflict_behavior } => {
                let mut v = json!({
                    "item": {"@microsoft.graph.conflictBehavior": conflict_behavior, "fileSize": size}
                });
                if self.defer_commit {
                    v["deferCommit"] = true.into();
                }
                v
            }
            CreateBody::PrintDocument => json!({
                "properties": {"documentName": name, "contentType": content_type, "size": size}
            }),
        };
        v.to_string()
    }

    /// The single POST's JSON around the base64 `contentBytes` (docs/protocol.md §7): what goes
    /// before the base64 text and what goes after it.
    pub(crate) fn single_post_body(&self, name: &str, content_type: &str) -> (String, String) {
        let mut head = json!({
            "@odata.type": self.profile.single_post_type,
            "name": name,
            "contentType": content_type,
        });
        if let Some(cid) = &self.inline_content_id {
            head["isInline"] = true.into();
            head["contentId"] = cid.as_str().into();
        }
        let head = head.to_string();
        // `head` is a JSON object: reopen it to add contentBytes last.
        let mut prefix = head[..head.len() - 1].to_owned();
        prefix.push_str(",\"contentBytes\":\"");
        (prefix, "\"}".to_owned())
    }
}

/// `{base}/me` or `{base}/users/{id}`.
fn owner_url(base: &str, owner: &Owner) -> Result<String, ConfigError> {
    let mut url = base.to_owned();
    match owner {
        Owner::Me => url.push_str("/me"),
        Owner::User(id) => {
            non_empty("user ID", id)?;
            url.push_str("/users/");
            push_segment(&mut url, id);
        }
    }
    Ok(url)
}

fn non_empty(what: &'static str, v: &str) -> Result<(), ConfigError> {
    if v.is_empty() {
        Err(ConfigError::EmptyId(what))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todo_urls_for_me_and_users_with_encoded_ids() {
        let t = Target::todo_task(
            "https://graph.microsoft.com/beta/",
            Owner::Me,
            "AAMD/iF+kfh=",
            "AAMk ADliMm=",
        )
        .unwrap();
        assert_eq!(
            t.create_url(),
            "https://graph.microsoft.com/beta/me/todo/lists/AAMD%2FiF%2Bkfh=/tasks/AAMk%20ADliMm=/attachments/createUploadSession"
        );
        let t = Target::todo_task(
            "https://graph.microsoft.us/v1.0",
            Owner::User("6f9a@x".into()),
            "L",
            "T",
        )
        .unwrap();
        assert_eq!(
            t.collection_url(),
            Some("https://graph.microsoft.us/v1.0/users/6f9a%40x/todo/lists/L/tasks/T/attachments")
        );
        assert!(t.is_graph_origin("https://graph.microsoft.us/v1.0/users/x"));
        assert!(!t.is_graph_origin("https://graph.microsoft.us@evil.example/v1.0"));
    }

    #[test]
    fn bad_targets_are_config_errors() {
        assert!(matches!(
            Target::todo_task("graph.microsoft.com", Owner::Me, "L", "T"),
            Err(ConfigError::BaseUrl(_))
        ));
        assert!(matches!(
            Target::todo_task("https://g/v1.0?x=1", Owner::Me, "L", "T"),
            Err(ConfigError::BaseUrlQuery)
        ));
        assert!(matches!(
            Target::todo_task("https://g/v1.0", Owner::Me, "", "T"),
            Err(ConfigError::EmptyId("list ID"))
        ));
        assert!(matches!(
            Target::todo_task("https://g/v1.0", Owner::User(String::new()), "L", "T"),
            Err(ConfigError::EmptyId("user ID"))
        ));
    }

    /// Each shipped target builds its URLs from IDs, each percent-encoded, and its create
    /// body from the file (docs/protocol.md §8).
    #[test]
    fn shipped_targets_build_their_urls_and_bodies() {
        let base = "https://graph.microsoft.com/v1.0";
        let by_parent = DrivePlace::Parent {
            item: "01AB+C".into(),
            name: "a b.bin".into(),
        };
        let t = Target::drive_item(base, Drive::Me, by_parent, Conflict::Rename).unwrap();
        assert_eq!(
            t.create_url(),
            format!("{base}/me/drive/items/01AB%2BC:/a%20b.bin:/createUploadSession")
        );
        assert_eq!(
            t.lookup_url(),
            Some(format!("{base}/me/drive/items/01AB%2BC:/a%20b.bin:").as_str())
        );
        assert_eq!(
            t.create_body("a b.bin", 5, "x"),
            r#"{"item":{"@microsoft.graph.conflictBehavior":"rename","fileSize":5}}"#
        );
        for (drive, prefix) in [
            (Drive::Id("b!x".into()), "/drives/b%21x"),
            (Drive::User("u@x.com".into()), "/users/u%40x.com/drive"),
            (Drive::Group("G".into()), "/groups/G/drive"),
            (Drive::Site("s,1".into()), "/sites/s%2C1/drive"),
        ] {
            let path = DrivePlace::Path("/Docs/r.pdf".into());
            let t = Target::drive_item(base, drive, path, Conflict::Fail).unwrap();
            assert_eq!(
                t.create_url(),
                format!("{base}{prefix}/root:/Docs/r.pdf:/createUploadSession")
            );
        }
        let empty = DrivePlace::Path("//".into());
        assert!(matches!(
            Target::drive_item(base, Drive::Me, empty, Conflict::Fail),
            Err(ConfigError::EmptyId("item path"))
        ));

        let t = Target::outlook_attachment(base, Owner::Me, OutlookItem::Event, "E=").unwrap();
        assert_eq!(
            t.collection_url(),
            Some(format!("{base}/me/events/E=/attachments").as_str())
        );
        assert_eq!(
            t.create_body("f", 3, "x"),
            r#"{"AttachmentItem":{"attachmentType":"file","name":"f","size":3}}"#
        );
        let (pre, _) = t.single_post_body("f", "x");
        assert!(pre.contains("#microsoft.graph.fileAttachment"), "{pre}");

        let t = Target::print_document(base, "P", "J/1", "D").unwrap();
        assert_eq!(
            t.create_url(),
            format!("{base}/print/printers/P/jobs/J%2F1/documents/D/createUploadSession")
        );
        assert_eq!(
            t.create_body("f", 3, "text/plain"),
            r#"{"properties":{"contentType":"text/plain","documentName":"f","size":3}}"#
        );
        assert!(matches!(
            Target::new(
                base,
                t.profile().clone(),
                "https://evil.example/x".into(),
                None
            ),
            Err(ConfigError::ForeignResourceUrl)
        ));
    }

    #[test]
    fn single_post_body_wraps_base64_last() {
        let t = Target::todo_task("https://g/v1.0", Owner::Me, "L", "T").unwrap();
        let (pre, post) = t.single_post_body("smile \"x\".png", "image/png");
        let full = format!("{pre}aGk={post}");
        let v: serde_json::Value = serde_json::from_str(&full).unwrap();
        assert_eq!(v["contentBytes"], "aGk=");
        assert_eq!(v["name"], "smile \"x\".png");
        assert_eq!(v["@odata.type"], "#microsoft.graph.taskFileAttachment");
        assert_eq!(
            t.create_body("f", 3, "x"),
            r#"{"attachmentInfo":{"attachmentType":"file","name":"f","size":3}}"#
        );
    }
}
