"""A blocking driver over ``httpx.Client``.

::

    from upload_session import Target
    from upload_session.drivers.sync import upload_file

    target = Target.todo_task("https://graph.microsoft.com/v1.0", list_id, task_id)
    done = upload_file("report.pdf", target, token=token, state_path="report.pdf.upload")
    print(done.id)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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
    base64_body,
    build_request,
    file_info,
    is_drive_item,
    open_upload,
    transport_kind,
)

__all__ = ["run", "upload_file"]


def _exchange(
    client: httpx.Client, request: Request, source: SourceFile, token: str | None
) -> tuple[int, list[tuple[str, str]], bytes]:
    body = request.body
    content: object
    if isinstance(body, FileRangeBody):
        content = source.range_body(body.start, body.end)
    elif isinstance(body, JsonBody):
        content = body.data
    elif isinstance(body, JsonWithBase64FileBody):
        content = base64_body(source, body.prefix, body.range, body.suffix)
    else:
        content = None
    built = build_request(client, request, token, content)
    response = client.send(built, auth=None, follow_redirects=False, stream=True)
    try:
        data = bytearray()
        for piece in response.iter_bytes():
            data += piece
            if len(data) > MAX_ANSWER:
                # Not Graph's answer, and not one to read as if whole: no answer.
                raise httpx.RemoteProtocolError(f"an answer over {MAX_ANSWER} bytes")
        return response.status_code, response.headers.multi_items(), bytes(data)
    finally:
        response.close()


def run(
    upload: Upload,
    path: StrPath,
    *,
    client: httpx.Client,
    token: str | None,
    refresh_token: Callable[[], str] | None = None,
    state_path: StrPath | None = None,
    cancel: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Completion:
    """Drives ``upload`` of the file at ``path`` to its end over ``client``.

    Returns the :class:`Completion`; raises the upload's failure (an
    :class:`~upload_session.errors.UploadFailed`), :class:`~upload_session.errors.UploadCancelled`
    once ``cancel`` is set and the session is deleted, or
    :class:`~upload_session.errors.FileReadError`.

    ``token`` goes on the requests that need it, and only on those. On ``RefreshToken``,
    ``refresh_token()`` gives the new one (without it, the same token is tried once more).
    With ``state_path``, the state is written there before each request that may create the
    result and after every answer; it is removed when the upload completes or is cancelled,
    and kept when it fails (a later run resumes from it).
    """
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
                        source.check_unchanged()
                    except FileReadError:
                        # Not sent: the machine hears so, and the state says so.
                        upload.handle_transport_error(now_ms(), request.id, "connect")
                        if state is not None:
                            state.save(upload.save())
                        raise
                if state is not None and request.save_before_sending:
                    state.save(upload.save())
                try:
                    status, headers, body = _exchange(client, request, source, token)
                except httpx.TransportError as exc:
                    upload.handle_transport_error(now_ms(), request.id, transport_kind(exc))
                else:
                    upload.handle_response(now_ms(), request.id, status, headers, body)
                if state is not None:
                    state.save(upload.save())
                if on_progress is not None:
                    on_progress(upload.progress)
            elif isinstance(action, Wait):
                seconds = action.millis_from(now_ms()) / 1000
                if cancel is not None and not cancel_sent:
                    cancel.wait(seconds)
                else:
                    time.sleep(seconds)
            elif isinstance(action, RefreshToken):
                if refresh_token is not None:
                    token = refresh_token()
                upload.token_refreshed(now_ms())
            elif isinstance(action, Done):
                if state is not None:
                    state.remove()
                return action.completion
            elif isinstance(action, Failed):
                raise action.error
            elif isinstance(action, Cancelled):
                if state is not None:
                    state.remove()
                raise UploadCancelled("the upload was cancelled")


def upload_file(
    path: StrPath,
    target: Target,
    *,
    token: str | None,
    options: Options | None = None,
    state_path: StrPath | None = None,
    client: httpx.Client | None = None,
    refresh_token: Callable[[], str] | None = None,
    cancel: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    name: str | None = None,
    content_type: str = "application/octet-stream",
    hash_file: bool | None = None,
    timeout: float = 60.0,
) -> Completion:
    """Uploads the file at ``path`` to ``target``; see :func:`run`.

    With ``state_path`` and a state file there, the saved upload is resumed (it must be the
    same file, unchanged, to the same target). Without ``client``, one is made with
    ``timeout`` seconds per request and closed at the end. ``hash_file`` reads the file once
    first for its QuickXorHash (default: for drive items only; see :func:`file_info`).
    """
    if hash_file is None:
        hash_file = is_drive_item(target)
    info = file_info(path, name=name, content_type=content_type, quick_xor_hash=hash_file)
    state = StateFile(state_path) if state_path is not None else None
    upload = open_upload(target, info, options, state)
    own = client is None
    http = client if client is not None else httpx.Client(timeout=timeout)
    try:
        return run(
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
            http.close()
