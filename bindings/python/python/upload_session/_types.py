"""The string values the machine uses, as types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, Union

Purpose = Literal[
    "create-session",
    "upload-chunk",
    "query-status",
    "find-result",
    "single-post",
    "single-put",
    "cancel",
    "commit",
]
"""Why a request is sent."""

State = Literal[
    "creating",
    "posting",
    "uploading",
    "querying",
    "finding-result",
    "cancelling",
    "committing",
    "done",
    "failed",
    "cancelled",
]
"""Where an upload stands."""

WaitReason = Literal["retry-after", "backoff"]
"""Why the machine asks to wait."""

TransportErrorKind = Literal["connect", "timeout", "interrupted"]
"""Why a request got no answer: ``"connect"``, nothing was sent (safe to repeat);
``"timeout"`` and ``"interrupted"``, it may have reached the server (outcome unknown)."""

Headers = Union[Iterable[tuple[Union[str, bytes], Union[str, bytes]]], Mapping[str, str]]
"""Response headers: ``(name, value)`` pairs, ``str`` or UTF-8 ``bytes``, or a mapping."""
