"""Benchmark: importing a large mentee roster, peak memory and time.

Writes a generated roster (``bench/rosters.py``; 100,000 mentees ≈ 12.5 MB of CSV by
default), then runs ``tandem import mentees`` on it in a fresh process against a fresh
SQLite database, twice: the first import adds everyone, the second finds everyone
unchanged. Prints the wall time and the peak resident memory of each run (the child
process's ``ru_maxrss``).

    python -m bench.bench_import                       # 100,000 mentees
    python -m bench.bench_import --mentees 20000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.gen import Kind
from bench.rosters import write_rosters


def run_import(db: Path, path: Path) -> tuple[float, float, str]:
    """Seconds, peak MiB and the command's output for one import in a fresh process."""
    command = [sys.executable, "-m", "tandem.cli", "--db", f"sqlite:///{db}"]
    started = time.perf_counter()
    child = subprocess.Popen(
        [*command, "import", "mentees", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert child.stdout is not None
    out = child.stdout.read().decode("utf-8")
    child.stdout.close()
    # wait4 gives this child's own peak (RUSAGE_CHILDREN would be the largest of all).
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"import failed ({child.returncode}): {out}")
    return seconds, usage.ru_maxrss / 1024, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentees", type=int, default=100_000)
    parser.add_argument("--mentors", type=int, default=0, help="default: mentees / 4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        write_rosters(folder, args.mentees, args.mentors or args.mentees // 4, Kind.INDEPENDENT)
        path = folder / "mentees.csv"
        db = folder / "bench.db"
        subprocess.run(
            [sys.executable, "-m", "tandem.cli", "--db", f"sqlite:///{db}", "init"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        size = path.stat().st_size / 2**20
        print(f"roster: {args.mentees:,} mentees, {size:.1f} MiB of CSV")
        print("| import | seconds | peak MiB | result |")
        print("| --- | --- | --- | --- |")
        for label in ("first (adds)", "again (unchanged)"):
            seconds, peak, out = run_import(db, path)
            print(f"| {label} | {seconds:.1f} | {peak:.0f} | {out.splitlines()[0]} |")


if __name__ == "__main__":
    main()
