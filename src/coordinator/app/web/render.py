"""Rendering of pages and fragments with Jinja2.

A page route returns the whole layout for a normal request (a deep link works) and only the
``#main-content`` fragment for an htmx request (``HX-Request: true``, not a history restore).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from coordinator.app.web.views import METRIC_NAMES, METRIC_UNITS

TEMPLATE_DIR: Final = Path(__file__).with_name("templates")
#: Pages are never cached: they show live state and may depend on who asks.
PAGE_HEADERS: Final = {
    "Cache-Control": "no-store, no-transform",
    "X-Content-Type-Options": "nosniff",
    "Vary": "HX-Request",
    "Referrer-Policy": "no-referrer",
}
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _sats(value: int | None) -> str:
    return "–" if value is None else f"{value:,} sats"


def _when(value: dt.datetime | None) -> str:
    return "–" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _short(value: object) -> str:
    """An id as the pages show it: its last 8 hex digits. A UUIDv7 starts with a timestamp,
    so ids made within the same minute share their first digits; the last ones are random."""
    return str(value)[-8:]


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    env.filters.update(sats=_sats, when=_when, iso=_iso, number=_number, short=_short)
    env.globals.update(metric_names=METRIC_NAMES, metric_units=METRIC_UNITS)
    return env


def wants_fragment(request: Request) -> bool:
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


class Renderer:
    """Renders templates with the site-wide context (asset URLs, network, brand)."""

    def __init__(self, site: dict[str, Any], environment: Environment | None = None) -> None:
        self.env = environment or make_environment()
        self.site = site

    def html(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(site=self.site, **context)
        headers = {**PAGE_HEADERS, "Content-Security-Policy": CSP}
        return HTMLResponse(body, status_code=status_code, headers=headers)

    def page(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """The fragment for htmx, else the full layout around it (the same template)."""
        layout = "shared/fragment.html" if wants_fragment(request) else self.site["layout"]
        return self.html(template, status_code, layout=layout, path=request.url.path, **context)
