"""Participants' link pages: the signed link in the path is the key, there is no sign-in.

The introduction (``/respond/…``), the week's check-in (``/checkin/…``), a request to pause
or leave (``/request/…``) and the evaluation surveys (``/survey/…``).

Every page counts the request against the link's rate limit and refuses clients that have
opened too many invalid links; forms carry a CSRF value bound to the link.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tandem.program import links, survey_links
from tandem.program.cohorts import CohortError
from tandem.program.web_state import count_hit, count_hit_unless
from tandem.web.security import client_key, token_key
from tandem.web.site import FormFields, Site, page

ANSWERS = ("accept", "decline")


class ParticipantPages:
    """The routes a participant's link opens; :meth:`register` adds them to an app."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def register(self, app: FastAPI) -> None:
        html = HTMLResponse
        app.add_api_route("/respond/{token}", self.respond_page, response_class=html)
        app.add_api_route("/respond/{token}", self.respond, methods=["POST"], response_class=html)
        app.add_api_route("/checkin/{token}", self.checkin_page, response_class=html)
        app.add_api_route("/checkin/{token}", self.checkin, methods=["POST"], response_class=html)
        app.add_api_route(
            "/request/{token}", self.change_request, methods=["POST"], response_class=html
        )
        app.add_api_route("/survey/{token}", self.survey_page, response_class=html)
        app.add_api_route("/survey/{token}", self.survey, methods=["POST"], response_class=html)

    # --- shared steps

    def refused(self, request: Request, token: str) -> HTMLResponse | None:
        """A page refusing the request when a rate limit is reached, else None (and the
        request counted against its link)."""
        limits = self.site.limits
        count = count_hit_unless(
            self.site.db,
            f"link:{token_key(token)}",
            blocker=f"bad-link:{client_key(request)}",
            blocked_at=limits.bad_links_per_client,
            now=self.site.clock(),
            window=limits.window,
        )
        if count is None or count > limits.per_link:
            return page("limited.html", 429)
        return None

    def invalid(self, request: Request) -> HTMLResponse:
        """The page for a link that opens nothing, counted against the client."""
        limits = self.site.limits
        key = f"bad-link:{client_key(request)}"
        count_hit(self.site.db, key, now=self.site.clock(), window=limits.window)
        return page("invalid.html", 404)

    def link_csrf(self, token: str) -> str:
        return self.site.csrf(f"link|{token}")

    def posted(
        self, request: Request, token: str, fields: dict[str, str]
    ) -> dict[str, str] | Response:
        """The form sent to a link's page, or the page refusing it: a rate limit reached
        (429), or a CSRF value that is not this link's (403)."""
        if (stop := self.refused(request, token)) is not None:
            return stop
        form = self.link_form(token, fields)
        return page("expired_form.html", 403) if form is None else form

    def link_form(self, token: str, form: dict[str, str]) -> dict[str, str] | None:
        """The form sent, or None when its CSRF value is not this link's."""
        return form if self.site.csrf_ok(f"link|{token}", form.get("csrf")) else None

    def respond_view(
        self,
        token: str,
        intro: links.Introduction,
        status: int = 200,
        *,
        chosen: str | None = None,
        saved: bool = False,
        problem: str | None = None,
    ) -> HTMLResponse:
        return page(
            "respond.html",
            status,
            intro=intro,
            token=token,
            chosen=chosen,
            csrf=self.link_csrf(token),
            saved=saved,
            problem=problem,
        )

    def checkin_view(
        self,
        token: str,
        checkin: links.CheckinPage,
        status: int = 200,
        values: dict[str, str] | None = None,
        problems: dict[str, str] | None = None,
        saved: bool = False,
    ) -> HTMLResponse:
        return page(
            "checkin.html",
            status,
            page=checkin,
            token=token,
            csrf=self.link_csrf(token),
            values=values if values is not None else (checkin.recorded or {}),
            problems=problems or {},
            saved=saved,
        )

    def survey_view(
        self,
        token: str,
        survey: survey_links.SurveyPage,
        status: int = 200,
        values: dict[str, str] | None = None,
        problems: dict[str, str] | None = None,
        saved: bool = False,
    ) -> HTMLResponse:
        return page(
            "survey.html",
            status,
            page=survey,
            token=token,
            csrf=self.link_csrf(token),
            values=values if values is not None else (survey.recorded or {}),
            problems=problems or {},
            saved=saved,
        )

    # --- routes

    def respond_page(self, request: Request, token: str, answer: str | None = None) -> Response:
        """An introduction: who the partner is, and accept or decline."""
        if (stop := self.refused(request, token)) is not None:
            return stop
        try:
            intro = links.open_introduction(
                self.site.db, token, now=self.site.clock(), link_keys=self.site.keyring()
            )
        except links.LinkError:
            return self.invalid(request)
        return self.respond_view(
            token,
            intro,
            chosen=answer if answer in ANSWERS else None,
            saved=request.query_params.get("saved") == "1",
        )

    def respond(self, request: Request, token: str, fields: FormFields) -> Response:
        """Record an answer to an introduction."""
        form = self.posted(request, token, fields)
        if isinstance(form, Response):
            return form
        answer = form.get("answer")
        db, now, keys = self.site.db, self.site.clock(), self.site.keyring()
        try:
            if answer not in ANSWERS:
                intro = links.open_introduction(db, token, now=now, link_keys=keys)
                return self.respond_view(token, intro, 422, problem="Choose accept or decline.")
            links.answer_introduction(
                db,
                token,
                accept=answer == "accept",
                reason=form.get("reason"),
                now=now,
                link_keys=keys,
            )
        except links.LinkError:
            return self.invalid(request)
        except CohortError:
            intro = links.open_introduction(db, token, now=now, link_keys=keys)
            problem = (
                f"This introduction can no longer be answered: the pair is {intro.pair_state}."
            )
            return self.respond_view(token, intro, 409, problem=problem)
        return RedirectResponse(f"/respond/{token}?saved=1", status_code=303)

    def checkin_page(self, request: Request, token: str) -> Response:
        """A week's check-in form, filled in with the answers already sent."""
        if (stop := self.refused(request, token)) is not None:
            return stop
        try:
            checkin = links.open_checkin(
                self.site.db, token, now=self.site.clock(), link_keys=self.site.keyring()
            )
        except links.LinkError:
            return self.invalid(request)
        return self.checkin_view(token, checkin, saved=request.query_params.get("saved") == "1")

    def checkin(self, request: Request, token: str, fields: FormFields) -> Response:
        """Record a check-in (again: it updates the one sent before)."""
        form = self.posted(request, token, fields)
        if isinstance(form, Response):
            return form
        db, now, keys = self.site.db, self.site.clock(), self.site.keyring()
        try:
            links.submit_checkin(db, token, form, now=now, link_keys=keys)
        except links.LinkError:
            return self.invalid(request)
        except links.WeekNotBegunError:
            checkin = links.open_checkin(db, token, now=now, link_keys=keys)
            return self.checkin_view(token, checkin, 409)
        except links.CheckinFormError as error:
            checkin = links.open_checkin(db, token, now=now, link_keys=keys)
            return self.checkin_view(token, checkin, 422, values=form, problems=error.problems)
        return RedirectResponse(f"/checkin/{token}?saved=1", status_code=303)

    def change_request(self, request: Request, token: str, fields: FormFields) -> Response:
        """Ask the coordinator to pause the pair or to let the holder leave."""
        form = self.posted(request, token, fields)
        if isinstance(form, Response):
            return form
        try:
            kind = links.ChangeRequest(form.get("request", ""))
        except ValueError:
            return page("invalid.html", 404)
        try:
            links.request_change(
                self.site.db,
                token,
                kind,
                reason=form.get("reason"),
                now=self.site.clock(),
                link_keys=self.site.keyring(),
            )
        except links.LinkError:
            return self.invalid(request)
        except CohortError as error:
            return page("requested.html", 409, kind=kind.value, problem=str(error))
        return page("requested.html", kind=kind.value, problem=None)

    def survey_page(self, request: Request, token: str) -> Response:
        """A survey for the link's holder, filled in with the answers already sent."""
        if (stop := self.refused(request, token)) is not None:
            return stop
        try:
            survey = survey_links.open_survey(
                self.site.db, token, now=self.site.clock(), link_keys=self.site.keyring()
            )
        except links.LinkError:
            return self.invalid(request)
        return self.survey_view(token, survey, saved=request.query_params.get("saved") == "1")

    def survey(self, request: Request, token: str, fields: FormFields) -> Response:
        """Record a survey's answers (again: they replace the ones sent before)."""
        form = self.posted(request, token, fields)
        if isinstance(form, Response):
            return form
        db, now, keys = self.site.db, self.site.clock(), self.site.keyring()
        try:
            survey_links.submit_survey(db, token, form, now=now, link_keys=keys)
        except links.LinkError:
            return self.invalid(request)
        except survey_links.SurveyFormError as error:
            survey = survey_links.open_survey(db, token, now=now, link_keys=keys)
            return self.survey_view(token, survey, 422, values=form, problems=error.problems)
        return RedirectResponse(f"/survey/{token}?saved=1", status_code=303)
