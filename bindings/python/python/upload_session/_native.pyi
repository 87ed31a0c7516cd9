"""Types of the native module: the upload-session core, compiled."""

from typing import ClassVar, Literal, final

from ._types import Headers, Purpose, State, TransportErrorKind, WaitReason
from .errors import UploadFailed

__all__ = [
    "Cancelled",
    "Completion",
    "Done",
    "EmptyBody",
    "Failed",
    "FileInfo",
    "FileRangeBody",
    "JsonBody",
    "JsonWithBase64FileBody",
    "Options",
    "Profile",
    "Progress",
    "QuickXorHash",
    "RefreshToken",
    "Request",
    "RetryPolicy",
    "Send",
    "Target",
    "Upload",
    "Wait",
    "state_version",
]

def state_version() -> int: ...
@final
class Profile:
    @property
    def name(self) -> str: ...
    @property
    def max_chunk(self) -> int: ...
    @property
    def chunk_align(self) -> int: ...
    @property
    def default_chunk(self) -> int: ...
    @property
    def max_size(self) -> int: ...
    @property
    def single_post_below(self) -> int | None: ...
    @property
    def session_needs_token(self) -> bool: ...

@final
class Target:
    @staticmethod
    def todo_task(
        base_url: str, list_id: str, task_id: str, *, user: str | None = None
    ) -> Target: ...
    @staticmethod
    def drive_item(
        base_url: str,
        *,
        path: str | None = None,
        parent: str | None = None,
        name: str | None = None,
        drive: Literal["me", "id", "user", "group", "site"] = "me",
        drive_id: str | None = None,
        conflict: Literal["fail", "replace", "rename"] = "fail",
        defer_commit: bool = False,
    ) -> Target: ...
    @staticmethod
    def outlook_attachment(
        base_url: str,
        item: Literal["message", "event"],
        item_id: str,
        *,
        user: str | None = None,
        inline_content_id: str | None = None,
    ) -> Target: ...
    @staticmethod
    def print_document(
        base_url: str, printer_id: str, job_id: str, document_id: str
    ) -> Target: ...
    @property
    def profile(self) -> Profile: ...
    @property
    def base_url(self) -> str: ...
    @property
    def create_url(self) -> str: ...
    @property
    def collection_url(self) -> str | None: ...
    @property
    def lookup_url(self) -> str | None: ...
    @property
    def defers_commit(self) -> bool: ...
    @property
    def inline_content_id(self) -> str | None: ...
    def is_graph_origin(self, url: str) -> bool: ...

@final
class FileInfo:
    def __new__(
        cls,
        name: str,
        size: int,
        *,
        content_type: str = "application/octet-stream",
        fingerprint: str = "",
        quick_xor_hash: str | None = None,
    ) -> FileInfo: ...
    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def quick_xor_hash(self) -> str | None: ...

@final
class RetryPolicy:
    def __new__(
        cls,
        *,
        initial_ms: int | None = None,
        max_wait_ms: int | None = None,
        max_total_ms: int | None = None,
        max_attempts: int | None = None,
        seed: int | None = None,
    ) -> RetryPolicy: ...
    @property
    def initial_ms(self) -> int: ...
    @property
    def max_wait_ms(self) -> int: ...
    @property
    def max_total_ms(self) -> int: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def seed(self) -> int: ...

@final
class Options:
    def __new__(
        cls,
        *,
        chunk_size: int | None = None,
        force_session: bool = False,
        max_restarts: int | None = None,
        size_limit: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> Options: ...
    @property
    def chunk_size(self) -> int | None: ...
    @property
    def force_session(self) -> bool: ...
    @property
    def max_restarts(self) -> int: ...
    @property
    def size_limit(self) -> int | None: ...
    @property
    def retry(self) -> RetryPolicy: ...

@final
class EmptyBody:
    __match_args__: ClassVar[tuple[()]]

@final
class JsonBody:
    __match_args__: ClassVar[tuple[Literal["data"]]]
    @property
    def data(self) -> bytes: ...

@final
class FileRangeBody:
    __match_args__: ClassVar[tuple[Literal["start"], Literal["end"]]]
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    def __len__(self) -> int: ...

@final
class JsonWithBase64FileBody:
    __match_args__: ClassVar[tuple[Literal["prefix"], Literal["range"], Literal["suffix"]]]
    @property
    def prefix(self) -> bytes: ...
    @property
    def range(self) -> tuple[int, int] | None: ...
    @property
    def suffix(self) -> bytes: ...

@final
class Request:
    @property
    def id(self) -> int: ...
    @property
    def purpose(self) -> Purpose: ...
    @property
    def method(self) -> Literal["GET", "POST", "PUT", "DELETE"]: ...
    @property
    def url(self) -> str: ...
    @property
    def redacted_url(self) -> str: ...
    @property
    def needs_token(self) -> bool: ...
    @property
    def save_before_sending(self) -> bool: ...
    @property
    def content_length(self) -> int | None: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def content_range(self) -> str | None: ...
    @property
    def file_range(self) -> tuple[int, int] | None: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def body(self) -> EmptyBody | JsonBody | FileRangeBody | JsonWithBase64FileBody: ...

@final
class Completion:
    @property
    def id(self) -> str: ...
    @property
    def location(self) -> str | None: ...
    @property
    def size(self) -> int: ...
    @property
    def found_by_lookup(self) -> bool: ...
    @property
    def web_url(self) -> str | None: ...
    @property
    def quick_xor_hash(self) -> str | None: ...

@final
class Progress:
    __match_args__: ClassVar[tuple[Literal["confirmed"], Literal["total"]]]
    @property
    def confirmed(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def fraction(self) -> float: ...

@final
class Send:
    __match_args__: ClassVar[tuple[Literal["request"]]]
    @property
    def request(self) -> Request: ...

@final
class Wait:
    __match_args__: ClassVar[tuple[Literal["until"], Literal["reason"]]]
    @property
    def until(self) -> int: ...
    @property
    def reason(self) -> WaitReason: ...
    def millis_from(self, now: int) -> int: ...

@final
class RefreshToken: ...

@final
class Done:
    __match_args__: ClassVar[tuple[Literal["completion"]]]
    @property
    def completion(self) -> Completion: ...

@final
class Failed:
    __match_args__: ClassVar[tuple[Literal["error"]]]
    @property
    def error(self) -> UploadFailed: ...

@final
class Cancelled: ...

@final
class QuickXorHash:
    def __new__(cls) -> QuickXorHash: ...
    def update(self, data: bytes) -> None: ...
    def update_at(self, offset: int, data: bytes) -> None: ...
    def __len__(self) -> int: ...
    def to_base64(self) -> str: ...

@final
class Upload:
    def __new__(cls, target: Target, file: FileInfo, options: Options | None = None) -> Upload: ...
    @staticmethod
    def restore(
        saved: str | bytes | bytearray,
        target: Target,
        file: FileInfo,
        options: Options | None = None,
    ) -> Upload: ...
    def poll(self, now: int) -> Send | Wait | RefreshToken | Done | Failed | Cancelled: ...
    def handle_response(
        self,
        now: int,
        id: int,
        status: int,
        headers: Headers | None = None,
        body: bytes | bytearray | None = None,
    ) -> None: ...
    def handle_transport_error(self, now: int, id: int, kind: TransportErrorKind) -> None: ...
    def token_refreshed(self, now: int) -> None: ...
    def cancel(self, now: int) -> None: ...
    def save(self) -> str: ...
    @property
    def state(self) -> State: ...
    @property
    def progress(self) -> Progress: ...
    @property
    def requests(self) -> int: ...
    @property
    def sessions(self) -> int: ...
    @property
    def chunk_size(self) -> int: ...
    @property
    def result_may_exist(self) -> bool: ...
    @property
    def upload_url(self) -> str | None: ...
    @property
    def expected_ranges(self) -> list[tuple[int, int]] | None: ...
    @property
    def in_flight(self) -> Request | None: ...
    @property
    def file(self) -> FileInfo: ...
    @property
    def target(self) -> Target: ...
