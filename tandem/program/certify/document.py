"""One-page certificates for people: HTML (Jinja2) and PDF (fpdf2).

Both show the certificate id and plain instructions for verifying the signed credential
file that accompanies them. The wording lives in ``templates/certificate.html.j2`` and
``templates/certificate.pdf.j2``; this module only lays it out.

The PDF embeds the fonts shipped in ``fonts/`` (see its README.txt): Noto Sans for Latin,
Greek and Cyrillic, and, only when the text needs them, Noto Sans Arabic, Noto Sans Hebrew,
Droid Sans Fallback (Chinese, Japanese, Korean) and the Noto Sans of the scripts of South
and Southeast Asia, Ethiopia, Georgia and Armenia. Text is shaped with HarfBuzz, so Arabic
letters join, Indic vowel signs and conjuncts form, and right-to-left names read right to
left. A character no font has is refused (:class:`CertificateDocumentError`) rather than
printed as a box; ``font_path`` adds a TrueType font to try first.
"""

from __future__ import annotations

import copy
import io
import unicodedata
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from tandem.program.certify.credentials import (
    GRANTED_TEXT,
    CertificateFacts,
    IssuerProfile,
    credential_filename,
)
from tandem.program.errors import ProgramError

if TYPE_CHECKING:
    from fpdf import FPDF
    from fpdf.fonts import TTFFont


class CertificateDocumentError(ProgramError):
    """A certificate document cannot be produced."""


MAX_PRINTED_NAME = 300
"""The longest name (in characters) a certificate prints; the roster allows fewer."""


class VerificationHint(BaseModel):
    """What a reader needs to verify: the signed file's name and where the keys are."""

    model_config = ConfigDict(frozen=True)

    credential_file: str = Field(min_length=1)
    jwks_url: str | None = None
    revocations_url: str | None = None


def verification_hint_for(
    facts: CertificateFacts, jwks_url: str | None = None, revocations_url: str | None = None
) -> VerificationHint:
    """The hint for ``facts``' credential file (named by :func:`credential_filename`)."""
    return VerificationHint(
        credential_file=credential_filename(facts.credential_id),
        jwks_url=jwks_url,
        revocations_url=revocations_url,
    )


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("tandem.program.certify", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def render_certificate_html(
    facts: CertificateFacts, issuer: IssuerProfile, verification_hint: VerificationHint
) -> str:
    """The certificate as a self-contained one-page HTML document (A4 print layout)."""
    template = _ENV.get_template("certificate.html.j2")
    return template.render(
        facts=facts, issuer=issuer, hint=verification_hint, granted_text=GRANTED_TEXT
    )


# Style name -> (style, size in pt, line height in mm, alignment).
_STYLES: dict[str, tuple[str, float, float, str]] = {
    "issuer": ("B", 12, 7, "C"),
    "title": ("B", 22, 11, "C"),
    "body": ("", 11, 5.5, "C"),
    "name": ("B", 24, 13, "C"),
    "heading": ("B", 12, 8, "L"),
    "para": ("", 10.5, 5.5, "L"),
    "field": ("", 10.5, 5.5, "L"),
    "mono": ("", 10, 5.5, "L"),
    "small": ("", 9, 4.6, "L"),
    "gap": ("", 6, 4, "L"),
}

MAX_NAME_LINES = 3
"""A long name is set smaller until it fits on this many lines (down to _MIN_NAME_PT)."""
_MIN_NAME_PT = 12.0

_FONTS = resources.files("tandem.program.certify").joinpath("fonts")
_MAIN = "noto"
_MAIN_FILES = {"": "NotoSans-Regular.ttf", "B": "NotoSans-Bold.ttf"}
"""Latin, Greek and Cyrillic."""
_FALLBACKS: tuple[tuple[str, dict[str, str]], ...] = (
    ("arabic", {"": "NotoSansArabic-Regular.ttf", "B": "NotoSansArabic-Bold.ttf"}),
    ("hebrew", {"": "NotoSansHebrew-Regular.ttf"}),
    ("devanagari", {"": "NotoSansDevanagari-Regular.ttf"}),
    ("bengali", {"": "NotoSansBengali-Regular.ttf"}),
    ("gurmukhi", {"": "NotoSansGurmukhi-Regular.ttf"}),
    ("gujarati", {"": "NotoSansGujarati-Regular.ttf"}),
    ("oriya", {"": "NotoSansOriya-Regular.ttf"}),
    ("tamil", {"": "NotoSansTamil-Regular.ttf"}),
    ("telugu", {"": "NotoSansTelugu-Regular.ttf"}),
    ("kannada", {"": "NotoSansKannada-Regular.ttf"}),
    ("malayalam", {"": "NotoSansMalayalam-Regular.ttf"}),
    ("sinhala", {"": "NotoSansSinhala-Regular.ttf"}),
    ("thai", {"": "NotoSansThai-Regular.ttf"}),
    ("lao", {"": "NotoSansLao-Regular.ttf"}),
    ("khmer", {"": "NotoSansKhmer-Regular.ttf"}),
    ("myanmar", {"": "NotoSansMyanmar-Regular.ttf"}),
    ("ethiopic", {"": "NotoSansEthiopic-Regular.ttf"}),
    ("georgian", {"": "NotoSansGeorgian-Regular.ttf"}),
    ("armenian", {"": "NotoSansArmenian-Regular.ttf"}),
    ("cjk", {"": "DroidSansFallback.ttf"}),
)
"""Fonts for the characters the main font lacks, tried in this order (bold falls back to
regular where a font has no bold). Only those a certificate needs are embedded."""


@cache
def _characters(path: str) -> frozenset[int]:
    """The code points a font file has glyphs for (read once per process)."""
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


def _font_path(filename: str) -> str:
    return str(_FONTS.joinpath(filename))


def _fonts_for(text: str, extra: Path | None) -> list[tuple[str, dict[str, str]]]:
    """The fallback fonts ``text`` needs, in order.

    Raises :class:`CertificateDocumentError` naming the characters no font has.
    """
    candidates = [
        (name, {k: _font_path(v) for k, v in files.items()}) for name, files in _FALLBACKS
    ]
    if extra is not None:
        candidates.insert(0, ("extra", {"": str(extra)}))
    main = _characters(_font_path(_MAIN_FILES[""]))
    needed: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for char in sorted({c for c in text if ord(c) not in main and c.isprintable()}):
        for name, files in candidates:
            if ord(char) in _characters(files[""]):
                needed[name] = files
                break
        else:
            if unicodedata.category(char) not in ("Cf", "Mn", "Zs"):  # invisible: shaping only
                described = unicodedata.name(char, "")
                missing.append(f"U+{ord(char):04X}" + (f" ({described})" if described else ""))
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise CertificateDocumentError(
            f"the certificate fonts have no glyph for {shown}; correct the name in the roster "
            "(tandem import) and issue the certificate again"
        )
    return [(name, files) for name, files in candidates if name in needed]


def _paragraphs(text: str) -> list[tuple[str, str]]:
    """Split the rendered PDF template into (style, text) paragraphs."""
    paragraphs: list[tuple[str, str]] = []
    for line in text.splitlines():
        style, sep, content = line.partition("|")
        if sep and style in _STYLES:
            paragraphs.append((style, content.strip()))
        elif line.strip() and paragraphs:  # a value that contained a line break
            last_style, last_text = paragraphs[-1]
            paragraphs[-1] = (last_style, f"{last_text} {line.strip()}")
    return paragraphs


def _select_font(pdf: FPDF, style: str, size: float) -> None:
    pdf.set_font(_MAIN, style=style, size=size)
    # fpdf2 2.8 forgets to select the main font again on a page whose previous line began
    # in a fallback font (the text then shows nothing): select it explicitly every time.
    assert pdf.current_font is not None  # set_font just set it
    pdf._out(pdf._set_font_for_page(pdf.current_font, pdf.font_size_pt))
    pdf.current_font_is_set_on_page = True


def _close_fonts(pdf: FPDF) -> None:
    """Close the font files of a layout that is not output (output closes them)."""
    for font in pdf.fonts.values():
        close = getattr(font, "close", None)
        if close is not None:
            close()


def _name_size(pdf: FPDF, name: str, size: float) -> float:
    """The largest size (≤ ``size``, ≥ half of it) that sets ``name`` in MAX_NAME_LINES."""
    smallest = size * _MIN_NAME_PT / 24
    while True:
        pdf.set_font(_MAIN, style="B", size=size)
        lines = pdf.multi_cell(0, 10, name, align="C", dry_run=True, output="LINES")
        assert isinstance(lines, list)  # output="LINES" gives the lines
        if len(lines) <= MAX_NAME_LINES or size <= smallest:
            return size
        size = max(smallest, size * 0.9)


@cache
def _parsed_font(family: str, style: str, path: str) -> tuple[TTFFont, bytes]:
    """The font file at ``path`` as fpdf2 parses it, and the file's bytes: once per process.

    fpdf2 parses a font file again for every document (a quarter of a certificate's time,
    more with the CJK font); :func:`_add_font` gives each document its own copy instead.
    """
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

    scratch = FPDF()
    scratch.add_font(family, style=style, fname=path)
    font = scratch.fonts[f"{family.lower()}{style}"]
    assert isinstance(font, TTFFont)
    _ = font.hbfont  # the HarfBuzz face, made once and shared: shaping only reads it
    data = Path(path).read_bytes()
    font.ttfont.close()
    return font, data


def _add_font(pdf: FPDF, family: str, style: str, path: str) -> None:
    """``pdf.add_font`` from the per-process parse: the parsed tables (characters, glyph
    ids, HarfBuzz face) are shared; what a document changes is its own (the widths looked
    up, the glyphs used, the font program that output subsets in place, the descriptor)."""
    from fontTools.ttLib import TTFont as FontFile
    from fpdf.fonts import SubsetMap

    parsed, data = _parsed_font(family, style, path)
    font = copy.copy(parsed)
    font.i = len(pdf.fonts) + 1
    font.ttfont = FontFile(io.BytesIO(data), recalcTimestamp=False, lazy=True)
    font.cw = copy.copy(parsed.cw)  # a defaultdict: looking up a width adds it
    font.desc = copy.copy(parsed.desc)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    pdf.fonts[font.fontkey] = font
    if font.is_cff and font.is_cid_keyed:  # as add_font does
        pdf._set_min_pdf_version("1.6")


def _add_fonts(pdf: FPDF, fallbacks: list[tuple[str, dict[str, str]]]) -> None:
    for style, filename in _MAIN_FILES.items():
        _add_font(pdf, _MAIN, style, _font_path(filename))
    for name, files in fallbacks:
        for style, path in files.items():
            _add_font(pdf, name, style, path)
    if fallbacks:
        pdf.set_fallback_fonts([name for name, _ in fallbacks], exact_match=False)
    # HarfBuzz shaping: Arabic letters join and right-to-left runs read right to left.
    pdf.set_text_shaping(True)


def add_unicode_fonts(pdf: FPDF, text: str) -> None:
    """Give ``pdf`` the shipped Unicode fonts that ``text`` needs (Latin, Greek, Cyrillic,
    Arabic, Hebrew, CJK) with text shaping; select them with :func:`set_text_font`.

    Raises :class:`CertificateDocumentError` naming characters no shipped font has.
    """
    _add_fonts(pdf, _fonts_for(text, None))


def set_text_font(pdf: FPDF, style: str, size: float) -> None:
    """Select the main Unicode font (``""`` or ``"B"``) at ``size`` points."""
    _select_font(pdf, style, size)


def _layout(
    paragraphs: list[tuple[str, str]],
    facts: CertificateFacts,
    issuer: IssuerProfile,
    scale: float,
    fallbacks: list[tuple[str, dict[str, str]]],
) -> FPDF:
    from fpdf import FPDF  # imported here: fpdf takes a second to load, and few commands need it

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(f"{facts.achievement_name}: {facts.mentor_name}")
    pdf.set_author(issuer.name)
    pdf.set_subject(facts.credential_id)
    pdf.set_creator("Tandem")
    pdf.set_creation_date(facts.issued_at)
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=15)
    _add_fonts(pdf, fallbacks)
    pdf.add_page()
    pdf.set_draw_color(29, 78, 137)
    pdf.set_line_width(0.8)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    for style_name, text in paragraphs:
        style, size, height, align = _STYLES[style_name]
        if style_name == "heading":
            pdf.ln(2 * scale)
        size, height = size * scale, height * scale
        if style_name == "name":
            smaller = _name_size(pdf, text, size)
            size, height = smaller, height * smaller / size
        _select_font(pdf, style, size)
        pdf.multi_cell(0, height, text, align=align, new_x="LMARGIN", new_y="NEXT")
    return pdf


def render_certificate_pdf(
    facts: CertificateFacts,
    issuer: IssuerProfile,
    verification_hint: VerificationHint,
    font_path: Path | None = None,
) -> bytes:
    """The certificate as a one-page A4 PDF, in any script the shipped fonts cover.

    A long name is set smaller (down to half size) to fit on :data:`MAX_NAME_LINES` lines,
    and long criteria make everything smaller until it fits on one page. Raises
    :class:`CertificateDocumentError` when the name is longer than :data:`MAX_PRINTED_NAME`,
    when a character has no glyph in any font, or when the page does not fit even at 60 %.
    """
    text = _ENV.get_template("certificate.pdf.j2").render(
        facts=facts, issuer=issuer, hint=verification_hint, granted_text=GRANTED_TEXT
    )
    if len(facts.mentor_name) > MAX_PRINTED_NAME:
        raise CertificateDocumentError(
            f"certificate {facts.credential_id}: the mentor's name has "
            f"{len(facts.mentor_name):,} characters, more than a certificate can show "
            f"({MAX_PRINTED_NAME}); shorten it in the roster and import it again"
        )
    paragraphs = _paragraphs(text)
    fallbacks = _fonts_for(text, font_path)
    for scale in (1.0, 0.9, 0.8, 0.7, 0.6):
        pdf = _layout(paragraphs, facts, issuer, scale, fallbacks)
        if pdf.pages_count == 1:
            return bytes(pdf.output())  # closes the font files
        _close_fonts(pdf)
        if pdf.pages_count > 3:  # the height shrinks with scale squared: 0.6 fits < 2.8 pages
            break
    raise CertificateDocumentError(
        f"certificate {facts.credential_id} does not fit on one page even in small print; "
        "shorten the achievement description or the criteria narrative"
    )
