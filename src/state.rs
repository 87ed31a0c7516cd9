//! Saved state (docs/protocol.md §6: resume after the process died): the machine's phase as
//! versioned JSON, and a restored snapshot checked before it is trusted. No decisions: what a
//! restored upload does next is `machine/`'s. A state never holds the token; it does hold
//! the `uploadUrl`, which for pre-authenticated targets is itself a credential, so drivers
//! must keep the file private.

use serde::{Deserialize, Serialize};

use crate::answer::check_upload_url;
use crate::error::{Error, ProtocolError, RestoreError};
use crate::machine::{Phase, Upload};
use crate::options::{FileInfo, Options};
use std::time::Duration;

use crate::phase::{AfterLookup, Blind, Lookup, Resume, Session, StatusQuery};
use crate::ranges::ExpectedRanges;
use crate::request::WaitReason;
use crate::request::{Completion, Purpose};
use crate::retry::Rng;
use crate::target::Target;
use crate::time::{SentAt, Timestamp};
use crate::url::Redacted;

/// Written into every saved state, so that a file of another kind is refused early.
const FORMAT: &str = "upload-session";
/// The saved-state version this crate writes and reads.
pub const STATE_VERSION: u32 = 2;
/// Upper bound on a saved state's size: a real one is about a kilobyte.
const MAX_STATE_BYTES: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    format: String,
    version: u32,
    profile: String,
    create_url: String,
    file: SavedFile,
    phase: SavedPhase,
    /// A cancel was asked for: a restore deletes the session rather than going on.
    cancel_asked: bool,
    /// What was left of a wait (a `Retry-After` or a backoff), counted again from the
    /// restored machine's first poll.
    wait: Option<SavedWait>,
    sessions: u32,
    requests: u64,
    rng: Rng,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedWait {
    ms: u64,
    retry_after: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedFile {
    name: String,
    size: u64,
    fingerprint: String,
    /// The QuickXorHash the driver gave, if any: a restore for other bytes is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quick_xor_hash: Option<String>,
}

/// Where the upload stood. Terminal outcomes are kept: a finished upload restores finished.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum SavedPhase {
    /// Nothing sent that a restore must know of.
    Start,
    /// A session is open.
    Session {
        upload_url: String,
        /// The server's `expirationDateTime`, on its clock; none once the session outlived it.
        expires: Option<Timestamp>,
        expected: ExpectedRanges,
        since: SentAt,
        /// A request that may have completed the upload was sent then.
        result_may_exist_since: Option<SentAt>,
        status_query_refused: bool,
    },
    /// No session, and the result may exist: look for it before sending again.
    Lookup {
        since: SentAt,
        then: SavedThen,
    },
    Done {
        id: String,
        location: Option<String>,
        found_by_lookup: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        web_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quick_xor_hash: Option<String>,
    },
    Cancelled,
    /// Over, not a success: the item `id` was made with other bytes than the file's
    /// (docs/protocol.md §8). A restore fails the same way; it never sends the file again.
    HashMismatch {
        id: String,
        file_hash: String,
        server_hash: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SavedThen {
    NewSession,
    Repost,
    Fail,
    Cancel,
}

/// A checked saved state, for the machine to go on from.
pub(crate) struct Snapshot {
    pub(crate) restored: Restored,
    /// What was left of a wait, counted from the first poll.
    pub(crate) wait: Option<(Duration, WaitReason)>,
    /// A cancel was asked for.
    pub(crate) cancel: bool,
    pub(crate) sessions: u32,
    pub(crate) requests: u64,
    pub(crate) rng: Rng,
}

/// Where a checked saved state stood.
pub(crate) enum Restored {
    /// Not over: the data to resume.
    Live(Resume),
    Done(Completion),
    Cancelled,
    /// Over, failed for good.
    Failed(Error),
}

fn saved_session(s: &Session) -> SavedPhase {
    SavedPhase::Session {
        upload_url: s.upload_url.to_string(),
        expires: s.expiry.hint(),
        expected: s.expected.clone(),
        since: s.since,
        result_may_exist_since: s.may_exist_since(),
        status_query_refused: matches!(s.query, StatusQuery::Refused(_)),
    }
}

fn saved_lookup(l: &Lookup) -> SavedPhase {
    SavedPhase::Lookup {
        since: l.since,
        then: match l.then {
            AfterLookup::NewSession => SavedThen::NewSession,
            AfterLookup::Repost => SavedThen::Repost,
            AfterLookup::Fail => SavedThen::Fail,
            AfterLookup::Cancel => SavedThen::Cancel,
        },
    }
}

fn saved_phase(phase: &Phase) -> SavedPhase {
    match phase {
        Phase::Creating | Phase::Posting(None) | Phase::Failed(_, Resume::Afresh) => {
            SavedPhase::Start
        }
        // The POST may have created the result: a restore looks first (docs/protocol.md §11).
        Phase::Posting(Some(since)) => SavedPhase::Lookup {
            since: *since,
            then: SavedThen::Repost,
        },
        Phase::Uploading(s)
        | Phase::Querying(s)
        | Phase::Committing(s)
        | Phase::Cancelling(s, _) => saved_session(s),
        Phase::Failed(_, Resume::Session(s)) => saved_session(s),
        Phase::Finding(l) | Phase::Failed(_, Resume::Lookup(l)) => saved_lookup(l),
        Phase::Done(c) => SavedPhase::Done {
            id: c.id.clone(),
            location: c.location.clone(),
            found_by_lookup: c.found_by_lookup,
            web_url: c.web_url.clone(),
            quick_xor_hash: c.quick_xor_hash.clone(),
        },
        Phase::Cancelled => SavedPhase::Cancelled,
        Phase::Failed(e, Resume::Never) => match e {
            Error::Protocol {
                error: ProtocolError::HashMismatch { id, file, server },
                ..
            } => SavedPhase::HashMismatch {
                id: id.clone(),
                file_hash: file.clone(),
                server_hash: server.clone(),
            },
            // Only a hash mismatch is final without success; anything else starts over.
            _ => SavedPhase::Start,
        },
    }
}

impl Upload {
    /// The state as versioned JSON. Write it where [`Request::save_before_sending`] asks
    /// (before a request that may create the result), and after every answer: a restore then
    /// never repeats a request whose result may exist without looking for it first
    /// (docs/protocol.md §11). A finished or cancelled upload saves as such and restores as
    /// such, sending nothing. Holds the session's `uploadUrl`, the ranges the server last
    /// said it expects, the file's size, name and fingerprint, and counters; never a token (the
    /// machine never has one).
    ///
    /// [`Request::save_before_sending`]: crate::Request::save_before_sending
    pub fn save(&self) -> String {
        let saved = Saved {
            format: FORMAT.to_owned(),
            version: STATE_VERSION,
            profile: self.target().profile().name.to_owned(),
            create_url: self.target().create_url().to_owned(),
            file: SavedFile {
                name: self.file().name.clone(),
                size: self.file().size,
                fingerprint: self.file().fingerprint.clone(),
                quick_xor_hash: self.file().quick_xor_hash.clone(),
            },
            phase: saved_phase(self.phase()),
            cancel_asked: self.cancel_asked(),
            wait: self.wait_left().map(|(d, r)| SavedWait {
                ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                retry_after: r == WaitReason::RetryAfter,
            }),
            sessions: self.sessions(),
            requests: self.requests(),
            rng: self.rng().clone(),
        };
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_string(&saved).unwrap_or_default()
    }

    /// The file a saved state was written for, as it was then (name, size, fingerprint,
    /// QuickXorHash). For a caller that must act on an upload whose file has since changed,
    /// e.g. to delete its session: [`Upload::restore`] with this, then [`Upload::cancel`].
    /// Never sends the file's bytes again with it: they are not the saved file's.
    pub fn saved_file(saved: &[u8]) -> Result<FileInfo, RestoreError> {
        let s = decode(saved)?;
        let mut file = FileInfo::new(s.file.name, s.file.size).with_fingerprint(s.file.fingerprint);
        file.quick_xor_hash = s.file.quick_xor_hash;
        Ok(file)
    }

    /// Restores a state written by [`Upload::save`] for the same `target` and the same file.
    ///
    /// The state is checked, not trusted: another format or version, another destination,
    /// another file (size, name or fingerprint), an unusable `uploadUrl`, or ranges outside the
    /// file are typed errors. An open session is asked where it stands before anything is
    /// sent (docs/protocol.md §6); a result that may exist is looked for first; a finished or
    /// cancelled upload stays so; a failed one goes on from where it failed. `options` are the
    /// caller's current ones (a new chunk size is fine: the server's ranges rule).
    pub fn restore(
        saved: &[u8],
        target: Target,
        file: FileInfo,
        options: Options,
    ) -> Result<Upload, RestoreError> {
        let s = decode(saved)?;
        check_destination(&s, &target, &file)?;
        if s.sessions > 1_000_000 {
            return Err(RestoreError::Invalid(format!("{} sessions", s.sessions)));
        }
        let restored = restored_phase(s.phase, &target, &file)?;
        // A wait longer than a whole failure streak may last is no server's: cut to it.
        let max_wait = options.retry.max_total;
        let mut up =
            Upload::new(target, file, options).map_err(|e| RestoreError::Invalid(e.to_string()))?;
        let wait = s.wait.map(|w| {
            let reason = if w.retry_after {
                WaitReason::RetryAfter
            } else {
                WaitReason::Backoff
            };
            (Duration::from_millis(w.ms).min(max_wait), reason)
        });
        up.resume(Snapshot {
            restored,
            wait,
            cancel: s.cancel_asked,
            sessions: s.sessions,
            requests: s.requests,
            rng: s.rng,
        });
        Ok(up)
    }
}

/// `text` with every `?...` (up to a quote or white space) replaced by `?<redacted>`.
fn without_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('?') {
        out.push_str(&rest[..at]);
        out.push_str("?<redacted>");
        let tail = &rest[at + 1..];
        let end = tail
            .find(|c: char| c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn decode(saved: &[u8]) -> Result<Saved, RestoreError> {
    if saved.len() > MAX_STATE_BYTES {
        return Err(RestoreError::Malformed(format!(
            "{} bytes is larger than any saved state",
            saved.len()
        )));
    }
    // The version first, so that an older state says so rather than failing on its shape.
    #[derive(Deserialize)]
    struct Head {
        format: Option<String>,
        version: Option<u32>,
    }
    if let Ok(Head {
        format: Some(f),
        version: Some(v),
    }) = serde_json::from_slice::<Head>(saved)
    {
        if f == FORMAT && v != STATE_VERSION {
            return Err(RestoreError::Version {
                found: v,
                expected: STATE_VERSION,
            });
        }
    }
    let s: Saved = serde_json::from_slice(saved).map_err(|e| {
        // serde's message may quote the input, an uploadUrl and the credential in its query
        // among it: queries out, then cut on a character boundary.
        let mut m = without_queries(&e.to_string());
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
    Ok(s)
}

fn check_destination(s: &Saved, target: &Target, file: &FileInfo) -> Result<(), RestoreError> {
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
        return Err(differs(
            "fingerprint",
            s.file.fingerprint.clone(),
            file.fingerprint.clone(),
        ));
    }
    if s.file.name != file.name {
        return Err(differs("name", s.file.name.clone(), file.name.clone()));
    }
    if let (Some(saved), Some(current)) = (&s.file.quick_xor_hash, &file.quick_xor_hash) {
        if saved != current {
            return Err(differs("QuickXorHash", saved.clone(), current.clone()));
        }
    }
    Ok(())
}

fn restored_phase(
    phase: SavedPhase,
    target: &Target,
    file: &FileInfo,
) -> Result<Restored, RestoreError> {
    let invalid = |m: String| RestoreError::Invalid(m);
    Ok(match phase {
        SavedPhase::Start => Restored::Live(Resume::Afresh),
        SavedPhase::Session {
            upload_url,
            expires,
            expected,
            since,
            result_may_exist_since,
            status_query_refused,
        } => {
            check_upload_url(&upload_url).map_err(|e| invalid(format!("uploadUrl: {e}")))?;
            expected.validate(file.size).map_err(invalid)?;
            if expected.is_empty() {
                return Err(invalid("a session that expects no bytes".to_owned()));
            }
            let mut s = Session::new(target, &upload_url, expires, expected, since);
            s.doubt = result_may_exist_since;
            if status_query_refused {
                s.query = StatusQuery::Refused(Blind::default());
            }
            Restored::Live(Resume::Session(Box::new(s)))
        }
        SavedPhase::Lookup { since, then } => {
            let Some(url) = target.lookup_url() else {
                return Err(invalid(
                    "a look-up for a target without a listing".to_owned(),
                ));
            };
            let then = match then {
                SavedThen::NewSession => AfterLookup::NewSession,
                SavedThen::Repost => AfterLookup::Repost,
                SavedThen::Fail => AfterLookup::Fail,
                SavedThen::Cancel => AfterLookup::Cancel,
            };
            let l = Lookup {
                url: url.into(),
                pages: 1,
                since,
                then,
            };
            Restored::Live(Resume::Lookup(l))
        }
        SavedPhase::Done {
            id,
            location,
            found_by_lookup,
            web_url,
            quick_xor_hash,
        } => {
            if id.is_empty() {
                return Err(invalid("a finished upload without a result ID".to_owned()));
            }
            Restored::Done(Completion {
                id,
                location,
                size: file.size,
                found_by_lookup,
                web_url,
                quick_xor_hash,
            })
        }
        SavedPhase::Cancelled => Restored::Cancelled,
        SavedPhase::HashMismatch {
            id,
            file_hash,
            server_hash,
        } => Restored::Failed(Error::Protocol {
            purpose: Purpose::UploadChunk,
            error: ProtocolError::HashMismatch {
                id,
                file: file_hash,
                server: server_hash,
            },
        }),
    })
}
