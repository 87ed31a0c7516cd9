"""An asyncio driver over ``httpx.AsyncClient``.

::

    from upload_session import Target
    from upload_session.drivers.aio import upload_file

    target = Target.drive_item("https://graph.microsoft.com/v1.0", path="/Docs/report.pdf")
    done = await upload_file("report.pdf", target, token=token, state_path="report.upload")

File reads run in a worker thread (``asyncio.to_thread``), piece by piece, so the event loop
never waits on the disk.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from .. import now_ms
from .._native import (
    Cancelled,
    Completion,
    Done,
    Failed,
    FileRangeBody,
    JsonBody,
    JsonWithBase64FileBody,
    Options,
    Progress,
    RefreshToken,
    Request,
    Send,
    Target,
    Upload,
    Wait,
)
from ..errors import FileReadError, UploadCancelled
from ._common import (
    request_reads_file,
    MAX_ANSWER,
    SourceFile,
    StateFile,
    StrPath,
    base64_pieces,
    build_request,
    file_info,
    is_drive_item,
    open_upload,
    transport_kind,
)

__all__ = ["run", "upload_file"]


async def _range_body(source: SourceFile, start: int, end: int) -> AsyncIterator[bytes]:
    for offset, n in source.pieces(start, end):
        yield await asyncio.to_thread(source.read_at, offset, n)


async def _base64_body(
    source: SourceFile, prefix: bytes, file_range: tuple[int, int] | None, suffix: bytes
) -> AsyncIterator[bytes]:
    yield prefix
    if file_range is not None:
        for offset, n in base64_pieces(*file_range):
            yield base64.b64encode(await asyncio.to_thread(source.read_at, offset, n))
    yield suffix


async def _exchange(
    client: httpx.AsyncClient, request: Request, source: SourceFile, token: str | None
) -> tuple[int, list[tuple[str, str]], bytes]:
    body = request.body
    content: object
    if isinstance(body, FileRangeBody):
        content = _range_body(source, body.start, body.end)
    elif isinstance(body, JsonBody):
        content = body.data
    elif isinstance(body, JsonWithBase64FileBody):
        content = _base64_body(source, body.prefix, body.range, body.suffix)
    else:
        content = None
    built = build_request(client, request, token, content)
    response = await client.send(built, auth=None, follow_redirects=False, stream=True)
    try:
        data = bytearray()
        async for piece in response.aiter_bytes():
            data += piece
            if len(data) > MAX_ANSWER:
                # Not Graph's answer, and not one to read as if whole: no answer.
                raise httpx.RemoteProtocolError(f"an answer over {MAX_ANSWER} bytes")
        return response.status_code, response.headers.multi_items(), bytes(data)
    finally:
        await response.aclose()


async def _wait(seconds: float, cancel: asyncio.Event | None) -> None:
    if cancel is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(cancel.wait(), seconds)
    except asyncio.TimeoutError:
        pass


async def run(
    upload: Upload,
    path: StrPath,
    *,
    client: httpx.AsyncClient,
    token: str | None,
    refresh_token: Callable[[], Awaitable[str]] | None = None,
    state_path: StrPath | None = None,
    cancel: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Completion:
    """Drives ``upload`` of the file at ``path`` to its end over ``client``: the same
    contract as :func:`upload_session.drivers.sync.run`, with an async ``refresh_token`` and
    an ``asyncio.Event`` to cancel."""
    state = StateFile(state_path) if state_path is not None else None
    cancel_sent = False
    with SourceFile(path, upload.file.size) as source:
        while True:
            now = now_ms()
            if cancel is not None and not cancel_sent and cancel.is_set():
                upload.cancel(now)
                cancel_sent = True
            action = upload.poll(now)
            if isinstance(action, Send):
                request = action.request
                if request_reads_file(request):
                    try:
                        await asyncio.to_thread(source.check_unchanged)
                    except FileReadError:
                        # Not sent: the machine hears so, and the state says so.
                        upload.handle_transport_error(now_ms(), request.id, "connect")
                        if state is not None:
                            await asyncio.to_thread(state.save, upload.save())
                        raise
                if state is not None and request.save_before_sending:
                    await asyncio.to_thread(state.save, upload.save())
                try:
                    status, headers, body = await _exchange(client, request, source, token)
                except httpx.TransportError as exc:
                    upload.handle_transport_error(now_ms(), request.id, transport_kind(exc))
                else:
                    upload.handle_response(now_ms(), request.id, status, headers, body)
                if state is not None:
                    await asyncio.to_thread(state.save, upload.save())
                if on_progress is not None:
                    on_progress(upload.progress)
            elif isinstance(action, Wait):
                seconds = action.millis_from(now_ms()) / 1000
                await _wait(seconds, cancel if not cancel_sent else None)
            elif isinstance(action, RefreshToken):
                if refresh_token is not None:
                    token = await refresh_token()
                upload.token_refreshed(now_ms())
            elif isinstance(action, Done):
                if state is not None:
                    await asyncio.to_thread(state.remove)
                return action.completion
            elif isinstance(action, Failed):
                raise action.error
            elif isinstance(action, Cancelled):
                if state is not None:
                    await asyncio.to_thread(state.remove)
                raise UploadCancelled("the upload was cancelled")


async def upload_file(
    path: StrPath,
    target: Target,
    *,
    token: str | None,
    options: Options | None = None,
    state_path: StrPath | None = None,
    client: httpx.AsyncClient | None = None,
    refresh_token: Callable[[], Awaitable[str]] | None = None,
    cancel: asyncio.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    name: str | None = None,
    content_type: str = "application/octet-stream",
    hash_file: bool | None = None,
    timeout: float = 60.0,
) -> Completion:
    """Uploads the file at ``path`` to ``target``; see
    :func:`upload_session.drivers.sync.upload_file`."""
    if hash_file is None:
        hash_file = is_drive_item(target)
    info = await asyncio.to_thread(
        file_info, path, name=name, content_type=content_type, quick_xor_hash=hash_file
    )
    state = StateFile(state_path) if state_path is not None else None
    upload = await asyncio.to_thread(open_upload, target, info, options, state)
    own = client is None
    http = client if client is not None else httpx.AsyncClient(timeout=timeout)
    try:
        return await run(
            upload,
            path,
            client=http,
            token=token,
            refresh_token=refresh_token,
            state_path=state_path,
            cancel=cancel,
            on_progress=on_progress,
        )
    finally:
        if own:
            await http.aclose()
