"""Reading remote HTTP answers with a size bound, shared by every HTTP client adapter."""

from __future__ import annotations

import httpx

from coordinator_core.errors import CoordinatorError, PermanentError


async def read_bounded(
    response: httpx.Response,
    limit: int,
    what: str,
    error: type[CoordinatorError] = PermanentError,
) -> bytes:
    """The whole body of a streamed ``response``, raising ``error`` past ``limit`` bytes.

    A declared Content-Length over the limit is refused before anything is read.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise error(f"{what}: response larger than the size limit ({limit} bytes)")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise error(f"{what}: response larger than the size limit ({limit} bytes)")
    return bytes(body)
