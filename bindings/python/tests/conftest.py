"""The graph-emulator binary as a pytest fixture, and helpers to read back what it holds."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from upload_session import Completion, Options, Progress, Target
from upload_session.drivers import aio, sync

REPO = Path(__file__).resolve().parents[3]


def emulator_binary() -> Path:
    """``$GRAPH_EMULATOR``, or the workspace's debug build."""
    given = os.environ.get("GRAPH_EMULATOR")
    path = Path(given) if given else REPO / "target" / "debug" / "graph-emulator"
    if not path.exists():
        pytest.fail(
            f"graph-emulator not found at {path}: run `cargo build -p graph-emulator` "
            "at the repository's root, or set GRAPH_EMULATOR"
        )
    return path


def seg(s: str) -> str:
    return quote(s, safe="")


@dataclass
class Emulator:
    """One running graph-emulator process."""

    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    list_id: str
    task_id: str
    user_id: str
    foreign_origin: str

    @property
    def graph_origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def get(self, path: str) -> httpx.Response:
        """A GET on the Graph origin, with the token."""
        with httpx.Client(timeout=10) as c:
            return c.get(
                self.base_url + path, headers={"Authorization": f"Bearer {self.token}"}
            )

    def todo_target(self, **kw: Any) -> Target:
        return Target.todo_task(self.base_url, self.list_id, self.task_id, **kw)

    def todo_attachments(self) -> list[dict[str, Any]]:
        r = self.get(
            f"/me/todo/lists/{seg(self.list_id)}/tasks/{seg(self.task_id)}/attachments"
        )
        r.raise_for_status()
        value: list[dict[str, Any]] = r.json()["value"]
        return value

    def todo_bytes(self, attachment_id: str) -> bytes:
        r = self.get(
            f"/me/todo/lists/{seg(self.list_id)}/tasks/{seg(self.task_id)}"
            f"/attachments/{seg(attachment_id)}/$value"
        )
        r.raise_for_status()
        return r.content

    def outlook_attachments(self, collection: str, item_id: str) -> list[dict[str, Any]]:
        r = self.get(f"/me/{collection}/{seg(item_id)}/attachments")
        r.raise_for_status()
        value: list[dict[str, Any]] = r.json()["value"]
        return value

    def outlook_bytes(self, collection: str, item_id: str, attachment_id: str) -> bytes:
        r = self.get(f"/me/{collection}/{seg(item_id)}/attachments/{seg(attachment_id)}/$value")
        r.raise_for_status()
        return r.content

    def drive_item(self, path: str) -> dict[str, Any] | None:
        r = self.get(f"/me/drive/root:{quote(path)}:")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        item: dict[str, Any] = r.json()
        return item


def start_emulator(*args: str) -> Emulator:
    process = subprocess.Popen(
        [str(emulator_binary()), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError(f"graph-emulator {' '.join(args)} printed nothing")
    info = json.loads(line)
    return Emulator(
        process=process,
        base_url=info["base_url"],
        token=info["token"],
        list_id=info["list_id"],
        task_id=info["task_id"],
        user_id=info["user_id"],
        foreign_origin=info["foreign_origin"],
    )


@pytest.fixture
def start() -> Iterator[Callable[..., Emulator]]:
    """Starts emulators with the given arguments; all are stopped at the end of the test."""
    running: list[Emulator] = []

    def _start(*args: str) -> Emulator:
        emu = start_emulator(*args)
        running.append(emu)
        return emu

    yield _start
    for emu in running:
        emu.stop()


@pytest.fixture
def emulator(start: Callable[..., Emulator]) -> Emulator:
    return start()


@dataclass
class Seen:
    """What went on the wire: (method, origin, url, whether Authorization was there)."""

    requests: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def record(self, request: httpx.Request) -> None:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.requests.append(
            (request.method, origin, str(request.url), "authorization" in request.headers)
        )

    def to(self, origin: str) -> list[tuple[str, str, str, bool]]:
        return [r for r in self.requests if r[1] == origin]

    def methods(self) -> list[str]:
        return [r[0] for r in self.requests]


DRIVERS = ["sync", "aio"]


def upload_with(
    driver: str,
    path: Path,
    target: Target,
    *,
    token: str,
    options: Options | None = None,
    state_path: Path | None = None,
    seen: Seen | None = None,
    timeout: float = 10.0,
    refresh_token: Callable[[], str] | None = None,
    cancel_when: Callable[[Progress], bool] | None = None,
) -> Completion:
    """Uploads through the sync or the async driver, recording requests into ``seen``."""
    if driver == "sync":
        import threading

        cancel_event = threading.Event()

        def progress(p: Progress) -> None:
            if cancel_when is not None and cancel_when(p):
                cancel_event.set()

        hooks: dict[str, list[Callable[..., Any]]] = (
            {"request": [seen.record]} if seen is not None else {}
        )
        with httpx.Client(timeout=timeout, event_hooks=hooks) as client:
            return sync.upload_file(
                path,
                target,
                token=token,
                options=options,
                state_path=state_path,
                client=client,
                refresh_token=refresh_token,
                cancel=cancel_event,
                on_progress=progress,
            )

    async def main() -> Completion:
        cancel_event = asyncio.Event()

        def progress(p: Progress) -> None:
            if cancel_when is not None and cancel_when(p):
                cancel_event.set()

        async def record(request: httpx.Request) -> None:
            if seen is not None:
                seen.record(request)

        async def refresh() -> str:
            assert refresh_token is not None
            return refresh_token()

        async with httpx.AsyncClient(
            timeout=timeout, event_hooks={"request": [record]}
        ) as client:
            return await aio.upload_file(
                path,
                target,
                token=token,
                options=options,
                state_path=state_path,
                client=client,
                refresh_token=refresh if refresh_token is not None else None,
                cancel=cancel_event,
                on_progress=progress,
            )

    return asyncio.run(main())


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[[int, str], Path]:
    """A file of ``size`` pseudo-random bytes (the same bytes for the same size)."""

    def _make(size: int, name: str = "report.bin") -> Path:
        import random

        p = tmp_path / name
        p.write_bytes(random.Random(size).randbytes(size))
        return p

    return _make
