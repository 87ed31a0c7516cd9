"""Both httpx drivers against the graph-emulator binary: every destination, faults, token
refresh, cancel, and where the bearer token goes."""

from __future__ import annotations

import random
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upload_session import (
    ConfigError,
    NameConflictError,
    QuickXorHash,
    Options,
    Progress,
    RestoreError,
    RetryPolicy,
    Target,
    UnauthorizedError,
    UploadCancelled,
)

from conftest import DRIVERS, Emulator, Seen, start_emulator, upload_with

MiB = 1024 * 1024
FAST_RETRY = RetryPolicy(initial_ms=50, max_wait_ms=2000)


def only_graph_gets_the_token(emu: Emulator, seen: Seen) -> None:
    """Every request to the Graph origin that needs the token has it, none elsewhere does."""
    assert seen.requests, "nothing was sent"
    for method, origin, url, auth in seen.requests:
        if origin != emu.graph_origin:
            assert not auth, f"the token went to {origin}: {method} {url}"


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("size", [1000, 3_500_000])
def test_todo_task(
    driver: str, size: int, emulator: Emulator, make_file: Callable[..., Path]
) -> None:
    path = make_file(size)
    seen = Seen()
    options = Options(chunk_size=1 * MiB)
    done = upload_with(
        driver, path, emulator.todo_target(), token=emulator.token, options=options, seen=seen
    )
    assert done.size == size
    [attachment] = emulator.todo_attachments()
    assert attachment["id"] == done.id
    assert attachment["size"] == size
    assert emulator.todo_bytes(done.id) == path.read_bytes()
    methods = seen.methods()
    if size < 3_000_000:
        assert methods == ["POST"], "a small file goes by one POST"
    else:
        assert methods == ["POST", "PUT", "PUT", "PUT", "PUT"]
        # To Do's session lives on Graph: every request carries the token.
        assert all(auth for *_, auth in seen.requests)


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("size", [2000, 3_500_000])
def test_outlook_message_and_event(
    driver: str, size: int, emulator: Emulator, make_file: Callable[..., Path]
) -> None:
    path = make_file(size)
    for collection, item in [("messages", "message"), ("events", "event")]:
        item_id = f"AAMk{item}{size}="
        target = Target.outlook_attachment(emulator.base_url, item, item_id)  # type: ignore[arg-type]
        seen = Seen()
        done = upload_with(driver, path, target, token=emulator.token, seen=seen)
        [attachment] = emulator.outlook_attachments(collection, item_id)
        assert (attachment["id"], attachment["size"]) == (done.id, size)
        assert emulator.outlook_bytes(collection, item_id, done.id) == path.read_bytes()
        only_graph_gets_the_token(emulator, seen)
        if size >= 3_000_000:
            # The session's uploadUrl is on the other origin, with its own credential.
            puts = [r for r in seen.requests if r[0] == "PUT"]
            assert puts and all(origin == emulator.foreign_origin for _, origin, _, _ in puts)
            assert all(not auth for *_, auth in puts)


def quick_xor_hash(path: Path) -> str:
    h = QuickXorHash()
    h.update(path.read_bytes())
    return h.to_base64()


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("defer_commit", [False, True])
def test_drive_item_by_session(
    driver: str, defer_commit: bool, emulator: Emulator, make_file: Callable[..., Path]
) -> None:
    size = 13 * 327_680 + 1234  # over the simple upload's 4 MiB
    path = make_file(size)
    target = Target.drive_item(
        emulator.base_url, path="/Docs/report.bin", defer_commit=defer_commit
    )
    seen = Seen()
    options = Options(chunk_size=4 * 327_680)
    done = upload_with(driver, path, target, token=emulator.token, options=options, seen=seen)
    item = emulator.drive_item("/Docs/report.bin")
    assert item is not None
    assert (item["id"], item["size"]) == (done.id, size)
    assert done.quick_xor_hash == quick_xor_hash(path)
    puts = [r for r in seen.requests if r[0] == "PUT"]
    assert len(puts) == 4
    assert all(not auth for *_, auth in puts), "drive PUTs carry no token"
    assert all(origin != emulator.graph_origin for _, origin, _, _ in puts)
    only_graph_gets_the_token(emulator, seen)
    if defer_commit:
        assert seen.methods()[-1] == "POST", "the commit request makes the item"

    # The name is taken now: conflict="fail" ends with NameConflictError, nothing replaced.
    with pytest.raises(NameConflictError) as info:
        upload_with(driver, path, target, token=emulator.token, options=options)
    assert info.value.status == 409
    replace = Target.drive_item(emulator.base_url, path="/Docs/report.bin", conflict="replace")
    again = upload_with(driver, path, replace, token=emulator.token, options=options)
    assert again.size == size


@pytest.mark.parametrize("driver", DRIVERS)
def test_small_drive_item_by_one_put(
    driver: str, emulator: Emulator, make_file: Callable[..., Path]
) -> None:
    path = make_file(1_000_000)
    target = Target.drive_item(emulator.base_url, path="/small.bin")
    seen = Seen()
    done = upload_with(driver, path, target, token=emulator.token, seen=seen)
    item = emulator.drive_item("/small.bin")
    assert item is not None and (item["id"], item["size"]) == (done.id, 1_000_000)
    [(method, origin, _, auth)] = seen.requests
    assert (method, origin, auth) == ("PUT", emulator.graph_origin, True)


@pytest.mark.parametrize("driver", DRIVERS)
def test_print_document(driver: str, emulator: Emulator, make_file: Callable[..., Path]) -> None:
    path = make_file(1_500_000)
    target = Target.print_document(emulator.base_url, "printer-1", "7", "doc-1")
    seen = Seen()
    done = upload_with(
        driver, path, target, token=emulator.token, options=Options(chunk_size=MiB), seen=seen
    )
    assert done.size == 1_500_000 and done.id
    assert seen.methods() == ["POST", "PUT", "PUT"]
    only_graph_gets_the_token(emulator, seen)


# Fault specs (graph-emulator --help); several rules separated by spaces.
FAULTS = [
    "drop@2",  # a PUT's connection drops after its body: outcome unknown, ask the session
    "lost@2",  # a PUT takes effect, its answer is lost
    "unavailable=0.2@2",  # 503 with a fractional Retry-After
    "throttle=0.3@1/create",  # 429 on session creation
    "error500@3",  # 500 without Retry-After: backoff
    "lost-final",  # the final PUT creates the attachment; its answer never comes
    "gone@3",  # the session vanishes: a new one from byte 0
    "range416@2",  # the server disagrees about ranges
    "lose-range@3",  # the server forgets earlier bytes
    "expired-token@2",  # 401: the token is refreshed, the PUT goes again
    "stall=3000,lose@2",  # no answer in time: a read timeout, outcome unknown
    "foreign",  # the uploadUrl on another origin: no token there
    "status-refused drop@2",  # a session that refuses status queries, and a drop
]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("fault", FAULTS)
def test_faults_end_with_one_attachment(
    driver: str,
    fault: str,
    start: Callable[..., Emulator],
    make_file: Callable[..., Path],
) -> None:
    emu = start(*[arg for rule in fault.split() for arg in ("--fault", rule)])
    size = 3_500_000
    path = make_file(size)
    seen = Seen()
    refreshed: list[int] = []

    def refresh() -> str:
        refreshed.append(1)
        return emu.token

    options = Options(chunk_size=1_000_000, retry=FAST_RETRY)
    done = upload_with(
        driver,
        path,
        emu.todo_target(),
        token=emu.token,
        options=options,
        seen=seen,
        timeout=1.0,
        refresh_token=refresh,
    )
    attachments = emu.todo_attachments()
    assert [(a["id"], a["size"]) for a in attachments] == [(done.id, size)]
    assert emu.todo_bytes(done.id) == path.read_bytes()
    only_graph_gets_the_token(emu, seen)
    assert len(refreshed) == (1 if fault.startswith("expired-token") else 0)
    if fault == "lost-final":
        assert done.found_by_lookup
    if fault.startswith("gone"):
        assert seen.methods().count("POST") == 2, "a second session"


@pytest.mark.parametrize("driver", DRIVERS)
def test_cancel_deletes_the_session(
    driver: str, emulator: Emulator, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_file(3_500_000)
    state = tmp_path / "upload.state"
    seen = Seen()

    def after_first_chunk(p: Progress) -> bool:
        return p.confirmed >= 1_000_000

    with pytest.raises(UploadCancelled):
        upload_with(
            driver,
            path,
            emulator.todo_target(),
            token=emulator.token,
            options=Options(chunk_size=1_000_000),
            state_path=state,
            seen=seen,
            cancel_when=after_first_chunk,
        )
    assert seen.methods() == ["POST", "PUT", "DELETE"]
    assert emulator.todo_attachments() == []
    assert not state.exists(), "a cancelled upload leaves no state behind"


@pytest.mark.parametrize("driver", DRIVERS)
def test_state_file_never_holds_the_token_and_is_removed_when_done(
    driver: str, start: Callable[..., Emulator], make_file: Callable[..., Path], tmp_path: Path
) -> None:
    emu = start("--token", "s3cr3t-token-value")
    path = make_file(3_500_000)
    state = tmp_path / "upload.state"
    states: list[str] = []

    def peek(p: Progress) -> bool:
        states.append(state.read_text())
        assert stat.S_IMODE(state.stat().st_mode) == 0o600, "readable by its owner only"
        return False

    upload_with(
        driver,
        path,
        emu.todo_target(),
        token=emu.token,
        options=Options(chunk_size=1_000_000),
        state_path=state,
        cancel_when=peek,
    )
    assert len(states) == 5
    assert all("s3cr3t-token-value" not in s for s in states)
    assert all('"format":"upload-session"' in s for s in states)
    assert not state.exists(), "a completed upload leaves no state behind"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temp file"


def test_a_bad_state_file_is_a_restore_error(
    emulator: Emulator, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_file(3_500_000)
    state = tmp_path / "upload.state"
    state.write_text('{"format":"upload-session","version":2,"nonsense":true}')
    with pytest.raises(RestoreError) as info:
        upload_with("sync", path, emulator.todo_target(), token=emulator.token, state_path=state)
    assert info.value.kind in ("malformed", "invalid")
    assert emulator.todo_attachments() == []


def test_a_file_too_large_for_the_target_is_a_config_error(
    emulator: Emulator, make_file: Callable[..., Path]
) -> None:
    path = make_file(5_000_000)
    with pytest.raises(ConfigError):
        upload_with(
            "sync", path, emulator.todo_target(), token=emulator.token,
            options=Options(size_limit=4_000_000),
        )


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_refused_token_fails_without_showing_it(
    driver: str, emulator: Emulator, make_file: Callable[..., Path]
) -> None:
    path = make_file(3_500_000)
    secret = "wrong-secret-token-value"
    refreshed: list[int] = []

    def refresh() -> str:
        refreshed.append(1)
        return secret

    with pytest.raises(UnauthorizedError) as info:
        upload_with(
            driver, path, emulator.todo_target(), token=secret, refresh_token=refresh
        )
    assert refreshed == [1], "refreshed once, then refused again"
    for text in (str(info.value), repr(info.value), repr(info.value.__dict__)):
        assert secret not in text
    assert emulator.todo_attachments() == []


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    emu = start_emulator()
    yield emu
    emu.stop()


@settings(max_examples=12, deadline=None)
@given(
    size=st.integers(1, 2_500_000),
    chunk=st.integers(64 * 1024, 3_999_999),
    driver=st.sampled_from(DRIVERS),
)
def test_any_size_and_chunk_uploads_the_same_bytes(
    shared_emulator: Emulator, size: int, chunk: int, driver: str
) -> None:
    emu = shared_emulator
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.bin"
        path.write_bytes(random.Random(size ^ chunk).randbytes(size))
        seen = Seen()
        options = Options(chunk_size=chunk, force_session=True)
        done = upload_with(
            driver, path, emu.todo_target(), token=emu.token, options=options, seen=seen
        )
        assert done.size == size
        assert emu.todo_bytes(done.id) == path.read_bytes()
        assert seen.methods() == ["POST"] + ["PUT"] * -(-size // chunk)
