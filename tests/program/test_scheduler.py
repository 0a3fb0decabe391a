"""The unattended service: a real `tandem scheduler run` process, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, inspect

from tandem.program.scheduler import JOB_ID, build_scheduler

ROOT = Path(__file__).resolve().parents[2]


def test_the_job_has_a_fixed_id_coalesces_and_tolerates_misfires(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    scheduler = build_scheduler(db_url, f"file:{tmp_path / 'outbox'}", every_minutes=5)
    job = scheduler.get_job(JOB_ID)
    assert job is not None
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 900
    assert job.func_ref == "tandem.program.scheduler:tick_job"


@pytest.mark.slow
def test_scheduler_run_ticks_and_stops_gracefully_on_sigterm(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "TANDEM_DB": db_url, "TANDEM_DELIVERY": f"file:{tmp_path / 'outbox'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", "scheduler", "run", "--every", "60"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = ""
        assert process.stdout is not None
        while time.monotonic() < deadline and "tick: delivered" not in seen:
            seen += process.stdout.readline()
        assert "tick: delivered" in seen, seen
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, seen + rest
    # Each scheduler keeps its job in memory: nothing of APScheduler's in Tandem's tables.
    assert "apscheduler_jobs" not in inspect(engine).get_table_names()
