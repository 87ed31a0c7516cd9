//! What the caller tells the machine before the first poll: the file ([`FileInfo`]) and how to
//! behave ([`Options`]); and the plain values the machine reports back ([`State`],
//! [`Progress`]).

use crate::error::ConfigError;
use crate::retry::RetryPolicy;
use crate::target::Profile;

/// The file being uploaded, as the machine needs to know it. The machine never reads the file:
/// it names byte ranges, and the driver reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) content_type: String,
    pub(crate) fingerprint: String,
    pub(crate) quick_xor_hash: Option<String>,
}

impl FileInfo {
    /// A file called `name` (the attachment's name) of `size` bytes, of content type
    /// `application/octet-stream` and an empty fingerprint.
    pub fn new(name: impl Into<String>, size: u64) -> Self {
        FileInfo {
            name: name.into(),
            size,
            content_type: "application/octet-stream".to_owned(),
            fingerprint: String::new(),
            quick_xor_hash: None,
        }
    }

    /// The content type sent with the single POST (docs/protocol.md §7).
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// An opaque fingerprint of the file's contents or version (e.g. size and modification
    /// time), recorded in saved state: restoring the state for a file with another
    /// fingerprint is refused.
    pub fn with_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = fingerprint.into();
        self
    }

    /// The file's [`QuickXorHash`](crate::QuickXorHash), base64, for drive items: a lost
    /// final answer is then settled only by an item with these bytes, and a completion
    /// whose item reports another hash fails with [`ProtocolError::HashMismatch`]
    /// (docs/protocol.md §8). Hash the file before uploading it.
    ///
    /// [`ProtocolError::HashMismatch`]: crate::ProtocolError::HashMismatch
    pub fn with_quick_xor_hash(mut self, hash: impl Into<String>) -> Self {
        self.quick_xor_hash = Some(hash.into());
        self
    }

    /// The attachment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The content type.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The QuickXorHash given with [`FileInfo::with_quick_xor_hash`].
    pub fn quick_xor_hash(&self) -> Option<&str> {
        self.quick_xor_hash.as_deref()
    }
}

/// How an upload behaves; `Options::default()` suits To Do. Set fields on a default value, or
/// chain the `with_*` methods: new fields may come.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Bytes per PUT; `None`: the target's default (3,932,160 for To Do). Must be at least 1
    /// and at most the target's limit (3,999,999 for To Do: "under 4 MB", docs/protocol.md §3).
    pub chunk_size: Option<u64>,
    /// Use an upload session even where the single POST would do (docs/protocol.md §7). A
    /// 0-byte file still goes by single POST: no `Content-Range` can describe it.
    pub force_session: bool,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// How many times an expired or lost session may be replaced by a new one from byte 0
    /// (docs/protocol.md §6). 0 makes expiry a failure.
    pub max_restarts: u32,
    /// Overrides the target's file size limit (e.g. for an emulator with the limit lifted).
    pub size_limit: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunk_size: None,
            force_session: false,
            retry: RetryPolicy::default(),
            max_restarts: 2,
            size_limit: None,
        }
    }
}

impl Options {
    /// [`Options::chunk_size`].
    pub fn with_chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = Some(bytes);
        self
    }

    /// [`Options::force_session`].
    pub fn with_force_session(mut self, force: bool) -> Self {
        self.force_session = force;
        self
    }

    /// [`Options::retry`].
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// [`Options::max_restarts`].
    pub fn with_max_restarts(mut self, restarts: u32) -> Self {
        self.max_restarts = restarts;
        self
    }

    /// [`Options::size_limit`].
    pub fn with_size_limit(mut self, bytes: Option<u64>) -> Self {
        self.size_limit = bytes;
        self
    }
}

impl Options {
    /// Checks these options for `file` on a target with `profile`; true when the file goes
    /// by the single POST (docs/protocol.md §7).
    pub(crate) fn check(&self, profile: &Profile, file: &FileInfo) -> Result<bool, ConfigError> {
        let (p, options) = (profile, self);
        let chunk = options.chunk_size.unwrap_or(p.default_chunk);
        if chunk == 0 || chunk > p.max_chunk || (p.chunk_align > 1 && chunk % p.chunk_align != 0) {
            return Err(ConfigError::ChunkSize {
                chunk,
                max: p.max_chunk,
                align: p.chunk_align,
            });
        }
        let max = options.size_limit.unwrap_or(p.max_size);
        if file.size > max {
            return Err(ConfigError::FileTooLarge {
                size: file.size,
                max,
            });
        }
        if file.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if options.retry.max_attempts == 0 {
            return Err(ConfigError::RetryPolicy("max_attempts must be at least 1"));
        }
        let single_post = p
            .single_post_below
            .is_some_and(|limit| file.size == 0 || (file.size < limit && !options.force_session));
        if file.size == 0 && !single_post {
            return Err(ConfigError::Profile(
                "a 0-byte file needs the single POST, which this target lacks",
            ));
        }
        Ok(single_post)
    }
}

/// Where the upload stands, for display and for tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum State {
    /// Creating a session.
    Creating,
    /// Sending a small file by single POST.
    Posting,
    /// Uploading chunks.
    Uploading,
    /// Asking the session where it stands.
    Querying,
    /// Committing a session that holds every byte (a drive item's `deferCommit`).
    Committing,
    /// Looking for a result whose answer was lost.
    FindingResult,
    /// Deleting the session.
    Cancelling,
    /// Finished.
    Done,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// Bytes the server confirmed holding, of the total.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Progress {
    /// Bytes the server confirmed (by its last `nextExpectedRanges`, or by completing).
    pub confirmed: u64,
    /// The file's size.
    pub total: u64,
}
