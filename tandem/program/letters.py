"""Completion letters for mentees: a page they can show, as HTML and as a PDF (fpdf2).

The wording lives in ``templates/completion_letter.txt.j2`` (the paragraphs) and
``templates/completion_letter.html.j2`` (the web page around them); this module fills
them in and lays out the PDF, in the style of the mentors' certificates.
"""

from __future__ import annotations

from datetime import date

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from tandem.program.certify.document import add_unicode_fonts, set_text_font
from tandem.program.outbox.mail import Attachment

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("tandem.program", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


class CompletionLetter(BaseModel):
    """The facts a completion letter states."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mentee_name: str = Field(min_length=1)
    mentor_name: str = Field(min_length=1)
    cohort_name: str = Field(min_length=1)
    weeks_total: int = Field(ge=1)
    start: date
    end: date
    issued: date
    signatory: str = Field(min_length=1)
    """Who signs: the coordinator, or the program's team."""
    contact: str = ""
    """The coordinator's e-mail, for anyone who wants to confirm the letter."""
    competencies: tuple[str, ...] = ()
    """What the curriculum's weeks covered (competency labels)."""

    @property
    def start_on(self) -> str:
        return _long_date(self.start)

    @property
    def end_on(self) -> str:
        return _long_date(self.end)

    @property
    def issued_on(self) -> str:
        return _long_date(self.issued)


def _long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def letter_paragraphs(letter: CompletionLetter) -> list[str]:
    """The letter's paragraphs, as its template words them."""
    text = _ENV.get_template("completion_letter.txt.j2").render(letter=letter)
    return [line.strip() for line in text.splitlines() if line.strip()]


def render_letter_html(letter: CompletionLetter) -> str:
    """The letter as a self-contained web page (prints on one A4 page)."""
    return _ENV.get_template("completion_letter.html.j2").render(
        letter=letter, paragraphs=letter_paragraphs(letter)
    )


def render_letter_pdf(letter: CompletionLetter) -> bytes:
    """The letter as a one-page A4 PDF, in any script the certificate fonts cover."""
    from fpdf import FPDF  # imported here: fpdf takes a second to load

    paragraphs = letter_paragraphs(letter)
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    add_unicode_fonts(
        pdf,
        "\n".join([*paragraphs, letter.issued_on, letter.signatory, letter.cohort_name])
        + (letter.contact or ""),
    )
    pdf.set_title(f"Letter of completion: {letter.mentee_name}")
    pdf.set_author(letter.cohort_name)
    pdf.set_creator("Tandem")
    pdf.set_margins(25, 25, 25)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()

    def line(text: str, size: float = 11, style: str = "", height: float = 6) -> None:
        set_text_font(pdf, style, size)
        pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")

    line(letter.issued_on)
    pdf.ln(6)
    line("Letter of completion", size=16, style="B", height=9)
    pdf.ln(4)
    line("To whom it may concern,")
    for paragraph in paragraphs:
        pdf.ln(3)
        line(paragraph)
    pdf.ln(10)
    line(letter.signatory)
    line(letter.cohort_name)
    if letter.contact:
        line(letter.contact)
    return bytes(pdf.output())


def letter_attachments(letter: CompletionLetter, stem: str) -> tuple[Attachment, ...]:
    """The letter as a PDF and an HTML attachment named ``stem``.pdf and ``stem``.html."""
    return (
        Attachment(
            filename=f"{stem}.pdf",
            maintype="application",
            subtype="pdf",
            data=render_letter_pdf(letter),
        ),
        Attachment(
            filename=f"{stem}.html",
            maintype="text",
            subtype="html",
            data=render_letter_html(letter).encode("utf-8"),
            params=(("charset", "utf-8"),),
        ),
    )
