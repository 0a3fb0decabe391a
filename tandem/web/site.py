"""What every page of the web app shares: the database, the clock, the limits, the CSRF key
and the templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from tandem.program import schedule
from tandem.program.link_keys import LinkKeyFile, LinkKeyRing
from tandem.prompts.render import format_date
from tandem.web.security import Limits, csrf_ok, csrf_value


def _when(value: datetime | None, zone: str = "UTC") -> str:
    """A moment as coordinators read it in the console: ``2026-12-08 14:00 EST``, in
    ``zone`` (an IANA name)."""
    if not value:
        return ""
    local = value.astimezone(schedule.zone(zone))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or zone)


def _local_time(value: datetime | None, zone: str) -> str:
    """A moment as participants read it: ``Tuesday 8 December 2026, 14:00
    (America/New_York)``, in ``zone`` (their cohort's), the zone named; the date as their
    messages write dates."""
    if not value:
        return ""
    local = value.astimezone(schedule.zone(zone))
    return f"{format_date(local.date())}, {local:%H:%M} ({zone})"


@cache
def templates() -> jinja2.Environment:
    """The page templates, compiled once per process."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tandem.web", "templates"),
        autoescape=True,
        extensions=["jinja2.ext.do"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["url"] = lambda value: quote(str(value), safe="")
    env.filters["when"] = _when
    env.filters["local_time"] = _local_time
    env.filters["day"] = format_date
    return env


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` as an HTML response with ``status``."""
    html = templates().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status)


async def _form_fields(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]
"""A route parameter holding the request's form fields as text.

Routes that take one are plain functions: the form is read on the event loop, then the
route runs in the thread pool, so a route waiting on the database never holds up the
others (an ``async`` route calling the library would block every request meanwhile).
"""


@dataclass(frozen=True)
class Site:
    """One app's shared state; nothing in it changes after start, so every process on the
    same database behaves alike (the CSRF key itself lives in the database)."""

    db: Engine
    clock: Callable[[], datetime]
    limits: Limits
    csrf_key: bytes
    link_keys: LinkKeyRing | LinkKeyFile | None = None

    def keyring(self) -> LinkKeyRing | None:
        """The link keys now (a key file is read again when it changes)."""
        keys = self.link_keys
        return keys.current() if isinstance(keys, LinkKeyFile) else keys

    def csrf(self, bound_to: str) -> str:
        """The CSRF value for a form bound to ``bound_to``."""
        return csrf_value(self.csrf_key, bound_to)

    def csrf_ok(self, bound_to: str, given: str | None) -> bool:
        return csrf_ok(self.csrf_key, bound_to, given)
