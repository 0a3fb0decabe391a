"""The coordinator console: sign-in, cohorts, pairs, deliveries, match reviews, certificates
(the cohort report and mentors' feedback: :mod:`tandem.web.reports`).

Every page but the sign-in form needs a session (a cookie naming a row in the database);
every form carries a CSRF value bound to the session (the sign-in form: to a pre-session
cookie). Dates and times are shown in the cohort's time zone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tandem.errors import TandemError
from tandem.program import casework, coordinators, reports
from tandem.program import match_review as reviews
from tandem.program.cohorts import CohortError, PairAction, PairState
from tandem.web.site import FormFields, Site, page

SESSION_COOKIE = "tandem_session"
LOGIN_COOKIE = "tandem_login"
PAGE_SIZE = 100
"""Pairs shown per page of a cohort's pairs list."""

Who = coordinators.CoordinatorInfo

PAIR_ORDERS: dict[str, Callable[[reports.PairStatus], Any]] = {
    "mentee": lambda p: (p.mentee_id,),
    "mentor": lambda p: (p.mentor_id, p.mentee_id),
    "state": lambda p: (p.state, p.mentee_id),
    "met": lambda p: (p.weeks_met, p.mentee_id),
    "last": lambda p: (p.last_checkin or "", p.mentee_id),
    "risk": lambda p: (not p.risk, p.mentee_id),
    "requests": lambda p: (not p.requests, p.mentee_id),
}
"""The orders a coordinator can sort a cohort's pairs in, by name."""


def to_login() -> RedirectResponse:
    """Where a request without a session goes."""
    return RedirectResponse("/console/login", status_code=303)


def _whole_number(raw: str | None, default: int) -> int:
    try:
        return max(1, int(raw or default))
    except ValueError:
        return default


class Console:
    """The console's routes; :meth:`register` adds them to an app."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def register(self, app: FastAPI) -> None:
        routes: list[tuple[str, Callable[..., Any], str]] = [
            ("/console/login", self.login_form, "GET"),
            ("/console/login", self.login, "POST"),
            ("/console/logout", self.logout, "POST"),
            ("/console", self.cohorts, "GET"),
            ("/console/cohorts/{name}", self.pairs, "GET"),
            ("/console/cohorts/{name}/deliveries", self.deliveries, "GET"),
            ("/console/cohorts/{name}/match", self.match_review, "GET"),
            ("/console/runs", self.runs, "GET"),
            ("/console/runs/{cycle}", self.run_review, "GET"),
            ("/console/runs/{cycle}", self.rerun, "POST"),
            ("/console/cohorts/{name}/certification", self.certification, "GET"),
            ("/console/cohorts/{name}/certification", self.revoke, "POST"),
            ("/console/cohorts/{name}/pairs/{mentee_id}", self.pair, "GET"),
            ("/console/cohorts/{name}/pairs/{mentee_id}", self.pair_action, "POST"),
        ]
        for path, endpoint, method in routes:
            app.add_api_route(path, endpoint, methods=[method])

    # --- shared steps

    def signed_in(self, request: Request) -> Who | None:
        token = request.cookies.get(SESSION_COOKIE, "")
        return coordinators.session_coordinator(self.site.db, token, now=self.site.clock())

    def session_csrf(self, request: Request) -> str:
        return self.site.csrf(f"session|{request.cookies.get(SESSION_COOKIE, '')}")

    def csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        bound_to = f"session|{request.cookies.get(SESSION_COOKIE, '')}"
        return self.site.csrf_ok(bound_to, form.get("csrf"))

    def view(self, request: Request, who: Who, template: str, **context: Any) -> HTMLResponse:
        """A console page for ``who``; ``status`` in ``context`` sets the status code."""
        status = context.pop("status", 200)
        context.setdefault("tz", "UTC")
        return page(template, status, who=who, csrf=self.session_csrf(request), **context)

    def missing(self, request: Request, who: Who) -> HTMLResponse:
        return self.view(request, who, "console/missing.html", status=404)

    def zone(self, cohort: str) -> str:
        """The IANA time zone of ``cohort`` (UTC for a cohort that does not exist)."""
        return casework.cohort_zone(self.site.db, cohort) or "UTC"

    def login_page(
        self, request: Request, status: int = 200, problem: str | None = None
    ) -> Response:
        pre = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        csrf = self.site.csrf(f"login|{pre}")
        response = page("console/login.html", status, csrf=csrf, problem=problem)
        secure = request.url.scheme == "https"
        response.set_cookie(
            LOGIN_COOKIE, pre, httponly=True, samesite="strict", secure=secure, path="/console"
        )
        return response

    # --- signing in and out

    def login_form(self, request: Request) -> Response:
        if self.signed_in(request) is not None:
            return RedirectResponse("/console", status_code=303)
        return self.login_page(request)

    def login(self, request: Request, form: FormFields) -> Response:
        pre = request.cookies.get(LOGIN_COOKIE, "")
        if not pre or not self.site.csrf_ok(f"login|{pre}", form.get("csrf")):
            return self.login_page(request, 403, "The form expired: please sign in again.")
        limits = self.site.limits
        try:
            token, _ = coordinators.sign_in(
                self.site.db,
                form.get("email", ""),
                form.get("password", ""),
                now=self.site.clock(),
                hours=limits.session_hours,
                failures_allowed=limits.sign_in_failures,
            )
        except coordinators.SignInLimitError:
            problem = "Too many failed sign-ins: wait 15 minutes and try again."
            return self.login_page(request, 429, problem)
        except coordinators.SignInError:
            return self.login_page(request, 401, "Wrong e-mail or password.")
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

    def logout(self, request: Request, form: FormFields) -> Response:
        if self.signed_in(request) is not None and self.csrf_ok(request, form):
            token = request.cookies.get(SESSION_COOKIE, "")
            coordinators.sign_out(self.site.db, token, now=self.site.clock())
        response = to_login()
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- cohorts and pairs

    def cohorts(self, request: Request) -> Response:
        if (who := self.signed_in(request)) is None:
            return to_login()
        listed = casework.list_cohorts(self.site.db)
        return self.view(request, who, "console/cohorts.html", cohorts=listed)

    def pairs(
        self,
        request: Request,
        name: str,
        state: str | None = None,
        risk: str | None = None,
        sort: str = "mentee",
        page: str | None = None,
        asks: str | None = None,
    ) -> Response:
        """A cohort's pairs, filtered by state, risk or open requests from participants,
        sorted, :data:`PAGE_SIZE` a page."""
        if (who := self.signed_in(request)) is None:
            return to_login()
        try:
            pairs = reports.cohort_status(self.site.db, name, self.site.clock())
        except CohortError:
            return self.missing(request, who)
        shown = [
            p
            for p in pairs
            if (not state or p.state == state)
            and (risk != "1" or p.risk)
            and (asks != "1" or p.requests)
        ]
        sort = sort if sort in PAIR_ORDERS else "mentee"
        shown.sort(key=PAIR_ORDERS[sort])
        pages = max(1, -(-len(shown) // PAGE_SIZE))
        number = min(_whole_number(page, 1), pages)
        first = (number - 1) * PAGE_SIZE
        return self.view(
            request,
            who,
            "console/pairs.html",
            cohort=name,
            pairs=shown[first : first + PAGE_SIZE],
            first=first,
            matching=len(shown),
            page=number,
            pages=pages,
            total=len(pairs),
            states=[s.value for s in PairState],
            state=state or "",
            risk=risk == "1",
            asks=asks == "1",
            asking=sum(len(p.requests) for p in pairs),
            sort=sort,
            sorts=list(PAIR_ORDERS),
        )

    def deliveries(self, request: Request, name: str) -> Response:
        if (who := self.signed_in(request)) is None:
            return to_login()
        try:
            rows = reports.delivery_problems(self.site.db, name)
        except CohortError:
            return self.missing(request, who)
        return self.view(request, who, "console/deliveries.html", cohort=name, rows=rows)

    def pair_view(self, request: Request, who: Who, name: str, **context: Any) -> Response:
        """The page of the pair whose mentee is ``mentee_id`` (in ``context``)."""
        try:
            case = casework.pair_case(self.site.db, name, context.pop("mentee_id"))
        except CohortError:
            return self.missing(request, who)
        return self.view(
            request,
            who,
            "console/pair.html",
            case=case,
            actions=[a.value for a in case.allowed],
            tz=case.timezone,
            **context,
        )

    def pair(self, request: Request, name: str, mentee_id: str) -> Response:
        if (who := self.signed_in(request)) is None:
            return to_login()
        done = request.query_params.get("done")
        return self.pair_view(request, who, name, mentee_id=mentee_id, done=done, problem=None)

    def pair_action(
        self, request: Request, name: str, mentee_id: str, form: FormFields
    ) -> Response:
        """Pause, resume, end or re-open a pair (with a reason, recorded in its history)."""
        if (who := self.signed_in(request)) is None:
            return to_login()
        if not self.csrf_ok(request, form):
            return page("expired_form.html", 403)
        try:
            action = PairAction(form.get("action", ""))
            casework.act_on_pair(
                self.site.db,
                name,
                mentee_id,
                action,
                coordinator=who.name,
                now=self.site.clock(),
                reason=form.get("reason", "").strip() or None,
            )
        except (ValueError, CohortError) as error:
            return self.pair_view(
                request, who, name, mentee_id=mentee_id, status=409, done=None, problem=str(error)
            )
        return RedirectResponse(
            f"/console/cohorts/{quote(name, safe='')}/pairs/{quote(mentee_id, safe='')}"
            f"?done={action.value}",
            status_code=303,
        )

    # --- match reviews

    def match_review(self, request: Request, name: str) -> Response:
        if (who := self.signed_in(request)) is None:
            return to_login()
        try:
            review = reviews.review_cohort_match(self.site.db, name)
        except CohortError:
            return self.missing(request, who)
        return self.view(
            request, who, "console/match.html", review=review, problem=None, tz=self.zone(name)
        )

    def runs(self, request: Request) -> Response:
        if (who := self.signed_in(request)) is None:
            return to_login()
        listed = reviews.list_cycles(self.site.db)
        # a run is timed in its cohort's zone, once a cohort is made from it; before, in UTC
        zones = {r.cohort_name: self.zone(r.cohort_name) for r in listed if r.cohort_name}
        return self.view(request, who, "console/runs.html", reviews=listed, zones=zones)

    def cycle_view(self, request: Request, who: Who, cycle: str, **context: Any) -> Response:
        try:
            review = reviews.review_cycle(self.site.db, cycle)
        except CohortError:
            return self.missing(request, who)
        zone = self.zone(review.cohort_name) if review.cohort_name else "UTC"
        return self.view(request, who, "console/match.html", review=review, tz=zone, **context)

    def run_review(self, request: Request, cycle: str) -> Response:
        if (who := self.signed_in(request)) is None:
            return to_login()
        return self.cycle_view(request, who, cycle, problem=None)

    def rerun(self, request: Request, cycle: str, fields: FormFields) -> Response:
        """Run a cycle's match again with one pair locked in or forbidden."""
        if (who := self.signed_in(request)) is None:
            return to_login()
        form = {k: v.strip() for k, v in fields.items()}
        if not self.csrf_ok(request, form):
            return page("expired_form.html", 403)
        pair = ((form.get("mentee_id", ""), form.get("mentor_id", "")),)
        kind = form.get("kind")
        try:
            if kind not in ("lock", "forbid") or not all(pair[0]):
                raise CohortError("give a mentee id, a mentor id and lock or forbid")
            reviews.rerun_with(
                self.site.db,
                cycle,
                lock=pair if kind == "lock" else (),
                forbid=pair if kind == "forbid" else (),
                actor=who.name,
                now=self.site.clock(),
            )
        except TandemError as error:
            return self.cycle_view(request, who, cycle, status=409, problem=str(error))
        return RedirectResponse(f"/console/runs/{quote(cycle, safe='')}", status_code=303)

    # --- certificates

    def certification_view(self, request: Request, who: Who, name: str, **context: Any) -> Response:
        from tandem.program import certify as certification

        db = self.site.db
        try:
            rules = certification.load_rules(None)
            evaluation = certification.evaluate_cohort(db, name, rules, now=self.site.clock())
            issued = certification.list_certificates(db, name)
        except CohortError:
            return self.missing(request, who)
        return self.view(
            request,
            who,
            "console/certification.html",
            cohort=name,
            evaluation=evaluation,
            issued=issued,
            tz=self.zone(name),
            **context,
        )

    def certification(self, request: Request, name: str) -> Response:
        if (who := self.signed_in(request)) is None:
            return to_login()
        done = request.query_params.get("done")
        return self.certification_view(request, who, name, done=done, problem=None)

    def revoke(self, request: Request, name: str, form: FormFields) -> Response:
        """Revoke an issued certificate (with a reason)."""
        from tandem.program import certify as certification

        if (who := self.signed_in(request)) is None:
            return to_login()
        if not self.csrf_ok(request, form):
            return page("expired_form.html", 403)
        try:
            info, _ = certification.revoke_certificate(
                self.site.db,
                form.get("credential_id", ""),
                reason=form.get("reason", "").strip(),
                actor=who.name,
                now=self.site.clock(),
            )
        except certification.CertificationError as error:
            return self.certification_view(
                request, who, name, status=409, done=None, problem=str(error)
            )
        return RedirectResponse(
            f"/console/cohorts/{quote(name, safe='')}/certification?done={quote(info.mentor_id)}",
            status_code=303,
        )
