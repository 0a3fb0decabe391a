"""The web app: participants' link pages and the coordinator console.

:func:`create_app` builds it on a database URL. Each handler parses the request, calls one
library function and renders a template; the app keeps nothing in memory that another
process would need (sessions, rate counters and the CSRF key live in the database).
Only this layer reads the clock (``clock``, replaceable in tests).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from tandem.errors import TandemError
from tandem.program import casework, coordinators, links, reports
from tandem.program import match_review as reviews
from tandem.program.cohorts import CohortError, PairAction, PairState
from tandem.program.link_keys import LinkKeyFile, LinkKeyRing
from tandem.program.storage.db import open_database, utcnow
from tandem.program.web_state import count_hit, hits, shared_secret
from tandem.web.security import (
    Limits,
    SecurityHeaders,
    client_key,
    csrf_ok,
    csrf_value,
    token_key,
)

SESSION_COOKIE = "tandem_session"
LOGIN_COOKIE = "tandem_login"


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tandem.web", "templates"),
        autoescape=True,
        extensions=["jinja2.ext.do"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["url"] = lambda value: quote(str(value), safe="")
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
    return env


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates().get_template(template).render(**context), status_code=status)


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
    db: Engine = engine
    limits = limits or Limits()

    def keyring() -> LinkKeyRing | None:
        return link_keys.current() if isinstance(link_keys, LinkKeyFile) else link_keys

    csrf_key = shared_secret(db, "csrf", now=clock())
    app = FastAPI(title="Tandem", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    app.state.engine = db

    @app.get("/static/tandem.css")
    def stylesheet() -> Response:
        css = resources.files("tandem.web").joinpath("static/tandem.css").read_text("utf-8")
        return Response(css, media_type="text/css", headers={"cache-control": "max-age=3600"})

    @app.get("/", response_class=HTMLResponse)
    def home() -> HTMLResponse:
        return _page("home.html")

    # --- participants: the signed link is the key

    def refused(request: Request, token: str) -> HTMLResponse | None:
        """A page refusing the request when a rate limit is reached, else None."""
        now = clock()
        if (
            hits(db, f"bad-link:{client_key(request)}", now=now, window=limits.window)
            >= limits.bad_links_per_client
            or count_hit(db, f"link:{token_key(token)}", now=now, window=limits.window)
            > limits.per_link
        ):
            return _page("limited.html", 429)
        return None

    def invalid(request: Request) -> HTMLResponse:
        count_hit(db, f"bad-link:{client_key(request)}", now=clock(), window=limits.window)
        return _page("invalid.html", 404)

    def link_csrf(token: str) -> str:
        return csrf_value(csrf_key, f"link|{token}")

    async def link_form(request: Request, token: str) -> dict[str, str] | None:
        form = {k: str(v) for k, v in (await request.form()).items()}
        return form if csrf_ok(csrf_key, f"link|{token}", form.get("csrf")) else None

    @app.get("/respond/{token}", response_class=HTMLResponse)
    def respond_page(request: Request, token: str, answer: str | None = None) -> HTMLResponse:
        if (stop := refused(request, token)) is not None:
            return stop
        try:
            intro = links.open_introduction(db, token, now=clock(), link_keys=keyring())
        except links.LinkError:
            return invalid(request)
        chosen = answer if answer in ("accept", "decline") else None
        return _page(
            "respond.html",
            intro=intro,
            token=token,
            chosen=chosen,
            csrf=link_csrf(token),
            saved=request.query_params.get("saved") == "1",
            problem=None,
        )

    @app.post("/respond/{token}", response_class=HTMLResponse)
    async def respond(request: Request, token: str) -> Response:
        if (stop := refused(request, token)) is not None:
            return stop
        form = await link_form(request, token)
        if form is None:
            return _page("expired_form.html", 403)
        answer = form.get("answer")
        try:
            intro = links.open_introduction(db, token, now=clock(), link_keys=keyring())
            if answer not in ("accept", "decline"):
                return _page(
                    "respond.html",
                    422,
                    intro=intro,
                    token=token,
                    chosen=None,
                    csrf=link_csrf(token),
                    saved=False,
                    problem="Choose accept or decline.",
                )
            links.answer_introduction(
                db,
                token,
                accept=answer == "accept",
                reason=form.get("reason"),
                now=clock(),
                link_keys=keyring(),
            )
        except links.LinkError:
            return invalid(request)
        except CohortError:
            return _page(
                "respond.html",
                409,
                intro=intro,
                token=token,
                chosen=None,
                csrf=link_csrf(token),
                saved=False,
                problem=f"This introduction can no longer be answered: the pair is "
                f"{intro.pair_state}.",
            )
        return RedirectResponse(f"/respond/{token}?saved=1", status_code=303)

    def checkin_view(
        token: str,
        page: links.CheckinPage,
        status: int = 200,
        values: dict[str, str] | None = None,
        problems: dict[str, str] | None = None,
        saved: bool = False,
    ) -> HTMLResponse:
        return _page(
            "checkin.html",
            status,
            page=page,
            token=token,
            csrf=link_csrf(token),
            values=values if values is not None else (page.recorded or {}),
            problems=problems or {},
            saved=saved,
        )

    @app.get("/checkin/{token}", response_class=HTMLResponse)
    def checkin_page(request: Request, token: str) -> HTMLResponse:
        if (stop := refused(request, token)) is not None:
            return stop
        try:
            page = links.open_checkin(db, token, now=clock(), link_keys=keyring())
        except links.LinkError:
            return invalid(request)
        return checkin_view(token, page, saved=request.query_params.get("saved") == "1")

    @app.post("/checkin/{token}", response_class=HTMLResponse)
    async def checkin(request: Request, token: str) -> Response:
        if (stop := refused(request, token)) is not None:
            return stop
        form = await link_form(request, token)
        if form is None:
            return _page("expired_form.html", 403)
        try:
            links.submit_checkin(db, token, form, now=clock(), link_keys=keyring())
        except links.LinkError:
            return invalid(request)
        except links.CheckinFormError as error:
            page = links.open_checkin(db, token, now=clock(), link_keys=keyring())
            return checkin_view(token, page, 422, values=form, problems=error.problems)
        return RedirectResponse(f"/checkin/{token}?saved=1", status_code=303)

    @app.post("/request/{token}", response_class=HTMLResponse)
    async def change_request(request: Request, token: str) -> Response:
        if (stop := refused(request, token)) is not None:
            return stop
        form = await link_form(request, token)
        if form is None:
            return _page("expired_form.html", 403)
        try:
            kind = links.ChangeRequest(form.get("request", ""))
        except ValueError:
            return _page("invalid.html", 404)
        try:
            links.request_change(
                db, token, kind, reason=form.get("reason"), now=clock(), link_keys=keyring()
            )
        except links.LinkError:
            return invalid(request)
        except CohortError as error:
            return _page("requested.html", 409, kind=kind.value, problem=str(error))
        return _page("requested.html", kind=kind.value, problem=None)

    # --- coordinator console

    def signed_in(request: Request) -> coordinators.CoordinatorInfo | None:
        token = request.cookies.get(SESSION_COOKIE, "")
        return coordinators.session_coordinator(db, token, now=clock())

    def console_csrf(request: Request) -> str:
        return csrf_value(csrf_key, f"session|{request.cookies.get(SESSION_COOKIE, '')}")

    def to_login() -> RedirectResponse:
        return RedirectResponse("/console/login", status_code=303)

    def console_page(
        request: Request, who: coordinators.CoordinatorInfo, template: str, **context: Any
    ) -> HTMLResponse:
        status = context.pop("status", 200)
        return _page(template, status, who=who, csrf=console_csrf(request), **context)

    def login_page(request: Request, status: int = 200, problem: str | None = None) -> Response:
        pre = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = _page(
            "console/login.html", status, csrf=csrf_value(csrf_key, f"login|{pre}"), problem=problem
        )
        response.set_cookie(
            LOGIN_COOKIE,
            pre,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/console",
        )
        return response

    @app.get("/console/login")
    def login_form(request: Request) -> Response:
        if signed_in(request) is not None:
            return RedirectResponse("/console", status_code=303)
        return login_page(request)

    @app.post("/console/login")
    async def login(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        pre = request.cookies.get(LOGIN_COOKIE, "")
        if not pre or not csrf_ok(csrf_key, f"login|{pre}", form.get("csrf")):
            return login_page(request, 403, "The form expired: please sign in again.")
        try:
            token, _ = coordinators.sign_in(
                db,
                form.get("email", ""),
                form.get("password", ""),
                now=clock(),
                hours=limits.session_hours,
                failures_allowed=limits.sign_in_failures,
            )
        except coordinators.SignInLimitError:
            return login_page(
                request, 429, "Too many failed sign-ins: wait 15 minutes and try again."
            )
        except coordinators.SignInError:
            return login_page(request, 401, "Wrong e-mail or password.")
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=limits.session_hours * 3600,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.post("/console/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        if signed_in(request) is not None and csrf_ok(
            csrf_key, f"session|{request.cookies.get(SESSION_COOKIE, '')}", str(form.get("csrf"))
        ):
            coordinators.sign_out(db, request.cookies.get(SESSION_COOKIE, ""), now=clock())
        response = to_login()
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/console")
    def console_home(request: Request) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        return console_page(request, who, "console/cohorts.html", cohorts=casework.list_cohorts(db))

    @app.get("/console/cohorts/{name}")
    def cohort_pairs(
        request: Request,
        name: str,
        state: str | None = None,
        risk: str | None = None,
        sort: str = "mentee",
    ) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        try:
            pairs = reports.cohort_status(db, name, clock())
        except CohortError:
            return console_page(request, who, "console/missing.html", status=404)
        shown = [p for p in pairs if (not state or p.state == state) and (risk != "1" or p.risk)]
        orders: dict[str, Callable[[reports.PairStatus], Any]] = {
            "mentee": lambda p: (p.mentee_id,),
            "mentor": lambda p: (p.mentor_id, p.mentee_id),
            "state": lambda p: (p.state, p.mentee_id),
            "met": lambda p: (p.weeks_met, p.mentee_id),
            "last": lambda p: (p.last_checkin or "", p.mentee_id),
            "risk": lambda p: (not p.risk, p.mentee_id),
        }
        sort = sort if sort in orders else "mentee"
        shown.sort(key=orders[sort])
        return console_page(
            request,
            who,
            "console/pairs.html",
            cohort=name,
            pairs=shown,
            total=len(pairs),
            states=[s.value for s in PairState],
            state=state or "",
            risk=risk == "1",
            sort=sort,
            sorts=list(orders),
        )

    @app.get("/console/cohorts/{name}/deliveries")
    def deliveries(request: Request, name: str) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        try:
            rows = reports.delivery_problems(db, name)
        except CohortError:
            return console_page(request, who, "console/missing.html", status=404)
        return console_page(request, who, "console/deliveries.html", cohort=name, rows=rows)

    @app.get("/console/cohorts/{name}/match")
    def match_review(request: Request, name: str) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        try:
            review = reviews.review_cohort_match(db, name)
        except CohortError:
            return console_page(request, who, "console/missing.html", status=404)
        return console_page(request, who, "console/match.html", review=review, problem=None)

    @app.get("/console/runs")
    def runs(request: Request) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        return console_page(request, who, "console/runs.html", reviews=reviews.list_cycles(db))

    @app.get("/console/runs/{cycle}")
    def run_review(request: Request, cycle: str) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        try:
            review = reviews.review_cycle(db, cycle)
        except CohortError:
            return console_page(request, who, "console/missing.html", status=404)
        return console_page(request, who, "console/match.html", review=review, problem=None)

    @app.post("/console/runs/{cycle}")
    async def rerun(request: Request, cycle: str) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        form = {k: str(v).strip() for k, v in (await request.form()).items()}
        if not csrf_ok(
            csrf_key, f"session|{request.cookies.get(SESSION_COOKIE, '')}", form.get("csrf")
        ):
            return _page("expired_form.html", 403)
        pair = ((form.get("mentee_id", ""), form.get("mentor_id", "")),)
        kind = form.get("kind")
        try:
            if kind not in ("lock", "forbid") or not all(pair[0]):
                raise CohortError("give a mentee id, a mentor id and lock or forbid")
            reviews.rerun_with(
                db,
                cycle,
                lock=pair if kind == "lock" else (),
                forbid=pair if kind == "forbid" else (),
                actor=who.name,
                now=clock(),
            )
        except TandemError as error:
            try:
                review = reviews.review_cycle(db, cycle)
            except CohortError:
                return console_page(request, who, "console/missing.html", status=404)
            return console_page(
                request, who, "console/match.html", status=409, review=review, problem=str(error)
            )
        return RedirectResponse(f"/console/runs/{quote(cycle, safe='')}", status_code=303)

    def certification_page(
        request: Request, who: coordinators.CoordinatorInfo, name: str, **context: Any
    ) -> Response:
        from tandem.program import certify as certification

        try:
            evaluation = certification.evaluate_cohort(
                db, name, certification.load_rules(None), now=clock()
            )
            issued = certification.list_certificates(db, name)
        except CohortError:
            return console_page(request, who, "console/missing.html", status=404)
        return console_page(
            request,
            who,
            "console/certification.html",
            cohort=name,
            evaluation=evaluation,
            issued=issued,
            **context,
        )

    @app.get("/console/cohorts/{name}/certification")
    def certification_view(request: Request, name: str) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        return certification_page(
            request, who, name, done=request.query_params.get("done"), problem=None
        )

    @app.post("/console/cohorts/{name}/certification")
    async def revoke(request: Request, name: str) -> Response:
        from tandem.program import certify as certification

        if (who := signed_in(request)) is None:
            return to_login()
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not csrf_ok(
            csrf_key, f"session|{request.cookies.get(SESSION_COOKIE, '')}", form.get("csrf")
        ):
            return _page("expired_form.html", 403)
        try:
            info, _ = certification.revoke_certificate(
                db,
                form.get("credential_id", ""),
                reason=form.get("reason", "").strip(),
                actor=who.name,
                now=clock(),
            )
        except certification.CertificationError as error:
            return certification_page(request, who, name, status=409, done=None, problem=str(error))
        return RedirectResponse(
            f"/console/cohorts/{quote(name, safe='')}/certification?done={quote(info.mentor_id)}",
            status_code=303,
        )

    @app.get("/console/cohorts/{name}/pairs/{mentee_id}")
    def pair(request: Request, name: str, mentee_id: str) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        try:
            case = casework.pair_case(db, name, mentee_id)
        except CohortError:
            return console_page(request, who, "console/missing.html", status=404)
        return console_page(
            request,
            who,
            "console/pair.html",
            case=case,
            actions=[a.value for a in PairAction],
            done=request.query_params.get("done"),
            problem=None,
        )

    @app.post("/console/cohorts/{name}/pairs/{mentee_id}")
    async def pair_action(request: Request, name: str, mentee_id: str) -> Response:
        if (who := signed_in(request)) is None:
            return to_login()
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not csrf_ok(
            csrf_key, f"session|{request.cookies.get(SESSION_COOKIE, '')}", form.get("csrf")
        ):
            return _page("expired_form.html", 403)
        try:
            action = PairAction(form.get("action", ""))
            casework.act_on_pair(
                db,
                name,
                mentee_id,
                action,
                coordinator=who.name,
                now=clock(),
                reason=form.get("reason", "").strip() or None,
            )
        except (ValueError, CohortError) as error:
            try:
                case = casework.pair_case(db, name, mentee_id)
            except CohortError:
                return console_page(request, who, "console/missing.html", status=404)
            return console_page(
                request,
                who,
                "console/pair.html",
                status=409,
                case=case,
                actions=[a.value for a in PairAction],
                done=None,
                problem=str(error),
            )
        return RedirectResponse(
            f"/console/cohorts/{quote(name, safe='')}/pairs/{quote(mentee_id, safe='')}"
            f"?done={action.value}",
            status_code=303,
        )

    return app


def app_from_environment() -> FastAPI:
    """The app on the database named by ``TANDEM_DB``, with the link keys of the key file
    named by ``TANDEM_KEYS``: the factory each worker process of ``tandem serve --workers N``
    calls."""
    import os
    from pathlib import Path

    keys = os.environ.get("TANDEM_KEYS")
    link_keys = LinkKeyFile(Path(keys)) if keys else None
    return create_app(os.environ["TANDEM_DB"], link_keys=link_keys)
