"""The cohort report and mentor feedback in files: one self-contained HTML page (charts as
inline SVG drawn with matplotlib), JSON, a long-format CSV, an XLSX workbook; and the same
HTML without the page around it, for a page that embeds it (the console's).

Every format renders the dictionary of :func:`~tandem.program.evaluation.report.cohort_report`
as it is, so a group suppressed there carries no figures here either.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import IO, Any

import jinja2

from tandem.program.roster.files import write_csv_rows

_ROLE_LABEL = {"mentor": "Mentors (self-assessment)", "mentee": "Mentees (about their mentor)"}
_COLOURS = {"before": "#9aa5b1", "after": "#1f6f8b", "bar": "#1f6f8b", "accent": "#e07b39"}
_drawing = threading.Lock()
"""pyplot keeps global state (its figures, its settings): one thread draws at a time (the
web app renders reports in a pool of threads)."""

REPORT_FORMATS = ("html", "json", "csv", "xlsx")
"""The formats of :func:`report_file`: what ``tandem report --format`` offers."""


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tandem.program.evaluation", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * v:.0f} %"
    env.filters["num"] = lambda v, d=2: "—" if v is None else f"{v:.{d}f}"
    env.filters["tally"] = lambda texts: sorted(Counter(texts).items())
    env.filters["p"] = lambda v: "—" if v is None else ("< 0.001" if v < 0.001 else f"{v:.3f}")
    env.filters["data_uri"] = _data_uri
    return env


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# --------------------------------------------------------------------------- charts


def _svg(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    # the page needs the drawing only: no XML prolog, no RDF metadata block
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    return text[text.index("<svg") :]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "tandem",
            "font.family": "sans-serif",
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _funnel_chart(funnel: Sequence[dict[str, Any]]) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 2.6))
    labels = [f"{row['stage']} ({row['unit']})" for row in funnel][::-1]
    counts = [row["count"] for row in funnel][::-1]
    bars = axes.barh(labels, counts, color=_COLOURS["bar"])
    axes.bar_label(bars, padding=3)
    axes.set_xlabel("people")
    return _svg(figure)


def _meeting_chart(weeks: Sequence[dict[str, Any]]) -> str | None:
    shown = [w for w in weeks if not w["suppressed"]]
    if not shown:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 2.6))
    axes.plot(
        [w["week"] for w in shown],
        [100 * w["rate"] for w in shown],
        marker="o",
        color=_COLOURS["bar"],
    )
    axes.set_ylim(0, 105)
    axes.set_xlabel("program week")
    axes.set_ylabel("pairs that met (%)")
    axes.set_xticks([w["week"] for w in weeks])
    return _svg(figure)


def _gains_chart(rows: Sequence[dict[str, Any]], role: str, comparison: str) -> str | None:
    shown = [
        r
        for r in rows
        if r["role"] == role and r["comparison"] == comparison and not r["suppressed"]
    ]
    if not shown:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.42 * len(shown) + 0.9))
    labels = [r["label"] for r in shown][::-1]
    before = [r["before_mean"] for r in shown][::-1]
    after = [r["after_mean"] for r in shown][::-1]
    positions = range(len(shown))
    axes.hlines(positions, before, after, color="#c8ced4", linewidth=3)
    axes.scatter(before, positions, color=_COLOURS["before"], label="before", zorder=3)
    axes.scatter(after, positions, color=_COLOURS["after"], label="after", zorder=3)
    axes.set_yticks(list(positions), labels)
    axes.set_xlim(1, 7)
    axes.set_xlabel("mean rating (1–7)")
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, ncols=2)
    return _svg(figure)


def _intent_chart(intent: dict[str, Any]) -> str | None:
    parts = [
        ("intend to change (close)", intent["intend"]),
        ("changed (3 months on)", intent["changed"]),
        ("changed, of those intending", intent["changed_of_intending"]),
    ]
    shown = [(label, part) for label, part in parts if not part["suppressed"]]
    if not shown:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.5 * len(shown) + 0.8))
    labels = [label for label, _ in shown][::-1]
    values = [100 * part["share"] for _, part in shown][::-1]
    bars = axes.barh(labels, values, color=_COLOURS["accent"])
    axes.bar_label(bars, fmt="%.0f %%", padding=3)
    axes.set_xlim(0, 110)
    axes.set_xlabel("mentors (%)")
    return _svg(figure)


def _satisfaction_chart(rows: Sequence[dict[str, Any]]) -> str | None:
    shown = [r for r in rows if not r["suppressed"]]
    if not shown:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.5 * len(shown) + 1.0))
    levels = sorted({int(k) for r in shown for k in r["distribution"]})
    colours = plt.get_cmap("RdYlBu")([i / max(1, len(levels) - 1) for i in range(len(levels))])
    labels = [f"{r['item'].replace('_', ' ')} — {r['role']}s" for r in shown][::-1]
    left = [0.0] * len(shown)
    for level, colour in zip(levels, colours, strict=True):
        widths = [100 * r["distribution"].get(str(level), 0) / r["n"] for r in shown][::-1]
        axes.barh(labels, widths, left=left, color=colour, label=str(level))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set_xlim(0, 100)
    axes.set_xlabel("respondents (%): 1 = strongly disagree … 5 = strongly agree")
    axes.legend(ncols=len(levels), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _svg(figure)


def _match_chart(quality: dict[str, Any]) -> str | None:
    if not quality.get("histogram"):
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 2.4))
    bins = quality["histogram"]
    axes.bar(
        [b["low"] + 5 for b in bins],
        [b["count"] for b in bins],
        width=9,
        color=_COLOURS["bar"],
    )
    axes.set_xlim(0, 100)
    axes.set_xlabel("compatibility score of each pair (0–100)")
    axes.set_ylabel("pairs")
    return _svg(figure)


# --------------------------------------------------------------------------- formats


def _charts(report: dict[str, Any]) -> dict[str, Any]:
    with _drawing:
        return {
            "funnel": _funnel_chart(report["funnel"]),
            "meetings": _meeting_chart(report["weekly_meeting_rate"]),
            "gains": {
                (role, comparison): _gains_chart(report["competency_gains"], role, comparison)
                for role in ("mentor", "mentee")
                for comparison in ("retrospective", "baseline")
            },
            "intent": _intent_chart(report["intent_to_change"]),
            "satisfaction": _satisfaction_chart(report["satisfaction"]),
            "match": _match_chart(report["match_quality"]),
        }


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    return (
        _templates()
        .get_template("report.html.j2")
        .render(report=report, charts=_charts(report), role_label=_ROLE_LABEL, inline_charts=True)
    )


def render_html_body(report: dict[str, Any]) -> str:
    """The report's content without its page (no ``<html>``, style sheet or title), for a
    page to embed under a Content-Security-Policy that forbids inline styles: each chart
    is an ``<img>`` of its SVG as a ``data:`` URI, with a text alternative (inline SVG
    from matplotlib styles itself with ``style`` attributes, which such a policy blocks).

    The page around it styles the classes the self-contained page's style sheet does
    (``sub``, ``note``, ``cards``, ``card``, ``num``, ``suppressed``, ``texts``, ``count``)."""
    return (
        _templates()
        .get_template("_report_body.html.j2")
        .render(report=report, charts=_charts(report), role_label=_ROLE_LABEL, inline_charts=False)
    )


def render_mentor_html(feedback: dict[str, Any]) -> str:
    """A mentor's feedback as one self-contained HTML page."""
    return _templates().get_template("mentor.html.j2").render(feedback=feedback)


def render_mentor_html_body(feedback: dict[str, Any]) -> str:
    """A mentor's feedback without its page, for a page that embeds it (no style sheet)."""
    return _templates().get_template("_mentor_body.html.j2").render(feedback=feedback)


def report_file(report: dict[str, Any], fmt: str) -> bytes:
    """The report as the content of a file in ``fmt`` (one of :data:`REPORT_FORMATS`): the
    self-contained HTML page, indented JSON, the long-format CSV or the XLSX workbook (the
    text formats in UTF-8). Raises ValueError for another format."""
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"no report format {fmt!r}: use one of {', '.join(REPORT_FORMATS)}")
    if fmt == "json":
        return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if fmt == "csv":
        text = io.StringIO()
        write_csv(report, text)
        return text.getvalue().encode("utf-8")
    if fmt == "xlsx":
        book = io.BytesIO()
        write_xlsx(report, book)
        return book.getvalue()
    return render_html(report).encode("utf-8")


CSV_COLUMNS = ("section", "group", "metric", "value")


def _long_rows(report: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The report in long form: (section, group, metric, value); a suppressed group has one
    row, ``suppressed = yes``."""
    for stage in report["funnel"]:
        yield ("funnel", f"{stage['stage']} ({stage['unit']})", "count", stage["count"])
    for key, value in report["retention"].items():
        yield ("retention", "pairs", key, value)
    for week in report["weekly_meeting_rate"]:
        yield from _group("weekly_meeting_rate", f"week {week['week']}", week, ("week",))
    yield from _keyed("pairs_at_risk", report["pairs_at_risk"], "reasons", "reason", "pairs")
    for row in report["competency_gains"]:
        group = f"{row['competency']}/{row['role']}/{row['comparison']}"
        yield from _group(
            "competency_gains", group, row, ("competency", "label", "role", "comparison")
        )
    yield from _satisfaction_rows(report["satisfaction"])
    yield from _intent_rows(report["intent_to_change"])
    quality = dict(report["match_quality"])
    for b in quality.pop("histogram", []):
        yield ("match_quality", "histogram", f"{b['low']:g}–{b['high']:g}", b["count"])
    for key, value in quality.items():
        yield ("match_quality", "scores", key, value)


def _keyed(
    section: str, values: dict[str, Any], nested: str, nested_group: str, group: str
) -> Iterator[tuple[Any, ...]]:
    for key, value in values.items():
        if key == nested:
            for sub, count in value.items():
                yield (section, nested_group, sub, count)
        else:
            yield (section, group, key, value)


def _satisfaction_rows(rows: list[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        group = f"{row['item']}/{row['role']}"
        flat = {k: v for k, v in row.items() if k != "distribution"}
        yield from _group("satisfaction", group, flat, ("item", "text", "role"))
        for level, count in (row.get("distribution") or {}).items():
            yield ("satisfaction", group, f"answered {level}", count)


def _intent_rows(intent: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for part in ("intend", "changed", "changed_of_intending"):
        yield from _group("intent_to_change", part, intent[part], ("survey",))
    for key in ("what_intended", "what_changed"):
        for text in intent[key] or []:
            yield ("intent_to_change", key, "answer", text)


def _group(
    section: str, group: str, row: dict[str, Any], skip: Sequence[str]
) -> Iterator[tuple[Any, ...]]:
    for key, value in row.items():
        if key not in skip:
            yield (section, group, key, value)


def write_csv(report: dict[str, Any], out: IO[str]) -> None:
    """The report as a long-format CSV (see :func:`_long_rows`), spreadsheet-safe."""
    write_csv_rows(out, CSV_COLUMNS, _long_rows(report))


def write_xlsx(report: dict[str, Any], path: Path | IO[bytes]) -> None:
    """The report as a workbook (to a file, or a binary stream): participation, retention,
    check-ins by week, meeting rate, competency gains, satisfaction, intent to change,
    match quality."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from tandem.program.roster.files import neutralize

    def cell(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, dict):
            return "; ".join(f"{k}: {v}" for k, v in value.items())
        return neutralize(value) if isinstance(value, str) else value

    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)

    def sheet(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
        ws = book.create_sheet(title)
        ws.append(list(columns))
        for c in ws[1]:
            c.font = Font(bold=True)
        for row in rows:
            ws.append([cell(row.get(c)) for c in columns])
        for index, column in enumerate(columns, start=1):
            ws.column_dimensions[ws.cell(1, index).column_letter].width = max(12, len(column) + 2)

    sheet("Participation", report["funnel"], ("stage", "unit", "count"))
    sheet("Retention", [report["retention"]], tuple(report["retention"]))
    sheet(
        "Check-ins by week",
        report["checkins_by_week"],
        ("week", "mentor_checkins", "mentee_checkins", "reported_met"),
    )
    sheet(
        "Meeting rate",
        report["weekly_meeting_rate"],
        ("week", "pairs_due", "pairs_met", "rate", "suppressed"),
    )
    sheet(
        "Competency gains",
        report["competency_gains"],
        (
            "competency",
            "role",
            "comparison",
            "n",
            "before_mean",
            "after_mean",
            "statistic",
            "p_value",
            "effect_size",
            "median_difference",
            "ci_low",
            "ci_high",
            "suppressed",
        ),
    )
    sheet(
        "Satisfaction",
        report["satisfaction"],
        ("item", "role", "n", "mean", "median", "agree_share", "distribution", "suppressed"),
    )
    intent = report["intent_to_change"]
    sheet(
        "Intent to change",
        [{"measure": k, **intent[k]} for k in ("intend", "changed", "changed_of_intending")],
        ("measure", "survey", "n", "yes", "share", "suppressed"),
    )
    texts = [
        {"question": question, "answer": text}
        for question, key in (
            ("what mentors intend to change", "what_intended"),
            ("what mentors changed", "what_changed"),
        )
        for text in intent[key] or []
    ]
    sheet("Free text (no names)", texts, ("question", "answer"))
    quality = report["match_quality"]
    sheet(
        "Match quality",
        [{"measure": k, "value": v} for k, v in quality.items() if k != "histogram"]
        + [
            {"measure": f"scores {b['low']:g}–{b['high']:g}", "value": b["count"]}
            for b in quality.get("histogram", [])
        ],
        ("measure", "value"),
    )
    book.save(path)
