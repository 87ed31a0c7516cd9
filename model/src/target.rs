//! The Graph destinations the model serves, as data: where each parent lives in a URL,
//! which attachment type it takes, and its limits (docs/protocol.md §1-§8). A new
//! destination is a new [`Parent`] variant and a new [`Rules`] value; the handlers in
//! `rules.rs` read these and nothing else.

use crate::codec::encode_segment;

/// Something that holds attachments.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Parent {
    /// A To Do task: `/todo/lists/{list}/tasks/{task}`.
    TodoTask {
        /// The list id.
        list: String,
        /// The task id.
        task: String,
    },
}

/// What differs between destinations.
#[derive(Debug)]
pub(crate) struct Rules {
    /// The `@odata.type` of the attachments (docs/protocol.md §7).
    pub(crate) odata_type: &'static str,
    /// The path segment of upload sessions below the parent.
    pub(crate) session_segment: &'static str,
    /// The collection segment of the `Location` of a finished upload (docs/protocol.md §5).
    pub(crate) location_segment: &'static str,
    /// Each PUT carries fewer bytes than this (docs/protocol.md §3).
    pub(crate) max_chunk: u64,
    /// The single POST takes files under this many bytes (docs/protocol.md §7).
    pub(crate) single_post_limit: u64,
}

/// To Do task attachments.
pub(crate) const TODO_TASK: Rules = Rules {
    odata_type: "#microsoft.graph.taskFileAttachment",
    session_segment: "attachmentSessions",
    location_segment: "Attachments",
    max_chunk: 4_000_000,
    single_post_limit: 3 * 1024 * 1024,
};

impl Parent {
    /// The rules of this parent's destination.
    pub(crate) fn rules(&self) -> &'static Rules {
        match self {
            Parent::TodoTask { .. } => &TODO_TASK,
        }
    }

    /// Reads `{parent}/{tail..}` from decoded path segments after the user; `None` when
    /// they name no parent.
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
        }
    }

    /// The `@odata.context` tail of one attachment of this parent.
    pub(crate) fn context(&self, user: &str) -> String {
        match self {
            Parent::TodoTask { list, task } => {
                format!("users('{user}')/todo/lists('{list}')/tasks('{task}')/attachments/$entity")
            }
        }
    }
}
