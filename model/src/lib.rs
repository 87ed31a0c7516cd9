//! A sans-IO model of the Microsoft Graph upload-session server, for testing upload clients.
//!
//! [`Model::handle`] takes one whole request ([`WireRequest`]) and the time, and says what
//! the server does ([`Outcome`]): answer, answer late, or close the connection unanswered.
//! The model holds the parents that take attachments, upload sessions with the bytes they
//! received, finished attachments, a record of every request, and a clock of its own that
//! may run ahead of or behind the caller's. It does no I/O and reads no clock: the
//! `graph-emulator` crate is its HTTP face, and `upload-session-testkit` drives a client
//! against it in memory.
//!
//! It serves four destinations, each described as data (`target.rs`): To Do task
//! attachments (`/todo/lists/{l}/tasks/{t}/attachments/createUploadSession`); OneDrive
//! drive items (`/drive/items/{folder}:/{name}:/createUploadSession`, uploadUrls on the
//! second origin that take no token, 202 answers, the 320 KiB grid, completion with the
//! item's JSON and its QuickXorHash, a taken name failing with 409, replaced or renamed as
//! asked, `deferCommit` and its commit, items read back by path or id); Outlook message and
//! event attachments (uploadUrls on the second origin, bare ranges, `Location` on that host);
//! and Universal Print documents (202 answers, the document's JSON).
//!
//! It is strict where Graph is (docs/protocol.md in the project), so that a client that
//! passes it passes Graph:
//!
//! - the bearer token on every Graph-origin request, and no `Authorization` at all on a
//!   foreign-origin uploadUrl (401 `InvalidAudience`);
//! - IDs are opaque, with `=` and `+` or `/`: each path segment is percent-decoded, so an
//!   ID whose `/` was not encoded misses (404);
//! - a PUT goes to `uploadUrl` + `/content` (before any query), with
//!   `Content-Type: application/octet-stream`, an exact `Content-Length`, a
//!   `Content-Range: bytes S-E/T` that agrees with it, `T` the size given at creation,
//!   fewer than 4,000,000 bytes, starting at the first byte the server still expects and
//!   not running past that gap; no `Transfer-Encoding`, no `Content-Encoding`;
//! - file sizes up to a limit (25 MiB by default), the single POST under 3 MiB;
//! - after a `Retry-After`, nothing on the same resource before that time.
//!
//! Every refusal a correct client never meets is also kept in [`Model::violations`], so a
//! test asserts that list is empty rather than reading statuses.
//!
//! Faults come from one seeded plan ([`Faults`]) with a text form
//! (`"throttle=2@1/create drop@3/put"`, see [`SPEC_HELP`]), so a run is reproducible from
//! its seed and a failing schedule can be written down.
//!
//! ```
//! use graph_model::{Config, Faults, Model, Origin, Outcome, WireBody, WireRequest};
//!
//! let mut model = Model::new(Config {
//!     faults: Faults::plan("throttle=2@1/create").unwrap(),
//!     ..Config::default()
//! });
//! let path = format!("/v1.0/me/todo/lists/{}/tasks/{}/attachments/createUploadSession",
//!     graph_model::encode_segment(model.list_id()), graph_model::encode_segment(model.task_id()));
//! let auth = format!("Bearer {}", model.token());
//! let body = br#"{"attachmentInfo":{"attachmentType":"file","name":"a.txt","size":5}}"#;
//! let mut req = WireRequest::new(Origin::Graph, "POST", &path);
//! req.headers = vec![("Authorization", auth.as_bytes()), ("Content-Type", b"application/json")];
//! req.body = WireBody::Bytes(vec![&body[..]]);
//!
//! let first = model.handle(1_700_000_000_000, &req);
//! assert_eq!(first.answer().unwrap().status, 429);
//! assert_eq!(first.answer().unwrap().header("Retry-After"), Some("2"));
//! // Asking again too soon is answered, and written down.
//! let early = model.handle(1_700_000_000_500, &req);
//! assert_eq!(early.answer().unwrap().status, 200);
//! assert_eq!(model.violations().len(), 1);
//! ```

#![warn(missing_docs, unreachable_pub)]

mod chunks;
mod codec;
mod create;
mod faults;
mod hash;
mod read;
mod rng;
mod rules;
mod store;
mod target;
mod time;
mod wire;

use std::time::Duration;

pub use codec::encode_segment;
pub use faults::{
    Fault, FaultRule, FaultSpecError, Faults, KeyCase, RequestKind, RetryAfter, When, SPEC_HELP,
};
pub use store::{Attachment, Origin, RecordedRequest};
pub use target::Parent;
pub use time::{graph_timestamp, http_date, millis, system_time, Millis};
pub use wire::{Outcome, WireAnswer, WireBody, WireRequest};

use faults::ActivePlan;
use store::Store;

/// Each To Do PUT must be strictly under this many bytes (docs/protocol.md §3).
pub const MAX_CHUNK: u64 = target::TODO_TASK.max_chunk;
/// Default file size limit: 25 MiB (docs/protocol.md §1).
pub const DEFAULT_MAX_SIZE: u64 = 25 * 1024 * 1024;
/// The To Do single POST takes files strictly under this many bytes (docs/protocol.md §7).
pub const SINGLE_POST_LIMIT: u64 = target::TODO_TASK.single_post_limit;
/// No Graph request body the model reads is longer: an HTTP face may stop reading there
/// and hand over [`WireBody::TooLarge`].
pub const MAX_BODY: u64 = 61 * 1024 * 1024;
/// The user id `/me` stands for.
pub const ME_USER_ID: &str = "6f9a1c2e-4b7d-4e0a-9c3b-2d8e5f7a1b4c";
/// The default accepted bearer token.
pub const DEFAULT_TOKEN: &str = "emulator-token";

/// How to make a [`Model`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed of every id and, unless [`Faults::seed`] is set, of fault draws.
    pub seed: u64,
    /// The bearer token accepted on the Graph origin.
    pub token: String,
    /// Largest file size createUploadSession accepts; `u64::MAX` lifts it.
    pub max_size: u64,
    /// How long a session lives after creation (15 minutes by default).
    pub session_lifetime: Duration,
    /// The fault plan at start.
    pub faults: Faults,
    /// How far the server's clock runs ahead of the caller's, in milliseconds (negative:
    /// behind). Every server instant follows it: `Date`, `expirationDateTime`,
    /// `lastModifiedDateTime`, `Retry-After` dates and expiry itself.
    pub clock_skew_ms: i64,
    /// The Graph origin, `scheme://host[:port]`, as it appears in the URLs the model writes.
    pub graph_origin: String,
    /// The second origin, where foreign uploadUrls point ([`Fault::ForeignOrigin`]).
    pub foreign_origin: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 0x5eed,
            token: DEFAULT_TOKEN.to_string(),
            max_size: DEFAULT_MAX_SIZE,
            session_lifetime: Duration::from_secs(15 * 60),
            faults: Faults::none(),
            clock_skew_ms: 0,
            graph_origin: "https://graph.example.com".to_string(),
            foreign_origin: "https://upload.example.net".to_string(),
        }
    }
}

/// The model server. See the crate documentation.
pub struct Model {
    token: String,
    /// The configured token; a rotation appends `.N` to it.
    token_root: String,
    rotations: u32,
    user_id: String,
    max_size: u64,
    session_lifetime: Duration,
    clock_skew_ms: i64,
    graph_origin: String,
    foreign_origin: String,
    list_id: String,
    task_id: String,
    store: Store,
}

impl Model {
    /// A model with one To Do list holding one task ([`Model::list_id`],
    /// [`Model::task_id`]).
    pub fn new(config: Config) -> Model {
        let mut store = Store::new(config.seed, ActivePlan::new(config.faults, config.seed));
        let list_id = store.new_id("AAMkAGI2", 40);
        let task_id = store.new_id("AAMkADli", 40);
        store.lists.insert(list_id.clone(), vec![task_id.clone()]);
        store.list_order.push(list_id.clone());
        store.names.insert(list_id.clone(), "Tasks".to_string());
        store.names.insert(task_id.clone(), "Demo task".to_string());
        Model {
            token_root: config.token.clone(),
            rotations: 0,
            token: config.token,
            user_id: ME_USER_ID.to_string(),
            max_size: config.max_size,
            session_lifetime: config.session_lifetime,
            clock_skew_ms: config.clock_skew_ms,
            graph_origin: config.graph_origin,
            foreign_origin: config.foreign_origin,
            list_id,
            task_id,
            store,
        }
    }

    /// What the server does with `req`, arriving at `now` on the caller's clock. The
    /// request takes effect (or not) before this returns; an [`Outcome::Late`] answer
    /// leaves later, an [`Outcome::Drop`] never.
    pub fn handle(&mut self, now: Millis, req: &WireRequest<'_>) -> Outcome {
        self.serve(now, req)
    }

    /// The answer to the last request never reached the client (its process died, say): a
    /// `Retry-After` it carried binds nobody.
    pub fn unheard(&mut self) {
        if let Some((resource, before)) = self.store.last_armed.take() {
            match before {
                Some(t) => self.store.not_before.insert(resource, t),
                None => self.store.not_before.remove(&resource),
            };
        }
    }

    /// `{graph_origin}/v1.0`.
    pub fn base_url(&self) -> String {
        format!("{}/v1.0", self.graph_origin)
    }

    /// The Graph origin.
    pub fn graph_origin(&self) -> &str {
        &self.graph_origin
    }

    /// The second origin.
    pub fn foreign_origin(&self) -> &str {
        &self.foreign_origin
    }

    /// Which origin `url` is on, if either.
    pub fn origin_of(&self, url: &str) -> Option<Origin> {
        let on = |origin: &str| {
            url.strip_prefix(origin)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
        };
        if on(&self.graph_origin) {
            Some(Origin::Graph)
        } else if on(&self.foreign_origin) {
            Some(Origin::Foreign)
        } else {
            None
        }
    }

    /// The accepted bearer token (after a `rotate-token` fault, the new one).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The user id; `/me` stands for it.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The list made at start.
    pub fn list_id(&self) -> &str {
        &self.list_id
    }

    /// The task made at start, in [`Model::list_id`].
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The server's clock at caller instant `now`.
    pub fn server_time(&self, now: Millis) -> Millis {
        time::skewed(now, self.clock_skew_ms)
    }

    /// Adds a list; returns its id. Its name is `List N`.
    pub fn create_list(&mut self) -> String {
        let name = format!("List {}", self.store.lists.len() + 1);
        self.create_named_list(&name)
    }

    /// Adds a list called `name` (names need not be unique); returns its id.
    pub fn create_named_list(&mut self, name: &str) -> String {
        let id = self.store.new_id("AAMkAGI2", 40);
        self.store.lists.entry(id.clone()).or_default();
        self.store.list_order.push(id.clone());
        self.store.names.insert(id.clone(), name.to_string());
        id
    }

    /// Adds a task to `list_id`; `None` if the list is unknown. Its title is `Task N`.
    pub fn create_task_in(&mut self, list_id: &str) -> Option<String> {
        let n = self.store.lists.get(list_id)?.len() + 1;
        self.create_titled_task(list_id, &format!("Task {n}"))
    }

    /// Adds a task titled `title` to `list_id`; `None` if the list is unknown.
    pub fn create_titled_task(&mut self, list_id: &str, title: &str) -> Option<String> {
        if !self.store.lists.contains_key(list_id) {
            return None;
        }
        let id = self.store.new_id("AAMkADli", 40);
        self.store.lists.get_mut(list_id)?.push(id.clone());
        self.store.names.insert(id.clone(), title.to_string());
        Some(id)
    }

    /// Replaces the fault plan; its counters start from zero. With no seed of its own, its
    /// generator is seeded from [`Config::seed`].
    pub fn set_faults(&mut self, faults: Faults) {
        self.store.plan = ActivePlan::new(faults, self.store.seed);
    }

    /// The attachments of a parent, in creation order.
    pub fn attachments_of(&self, parent: &Parent) -> &[Attachment] {
        self.store
            .attachments
            .get(parent)
            .map_or(&[], Vec::as_slice)
    }

    /// Removes the attachments of a parent and hands them over, without copying.
    pub fn take_attachments_of(&mut self, parent: &Parent) -> Vec<Attachment> {
        self.store
            .attachments
            .get_mut(parent)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Puts an attachment on a parent, as if some earlier client had made it; `false` when
    /// the parent does not exist.
    pub fn attach(&mut self, parent: &Parent, attachment: Attachment) -> bool {
        if !self.parent_exists(parent) {
            return false;
        }
        self.store
            .attachments
            .entry(parent.clone())
            .or_default()
            .push(attachment);
        true
    }

    /// The default task as a [`Parent`].
    pub fn task(&self) -> Parent {
        Parent::TodoTask {
            list: self.list_id.clone(),
            task: self.task_id.clone(),
        }
    }

    /// Every request so far (the latest 100,000), oldest first.
    pub fn requests(&self) -> impl ExactSizeIterator<Item = &RecordedRequest> {
        self.store.records.iter()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&mut self) {
        self.store.records.clear();
    }

    /// What clients did that a correct client never does, one line each: a malformed
    /// request, a token where none may go, a request before a `Retry-After` allowed it.
    pub fn violations(&self) -> &[String] {
        &self.store.violations
    }

    /// How many upload sessions were created.
    pub fn sessions_created(&self) -> usize {
        self.store.sessions_created
    }

    /// How many sessions are open at caller instant `now` (neither completed, deleted nor
    /// expired).
    pub fn live_sessions(&self, now: Millis) -> usize {
        let now = self.server_time(now);
        self.store
            .sessions
            .values()
            .filter(|s| !s.dead && now < s.expires_at)
            .count()
    }

    /// Expires every open session now: each answers 404 from here on.
    pub fn expire_sessions(&mut self) {
        for s in self.store.sessions.values_mut() {
            s.dead = true;
        }
    }
}

impl std::fmt::Debug for Model {
    // The token stays out of Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("graph_origin", &self.graph_origin)
            .field("list_id", &self.list_id)
            .field("task_id", &self.task_id)
            .field("sessions_created", &self.store.sessions_created)
            .finish_non_exhaustive()
    }
}
