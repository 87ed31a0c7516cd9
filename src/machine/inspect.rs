//! What a caller can read of an upload between inputs: where it stands, what the server
//! confirmed, what it counted. Reading changes nothing.

use std::fmt;

use super::{Phase, Upload};
use crate::options::{FileInfo, Options, Progress, State};
use crate::phase::{Resume, Session};
use crate::ranges::ExpectedRanges;
use crate::request::Request;
use crate::target::Target;
use crate::url::Redacted;

impl Upload {
    /// Where the upload stands.
    pub fn state(&self) -> State {
        match self.phase() {
            Phase::Creating => State::Creating,
            Phase::Posting(_) => State::Posting,
            Phase::Uploading(_) => State::Uploading,
            Phase::Querying(_) => State::Querying,
            Phase::Committing(_) => State::Committing,
            Phase::Finding(_) => State::FindingResult,
            Phase::Cancelling(..) => State::Cancelling,
            Phase::Done(_) => State::Done,
            Phase::Failed(..) => State::Failed,
            Phase::Cancelled => State::Cancelled,
        }
    }

    /// Bytes the server confirmed, of the total.
    pub fn progress(&self) -> Progress {
        let total = self.file().size;
        let confirmed = match self.phase() {
            Phase::Done(_) => total,
            _ => self
                .session()
                .map_or(0, |s| total - s.expected.missing_bytes().min(total)),
        };
        Progress { confirmed, total }
    }

    pub(crate) fn session(&self) -> Option<&Session> {
        match self.phase() {
            Phase::Uploading(s)
            | Phase::Querying(s)
            | Phase::Committing(s)
            | Phase::Cancelling(s, _) => Some(s),
            _ => None,
        }
    }

    /// The ranges the server last said it still expects, while a session is open.
    pub fn expected_ranges(&self) -> Option<&ExpectedRanges> {
        self.session().map(|s| &s.expected)
    }

    /// Whether the upload's result may already exist on the server without this machine
    /// knowing it: a single POST or a final PUT was sent and its answer is not in. A state
    /// saved now makes the restored machine look before sending anything that could repeat it.
    pub fn result_may_exist(&self) -> bool {
        match self.phase() {
            Phase::Posting(d) => d.is_some(),
            Phase::Finding(_) => true,
            Phase::Failed(_, Resume::Lookup(_)) => true,
            Phase::Failed(_, Resume::Session(s)) => s.may_exist_since().is_some(),
            _ => self
                .session()
                .is_some_and(|s| s.may_exist_since().is_some()),
        }
    }

    /// Requests emitted so far (resends counted), across saves and restores.
    pub fn requests(&self) -> u64 {
        self.budget.requests
    }

    /// Upload sessions created so far, across saves and restores.
    pub fn sessions(&self) -> u32 {
        self.budget.sessions
    }

    /// The chunk size in use.
    pub fn chunk_size(&self) -> u64 {
        let p = self.target.profile();
        self.options.chunk_size.unwrap_or(p.default_chunk)
    }

    /// The file being uploaded.
    pub fn file(&self) -> &FileInfo {
        &self.file
    }

    /// The destination.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The request in flight, if one is.
    pub fn in_flight(&self) -> Option<&Request> {
        self.in_flight.as_ref()
    }

    /// The session's `uploadUrl`, redacted for display, while a session is open.
    pub fn upload_url(&self) -> Option<Redacted> {
        self.session().map(|s| Redacted::new(&s.upload_url))
    }
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("state", &self.state())
            .field("target", &Redacted::new(self.target().create_url()))
            .field("file", &self.file().name)
            .field("progress", &self.progress())
            .field("upload_url", &self.upload_url())
            .field("in_flight", &self.in_flight().map(|r| r.id()))
            .field("requests", &self.requests())
            .field("sessions", &self.sessions())
            .finish()
    }
}
