//! Saved state (PROTOCOL.md 6: resume after the process died): what is written, and how a
//! restored state is checked before it is trusted. A state never holds the token; it does hold
//! the `uploadUrl`, which for pre-authenticated targets is itself a credential, so drivers must
//! keep the file private.

use serde::{Deserialize, Serialize};

use crate::error::RestoreError;
use crate::machine::{check_upload_url, FileInfo, Options, Upload};
use crate::ranges::ExpectedRanges;
use crate::retry::Rng;
use crate::time::Timestamp;
use crate::url::Redacted;
use crate::Target;

/// Written into every saved state, so that a file of another kind is refused early.
const FORMAT: &str = "upload-session";
/// The saved-state version this crate writes and reads.
pub const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    format: String,
    version: u32,
    profile: String,
    create_url: String,
    file: SavedFile,
    session: Option<SavedSession>,
    expected: ExpectedRanges,
    sessions: u32,
    restarts: u32,
    requests: u64,
    rng: Rng,
    /// The result may already exist (a single POST or the last chunk was sent and its answer
    /// is unknown): the restored machine looks for it before sending anything again.
    #[serde(default)]
    result_may_exist: bool,
    /// When the first request that may have created the result was sent, if one was.
    #[serde(default)]
    risky_since: Option<Timestamp>,
    /// The latest time the machine had seen: any request sent after the save is later.
    #[serde(default)]
    seen: Timestamp,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedFile {
    name: String,
    size: u64,
    fingerprint: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedSession {
    upload_url: String,
    expires: Option<Timestamp>,
}

/// Upper bound on a saved state's size: a real one is about a kilobyte.
const MAX_STATE_BYTES: usize = 1 << 20;

impl Upload {
    /// The state as versioned JSON, to write after each acknowledged chunk, and (for full
    /// protection against duplicates) after each poll that returned a request, before sending
    /// it: a state saved with a request in flight makes the restored machine look for that
    /// request's result before repeating it (PROTOCOL.md 8). It holds the
    /// session's `uploadUrl`, the ranges the server last said it expects, the file's size, name
    /// and fingerprint, and counters; never a token (the machine never has one).
    pub fn save(&self) -> String {
        let saved = Saved {
            format: FORMAT.to_owned(),
            version: STATE_VERSION,
            profile: self.target.profile().name.to_owned(),
            create_url: self.target.create_url().to_owned(),
            file: SavedFile {
                name: self.file.name.clone(),
                size: self.file.size,
                fingerprint: self.file.fingerprint.clone(),
            },
            session: self.session.as_ref().map(|s| SavedSession {
                upload_url: s.upload_url.to_string(),
                expires: s.expires,
            }),
            expected: self.expected.clone(),
            sessions: self.sessions,
            restarts: self.restarts,
            requests: self.requests,
            rng: self.rng.clone(),
            result_may_exist: self.result_may_exist(),
            risky_since: self.risky_since,
            seen: self.last_seen(),
        };
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_string(&saved).unwrap_or_default()
    }

    /// Restores a state written by [`Upload::save`] for the same `target` and the same file.
    ///
    /// The state is checked, not trusted: another format or version, another destination,
    /// another file (size, name or fingerprint), an unusable `uploadUrl`, or ranges outside the
    /// file are typed errors. With a session, the first request asks the server where it
    /// stands (PROTOCOL.md 6); without one, the upload starts afresh. `options` are the
    /// caller's current ones (a new chunk size is fine: the server's ranges rule).
    pub fn restore(
        saved: &[u8],
        target: Target,
        file: FileInfo,
        options: Options,
    ) -> Result<Upload, RestoreError> {
        if saved.len() > MAX_STATE_BYTES {
            return Err(RestoreError::Malformed(format!(
                "{} bytes is larger than any saved state",
                saved.len()
            )));
        }
        let s: Saved = serde_json::from_slice(saved).map_err(|e| {
            let mut m = e.to_string();
            // serde's message may quote the input: cut on a character boundary.
            if let Some((at, _)) = m.char_indices().nth(200) {
                m.truncate(at);
            }
            RestoreError::Malformed(m)
        })?;
        if s.format != FORMAT {
            return Err(RestoreError::Malformed(format!(
                "format {:?} is not {FORMAT:?}",
                s.format.chars().take(40).collect::<String>()
            )));
        }
        if s.version != STATE_VERSION {
            return Err(RestoreError::Version {
                found: s.version,
                expected: STATE_VERSION,
            });
        }
        if s.profile != target.profile().name || s.create_url != target.create_url() {
            return Err(RestoreError::DifferentTarget {
                saved: Redacted::new(&s.create_url),
                current: Redacted::new(target.create_url()),
            });
        }
        let differs = |what, saved: String, current: String| RestoreError::DifferentFile {
            what,
            saved,
            current,
        };
        if s.file.size != file.size {
            return Err(differs(
                "size",
                s.file.size.to_string(),
                file.size.to_string(),
            ));
        }
        if s.file.fingerprint != file.fingerprint {
            return Err(differs("fingerprint", s.file.fingerprint, file.fingerprint));
        }
        if s.file.name != file.name {
            return Err(differs("name", s.file.name, file.name));
        }
        s.expected
            .validate(file.size)
            .map_err(RestoreError::Invalid)?;
        if s.sessions > 1_000_000 || s.restarts > s.sessions {
            return Err(RestoreError::Invalid(format!(
                "{} restarts of {} sessions",
                s.restarts, s.sessions
            )));
        }
        let mut up =
            Upload::new(target, file, options).map_err(|e| RestoreError::Invalid(e.to_string()))?;
        up.sessions = s.sessions;
        up.restarts = s.restarts;
        up.requests = s.requests;
        up.rng = s.rng;
        // A result older than the last time seen before the save is not this upload's.
        up.risky_since = s.risky_since.or(Some(s.seen));
        up.observe(s.seen);
        if s.result_may_exist && s.session.is_none() {
            // The single POST or the last chunk may have landed before the process died:
            // look before sending it again (PROTOCOL.md 8).
            up.resume_lookup();
        }
        if let Some(session) = s.session {
            check_upload_url(&session.upload_url)
                .map_err(|e| RestoreError::Invalid(format!("uploadUrl: {e}")))?;
            // A saved session is resumed even for a file the options would now send by single
            // POST: it was created (perhaps with `force_session`), and abandoning it would
            // leave it open on the server.
            up.expected = s.expected;
            up.resume_session(&session.upload_url, session.expires, s.result_may_exist);
        }
        Ok(up)
    }
}
