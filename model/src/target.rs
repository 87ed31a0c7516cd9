//! The Graph destinations the model serves, as data: where each parent lives in a URL,
//! what a session makes there, and its limits (docs/protocol.md §1-§8). A new destination
//! is a new [`Parent`] variant and a new [`Rules`] value; the handlers read these.

use crate::codec::encode_segment;
use crate::store::Origin;

/// Something that holds what an upload makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Parent {
    /// A To Do task: `/todo/lists/{list}/tasks/{task}`; it holds attachments.
    TodoTask {
        /// The list id.
        list: String,
        /// The task id.
        task: String,
    },
    /// A OneDrive folder: `/drive/items/{folder}` (`root` for the drive's root); it holds
    /// items by name.
    DriveFolder {
        /// The folder's item id, or `root`.
        folder: String,
    },
    /// An Outlook message (`/messages/{id}`) or event (`/events/{id}`); it holds attachments.
    Outlook {
        /// `messages` or `events`.
        collection: String,
        /// The message or event id.
        id: String,
    },
    /// A Universal Print document slot: `/print/printers/{p}/jobs/{j}/documents/{d}`; it
    /// holds the one document uploaded to it.
    PrintDocument {
        /// The printer id.
        printer: String,
        /// The job id.
        job: String,
        /// The document id.
        document: String,
    },
}

/// What a finished upload makes, and how its completion is told (docs/protocol.md §5, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Makes {
    /// An attachment: `201` with a `Location` ending `Attachments/{id}`, no body.
    Attachment,
    /// An Outlook attachment: `201` with a `Location` ending `Attachments('{id}')`.
    OutlookAttachment,
    /// A drive item: `201` (new) or `200` (replaced) with the item's JSON.
    DriveItem,
    /// A print document: `201` with the document's JSON.
    Document,
}

/// How the open last range of nextExpectedRanges is written (docs/protocol.md §4, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeStyle {
    /// `"S"`, and `"0-"` when nothing arrived (To Do).
    Todo,
    /// `"S-"` (OneDrive, Print).
    Dash,
    /// `"S"` always, `"0"` too (Outlook).
    Bare,
}

/// What differs between destinations.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) makes: Makes,
    /// The create body's object: `attachmentInfo`, `AttachmentItem`, `item` or `properties`.
    pub(crate) create_key: &'static str,
    /// The query parameter that carries a foreign uploadUrl's credential.
    pub(crate) credential: &'static str,
    /// Sessions take files of at least this many bytes (Outlook: 3 MB).
    pub(crate) min_session_size: u64,
    /// Sessions take files of at most this many bytes, under the model's own limit.
    pub(crate) max_session_size: u64,
    /// The `@odata.type` of what it makes (docs/protocol.md §7).
    pub(crate) odata_type: &'static str,
    /// The path segment of upload sessions below the parent (attachment targets).
    pub(crate) session_segment: &'static str,
    /// The collection segment of the `Location` of a finished upload (docs/protocol.md §5).
    pub(crate) location_segment: &'static str,
    /// Where uploadUrls point: Graph's origin (token required), or another one that takes
    /// no token (docs/protocol.md §8).
    pub(crate) session_origin: Origin,
    /// Each PUT carries fewer bytes than this (docs/protocol.md §3, §8).
    pub(crate) max_chunk: u64,
    /// Every PUT but the last carries a multiple of this many bytes (docs/protocol.md §8).
    pub(crate) chunk_align: u64,
    /// The status of a created session (docs/protocol.md §8).
    pub(crate) create_status: u16,
    /// The status of an answer that wants more bytes.
    pub(crate) intermediate_status: u16,
    /// How the open last range is written.
    pub(crate) range_style: RangeStyle,
    /// Whether each fragment moves the session's expiry on (docs/protocol.md §8).
    pub(crate) fragment_extends_expiry: bool,
    /// The single POST takes files under this many bytes (docs/protocol.md §7).
    pub(crate) single_post_limit: u64,
}

/// To Do task attachments.
pub(crate) const TODO_TASK: Rules = Rules {
    makes: Makes::Attachment,
    create_key: "attachmentInfo",
    credential: "tempauth",
    min_session_size: 0,
    max_session_size: u64::MAX,
    odata_type: "#microsoft.graph.taskFileAttachment",
    session_segment: "attachmentSessions",
    location_segment: "Attachments",
    session_origin: Origin::Graph,
    max_chunk: 4_000_000,
    chunk_align: 1,
    create_status: 200,
    intermediate_status: 200,
    range_style: RangeStyle::Todo,
    fragment_extends_expiry: false,
    single_post_limit: 3 * 1024 * 1024,
};

/// OneDrive and SharePoint drive items.
pub(crate) const DRIVE_ITEM: Rules = Rules {
    makes: Makes::DriveItem,
    create_key: "item",
    credential: "tempauth",
    min_session_size: 0,
    max_session_size: u64::MAX,
    odata_type: "#microsoft.graph.driveItem",
    session_segment: "",
    location_segment: "",
    session_origin: Origin::Foreign,
    max_chunk: 60 * 1024 * 1024,
    chunk_align: 327_680,
    create_status: 200,
    intermediate_status: 202,
    range_style: RangeStyle::Dash,
    fragment_extends_expiry: true,
    single_post_limit: 0,
};

/// Outlook message and event attachments.
pub(crate) const OUTLOOK: Rules = Rules {
    makes: Makes::OutlookAttachment,
    create_key: "AttachmentItem",
    credential: "authtoken",
    min_session_size: 3_000_000,
    max_session_size: 150 * 1024 * 1024,
    odata_type: "#microsoft.graph.fileAttachment",
    session_segment: "",
    location_segment: "Attachments",
    session_origin: Origin::Foreign,
    max_chunk: 4_000_000,
    chunk_align: 1,
    create_status: 201,
    intermediate_status: 200,
    range_style: RangeStyle::Bare,
    fragment_extends_expiry: false,
    single_post_limit: 3 * 1024 * 1024,
};

/// Universal Print documents.
pub(crate) const PRINT: Rules = Rules {
    makes: Makes::Document,
    create_key: "properties",
    credential: "tempauthtoken",
    min_session_size: 0,
    max_session_size: u64::MAX,
    odata_type: "#microsoft.graph.printDocument",
    session_segment: "",
    location_segment: "",
    session_origin: Origin::Foreign,
    max_chunk: 10_000_000,
    chunk_align: 1,
    create_status: 200,
    intermediate_status: 202,
    range_style: RangeStyle::Dash,
    fragment_extends_expiry: false,
    single_post_limit: 0,
};

impl Parent {
    /// The rules of this parent's destination.
    pub(crate) fn rules(&self) -> &'static Rules {
        match self {
            Parent::TodoTask { .. } => &TODO_TASK,
            Parent::DriveFolder { .. } => &DRIVE_ITEM,
            Parent::Outlook { .. } => &OUTLOOK,
            Parent::PrintDocument { .. } => &PRINT,
        }
    }

    /// Reads `{parent}/{tail..}` from decoded path segments after the user; `None` when
    /// they name no parent. A drive path `items/{folder}:/{name}:/...` leaves `{name}:`
    /// first in the tail.
    pub(crate) fn route(segs: &[String]) -> Option<(Parent, &[String])> {
        let eq = |a: &String, b: &str| a.eq_ignore_ascii_case(b);
        match segs {
            [todo, lists, l, tasks, t, tail @ ..]
                if eq(todo, "todo") && eq(lists, "lists") && eq(tasks, "tasks") =>
            {
                Some((
                    Parent::TodoTask {
                        list: l.clone(),
                        task: t.clone(),
                    },
                    tail,
                ))
            }
            [drive, items, folder, tail @ ..]
                if eq(drive, "drive") && eq(items, "items") && folder.ends_with(':') =>
            {
                let folder = folder.trim_end_matches(':').to_string();
                Some((Parent::DriveFolder { folder }, tail))
            }
            [c, id, tail @ ..] if eq(c, "messages") || eq(c, "events") => Some((
                Parent::Outlook {
                    collection: c.to_ascii_lowercase(),
                    id: id.clone(),
                },
                tail,
            )),
            [print, printers, p, jobs, j, documents, d, tail @ ..]
                if eq(print, "print")
                    && eq(printers, "printers")
                    && eq(jobs, "jobs")
                    && eq(documents, "documents") =>
            {
                Some((
                    Parent::PrintDocument {
                        printer: p.clone(),
                        job: j.clone(),
                        document: d.clone(),
                    },
                    tail,
                ))
            }
            [drive, root, tail @ ..] if eq(drive, "drive") && eq(root, "root:") => Some((
                Parent::DriveFolder {
                    folder: "root".to_string(),
                },
                tail,
            )),
            _ => None,
        }
    }

    /// The parent's path below `users/{user}`, each id percent-encoded.
    pub(crate) fn path(&self) -> String {
        match self {
            Parent::TodoTask { list, task } => format!(
                "todo/lists/{}/tasks/{}",
                encode_segment(list),
                encode_segment(task)
            ),
            Parent::DriveFolder { folder } => format!("drive/items/{}", encode_segment(folder)),
            Parent::Outlook { collection, id } => {
                format!("{collection}/{}", encode_segment(id))
            }
            Parent::PrintDocument {
                printer,
                job,
                document,
            } => format!(
                "print/printers/{}/jobs/{}/documents/{}",
                encode_segment(printer),
                encode_segment(job),
                encode_segment(document)
            ),
        }
    }

    /// The `@odata.context` tail of one thing this parent holds.
    pub(crate) fn context(&self, user: &str) -> String {
        match self {
            Parent::TodoTask { list, task } => {
                format!("users('{user}')/todo/lists('{list}')/tasks('{task}')/attachments/$entity")
            }
            Parent::DriveFolder { .. } => format!("users('{user}')/drive/items/$entity"),
            Parent::Outlook { collection, id } => {
                format!("users('{user}')/{collection}('{id}')/attachments/$entity")
            }
            Parent::PrintDocument { .. } => "print/printers/jobs/documents/$entity".to_string(),
        }
    }
}
