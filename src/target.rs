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

/// A resource's quirks, as data. See [`Profile::TODO_TASK`] for the one this crate drives
/// end to end, and the unit tests of this module for OneDrive built the same way.
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
    /// Files strictly smaller than this go by a single POST of a file attachment with
    /// base64 `contentBytes` instead of a session (docs/protocol.md §7); `None`: never.
    pub single_post_below: Option<u64>,
    /// Whether the result can be looked for in the listing of the collection's attachments
    /// when the answer to the final request was lost (docs/protocol.md §8).
    pub can_list_attachments: bool,
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
        can_list_attachments: true,
    };
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
        let mut collection = base.clone();
        match &owner {
            Owner::Me => collection.push_str("/me"),
            Owner::User(id) => {
                non_empty("user ID", id)?;
                collection.push_str("/users/");
                push_segment(&mut collection, id);
            }
        }
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

    /// Any resource: its profile, the URL to POST the session creation to, and, when the
    /// profile uses them, the collection URL for the single POST and the listing. Both URLs
    /// must be on the base URL's origin.
    pub fn new(
        base: &str,
        profile: Profile,
        create_url: String,
        collection_url: Option<String>,
    ) -> Result<Target, ConfigError> {
        let base = Self::check_base(base)?;
        let (origin, _) = split_origin(&base).map_err(ConfigError::BaseUrl)?;
        for url in std::iter::once(&create_url).chain(collection_url.as_ref()) {
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
        if (profile.single_post_below.is_some() || profile.can_list_attachments)
            && collection_url.is_none()
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
        })
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
            CreateBody::AttachmentItem => json!({
                "AttachmentItem": {"attachmentType": "file", "name": name, "size": size}
            }),
            CreateBody::DriveItem { conflict_behavior } => json!({
                "item": {"@microsoft.graph.conflictBehavior": conflict_behavior, "name": name}
            }),
            CreateBody::PrintDocument => json!({
                "properties": {"documentName": name, "contentType": content_type, "size": size}
            }),
        };
        v.to_string()
    }

    /// The single POST's JSON around the base64 `contentBytes` (docs/protocol.md §7): what goes
    /// before the base64 text and what goes after it.
    pub(crate) fn single_post_body(&self, name: &str, content_type: &str) -> (String, String) {
        let head = json!({
            "@odata.type": "#microsoft.graph.taskFileAttachment",
            "name": name,
            "contentType": content_type,
        })
        .to_string();
        // `head` is a JSON object: reopen it to add contentBytes last.
        let mut prefix = head[..head.len() - 1].to_owned();
        prefix.push_str(",\"contentBytes\":\"");
        (prefix, "\"}".to_owned())
    }
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

    /// OneDrive is a profile plus two URLs: nothing in the machine changes (docs/protocol.md §8).
    #[test]
    fn a_onedrive_profile_is_data() {
        let onedrive = Profile {
            name: "onedrive-item",
            create_body: CreateBody::DriveItem {
                conflict_behavior: "rename",
            },
            put_url: PutUrl::AsGiven,
            session_auth: SessionAuth::PreAuthenticated,
            max_chunk: 60 * 1024 * 1024 - 1,
            chunk_align: 327_680,
            default_chunk: 32 * 327_680,
            max_size: 250 * 1024 * 1024 * 1024,
            intermediate_statuses: &[202],
            complete_statuses: &[200, 201],
            completion: CompletionRule::JsonBody,
            single_post_below: None,
            can_list_attachments: false,
        };
        let base = "https://graph.microsoft.com/v1.0";
        let t = Target::new(
            base,
            onedrive,
            format!("{base}/me/drive/items/P:/a.bin:/createUploadSession"),
            None,
        )
        .unwrap();
        assert_eq!(
            t.create_body("a.bin", 5, "x"),
            r#"{"item":{"@microsoft.graph.conflictBehavior":"rename","name":"a.bin"}}"#
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
