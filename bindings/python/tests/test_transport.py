"""The drivers' side of the wire, seen through httpx.MockTransport: bodies streamed in bounded
pieces with an exact Content-Length, and httpx's exceptions mapped to what the machine needs
to know (nothing sent, or the outcome unknown)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from upload_session import FileInfo, FileReadError, Options, RetryPolicy, Target, Upload
from upload_session.drivers import aio, sync, transport_kind
from upload_session.drivers._common import READ_SIZE

GRAPH = "https://graph.example/v1.0"
SIZE = 3_500_000
CHUNK = 1_500_000


class FakeGraph:
    """A To Do upload session in a few lines; ``fail`` maps a request number to the
    exception to raise instead of answering it."""

    def __init__(self, fail: dict[int, Exception] | None = None) -> None:
        self.fail = fail or {}
        self.log: list[tuple[str, str]] = []
        self.pieces: list[list[int]] = []
        self.received = 0

    def handle(self, request: httpx.Request, body: list[bytes]) -> httpx.Response:
        self.log.append((request.method, request.url.path))
        n = len(self.log)
        assert "transfer-encoding" not in request.headers
        if n in self.fail:
            raise self.fail[n]
        if request.method == "POST":
            session = {
                "uploadUrl": f"{GRAPH}/up/1",
                "expirationDateTime": "2030-01-01T00:00:00Z",
                "nextExpectedRanges": ["0-"],
            }
            return httpx.Response(200, json=session)
        if request.method == "GET":
            return httpx.Response(200, json={"nextExpectedRanges": [f"{self.received}-"]})
        assert request.method == "PUT"
        self.pieces.append([len(p) for p in body])
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers["content-range"])
        assert m is not None
        start, last = int(m[1]), int(m[2])
        assert int(request.headers["content-length"]) == last - start + 1 == sum(map(len, body))
        assert start == self.received
        self.received = last + 1
        if self.received == SIZE:
            return httpx.Response(201, headers={"Location": f"{GRAPH}/x/Attachments/A1="})
        return httpx.Response(200, json={"nextExpectedRanges": [f"{self.received}-"]})

    def sync_transport(self) -> httpx.BaseTransport:
        graph = self

        # Not httpx.MockTransport: it reads the body whole before the handler sees it.
        class Transport(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                body = list(request.stream)  # type: ignore[arg-type]
                return graph.handle(request, body)

        return Transport()

    def async_transport(self) -> httpx.AsyncBaseTransport:
        graph = self

        class Transport(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                body = [p async for p in request.stream]  # type: ignore[union-attr]
                return graph.handle(request, body)

        return Transport()


def run_fake(driver: str, graph: FakeGraph, path: Path) -> str:
    target = Target.todo_task(GRAPH, "L", "T")
    options = Options(chunk_size=CHUNK, retry=RetryPolicy(initial_ms=1, max_wait_ms=5))
    upload = Upload(target, FileInfo(path.name, SIZE), options)
    if driver == "sync":
        with httpx.Client(transport=graph.sync_transport()) as client:
            return sync.run(upload, path, client=client, token="t").id

    async def main() -> str:
        async with httpx.AsyncClient(transport=graph.async_transport()) as client:
            return (await aio.run(upload, path, client=client, token="t")).id

    return asyncio.run(main())


@pytest.fixture
def big_file(make_file: Callable[..., Path]) -> Path:
    return make_file(SIZE)


@pytest.mark.parametrize("driver", ["sync", "aio"])
def test_ranges_stream_in_bounded_pieces(driver: str, big_file: Path) -> None:
    graph = FakeGraph()
    assert run_fake(driver, graph, big_file) == "A1="
    assert len(graph.pieces) == 3
    for pieces in graph.pieces:
        assert len(pieces) > 1 and max(pieces) <= READ_SIZE, "streamed, never whole"


@pytest.mark.parametrize("driver", ["sync", "aio"])
@pytest.mark.parametrize(
    "error, then",
    [
        # Nothing was sent: the same PUT goes again.
        (httpx.ConnectError("refused"), ("PUT", "/v1.0/up/1/content")),
        # The PUT may have arrived: ask the session where it stands first.
        (httpx.ReadTimeout("slow"), ("GET", "/v1.0/up/1")),
        (httpx.RemoteProtocolError("closed"), ("GET", "/v1.0/up/1")),
        (httpx.WriteError("broken pipe"), ("GET", "/v1.0/up/1")),
    ],
)
def test_transport_errors_tell_whether_the_request_may_have_arrived(
    driver: str, error: Exception, then: tuple[str, str], big_file: Path
) -> None:
    graph = FakeGraph(fail={3: error})  # the second PUT
    assert run_fake(driver, graph, big_file) == "A1="
    assert graph.log[2] == ("PUT", "/v1.0/up/1/content")
    assert graph.log[3] == then


def test_transport_kinds() -> None:
    assert transport_kind(httpx.ConnectError("x")) == "connect"
    assert transport_kind(httpx.ConnectTimeout("x")) == "connect"
    assert transport_kind(httpx.PoolTimeout("x")) == "connect"
    assert transport_kind(httpx.ReadTimeout("x")) == "timeout"
    assert transport_kind(httpx.WriteTimeout("x")) == "timeout"
    assert transport_kind(httpx.ReadError("x")) == "interrupted"
    assert transport_kind(httpx.RemoteProtocolError("x")) == "interrupted"


def test_a_clients_default_authorization_never_leaves_for_the_upload_host(
    make_file: Callable[..., Path],
) -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("authorization")))
        if request.url.path.endswith("createUploadSession"):
            return httpx.Response(
                200,
                json={
                    "uploadUrl": "https://upload.example/up/1?authtoken=x",
                    "expirationDateTime": "2030-01-01T00:00:00Z",
                    "nextExpectedRanges": ["0"],
                },
            )
        return httpx.Response(
            201, headers={"Location": f"{GRAPH}/me/messages/M/attachments('A2')"}
        )

    path = make_file(3_100_000)
    target = Target.outlook_attachment(GRAPH, "message", "M")
    client = httpx.Client(
        transport=httpx.MockTransport(handler),
        headers={"Authorization": "Bearer client-default"},
        auth=("user", "password"),
    )
    with client:
        done = sync.upload_file(path, target, token="graph-token", client=client)
    assert done.id == "A2"
    assert seen == [
        ("graph.example", "Bearer graph-token"),
        ("upload.example", None),
    ]


def test_the_single_post_streams_base64(make_file: Callable[..., Path]) -> None:
    bodies: list[list[bytes]] = []

    class Transport(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            pieces = list(request.stream)  # type: ignore[arg-type]
            bodies.append(pieces)
            assert int(request.headers["content-length"]) == sum(map(len, pieces))
            location = f"{GRAPH}/x/Attachments/S1"
            return httpx.Response(201, json={"id": "S1"}, headers={"Location": location})

    path = make_file(1_000_001)
    target = Target.todo_task(GRAPH, "L", "T")
    with httpx.Client(transport=Transport()) as client:
        done = sync.upload_file(path, target, token="t", client=client)
    assert done.id == "S1"
    [pieces] = bodies
    assert len(pieces) > 3 and max(map(len, pieces)) <= READ_SIZE * 4 // 3 + 4
    sent = json.loads(b"".join(pieces))["contentBytes"]
    assert base64.b64decode(sent) == path.read_bytes()


def test_a_file_that_changed_size_is_a_file_read_error(big_file: Path) -> None:
    upload = Upload(Target.todo_task(GRAPH, "L", "T"), FileInfo(big_file.name, SIZE + 1))
    with httpx.Client(transport=FakeGraph().sync_transport()) as client:
        with pytest.raises(FileReadError, match="changed"):
            sync.run(upload, big_file, client=client, token="t")


def test_httpx_logs_never_show_an_upload_urls_credential(caplog: pytest.LogCaptureFixture) -> None:
    # httpx logs every request's URL at INFO; a pre-authenticated uploadUrl carries its
    # credential in the query. The drivers' package takes queries out of those records.
    caplog.set_level(logging.INFO, logger="httpx")
    url = httpx.URL("https://upload.example/up/1?tempauth=SECRET-1")
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "PUT", url, "HTTP/1.1", 202, "Accepted")
    logging.getLogger("httpx").info("plain https://upload.example/up/2?authtoken=SECRET-2 text")
    assert "SECRET" not in caplog.text
    assert caplog.text.count("?<redacted>") == 2
    assert "https://upload.example/up/1" in caplog.text


@pytest.mark.parametrize("driver", ["sync", "aio"])
def test_a_file_edited_in_place_mid_upload_sends_nothing_more(driver: str, big_file: Path) -> None:
    # Same size, new bytes and a new modification time after the first PUT: the next PUT
    # would mix two versions of the file; it is never sent.
    class Editing(FakeGraph):
        def handle(self, request: httpx.Request, body: list[bytes]) -> httpx.Response:
            answer = super().handle(request, body)
            if request.method == "PUT":
                with open(big_file, "r+b") as f:
                    f.write(b"edited")
                st = os.stat(big_file)
                os.utime(big_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
            return answer

    graph = Editing()
    with pytest.raises(FileReadError, match="changed during the upload"):
        run_fake(driver, graph, big_file)
    assert [m for m, _ in graph.log] == ["POST", "PUT"]


@pytest.mark.parametrize("driver", ["sync", "aio"])
def test_an_answer_too_large_to_be_graphs_is_no_answer(driver: str, big_file: Path) -> None:
    class Huge(FakeGraph):
        def handle(self, request: httpx.Request, body: list[bytes]) -> httpx.Response:
            answer = super().handle(request, body)
            if len(self.log) == 2:
                return httpx.Response(200, content=b" " * (5 * 1024 * 1024))
            return answer

    graph = Huge()
    assert run_fake(driver, graph, big_file) == "A1="
    # The huge answer counts as none: the session is asked where it stands.
    assert graph.log[2] == ("GET", "/v1.0/up/1")
