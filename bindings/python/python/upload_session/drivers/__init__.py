"""Ready drivers over httpx: :mod:`upload_session.drivers.sync` (``httpx.Client``) and
:mod:`upload_session.drivers.aio` (``httpx.AsyncClient``). Both stream each request's byte
range from the file, send the bearer token only where the request needs it, honour waits,
refresh the token through a callback, save the state atomically when the machine says, and
resume from a state file that exists."""

from ._common import StateFile, file_info, open_upload, transport_kind

__all__ = ["StateFile", "file_info", "open_upload", "transport_kind"]
