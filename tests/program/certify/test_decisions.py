"""A coordinator's grant and withholding, with the reasons in the audit log."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tandem.program.certify import (
    CertificationError,
    DecisionKind,
    audit_log,
    certify,
    decide,
    load_rules,
)
from tandem.program.certify.issuer_keys import KeyRing
from tests.program.certify.helpers import ISSUER, close, complete, start
from tests.program.helpers import day


def test_grant_and_withhold_override_the_criteria_with_recorded_reasons(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 9))
    now = close(engine, program, tmp_path)
    with pytest.raises(CertificationError, match="give a reason to grant"):
        decide(engine, program.name, "M002", DecisionKind.GRANT, reason=" ", actor="c", now=now)
    with pytest.raises(CertificationError, match='no mentor with id "M009"'):
        decide(engine, program.name, "M009", DecisionKind.GRANT, reason="x", actor="c", now=now)
    decide(
        engine,
        program.name,
        "M002",
        DecisionKind.GRANT,
        actor="carol",
        now=now,
        reason="met weekly by phone; check-ins were not filed",
    )
    decide(
        engine,
        program.name,
        "M001",
        DecisionKind.WITHHOLD,
        actor="carol",
        now=now,
        reason="complaint under review",
    )
    report = certify(
        engine, program.name, load_rules(), now=now, actor="ada", issuer=ISSUER, keyring=keyring
    )
    assert [c.mentor_id for c in report.issued] == ["M002"]
    mentors = {m.mentor_id: m for m in report.evaluation.mentors}
    assert (mentors["M001"].meets_rules, mentors["M001"].eligible) == (True, False)
    assert (mentors["M002"].meets_rules, mentors["M002"].eligible) == (False, True)
    log = [(r.actor, r.action, r.details.get("reason")) for r in audit_log(engine)]
    assert log == [
        ("carol", "grant", "met weekly by phone; check-ins were not filed"),
        ("carol", "withhold", "complaint under review"),
        ("ada", "issue", None),
    ]
    # Withholding after issuing does not revoke, and says so.
    result = decide(
        engine,
        program.name,
        "M002",
        DecisionKind.WITHHOLD,
        actor="carol",
        now=now,
        reason="changed our mind",
    )
    assert result.replaced is DecisionKind.GRANT
    assert result.warning is not None and "withholding does not revoke it" in result.warning


def test_no_certificate_is_issued_before_the_program_closes_not_even_a_granted_one(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=1)
    now = day(program.instants, 5, hours=1)
    decide(engine, program.name, "M001", DecisionKind.GRANT, reason="co-led", actor="c", now=now)
    final = program.instants[16].date().isoformat()
    with pytest.raises(CertificationError) as refused:
        certify(
            engine, program.name, load_rules(), now=now, actor="ada", issuer=ISSUER, keyring=keyring
        )
    assert str(refused.value) == (
        f'cohort "{program.name}" has not closed yet: its final week begins on {final} and '
        "the tick closes the program a week later; certificates are issued after that "
        "(--dry-run shows where each mentor stands now)"
    )
    dry = certify(engine, program.name, load_rules(), now=now, actor="ada", dry_run=True)
    assert dry.would_issue == ("M001",)  # the grant stands; it is issued after the close
    after = close(engine, program, tmp_path)
    report = certify(
        engine,
        program.name,
        load_rules(),
        now=after,
        actor="ada",
        issuer=ISSUER,
        keyring=keyring,
        out_dir=tmp_path / "certs",
    )
    assert [c.mentor_id for c in report.issued] == ["M001"]
    # Granted without meeting the criteria: the certificate says so, not that they were met.
    [issued] = report.issued
    html = next(f for f in issued.files if f.suffix == ".html").read_text("utf-8")
    assert "<dt>Awarded</dt><dd>Awarded by decision of the program coordinator</dd>" in html
    jwt = next(f for f in issued.files if f.suffix == ".jwt").read_text("ascii")
    payload = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
    [evidence] = payload["evidence"]
    assert evidence["narrative"].endswith(" Awarded by decision of the program coordinator.")
