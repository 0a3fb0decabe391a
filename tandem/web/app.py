"""The web app: participants' link pages and the coordinator console.

:func:`create_app` builds it on a database URL. Each handler parses the request, calls one
library function and renders a template; the app keeps nothing in memory that another
process would need (sessions, rate counters and the CSRF key live in the database).
Only this layer reads the clock (``clock``, replaceable in tests).

The routes live in :mod:`tandem.web.participants`, :mod:`tandem.web.console` and (the
console's report pages) :mod:`tandem.web.reports`; all share one
:class:`~tandem.web.site.Site`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from tandem.program.link_keys import LinkKeyFile, LinkKeyRing
from tandem.program.storage.db import open_database, utcnow
from tandem.program.web_state import shared_secret
from tandem.web.console import LOGIN_COOKIE, SESSION_COOKIE, Console
from tandem.web.participants import ParticipantPages
from tandem.web.reports import ReportPages
from tandem.web.security import Limits, SecurityHeaders
from tandem.web.site import Site, page

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "app_for_serving",
    "app_from_environment",
    "create_app",
]


@cache
def _stylesheet() -> str:
    return resources.files("tandem.web").joinpath("static/tandem.css").read_text("utf-8")


def stylesheet() -> Response:
    return Response(_stylesheet(), media_type="text/css", headers={"cache-control": "max-age=3600"})


def home() -> HTMLResponse:
    return page("home.html")


def create_app(
    db_url: str | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = utcnow,
    limits: Limits | None = None,
    link_keys: LinkKeyRing | LinkKeyFile | None = None,
) -> FastAPI:
    """The web app on ``db_url`` (schema brought up to date), or on an open ``engine``.

    ``link_keys`` verify participants' links (from the key file, see
    :mod:`tandem.program.link_keys`; a :class:`LinkKeyFile` is read again when it changes);
    without them only links that cohorts of earlier versions signed with a secret kept in
    the database verify.
    """
    if engine is None:
        if db_url is None:
            raise ValueError("create_app needs a database URL or an engine")
        engine = open_database(db_url)
    site = Site(
        db=engine,
        clock=clock,
        limits=limits or Limits(),
        csrf_key=shared_secret(engine, "csrf", now=clock()),
        link_keys=link_keys,
    )
    app = FastAPI(title="Tandem", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    app.state.engine = engine
    app.add_api_route("/static/tandem.css", stylesheet)
    app.add_api_route("/", home, response_class=HTMLResponse)
    ParticipantPages(site).register(app)
    console = Console(site)
    console.register(app)
    ReportPages(console).register(app)
    return app


def app_for_serving(db_url: str, link_keys: LinkKeyRing | LinkKeyFile | None = None) -> FastAPI:
    """The app on ``db_url`` for a server process that serves nothing else.

    Everything loaded so far (about 130,000 objects: the framework, the ORM, the app) lives
    as long as the process, so it is taken out of the cyclic garbage collector's reach: a
    full collection over it takes about 0.2 s, during which no request is answered, and
    it was what made the slowest few check-ins of the benchmark slow.
    """
    app = create_app(db_url, link_keys=link_keys)
    gc.collect()
    gc.freeze()
    return app


def app_from_environment() -> FastAPI:
    """The app on the database named by ``TANDEM_DB``, with the link keys of the key file
    named by ``TANDEM_KEYS``: the factory each worker process of ``tandem serve --workers N``
    calls."""
    import os
    from pathlib import Path

    keys = os.environ.get("TANDEM_KEYS")
    return app_for_serving(
        os.environ["TANDEM_DB"], link_keys=LinkKeyFile(Path(keys)) if keys else None
    )
