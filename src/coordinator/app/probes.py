"""Liveness and readiness probes, kept apart so a failing dependency never restarts the process.

* ``GET /api/v1/live``: 200 while the process serves requests. A supervisor restarts the
  process only when this fails.
* ``GET /api/v1/ready``: 200 when the coordinator should receive traffic: the health verdict
  (background tasks, database writers, integrity), replication (the replicator runs and is
  not too far behind) and the external services (recent calls succeed); 503 with the reasons
  otherwise. A dead backup sidecar takes the pod out of rotation without a restart loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from coordinator import __version__

probes_router = APIRouter()


@probes_router.get("/api/v1/live", include_in_schema=False)
async def live() -> JSONResponse:
    return JSONResponse({"status": "alive", "version": __version__})


@probes_router.get("/api/v1/ready", include_in_schema=False)
async def ready(request: Request) -> JSONResponse:
    problems = request.app.state.runtime.readiness_problems()
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready", "version": __version__})
