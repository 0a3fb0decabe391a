"""Matching benchmarks: end to end (`tandem match`), solve from a dense source, and the
``--scores`` path vs a baseline.

Not part of the test suite. Every case runs as a command line in its own process, through
a small wrapper process that reports the command's wall time and peak RSS
(``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of its only child), so cases never share memory
figures.

The end-to-end suite (``match``) generates mentor and mentee application files
(:mod:`bench.rosters`), imports them with ``tandem import`` into a fresh SQLite database
(not timed), then measures ``tandem --db URL match --cycle bench --out pairs.csv``, and
``tandem match --scores scores.csv`` against ``bench/minimal_flow.py`` on the same scores
file. Generated data goes to a temporary folder unless ``--data DIR`` names one to keep
(and reuse: rosters and databases that exist are not made again).

    python -m bench.bench_match                          # end to end, every size and kind
    python -m bench.bench_match --sizes small,medium --kinds popular
    python -m bench.bench_match --suites dense,scores    # the solver-only suites
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.host import machine, speed_line

SIZES = {"small": (1_000, 250), "medium": (5_000, 1_250), "large": (20_000, 5_000)}
PER_MENTEE_IN_FILE = {"small": 250, "medium": 200, "large": 100}
"""Listed mentors per mentee in generated scores files (small: every mentor)."""
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measurement:
    wall_seconds: float
    peak_rss_mib: float
    returncode: int
    report: dict[str, Any] = field(default_factory=dict)
    """The JSON object the command printed last on stdout, if any."""


@dataclass(frozen=True)
class Case:
    """One command line to measure, with a name for the table."""

    name: str
    command: list[str]


def measure(command: list[str]) -> Measurement:
    """Run ``command`` under the wrapper; its wall time, peak RSS and JSON report."""
    wrapped = [sys.executable, "-m", "bench.bench_match", "_wrap", "--", *command]
    done = subprocess.run(wrapped, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    outer = json.loads(lines[-1])
    return Measurement(
        wall_seconds=outer["wall_seconds"],
        peak_rss_mib=outer["peak_rss_mib"],
        returncode=outer["returncode"],
        report=outer["report"],
    )


def _wrap(command: list[str]) -> None:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sys.stderr.write(done.stderr)
    reports = [line for line in done.stdout.splitlines() if line.startswith("{")]
    print(
        json.dumps(
            {
                "wall_seconds": wall,
                "peak_rss_mib": peak,
                "returncode": done.returncode,
                "report": json.loads(reports[-1]) if reports else {},
            }
        )
    )


def _solve_dense(n_e: int, n_m: int, kind: str, trace: bool) -> None:
    from bench.gen import Kind, dense_scores
    from tandem.matcher import solve

    started = time.perf_counter()
    source = dense_scores(n_e, n_m, Kind(kind))
    generated = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        tracemalloc.start()
    result = solve(source)
    solved = time.perf_counter()
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    proof = result.proof
    print(
        json.dumps(
            {
                "generate_seconds": generated - started,
                "solve_seconds": solved - generated,
                "rss_before_solve_mib": rss_before,
                "tracemalloc_peak_mib": traced,
                "matched": result.matched_count,
                "total_points": result.total_points,
                "rounds": len(proof.rounds) if proof else 0,
                "proof": proof.kind.value if proof else None,
                "timings": {t.phase: round(t.seconds, 3) for t in result.timings},
            }
        )
    )


def _solve_scores(folder: Path, out: Path) -> None:
    import csv

    from tandem.matcher import solve
    from tandem.matcher.inputs import parse_scores

    started = time.perf_counter()
    mentees = (folder / "mentees.csv").read_text(encoding="utf-8").split()[1:]
    with (folder / "mentors.csv").open(encoding="utf-8") as f:
        capacities = {row[0]: int(row[1]) for row in list(csv.reader(f))[1:]}
    text = (folder / "scores.csv").read_text(encoding="utf-8")
    source = parse_scores(text, "scores.csv", mentee_ids=mentees, capacities=capacities)
    parsed = time.perf_counter()
    result = solve(source)
    solved = time.perf_counter()
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["mentee_id", "mentor_id", "points"])
        writer.writerows((p.mentee_id, p.mentor_id, p.points) for p in result.pairs)
    print(
        json.dumps(
            {
                "parse_seconds": parsed - started,
                "solve_seconds": solved - parsed,
                "matched": result.matched_count,
                "total_points": result.total_points,
            }
        )
    )


def _total(path: Path) -> tuple[int, int]:
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return len(rows), sum(int(r.rsplit(",", 1)[1]) for r in rows)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def tandem_command() -> list[str]:
    """The ``tandem`` console script of this Python (or the CLI run through ``-c``)."""
    script = Path(sys.executable).parent / "tandem"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from tandem.cli import main; main()"]


def _pairs_total(path: Path) -> tuple[int, int]:
    """(pairs, total points) of a pairs CSV: its ``points`` column, or the ``score`` column
    of ``tandem match --out`` (exact to 1/SCALE) in points."""
    from decimal import Decimal

    from tandem.matcher.compat import SCALE

    with path.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("mentor_id")]
    if rows and "points" not in rows[0]:
        return len(rows), sum(round(Decimal(r["score"]) * SCALE) for r in rows)
    return len(rows), sum(int(r["points"]) for r in rows)


def _drop_excluded_pairs(roster: Path, scores: Path) -> None:
    """A coordinator's scores file lists no pair that a conflict of interest rules out:
    `tandem match --scores` enforces ``excluded`` anyway, and the minimal script must solve
    the same problem for the comparison to mean anything."""
    import csv

    excluded = set()
    for role in ("mentees", "mentors"):
        with (roster / f"{role}.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for other in filter(None, (row.get("excluded") or "").split(";")):
                    pair = (row["id"], other) if role == "mentees" else (other, row["id"])
                    excluded.add(pair)
    if not excluded:
        return
    lines = scores.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if tuple(line.split(",")[:2]) not in excluded]
    scores.write_text("".join(kept), encoding="utf-8")


def prepare_roster(folder: Path, n_e: int, n_m: int, kind: str, per_mentee: int) -> Path:
    """Rosters, scores file and an imported database in ``folder``; returns the database.

    Skips whatever already exists, so a kept ``--data`` folder is reused.
    """
    from bench.gen import Kind, write_score_files
    from bench.rosters import write_rosters

    database = folder / "roster.sqlite"
    if database.exists():
        return database
    write_rosters(folder / "roster", n_e, n_m, Kind(kind))
    write_score_files(folder / "scores", n_e, n_m, per_mentee, Kind(kind))
    _drop_excluded_pairs(folder / "roster", folder / "scores" / "scores.csv")
    partial = folder / "importing.sqlite"
    partial.unlink(missing_ok=True)
    for role in ("mentors", "mentees"):
        subprocess.run(
            [
                *tandem_command(),
                "--db",
                f"sqlite:///{partial}",
                "import",
                role,
                str(folder / "roster" / f"{role}.csv"),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    partial.rename(database)
    return database


def run_end_to_end(sizes: list[str], kinds: list[str], data: Path) -> None:
    """`tandem match` from profiles, and with ``--scores`` against the minimal script."""
    python, tandem = sys.executable, tandem_command()
    rows = []
    for size in sizes:
        n_e, n_m = SIZES[size]
        for kind in kinds:
            folder = data / f"{size}-{kind}"
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            database = prepare_roster(folder, n_e, n_m, kind, PER_MENTEE_IN_FILE[size])
            prepared = time.perf_counter() - started
            run_db = folder / "run.sqlite"
            shutil.copyfile(database, run_db)
            url = f"sqlite:///{run_db}"
            profiles = measure(
                [
                    *tandem,
                    "--db",
                    url,
                    "match",
                    "--cycle",
                    "bench",
                    "--out",
                    str(folder / "pairs.csv"),
                ]
            )
            matched, _ = _pairs_total(folder / "pairs.csv") if profiles.returncode == 0 else (0, 0)
            shutil.copyfile(database, run_db)
            ours = measure(
                [
                    *tandem,
                    "--db",
                    url,
                    "match",
                    "--cycle",
                    "bench",
                    "--scores",
                    str(folder / "scores" / "scores.csv"),
                    "--out",
                    str(folder / "pairs-scores.csv"),
                ]
            )
            base = measure(
                [python, "bench/minimal_flow.py", str(folder / "scores"), str(folder / "base.csv")]
            )
            same = (
                ours.returncode == 0
                and base.returncode == 0
                and _pairs_total(folder / "pairs-scores.csv") == _pairs_total(folder / "base.csv")
            )
            rows.append(
                [
                    f"{n_e:,}×{n_m:,} {kind}",
                    f"{profiles.wall_seconds:.1f}"
                    + ("" if profiles.returncode == 0 else " (failed)"),
                    f"{profiles.peak_rss_mib:.0f}",
                    f"{matched:,}",
                    f"{ours.wall_seconds:.1f}",
                    f"{ours.peak_rss_mib:.0f}",
                    f"{base.wall_seconds:.1f}",
                    f"{ours.wall_seconds / base.wall_seconds:.2f}",
                    "yes" if same else "NO",
                ]
            )
            print(
                f"{rows[-1][0]}: from profiles {profiles.wall_seconds:.1f} s, "
                f"--scores {ours.wall_seconds:.1f} s vs {base.wall_seconds:.1f} s "
                f"(data ready in {prepared:.0f} s)",
                flush=True,
            )
    print()
    print(
        table(
            [
                "roster",
                "match s",
                "match MiB",
                "matched",
                "--scores s",
                "--scores MiB",
                "minimal s",
                "ratio",
                "same optimum",
            ],
            rows,
        )
    )


def run(sizes: list[str], kinds: list[str], trace: bool) -> None:
    python = sys.executable
    dense_rows = []
    for size in sizes:
        n_e, n_m = SIZES[size]
        for kind in kinds:
            case = Case(
                f"dense {n_e}×{n_m} {kind}",
                [python, "-m", "bench.bench_match", "_solve-dense", str(n_e), str(n_m), kind]
                + (["--trace"] if trace else []),
            )
            m = measure(case.command)
            r = m.report
            dense_rows.append(
                [
                    case.name,
                    f"{r.get('solve_seconds', float('nan')):.2f}",
                    f"{m.peak_rss_mib:.0f}",
                    f"{r.get('rss_before_solve_mib', float('nan')):.0f}",
                    f"{r['tracemalloc_peak_mib']:.0f}" if r.get("tracemalloc_peak_mib") else "-",
                    str(r.get("rounds", "?")),
                    str(r.get("proof", "?")),
                    str(r.get("matched", "?")),
                ]
            )
            print(case.name, json.dumps(r.get("timings", {})), flush=True)
    print()
    print(
        table(
            [
                "case",
                "solve s",
                "peak RSS MiB",
                "RSS before MiB",
                "tracemalloc MiB",
                "rounds",
                "proof",
                "matched",
            ],
            dense_rows,
        )
    )
    score_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            n_e, n_m = SIZES[size]
            for kind in kinds:
                from bench.gen import Kind, write_score_files

                folder = Path(tmp) / f"{size}-{kind}"
                write_score_files(folder, n_e, n_m, PER_MENTEE_IN_FILE[size], Kind(kind))
                ours = measure(
                    [
                        python,
                        "-m",
                        "bench.bench_match",
                        "_solve-scores",
                        str(folder),
                        str(folder / "ours.csv"),
                    ]
                )
                base = measure(
                    [python, "bench/minimal_flow.py", str(folder), str(folder / "base.csv")]
                )
                same = _total(folder / "ours.csv") == _total(folder / "base.csv")
                score_rows.append(
                    [
                        f"scores {n_e}×{n_m} {kind} ({n_e * PER_MENTEE_IN_FILE[size]:,} rows)",
                        f"{ours.wall_seconds:.2f}",
                        f"{ours.report.get('parse_seconds', float('nan')):.2f}",
                        f"{base.wall_seconds:.2f}",
                        f"{ours.wall_seconds / base.wall_seconds:.2f}",
                        f"{ours.peak_rss_mib:.0f}",
                        f"{base.peak_rss_mib:.0f}",
                        "yes" if same else "NO",
                    ]
                )
    print()
    print(
        table(
            [
                "case",
                "ours s",
                "parse s",
                "baseline s",
                "ratio",
                "ours MiB",
                "baseline MiB",
                "same optimum",
            ],
            score_rows,
        )
    )


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["_wrap"]:
        _wrap(args[2:] if args[1:2] == ["--"] else args[1:])
        return
    if args[:1] == ["_solve-dense"]:
        _solve_dense(int(args[1]), int(args[2]), args[3], "--trace" in args)
        return
    if args[:1] == ["_solve-scores"]:
        _solve_scores(Path(args[1]), Path(args[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--kinds", default="independent,popular")
    parser.add_argument("--trace", action="store_true", help="also record tracemalloc peaks")
    parser.add_argument(
        "--suites", default="match", help="match (end to end), dense and scores (solver only)"
    )
    parser.add_argument("--data", type=Path, help="keep generated rosters here (and reuse them)")
    options = parser.parse_args(args)
    sizes, kinds = options.sizes.split(","), options.kinds.split(",")
    suites = options.suites.split(",")
    print(machine(), flush=True)
    print(speed_line("before"), flush=True)
    if "match" in suites:
        if options.data is not None:
            run_end_to_end(sizes, kinds, options.data)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                run_end_to_end(sizes, kinds, Path(tmp))
    if "dense" in suites or "scores" in suites:
        run(sizes, kinds, options.trace)
    print(speed_line("after"), flush=True)


if __name__ == "__main__":
    main()
