"""What the sync and async drivers share: the state file, the file's byte ranges, the
request's headers, and what an httpx exception means to the machine."""

from __future__ import annotations

import base64
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Union

import httpx

from .._native import (
    FileInfo,
    FileRangeBody,
    JsonWithBase64FileBody,
    Options,
    QuickXorHash,
    Request,
    Target,
    Upload,
)
from .._types import TransportErrorKind
from ..errors import FileReadError

StrPath = Union[str, "os.PathLike[str]"]

READ_SIZE = 256 * 1024
"""Bytes read from the file per piece of a request body: the body is streamed in pieces of
this size, never held whole."""

MAX_ANSWER = 4 * 1024 * 1024
"""The largest answer body a driver accepts; Graph's answers are a few kilobytes."""


_QUERY = re.compile(r"\?[^\s\"']*")


class RedactQueries(logging.Filter):
    """Takes URL queries out of httpx's log records: a pre-authenticated uploadUrl carries its
    credential there (``tempauth``, ``authtoken``), and httpx logs every request's URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY.sub("?<redacted>", str(a)) if isinstance(a, (str, httpx.URL)) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _QUERY.sub("?<redacted>", record.msg)
        return True


def _install_log_redaction() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueries) for f in logger.filters):
            logger.addFilter(RedactQueries())


_install_log_redaction()


class StateFile:
    """The upload's saved state at ``path``, written atomically: a temporary file in the same
    directory, flushed and synced, then renamed over the old one, so a crash leaves the old
    state or the new one, never half of one. Created readable by its owner only: the state
    holds the session's uploadUrl (never the bearer token)."""

    def __init__(self, path: StrPath) -> None:
        self.path = Path(path)
        self._last: str | None = None

    def __repr__(self) -> str:
        return f"StateFile({str(self.path)!r})"

    def load(self) -> bytes | None:
        """The saved bytes, or ``None`` when there is no file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            self._last = data.decode("utf-8")
        except UnicodeDecodeError:
            self._last = None
        return data

    def save(self, state: str) -> None:
        """Writes ``state`` atomically, unless it is what was last written."""
        if state == self._last:
            return
        directory = self.path.parent
        # A new file of an unpredictable name, owner-only (never through a planted link).
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(state.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _sync_dir(directory)
        self._last = state

    def remove(self) -> None:
        """Removes the file; one already gone is fine."""
        self._last = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _sync_dir(directory: Path) -> None:
    # Makes the rename durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_info(
    path: StrPath,
    *,
    name: str | None = None,
    content_type: str = "application/octet-stream",
    quick_xor_hash: bool = False,
) -> FileInfo:
    """The :class:`FileInfo` of the file at ``path``: its name (or ``name``), its size, and a
    fingerprint of its size and modification time, so that a saved state is never resumed
    with a file that changed. With ``quick_xor_hash``, the file is read once to hash it, as
    drive items want: a completed item whose hash differs fails, and a lost final answer is
    settled only by an item with these bytes."""
    st = os.stat(path)
    digest = None
    if quick_xor_hash:
        h = QuickXorHash()
        with open(path, "rb") as f:
            while piece := f.read(4 * READ_SIZE):
                h.update(piece)
        digest = h.to_base64()
    return FileInfo(
        name if name is not None else Path(path).name,
        st.st_size,
        content_type=content_type,
        fingerprint=f"{st.st_size}:{st.st_mtime_ns}",
        quick_xor_hash=digest,
    )


def is_drive_item(target: Target) -> bool:
    return target.profile.name == "drive-item"


def open_upload(
    target: Target, file: FileInfo, options: Options | None, state: StateFile | None
) -> Upload:
    """A new upload, or the one saved in ``state`` when the state file exists."""
    saved = state.load() if state is not None else None
    if saved is None:
        return Upload(target, file, options)
    return Upload.restore(saved, target, file, options)


def request_headers(request: Request, token: str | None) -> list[tuple[str, str]]:
    """The request's headers, with ``Authorization: Bearer`` only if the request needs it."""
    headers = request.headers
    if request.needs_token:
        if token is None:
            raise ValueError("the request needs the bearer token, and none was given")
        headers.append(("Authorization", "Bearer " + token))
    return headers


def request_reads_file(request: Request) -> bool:
    """Whether the request's body holds bytes of the file."""
    return isinstance(request.body, (FileRangeBody, JsonWithBase64FileBody))


def build_request(
    client: httpx.Client | httpx.AsyncClient,
    request: Request,
    token: str | None,
    content: bytes | Iterator[bytes] | object | None,
) -> httpx.Request:
    """The httpx request for ``request``. Whatever the client's defaults, ``Authorization`` is
    there only when the request needs the token."""
    built = client.build_request(
        request.method,
        request.url,
        headers=request_headers(request, token),
        content=content,  # type: ignore[arg-type]
    )
    if not request.needs_token:
        built.headers.pop("Authorization", None)
    # Answers as they are: a compressed one that fails to decode would be no answer at all.
    built.headers["Accept-Encoding"] = "identity"
    return built


def transport_kind(exc: httpx.TransportError) -> TransportErrorKind:
    """What an httpx exception tells about a request: ``"connect"`` when nothing was sent
    (connection refused, DNS, TLS, no connection from the pool in time), ``"timeout"`` when
    it may have been sent and no answer came in time, ``"interrupted"`` when the connection
    broke while sending or receiving."""
    if isinstance(
        exc,
        (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,
            httpx.ProxyError,
        ),
    ):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return "interrupted"


class SourceFile:
    """The file being uploaded, open for reading ranges of it by offset."""

    def __init__(self, path: StrPath, size: int) -> None:
        try:
            self._f = open(path, "rb", buffering=0)
            actual = os.fstat(self._f.fileno()).st_size
        except OSError as e:
            raise FileReadError(f"cannot read the file: {e}") from e
        if actual != size:
            self._f.close()
            raise FileReadError(
                f"the file has {actual} bytes, and the upload is of {size}: it changed"
            )
        self._fd = self._f.fileno()
        self._path = Path(path)
        self._size = size
        self._mtime_ns = os.fstat(self._fd).st_mtime_ns

    def check_unchanged(self) -> None:
        """Raises :class:`FileReadError` when the file at the path is no longer the one
        opened (another size or modification time): nothing more of it may be sent."""
        try:
            st = os.stat(self._path)
        except OSError as e:
            raise FileReadError(f"the file can no longer be read: {e}") from e
        if st.st_size != self._size or st.st_mtime_ns != self._mtime_ns:
            raise FileReadError(
                f"the file changed during the upload ({st.st_size} bytes, was {self._size}): "
                "nothing more of it is sent"
            )

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def read_at(self, offset: int, n: int) -> bytes:
        """Exactly ``n`` bytes from ``offset`` (fewer only if the file shrank: an error)."""
        try:
            data = self._pread(n, offset)
            while len(data) < n:
                more = self._pread(n - len(data), offset + len(data))
                if not more:
                    raise FileReadError(
                        f"the file ended at byte {offset + len(data)}, before the range sent"
                    )
                data += more
        except OSError as e:
            raise FileReadError(f"cannot read the file: {e}") from e
        return data

    def _pread(self, n: int, offset: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self._fd, n, offset)
        self._f.seek(offset)
        return self._f.read(n) or b""

    def pieces(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """``(offset, length)`` of the pieces that make bytes ``start`` to ``end``."""
        offset = start
        while offset < end:
            n = min(READ_SIZE, end - offset)
            yield offset, n
            offset += n

    def range_body(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive), piece by piece."""
        for offset, n in self.pieces(start, end):
            yield self.read_at(offset, n)


def base64_pieces(start: int, end: int) -> Iterator[tuple[int, int]]:
    """Pieces whose lengths are multiples of 3 but the last, so that each encodes alone."""
    step = READ_SIZE - READ_SIZE % 3
    offset = start
    while offset < end:
        n = min(step, end - offset)
        yield offset, n
        offset += n


def base64_body(
    source: SourceFile, prefix: bytes, file_range: tuple[int, int] | None, suffix: bytes
) -> Iterator[bytes]:
    """``prefix``, the base64 of the range, then ``suffix``, piece by piece."""
    yield prefix
    if file_range is not None:
        for offset, n in base64_pieces(*file_range):
            yield base64.b64encode(source.read_at(offset, n))
    yield suffix
