"""The exceptions of upload_session, by whose fault something went wrong.

::

    UploadSessionError                  every exception of this package
    ├── CallerError (ValueError)        a misuse of the machine; its state is unchanged
    ├── ConfigError (ValueError)        a target, file or options that cannot work
    ├── RestoreError (ValueError)       saved state that cannot be restored
    ├── UploadFailed                    the upload ended in failure (``Failed.error``)
    │   ├── ServerError                 the server's answers
    │   │   ├── ProtocolError           an answer that breaks the protocol
    │   │   ├── StatusError             a refusal retrying cannot fix (4xx, 5xx past retries)
    │   │   │   └── NameConflictError   a drive item's name is taken (conflict="fail")
    │   │   ├── SessionExpiredError     sessions kept expiring; no restart allowed
    │   │   ├── UnauthorizedError       the token was refused again after a refresh
    │   │   └── RetryAfterTooLongError  the server asked to wait past the retry budget
    │   └── NetworkError                the transport's
    │       └── RetriesExhaustedError   transient failures went on past the retry policy
    ├── FileReadError                   the drivers: the file could not be read, or changed
    └── UploadCancelled                 the drivers: the upload was cancelled

No message or attribute ever holds the bearer token; URLs in messages have their query hidden.
A failed upload can be resumed: its saved state restores into an upload that goes on from
where it stopped.
"""

from __future__ import annotations

__all__ = [
    "UploadSessionError",
    "CallerError",
    "ConfigError",
    "RestoreError",
    "UploadFailed",
    "ServerError",
    "ProtocolError",
    "StatusError",
    "NameConflictError",
    "SessionExpiredError",
    "UnauthorizedError",
    "RetryAfterTooLongError",
    "NetworkError",
    "RetriesExhaustedError",
    "FileReadError",
    "UploadCancelled",
]


class UploadSessionError(Exception):
    """Every exception this package raises derives from this one."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallerError(UploadSessionError, ValueError):
    """The machine was called wrongly (an answer for a request not in flight, a refresh that
    was not asked for, a header value that is not UTF-8, an unknown transport error kind).
    Nothing changed: the request in flight still waits for its answer."""


class ConfigError(UploadSessionError, ValueError):
    """A target, a file or options that cannot work (an empty id, a chunk size off the
    target's grid, a file over the target's limit). Nothing was sent."""


class RestoreError(UploadSessionError, ValueError):
    """Saved state that cannot be restored. ``kind`` says why: ``"malformed"``,
    ``"version"``, ``"different-file"``, ``"different-target"`` or ``"invalid"``."""

    kind: str

    def __init__(self, message: str, *, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


class UploadFailed(UploadSessionError):
    """The upload ended in failure: what ``Failed.error`` holds and the drivers raise.
    ``purpose`` names the request it failed on, when there is one (``"create-session"``,
    ``"upload-chunk"``, ``"query-status"``, ``"find-result"``, ``"single-post"``,
    ``"cancel"``)."""

    purpose: str | None

    def __init__(self, message: str, *, purpose: str | None = None) -> None:
        super().__init__(message)
        self.purpose = purpose


class ServerError(UploadFailed):
    """The server's answers ended the upload."""


class ProtocolError(ServerError):
    """The server's answer broke the protocol (a malformed body, no uploadUrl, no result
    named, no progress)."""


class StatusError(ServerError):
    """The server refused a request with a status that retrying cannot fix. Carries Graph's
    error code when the body had one."""

    status: int
    code: str | None
    inner_code: str | None
    graph_message: str | None
    request_id: str | None

    def __init__(
        self,
        message: str,
        *,
        purpose: str | None = None,
        status: int = 0,
        code: str | None = None,
        inner_code: str | None = None,
        graph_message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, purpose=purpose)
        self.status = status
        self.code = code
        self.inner_code = inner_code
        self.graph_message = graph_message
        self.request_id = request_id


class NameConflictError(StatusError):
    """A drive item's name is taken and the conflict behaviour is ``"fail"``: nothing was
    overwritten."""


class SessionExpiredError(ServerError):
    """The session expired or vanished and no new one may be created."""

    sessions: int

    def __init__(self, message: str, *, sessions: int = 0) -> None:
        super().__init__(message)
        self.sessions = sessions


class UnauthorizedError(ServerError):
    """The server refused the token again right after it was refreshed."""


class RetryAfterTooLongError(ServerError):
    """The server asked (``Retry-After``) to wait longer than the retry policy has left."""

    asked_ms: int
    left_ms: int
    max_total_ms: int

    def __init__(
        self,
        message: str,
        *,
        purpose: str | None = None,
        asked_ms: int = 0,
        left_ms: int = 0,
        max_total_ms: int = 0,
    ) -> None:
        super().__init__(message, purpose=purpose)
        self.asked_ms = asked_ms
        self.left_ms = left_ms
        self.max_total_ms = max_total_ms


class NetworkError(UploadFailed):
    """The transport ended the upload."""


class RetriesExhaustedError(NetworkError):
    """Transient failures (dropped connections, timeouts, 429/5xx) went on past the retry
    policy's limits. ``last_status`` or ``last_transport`` (``"connect"``, ``"timeout"``,
    ``"interrupted"``) tells the last one."""

    attempts: int
    last_status: int | None
    last_transport: str | None

    def __init__(
        self,
        message: str,
        *,
        purpose: str | None = None,
        attempts: int = 0,
        last_status: int | None = None,
        last_transport: str | None = None,
    ) -> None:
        super().__init__(message, purpose=purpose)
        self.attempts = attempts
        self.last_status = last_status
        self.last_transport = last_transport


class FileReadError(UploadSessionError):
    """A driver could not read the file, or the file changed size under it."""


class UploadCancelled(UploadSessionError):
    """A driver's upload was cancelled (and its session deleted, if it had one)."""
