"""Static assets the pages load, all served by the coordinator itself (no CDN).

Two folders: ``static/`` beside this module (style sheet, icons; committed) and the build folder
of the browser module (``app.js`` and ``htmx.min.js``, written by ``npm ci`` + esbuild from
``web/``; not committed). Each asset is served at ``/assets/<name>`` and linked with a content
hash (``?v=…``), so browsers may cache it for a year and still see a new build at once.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

STATIC_DIR: Final = Path(__file__).with_name("static")
#: ``<repository>/build/web`` for a source checkout; ``COORDINATOR_WEB_BUILD`` overrides it.
DEFAULT_BUILD_DIR: Final = Path(__file__).resolve().parents[4] / "build" / "web"
BUILT_ASSETS: Final = ("app.js", "admin.js", "htmx.min.js")
_TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def build_dir() -> Path:
    return Path(os.environ.get("COORDINATOR_WEB_BUILD", DEFAULT_BUILD_DIR))


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


@dataclass
class AssetStore:
    """The assets, read once at start-up (they are small)."""

    folders: tuple[Path, ...]
    assets: dict[str, Asset] = field(default_factory=dict)

    @classmethod
    def load(cls, folders: tuple[Path, ...] | None = None) -> AssetStore:
        store = cls(folders or (STATIC_DIR, build_dir()))
        for folder in store.folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    body = path.read_bytes()
                    media = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
                    version = hashlib.sha256(body).hexdigest()[:12]
                    store.assets[path.name] = Asset(
                        body, media or "application/octet-stream", version
                    )
        return store

    @property
    def missing(self) -> list[str]:
        """Built assets that are not there (the browser module was not built)."""
        return [name for name in BUILT_ASSETS if name not in self.assets]

    def url(self, name: str) -> str:
        asset = self.assets.get(name)
        return f"/assets/{name}" + (f"?v={asset.version}" if asset else "")


router = APIRouter(include_in_schema=False)


@router.get("/assets/{name}")
async def asset(name: str, request: Request) -> Response:
    store: AssetStore = request.app.state.assets
    found = store.assets.get(name)
    if found is None:
        raise HTTPException(404, "no such asset")
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable, no-transform",
        "ETag": f'"{found.version}"',
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
