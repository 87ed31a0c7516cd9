"""Resuming after the uploading process was killed with SIGKILL part-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from upload_session import Options, RestoreError, Target, Upload
from upload_session.drivers import StateFile, file_info

from conftest import DRIVERS, Emulator, Seen, upload_with

CHILD = Path(__file__).with_name("upload_child.py")
SIZE = 3_500_000
CHUNK = 1_000_000


def run_child(emu: Emulator, path: Path, state: Path, env: dict[str, str]) -> int:
    config = {
        "base_url": emu.base_url,
        "list_id": emu.list_id,
        "task_id": emu.task_id,
        "token": emu.token,
        "path": str(path),
        "state": str(state),
        "chunk_size": CHUNK,
    }
    proc = subprocess.run(
        [sys.executable, str(CHILD), json.dumps(config)],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
    )
    return proc.returncode


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    "kill",
    [
        {"KILL_AT_REQUEST": "4"},  # after create and two PUTs, before the third
        {"KILL_ON_FINAL_ANSWER": "1"},  # the attachment exists, the state does not know
    ],
    ids=["mid-upload", "final-answer-lost"],
)
def test_resume_after_sigkill(
    driver: str,
    kill: dict[str, str],
    emulator: Emulator,
    make_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    path = make_file(SIZE)
    state = tmp_path / "upload.state"
    assert run_child(emulator, path, state, {**kill, "DRIVER": driver}) == -signal.SIGKILL
    assert state.exists(), "the killed process left its state"
    saved = state.read_text()
    assert emulator.token not in saved

    target = emulator.todo_target()
    restored = Upload.restore(saved, target, file_info(path), Options(chunk_size=CHUNK))
    mid_upload = "KILL_AT_REQUEST" in kill
    assert restored.result_may_exist == (not mid_upload)
    assert restored.upload_url is not None or not mid_upload

    seen = Seen()
    done = upload_with(
        driver,
        path,
        target,
        token=emulator.token,
        options=Options(chunk_size=CHUNK),
        state_path=state,
        seen=seen,
    )
    attachments = emulator.todo_attachments()
    assert [(a["id"], a["size"]) for a in attachments] == [(done.id, SIZE)], "exactly one"
    assert emulator.todo_bytes(done.id) == path.read_bytes()
    assert not state.exists()
    if mid_upload:
        # Asked the session where it stands, then sent only what it missed.
        assert seen.methods() == ["GET", "PUT", "PUT"]
        assert not done.found_by_lookup
    else:
        # Looked for the result instead of sending anything again.
        assert "PUT" not in seen.methods() and "POST" not in seen.methods()
        assert done.found_by_lookup


def test_restoring_for_another_file_or_target_is_refused(
    emulator: Emulator, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_file(SIZE)
    state = tmp_path / "upload.state"
    assert run_child(emulator, path, state, {"KILL_AT_REQUEST": "3"}) == -signal.SIGKILL
    saved = StateFile(state).load()
    assert saved is not None
    target = emulator.todo_target()

    other = make_file(SIZE + 1, "other.bin")
    with pytest.raises(RestoreError) as info:
        Upload.restore(saved, target, file_info(other, name=path.name))
    assert info.value.kind == "different-file"

    elsewhere = Target.todo_task(emulator.base_url, emulator.list_id, "another-task")
    with pytest.raises(RestoreError) as info:
        Upload.restore(saved, elsewhere, file_info(path))
    assert info.value.kind == "different-target"
