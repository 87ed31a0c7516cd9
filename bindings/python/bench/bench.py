"""Benchmarks of the Python package against the graph-emulator binary.

1. A 25 MiB To Do attachment through ``upload_session.drivers.sync`` against a bare httpx
   loop doing the same protocol on the same emulator (create the session, then PUT the same
   ranges with ``Content-Range``), each the median of several runs, interleaved; the ratio
   driver / bare loop.
2. The cost of one ``poll`` and one ``handle_response`` across the boundary (timeit,
   microseconds per call).

Usage (from bindings/python, with the package installed, e.g. by ``maturin develop --release``):

    python bench/bench.py [--runs 7] [--emulator PATH]

The emulator is ``--emulator``, ``$GRAPH_EMULATOR``, or the repository's release build, or
its debug build.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import timeit
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx

from upload_session import FileInfo, Options, Send, Target, Upload
from upload_session.drivers import sync

REPO = Path(__file__).resolve().parents[3]
SIZE = 25 * 1024 * 1024
CHUNK = 3_932_160  # To Do's default chunk, used by both sides
READ_SIZE = 256 * 1024


def emulator_path(given: str | None) -> Path:
    for candidate in (
        given,
        os.environ.get("GRAPH_EMULATOR"),
        REPO / "target" / "release" / "graph-emulator",
        REPO / "target" / "debug" / "graph-emulator",
    ):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise SystemExit("graph-emulator not found: cargo build -p graph-emulator, or --emulator")


class Emulator:
    def __init__(self, binary: Path) -> None:
        self.process = subprocess.Popen(
            [str(binary), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        info = json.loads(self.process.stdout.readline())
        self.base_url: str = info["base_url"]
        self.token: str = info["token"]
        self.list_id: str = info["list_id"]
        self.task_id: str = info["task_id"]

    def attachments_url(self) -> str:
        return (
            f"{self.base_url}/me/todo/lists/{quote(self.list_id, safe='')}"
            f"/tasks/{quote(self.task_id, safe='')}/attachments"
        )

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def driver_upload(emu: Emulator, client: httpx.Client, path: Path) -> int:
    target = Target.todo_task(emu.base_url, emu.list_id, emu.task_id)
    done = sync.upload_file(
        path, target, token=emu.token, client=client, options=Options(chunk_size=CHUNK)
    )
    return done.size


def file_pieces(f: int, start: int, end: int) -> Iterator[bytes]:
    offset = start
    while offset < end:
        n = min(READ_SIZE, end - offset)
        yield os.pread(f, n, offset)
        offset += n


def bare_upload(emu: Emulator, client: httpx.Client, path: Path) -> int:
    """The same protocol by hand: createUploadSession, then PUT each range to
    uploadUrl/content, streaming the range from the file the same way."""
    auth = {"Authorization": f"Bearer {emu.token}"}
    size = path.stat().st_size
    r = client.post(
        emu.attachments_url() + "/createUploadSession",
        json={"attachmentInfo": {"attachmentType": "file", "name": path.name, "size": size}},
        headers=auth,
    )
    r.raise_for_status()
    put_url = r.json()["uploadUrl"] + "/content"
    fd = os.open(path, os.O_RDONLY)
    try:
        start = 0
        while start < size:
            end = min(start + CHUNK, size)
            r = client.put(
                put_url,
                content=file_pieces(fd, start, end),
                headers={
                    **auth,
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(end - start),
                    "Content-Range": f"bytes {start}-{end - 1}/{size}",
                },
            )
            if r.status_code not in (200, 201):
                raise RuntimeError(f"PUT answered {r.status_code}: {r.text}")
            start = end
    finally:
        os.close(fd)
    assert r.status_code == 201
    return size


def bench_uploads(binary: Path, runs: int) -> dict[str, float]:
    emu = Emulator(binary)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.bin"
        path.write_bytes(os.urandom(SIZE))
        times: dict[str, list[float]] = {"driver": [], "bare": []}
        with httpx.Client(timeout=60) as client:
            # One warm-up each: connections, page cache.
            driver_upload(emu, client, path)
            bare_upload(emu, client, path)
            for _ in range(runs):
                for name, fn in (("driver", driver_upload), ("bare", bare_upload)):
                    t = time.perf_counter()
                    assert fn(emu, client, path) == SIZE
                    times[name].append(time.perf_counter() - t)
    emu.stop()
    driver = statistics.median(times["driver"])
    bare = statistics.median(times["bare"])
    return {"driver_s": driver, "bare_s": bare, "ratio": driver / bare}


def bench_calls(number: int = 200_000) -> dict[str, float]:
    """Microseconds per ``poll`` (the request in flight, built again) and per
    ``handle_response`` (a chunk's answer with ``nextExpectedRanges``)."""
    graph = "https://graph.microsoft.com/v1.0"
    target = Target.todo_task(graph, "list=", "task=")
    size = 1 << 50
    up = Upload(target, FileInfo("big.bin", size), Options(chunk_size=1, size_limit=size))
    now = 1_700_000_000_000
    first = up.poll(now)
    assert isinstance(first, Send)
    session = json.dumps(
        {
            "uploadUrl": f"{graph}/up/1",
            "expirationDateTime": "2999-01-01T00:00:00Z",
            "nextExpectedRanges": ["0-"],
        }
    ).encode()
    date = [("Date", "Tue, 14 Nov 2023 22:13:20 GMT")]
    up.handle_response(now, first.request.id, 200, date, session)
    poll_us = min(timeit.repeat(lambda: up.poll(now), number=number, repeat=3)) / number * 1e6

    bodies = [b'{"nextExpectedRanges":["%d-"]}' % (i + 1) for i in range(number)]
    headers = [("Date", "Tue, 14 Nov 2023 22:13:20 GMT"), ("Content-Type", "application/json")]
    t = time.perf_counter()
    for body in bodies:
        action = up.poll(now)
        assert isinstance(action, Send)
        up.handle_response(now, action.request.id, 200, headers, body)
    cycle_us = (time.perf_counter() - t) / number * 1e6
    return {"poll_us": poll_us, "handle_response_us": cycle_us - poll_us, "cycle_us": cycle_us}


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmarks of the Python package")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--emulator")
    args = parser.parse_args()
    binary = emulator_path(args.emulator)
    calls = bench_calls()
    print(f"poll:            {calls['poll_us']:.2f} us per call")
    print(f"handle_response: {calls['handle_response_us']:.2f} us per call")
    print(f"  (poll + handle_response of one chunk answer: {calls['cycle_us']:.2f} us)")
    up = bench_uploads(binary, args.runs)
    print(f"25 MiB To Do upload, median of {args.runs} (emulator: {binary}):")
    print(f"  sync driver:     {up['driver_s'] * 1000:.1f} ms")
    print(f"  bare httpx loop: {up['bare_s'] * 1000:.1f} ms")
    print(f"  ratio:           {up['ratio']:.3f}")


if __name__ == "__main__":
    main()
