"""The machine across the boundary, without a network: the driving loop against a fake server,
every action, the exceptions, and bad input that must raise rather than crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upload_session import (
    Action,
    CallerError,
    Cancelled,
    ConfigError,
    Done,
    EmptyBody,
    Failed,
    FileInfo,
    FileRangeBody,
    JsonBody,
    JsonWithBase64FileBody,
    Options,
    ProtocolError,
    RefreshToken,
    RestoreError,
    RetriesExhaustedError,
    RetryPolicy,
    Send,
    SessionExpiredError,
    StatusError,
    Target,
    UnauthorizedError,
    Upload,
    UploadFailed,
    UploadSessionError,
    Wait,
    state_version,
)

GRAPH = "https://graph.microsoft.com/v1.0"
T0 = 1_700_000_000_000
DATE = "Tue, 14 Nov 2023 22:13:20 GMT"  # T0 as an HTTP-date
SESSION = json.dumps(
    {
        "uploadUrl": f"{GRAPH}/up/1",
        "expirationDateTime": "2030-01-01T00:00:00.0000000Z",
        "nextExpectedRanges": ["0-"],
    }
).encode()


def todo() -> Target:
    return Target.todo_task(GRAPH, "list=", "task=")


def session_upload(size: int = 5_000_000, chunk: int = 2 * 1024 * 1024, **kw: object) -> Upload:
    return Upload(todo(), FileInfo("report.pdf", size), Options(chunk_size=chunk, **kw))  # type: ignore[arg-type]


def send(action: Action) -> Send:
    assert isinstance(action, Send), action
    return action


def created(up: Upload) -> Send:
    """Answers the session creation; returns the first PUT."""
    req = send(up.poll(T0)).request
    assert (req.method, req.purpose) == ("POST", "create-session")
    up.handle_response(T0, req.id, 200, [("Date", DATE)], SESSION)
    return send(up.poll(T0))


def fake_server_run(size: int, chunk: int) -> tuple[Done, list[tuple[int, int]]]:
    up = session_upload(size, chunk, force_session=True)
    ranges: list[tuple[int, int]] = []
    now = T0
    while True:
        action = up.poll(now)
        match action:
            case Send(request):
                match request.body:
                    case JsonBody(data):
                        assert json.loads(data)["attachmentInfo"]["size"] == size
                        up.handle_response(now, request.id, 200, {"Date": DATE}, SESSION)
                    case FileRangeBody(start, end):
                        assert start == (ranges[-1][1] if ranges else 0), "in order"
                        assert request.content_length == end - start
                        assert request.content_range == f"bytes {start}-{end - 1}/{size}"
                        assert ("Content-Range", request.content_range) in request.headers
                        ranges.append((start, end))
                        if end == size:
                            loc = f"{GRAPH}/me/todo/lists/l/tasks/t/attachments/AAMk{size}="
                            up.handle_response(now, request.id, 201, [("Location", loc)], b"")
                        else:
                            body = json.dumps({"NextExpectedRanges": [f"{end}"]}).encode()
                            up.handle_response(now, request.id, 200, (), body)
                    case other:
                        pytest.fail(f"unexpected body {other!r}")
            case Wait(until, _):
                now = until
            case Done():
                return action, ranges
            case _:
                pytest.fail(f"unexpected action {action!r}")
        now += 1


def test_driving_loop_against_a_fake_server() -> None:
    done, ranges = fake_server_run(5_000_000, 2 * 1024 * 1024)
    assert done.completion.id == "AAMk5000000="
    assert done.completion.size == 5_000_000
    assert not done.completion.found_by_lookup
    assert ranges == [(0, 2097152), (2097152, 4194304), (4194304, 5000000)]


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 4_000_000), chunk=st.integers(1, 3_999_999))
def test_any_file_and_chunk_size_covers_the_file_once(size: int, chunk: int) -> None:
    if size // chunk > 400:
        chunk = size // 400 + 1
    done, ranges = fake_server_run(size, chunk)
    assert done.completion.size == size
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert all(end - start <= chunk for start, end in ranges)


def test_small_file_goes_by_single_post_with_base64_body() -> None:
    up = Upload(todo(), FileInfo("a.txt", 10, content_type="text/plain"))
    req = send(up.poll(T0)).request
    assert (req.method, req.purpose, req.save_before_sending) == ("POST", "single-post", True)
    body = req.body
    assert isinstance(body, JsonWithBase64FileBody)
    assert body.range == (0, 10)
    assert req.content_length == len(body.prefix) + 16 + len(body.suffix)
    text = body.prefix + b"MDEyMzQ1Njc4OQ==" + body.suffix
    assert json.loads(text)["contentBytes"] == "MDEyMzQ1Njc4OQ=="


def test_state_progress_and_counters() -> None:
    up = session_upload()
    states = [up.state]
    put = created(up).request
    states.append(up.state)
    assert states == ["creating", "uploading"]
    assert (up.requests, up.sessions, up.chunk_size) == (2, 1, 2 * 1024 * 1024)
    assert up.upload_url == f"{GRAPH}/up/1"
    assert up.expected_ranges == [(0, 5_000_000)]
    assert up.in_flight is not None and up.in_flight.id == put.id
    up.handle_response(T0, put.id, 200, (), b'{"nextExpectedRanges":["2097152-"]}')
    p = up.progress
    assert (p.confirmed, p.total) == (2097152, 5_000_000)
    assert p.fraction == pytest.approx(2097152 / 5_000_000)


def test_poll_returns_the_same_request_until_answered() -> None:
    up = session_upload()
    first = send(up.poll(T0)).request
    again = send(up.poll(T0 + 5)).request
    assert (first.id, first.url, first.headers) == (again.id, again.url, again.headers)


def test_an_answer_for_another_request_is_a_caller_error_and_changes_nothing() -> None:
    up = session_upload()
    req = send(up.poll(T0)).request
    with pytest.raises(CallerError, match="in flight is #1"):
        up.handle_response(T0, req.id + 1, 200, (), SESSION)
    with pytest.raises(CallerError):
        up.handle_transport_error(T0, 7, "connect")
    assert send(up.poll(T0)).request.id == req.id
    up.handle_response(T0, req.id, 200, (), SESSION)
    with pytest.raises(CallerError, match="no request is in flight"):
        up.handle_response(T0, req.id, 200, (), SESSION)
    assert send(up.poll(T0)).request.id == req.id + 1


def test_bad_values_across_the_boundary_raise_python_exceptions() -> None:
    up = session_upload()
    req = send(up.poll(T0)).request
    with pytest.raises(CallerError, match="not UTF-8"):
        up.handle_response(T0, req.id, 200, [(b"Date", b"\xff\xfe")], SESSION)
    with pytest.raises(CallerError, match='value of header "X-Other" is not UTF-8'):
        up.handle_response(T0, req.id, 200, [("X-Other", b"caf\xe9")], SESSION)
    with pytest.raises(CallerError, match="header name is not UTF-8"):
        up.handle_response(T0, req.id, 200, [(b"X-\xff", "v")], SESSION)
    with pytest.raises(TypeError):
        up.handle_response(T0, req.id, 200, "Date: x", SESSION)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        up.handle_response(T0, req.id, 200, [("Date",)], SESSION)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        up.handle_response(T0, req.id, 200, [("Date", 5)], SESSION)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        up.handle_response(T0, req.id, 200, (), SESSION.decode())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        up.handle_response(T0 + 0.5, req.id, 200)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        up.handle_response(T0, req.id, "200")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        up.handle_response(T0, -1, 200)
    with pytest.raises(OverflowError):
        up.handle_response(T0, req.id, 70_000)
    with pytest.raises(OverflowError):
        up.poll(-5)
    with pytest.raises(CallerError, match="kind must be"):
        up.handle_transport_error(T0, req.id, "exploded")  # type: ignore[arg-type]
    with pytest.raises(CallerError, match="did not ask for a token refresh"):
        up.token_refreshed(T0)
    with pytest.raises(TypeError):
        Upload("target", FileInfo("a", 1))  # type: ignore[arg-type]
    # Nothing above changed the machine: the same request is still in flight, and UTF-8
    # bytes are as good as text.
    assert send(up.poll(T0)).request.id == req.id
    up.handle_response(T0, req.id, 200, [(b"Date", DATE.encode())], bytearray(SESSION))
    assert send(up.poll(T0)).request.purpose == "upload-chunk"


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="chunk size"):
        session_upload(chunk=4_000_000)
    with pytest.raises(ConfigError, match="empty"):
        Target.todo_task(GRAPH, "", "task")
    with pytest.raises(ConfigError):
        Target.todo_task("graph.microsoft.com", "l", "t")
    with pytest.raises(ConfigError, match="conflict must be"):
        Target.drive_item(GRAPH, path="/a", conflict="overwrite")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="either path"):
        Target.drive_item(GRAPH, path="/a", parent="p")
    with pytest.raises(ConfigError, match="needs drive_id"):
        Target.drive_item(GRAPH, path="/a", drive="site")
    with pytest.raises(ConfigError, match="multiple of 327680"):
        Upload(
            Target.drive_item(GRAPH, path="/a.bin"),
            FileInfo("a.bin", 10_000_000),
            Options(chunk_size=1_000_000),
        )
    with pytest.raises(ConfigError, match="message"):
        Target.outlook_attachment(GRAPH, "note", "id")  # type: ignore[arg-type]
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, UploadSessionError)


def test_targets_and_profiles() -> None:
    t = Target.drive_item(GRAPH, parent="01AB+C", name="a b.bin", drive="id", drive_id="b!x")
    assert t.create_url == f"{GRAPH}/drives/b%21x/items/01AB%2BC:/a%20b.bin:/createUploadSession"
    assert t.profile.name == "drive-item" and t.profile.chunk_align == 327_680
    assert not t.profile.session_needs_token
    t = Target.outlook_attachment(GRAPH, "event", "E=", user="u@x")
    assert t.collection_url == f"{GRAPH}/users/u%40x/events/E=/attachments"
    assert t.profile.single_post_below == 3_000_000
    t = Target.print_document(GRAPH, "P", "J/1", "D")
    assert t.create_url == f"{GRAPH}/print/printers/P/jobs/J%2F1/documents/D/createUploadSession"
    assert t.is_graph_origin(f"{GRAPH}/x") and not t.is_graph_origin("https://evil.example/x")
    assert todo().profile.session_needs_token


def test_a_refused_request_fails_with_a_status_error() -> None:
    up = session_upload()
    req = send(up.poll(T0)).request
    body = b'{"error":{"code":"accessDenied","message":"No.","innerError":{"code":"x1"}}}'
    up.handle_response(T0, req.id, 403, (), body)
    action = up.poll(T0)
    assert isinstance(action, Failed)
    err = action.error
    assert isinstance(err, StatusError) and isinstance(err, UploadFailed)
    assert (err.status, err.code, err.inner_code, err.graph_message) == (
        403, "accessDenied", "x1", "No."
    )
    assert err.purpose == "create-session"
    assert "403" in str(err)
    with pytest.raises(StatusError):
        raise err
    assert up.state == "failed"
    # A failed upload restores into one that goes on.
    again = Upload.restore(up.save(), todo(), FileInfo("report.pdf", 5_000_000))
    assert isinstance(again.poll(T0), Send)


def test_retry_after_and_backoff_waits() -> None:
    up = session_upload()
    req = send(up.poll(T0)).request
    up.handle_response(T0, req.id, 503, [("Retry-After", "2.5"), ("Date", DATE)], b"")
    action = up.poll(T0)
    assert isinstance(action, Wait)
    assert (action.until, action.reason) == (T0 + 2500, "retry-after")
    assert action.millis_from(T0 + 1000) == 1500 and action.millis_from(T0 + 9999) == 0
    assert isinstance(up.poll(T0 + 2500), Send)
    req = send(up.poll(T0 + 2500)).request
    up.handle_transport_error(T0 + 2500, req.id, "connect")
    action = up.poll(T0 + 2500)
    assert isinstance(action, Wait) and action.reason == "backoff"


def test_retries_exhausted_is_the_transports_failure() -> None:
    policy = RetryPolicy(initial_ms=10, max_attempts=3)
    up = Upload(todo(), FileInfo("r.pdf", 5_000_000), Options(retry=policy))
    now = T0
    while True:
        action = up.poll(now)
        if isinstance(action, Send):
            up.handle_transport_error(now, action.request.id, "connect")
        elif isinstance(action, Wait):
            now = action.until
        else:
            break
    assert isinstance(action, Failed)
    err = action.error
    assert isinstance(err, RetriesExhaustedError)
    assert (err.attempts, err.last_transport, err.last_status) == (3, "connect", None)


def test_token_refresh_then_a_second_401_is_unauthorized() -> None:
    up = session_upload()
    put = created(up).request
    up.handle_response(T0, put.id, 401, (), b'{"error":{"code":"InvalidAuthenticationToken"}}')
    assert isinstance(up.poll(T0), RefreshToken)
    up.token_refreshed(T0)
    again = send(up.poll(T0)).request
    assert again.file_range == put.file_range and again.id != put.id
    up.handle_response(T0, again.id, 401, (), b"")
    action = up.poll(T0)
    assert isinstance(action, Failed) and isinstance(action.error, UnauthorizedError)


def test_session_expiry_without_restarts_fails() -> None:
    up = session_upload(max_restarts=0)
    put = created(up).request
    up.handle_response(T0, put.id, 404, (), b'{"error":{"code":"itemNotFound"}}')
    # A session gone may have completed: the attachments are looked at first.
    look = send(up.poll(T0)).request
    assert (look.purpose, look.method) == ("find-result", "GET")
    up.handle_response(T0, look.id, 200, (), b'{"value": []}')
    action = up.poll(T0)
    assert isinstance(action, Failed) and isinstance(action.error, SessionExpiredError)
    assert action.error.sessions == 1


def test_a_malformed_session_is_a_protocol_error() -> None:
    up = session_upload()
    req = send(up.poll(T0)).request
    up.handle_response(T0, req.id, 200, (), b'{"expirationDateTime":"2030-01-01T00:00:00Z"}')
    action = up.poll(T0)
    assert isinstance(action, Failed) and isinstance(action.error, ProtocolError)


def test_cancel_deletes_the_session_and_restores_as_cancelled() -> None:
    up = session_upload()
    put = created(up).request
    up.cancel(T0)
    # The PUT in flight is answered first; then the session is deleted.
    assert send(up.poll(T0)).request.id == put.id
    up.handle_response(T0, put.id, 200, (), b'{"nextExpectedRanges":["2097152-"]}')
    delete = send(up.poll(T0)).request
    assert (delete.method, delete.purpose, delete.url) == ("DELETE", "cancel", f"{GRAPH}/up/1")
    match delete.body:
        case EmptyBody():
            assert EmptyBody.__match_args__ == ()
        case other:
            pytest.fail(f"a DELETE has no body, not {other!r}")
    assert delete.content_length is None and delete.headers == []
    up.handle_response(T0, delete.id, 204)
    assert isinstance(up.poll(T0), Cancelled)
    restored = Upload.restore(up.save(), todo(), FileInfo("report.pdf", 5_000_000))
    assert isinstance(restored.poll(T0), Cancelled)


def test_done_restores_as_done_and_save_is_text() -> None:
    done, _ = fake_server_run(1000, 400)
    up = session_upload(1000, 400, force_session=True)
    # Run it again to get at the machine's own saved state at the end.
    now = T0
    while True:
        action = up.poll(now)
        if isinstance(action, Done):
            break
        assert isinstance(action, Send)
        r = action.request
        if isinstance(r.body, JsonBody):
            up.handle_response(now, r.id, 200, (), SESSION)
        elif r.file_range is not None and r.file_range[1] == 1000:
            up.handle_response(now, r.id, 201, [("Location", f"{GRAPH}/x/Attachments/A=")])
        else:
            assert r.file_range is not None
            up.handle_response(now, r.id, 200, (), f'{{"nextExpectedRanges":["{r.file_range[1]}"]}}'.encode())
    saved = up.save()
    assert json.loads(saved)["version"] == state_version()
    again = Upload.restore(saved.encode(), todo(), FileInfo("report.pdf", 1000))
    restored = again.poll(T0)
    assert isinstance(restored, Done) and restored.completion == action.completion
    assert done.completion.size == 1000


@pytest.mark.parametrize(
    "saved, kind",
    [
        ("", "malformed"),
        ("not json", "malformed"),
        (b"\xff\xfe", "malformed"),
        ('{"format":"upload-session","version":999}', "version"),
        ('{"format":"upload-session","version":2}', "malformed"),
    ],
)
def test_bad_saved_state_is_a_restore_error(saved: str | bytes, kind: str) -> None:
    with pytest.raises(RestoreError) as info:
        Upload.restore(saved, todo(), FileInfo("report.pdf", 5_000_000))
    assert info.value.kind == kind


def test_restore_checks_the_file_and_target() -> None:
    up = session_upload()
    created(up)
    saved = up.save()
    with pytest.raises(RestoreError) as info:
        Upload.restore(saved, todo(), FileInfo("report.pdf", 5_000_001))
    assert info.value.kind == "different-file"
    with pytest.raises(RestoreError) as info:
        Upload.restore(saved, Target.todo_task(GRAPH, "list=", "other"), FileInfo("report.pdf", 5_000_000))
    assert info.value.kind == "different-target"
    with pytest.raises(TypeError):
        Upload.restore(12, todo(), FileInfo("report.pdf", 5_000_000))  # type: ignore[arg-type]
    # A restored open session is asked where it stands first.
    again = Upload.restore(saved, todo(), FileInfo("report.pdf", 5_000_000))
    assert send(again.poll(T0)).request.purpose == "query-status"


def test_reprs_hide_the_upload_urls_credential() -> None:
    t = Target.outlook_attachment(GRAPH, "message", "M=")
    up = Upload(t, FileInfo("big.bin", 4_000_000))
    req = send(up.poll(T0)).request
    session = {
        "uploadUrl": "https://outlook.office.com/api/v2.0/Users('x')/Messages('M')/"
        "AttachmentSessions('s')?authtoken=SECRETCREDENTIAL",
        "expirationDateTime": "2030-01-01T00:00:00Z",
        "nextExpectedRanges": ["0"],
    }
    up.handle_response(T0, req.id, 200, (), json.dumps(session).encode())
    put = send(up.poll(T0)).request
    assert "SECRETCREDENTIAL" in put.url, "the URL is sent verbatim"
    assert not put.needs_token, "no token to the upload host"
    for text in (repr(put), put.redacted_url, repr(up), str(up.upload_url)):
        assert "SECRETCREDENTIAL" not in text


HEADER_NAMES = st.sampled_from(["Date", "Location", "Retry-After", "X-Other", "date", "LOCATION"])
HEADER_VALUES = st.one_of(st.text(max_size=40), st.binary(max_size=40))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answers=st.lists(
        st.tuples(
            st.integers(0, 999),
            st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4),
            st.one_of(
                st.binary(max_size=200),
                st.just(SESSION),
                st.sampled_from(
                    [
                        b'{"nextExpectedRanges":["0-"]}',
                        b'{"nextExpectedRanges":["5-3","x",7]}',
                        b'{"NextExpectedRanges":[]}',
                        b'{"error":{"code":"invalidRange"}}',
                        b"[]",
                        b"null",
                    ]
                ),
            ),
            st.sampled_from(["answer", "connect", "timeout", "interrupted"]),
        ),
        max_size=25,
    )
)
def test_random_answers_never_crash(answers: list[tuple[int, list[tuple[str, str | bytes]], bytes, str]]) -> None:
    up = session_upload(size=3_000_000, chunk=1_000_000)
    now = T0
    for status, headers, body, how in answers:
        action = up.poll(now)
        if isinstance(action, Wait):
            now = max(now, action.until)
            action = up.poll(now)
        if isinstance(action, RefreshToken):
            up.token_refreshed(now)
            action = up.poll(now)
        if not isinstance(action, Send):
            assert isinstance(action, (Done, Failed, Cancelled))
            if isinstance(action, Failed):
                assert isinstance(action.error, UploadFailed)
            break
        try:
            if how == "answer":
                up.handle_response(now, action.request.id, status, headers, body)
            else:
                up.handle_transport_error(now, action.request.id, how)  # type: ignore[arg-type]
        except CallerError:
            # Only a header value that is not UTF-8 may be refused.
            assert any(isinstance(v, bytes) for _, v in headers)
        now += 1
        Upload.restore(up.save(), todo(), FileInfo("report.pdf", 3_000_000))
