"""A process that uploads a file with a state file and kills itself part-way.

Run by test_resume.py as ``python upload_child.py CONFIG_JSON``. The kill is this script's
doing, through the HTTP client's event hooks, never the library's:

- ``KILL_AT_REQUEST=N``: SIGKILL just before the Nth request leaves;
- ``KILL_ON_FINAL_ANSWER=1``: SIGKILL as the answer to the upload's last PUT arrives, so
  the server holds the attachment and the state does not know it.

``DRIVER=aio`` uploads through the asyncio driver, else the blocking one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import httpx

from upload_session import Completion, Options, Target
from upload_session.drivers import aio, sync


def main() -> None:
    config = json.loads(sys.argv[1])
    kill_at = int(os.environ.get("KILL_AT_REQUEST", "0"))
    kill_on_final = os.environ.get("KILL_ON_FINAL_ANSWER") == "1"
    size = os.path.getsize(config["path"])
    sent = 0

    def on_request(request: httpx.Request) -> None:
        nonlocal sent
        sent += 1
        if sent == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_response(response: httpx.Response) -> None:
        content_range = response.request.headers.get("content-range", "")
        if kill_on_final and content_range.endswith(f"-{size - 1}/{size}"):
            os.kill(os.getpid(), signal.SIGKILL)

    target = Target.todo_task(config["base_url"], config["list_id"], config["task_id"])
    options = Options(chunk_size=config["chunk_size"])
    if os.environ.get("DRIVER") == "aio":

        async def on_request_async(request: httpx.Request) -> None:
            on_request(request)

        async def on_response_async(response: httpx.Response) -> None:
            on_response(response)

        async def main() -> Completion:
            hooks: dict[str, list[Callable[..., Any]]] = {
                "request": [on_request_async],
                "response": [on_response_async],
            }
            async with httpx.AsyncClient(timeout=10, event_hooks=hooks) as client:
                return await aio.upload_file(
                    config["path"],
                    target,
                    token=config["token"],
                    options=options,
                    state_path=config["state"],
                    client=client,
                )

        done = asyncio.run(main())
    else:
        sync_hooks: dict[str, list[Callable[..., Any]]] = {
            "request": [on_request],
            "response": [on_response],
        }
        with httpx.Client(timeout=10, event_hooks=sync_hooks) as client:
            done = sync.upload_file(
                config["path"],
                target,
                token=config["token"],
                options=options,
                state_path=config["state"],
                client=client,
            )
    print(json.dumps({"id": done.id}))


if __name__ == "__main__":
    main()
