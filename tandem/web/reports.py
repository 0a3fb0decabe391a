"""The console's cohort report and mentors' feedback: the library's report drawn in a
console page, its files to download, and each mentor's feedback as they would read it.

The pages embed :func:`~tandem.program.evaluation.render.render_html_body`, which draws the
charts as ``data:`` images: the site's Content-Security-Policy allows those and no inline
style (see :mod:`tandem.web.security`).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response

from tandem.program import reports
from tandem.program.cohorts import CohortError
from tandem.program.evaluation import render as report_render
from tandem.program.evaluation import report as evaluation
from tandem.web.console import Console, to_login

DOWNLOADS = {
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
"""The report's formats (those of ``tandem report --format``) and their media types."""


def attachment(content: bytes, media_type: str, filename: str) -> Response:
    """``content`` as a file to save as ``filename`` (any characters: an ASCII stand-in for
    old browsers, the name itself in UTF-8 for the others)."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in " ._-") else "_" for c in filename)
    disposition = f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(content, media_type=media_type, headers={"content-disposition": disposition})


class ReportPages:
    """The report's and the feedback's routes, behind the console's sign-in;
    :meth:`register` adds them to an app."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.site = console.site

    def register(self, app: FastAPI) -> None:
        base = "/console/cohorts/{name}"
        app.add_api_route(f"{base}/report", self.report, methods=["GET"])
        app.add_api_route(f"{base}/report.{{fmt}}", self.report_download, methods=["GET"])
        app.add_api_route(f"{base}/mentors/{{mentor_id}}/feedback", self.feedback, methods=["GET"])
        app.add_api_route(
            f"{base}/mentors/{{mentor_id}}/feedback.html", self.mentor_page, methods=["GET"]
        )

    def report(self, request: Request, name: str) -> Response:
        """The cohort report as ``tandem report`` draws it, with its downloads, and the
        cohort's mentors, each linking to their feedback."""
        if (who := self.console.signed_in(request)) is None:
            return to_login()
        now = self.site.clock()
        try:
            data = evaluation.cohort_report(self.site.db, name, now=now)
            pairs = reports.cohort_status(self.site.db, name, now)
        except CohortError:
            return self.console.missing(request, who)
        return self.console.view(
            request,
            who,
            "console/report.html",
            cohort=name,
            body=report_render.render_html_body(data),
            formats=list(DOWNLOADS),
            mentors=sorted({(p.mentor_id, p.mentor) for p in pairs}),
        )

    def report_download(self, request: Request, name: str, fmt: str) -> Response:
        """The report as a file: the same bytes as ``tandem report --format FMT --out``."""
        if (who := self.console.signed_in(request)) is None:
            return to_login()
        if fmt not in DOWNLOADS:
            return self.console.missing(request, who)
        try:
            data = evaluation.cohort_report(self.site.db, name, now=self.site.clock())
        except CohortError:
            return self.console.missing(request, who)
        content = report_render.report_file(data, fmt)
        return attachment(content, DOWNLOADS[fmt], f"{name} report.{fmt}")

    def mentor_of(self, name: str, mentor_id: str) -> str | None:
        """The name of the mentor ``mentor_id`` of cohort ``name``, or None if there is none
        (raises CohortError for an unknown cohort)."""
        pairs = reports.cohort_status(self.site.db, name, self.site.clock())
        return next((p.mentor for p in pairs if p.mentor_id == mentor_id), None)

    def feedback(self, request: Request, name: str, mentor_id: str) -> Response:
        """A mentor's feedback as they would read it, or, where the library refuses it (too
        few of their mentees answered: one mentee's answers would show), why not."""
        if (who := self.console.signed_in(request)) is None:
            return to_login()
        try:
            mentor = self.mentor_of(name, mentor_id)
        except CohortError:
            return self.console.missing(request, who)
        if mentor is None:
            return self.console.missing(request, who)
        try:
            data = evaluation.mentor_feedback(self.site.db, name, mentor_id, now=self.site.clock())
        except evaluation.FeedbackRefusedError as refusal:
            body: str | None = None
            refused: str | None = str(refusal)
        else:
            body, refused = report_render.render_mentor_html_body(data), None
        return self.console.view(
            request,
            who,
            "console/feedback.html",
            cohort=name,
            mentor=mentor,
            mentor_id=mentor_id,
            body=body,
            refused=refused,
        )

    def mentor_page(self, request: Request, name: str, mentor_id: str) -> Response:
        """A mentor's feedback as the page to send them (``tandem report mentor`` writes it)."""
        if (who := self.console.signed_in(request)) is None:
            return to_login()
        try:
            data = evaluation.mentor_feedback(self.site.db, name, mentor_id, now=self.site.clock())
        except (CohortError, evaluation.FeedbackRefusedError):
            return self.console.missing(request, who)
        content = report_render.render_mentor_html(data).encode("utf-8")
        return attachment(content, DOWNLOADS["html"], f"{name} feedback {mentor_id}.html")
