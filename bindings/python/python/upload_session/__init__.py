"""Microsoft Graph resumable upload sessions: a sans-IO state machine, and httpx drivers.

The machine (:class:`Upload`) never does I/O: feed it the time and the server's answers and it
answers with the next action: :class:`Send` a :class:`Request` (method, URL, headers, and a
*byte range* of the file rather than bytes), :class:`Wait` until a time,
:class:`RefreshToken`, or stop with :class:`Done`, :class:`Failed` or :class:`Cancelled`.

Times are integers: milliseconds since the Unix epoch (:func:`now_ms`), everywhere.

Ready drivers over httpx are in :mod:`upload_session.drivers.sync` and
:mod:`upload_session.drivers.aio`.
"""

from __future__ import annotations

import time
from typing import Union

from ._native import (
    Cancelled,
    Completion,
    Done,
    EmptyBody,
    Failed,
    FileInfo,
    FileRangeBody,
    JsonBody,
    JsonWithBase64FileBody,
    Options,
    Profile,
    Progress,
    QuickXorHash,
    RefreshToken,
    Request,
    RetryPolicy,
    Send,
    Target,
    Upload,
    Wait,
    state_version,
)
from ._types import Headers, Purpose, State, TransportErrorKind, WaitReason
from .errors import (
    CallerError,
    ConfigError,
    FileReadError,
    NameConflictError,
    NetworkError,
    ProtocolError,
    RestoreError,
    RetriesExhaustedError,
    RetryAfterTooLongError,
    ServerError,
    SessionExpiredError,
    StatusError,
    UnauthorizedError,
    UploadCancelled,
    UploadFailed,
    UploadSessionError,
)

__all__ = [
    "Action",
    "Body",
    "CallerError",
    "Cancelled",
    "Completion",
    "ConfigError",
    "Done",
    "EmptyBody",
    "Failed",
    "FileInfo",
    "FileRangeBody",
    "FileReadError",
    "Headers",
    "JsonBody",
    "JsonWithBase64FileBody",
    "NameConflictError",
    "NetworkError",
    "Options",
    "Profile",
    "Progress",
    "ProtocolError",
    "QuickXorHash",
    "Purpose",
    "RefreshToken",
    "Request",
    "RestoreError",
    "RetriesExhaustedError",
    "RetryAfterTooLongError",
    "RetryPolicy",
    "Send",
    "ServerError",
    "SessionExpiredError",
    "State",
    "StatusError",
    "Target",
    "TransportErrorKind",
    "UnauthorizedError",
    "Upload",
    "UploadCancelled",
    "UploadFailed",
    "UploadSessionError",
    "Wait",
    "WaitReason",
    "now_ms",
    "state_version",
]

Action = Union[Send, Wait, RefreshToken, Done, Failed, Cancelled]
"""What :meth:`Upload.poll` returns; match on it."""

Body = Union[EmptyBody, JsonBody, FileRangeBody, JsonWithBase64FileBody]
"""What :attr:`Request.body` is."""


def now_ms() -> int:
    """The wall clock as the machine takes it: milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000
