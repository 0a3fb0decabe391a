"""Mentor certification over constructed program histories, with an injected clock."""

from __future__ import annotations

import email
import email.policy
import json
import tomllib
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from tandem import cli
from tandem.commands import certs as certs_commands
from tandem.commands import credentials as credential_commands
from tandem.matcher.types import Role
from tandem.program.certify import certification
from tandem.program.certify.certification import (
    CertificationError,
    CertificationRules,
    DecisionKind,
    MinMeetingWeeks,
    PairHistory,
    RulesError,
    certify,
    decide,
    evaluate_cohort,
    export_revocations,
    issuer_settings,
    load_rules,
    parse_rules,
    revoke_certificate,
)
from tandem.program.certify.credentials import VerificationOutcome, verify_credential
from tandem.program.certify.issuer_keys import KeyAlgorithm, KeyRing, export_jwks, init_keyring
from tandem.program.certify.revocations import read_revocations
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.cohorts import PairAction, PairState, change_pair
from tandem.program.outbox.channels import FileOutbox
from tandem.program.outbox.store import unpack
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import (
    AuditEntry,
    Certificate,
    CheckIn,
    OutboxMessage,
    Pair,
    Participant,
)
from tandem.program.tick import run_due
from tests.program.helpers import Program, day, make_program, outbox

DOCS = Path(__file__).parents[3] / "docs" / "certification.md"
ISSUER = issuer_settings(name="Example Mentoring", url="https://mentoring.example.edu")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return init_keyring(
        tmp_path / "keys.json", KeyAlgorithm.EDDSA, now=datetime(2026, 8, 1, tzinfo=UTC)
    )


def start(engine: Engine, tmp_path: Path, pairs: int) -> Program:
    """A cohort whose pairs are active (the response window closed at week 2)."""
    program = make_program(engine, tmp_path, pairs=pairs, coordinator=None)
    run_due(engine, day(program.instants, 2, hours=1), FileOutbox(tmp_path / "outbox"))
    return program


def met(
    engine: Engine,
    program: Program,
    mentee: str,
    weeks: Iterable[int],
    role: Role = Role.MENTOR,
    *,
    note: str | None = None,
) -> None:
    for week in weeks:
        add_checkin(
            engine,
            program.name,
            mentee,
            week,
            role,
            CheckinAnswers(met=True, minutes=45, note=note),
            now=day(program.instants, week, days=2),
        )


def closing(engine: Engine, program: Program, mentee: str, **answers: Any) -> None:
    """The mentor's final-week check-in (no meeting that week), with stored answers."""
    add_checkin(
        engine,
        program.name,
        mentee,
        16,
        Role.MENTOR,
        CheckinAnswers(met=False),
        now=day(program.instants, 16, days=2),
    )
    if answers:
        set_answers(engine, mentee, 16, Role.MENTOR, answers)


def set_answers(
    engine: Engine, mentee: str, week: int, role: Role, answers: dict[str, Any]
) -> None:
    """Answers as a check-in form that asks the curriculum's questions stores them."""
    with transaction(engine) as session:
        row = session.exec(
            select(CheckIn)
            .join(Pair, col(Pair.pk) == CheckIn.pair_pk)
            .join(Participant, col(Participant.pk) == Pair.mentee_pk)
            .where(Participant.external_id == mentee, CheckIn.week == week, CheckIn.role == role)
        ).one()
        row.answers = answers
        session.add(row)


def close(engine: Engine, program: Program, tmp_path: Path) -> datetime:
    """Run the tick that closes the program; returns an instant after it."""
    run_due(engine, day(program.instants, 16, days=8), FileOutbox(tmp_path / "outbox"))
    return day(program.instants, 16, days=9)


def complete(engine: Engine, program: Program, mentee: str, weeks: Iterable[int]) -> None:
    met(engine, program, mentee, weeks)
    closing(engine, program, mentee)


def verdicts(
    engine: Engine, program: Program, now: datetime, rules: CertificationRules | None = None
) -> dict[str, tuple[str, ...] | None]:
    """Mentor id → None if eligible, else what is unmet."""
    evaluation = evaluate_cohort(engine, program.name, rules or load_rules(), now=now)
    return {m.mentor_id: None if m.eligible else m.unmet() for m in evaluation.mentors}


def rules_with(change: Any) -> CertificationRules:
    """The shipped rules with ``change(data)`` applied to their TOML data."""
    text = (
        resources.files("tandem.program.certify").joinpath("certification_rules.toml").read_text()
    )
    data = tomllib.loads(text)
    change(data)
    return parse_rules(data, "test-rules.toml")


def count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


# --------------------------------------------------------------------------- rules


def test_the_shipped_rules_and_their_narrative() -> None:
    rules = load_rules()
    assert rules.mentor_rule is certification.MentorRule.ANY_PAIR
    assert [c.label for c in rules.criteria] == [
        "active_through_final_week",
        "min_meeting_weeks",
        "closing_checkin",
        "not_ended_early",
    ]
    assert rules.narrative() == (
        "Awarded to a mentor who, with at least one mentee of the cohort: stayed in an active "
        "mentoring pair through the program's final week; met in at least 75% of the program "
        "weeks the pair took part in (a week counts when either of the two reported a "
        "meeting); submitted the closing reflection check-in of the final week; did not end "
        "the mentoring relationship early."
    )


def test_the_narrative_follows_the_rules_in_force() -> None:
    def change(data: dict[str, Any]) -> None:
        data["mentor_rule"] = "all_pairs"
        data["criteria"] = [
            {"kind": "min_meeting_weeks", "weeks": 10, "meeting_counts_when": "both"},
            {
                "kind": "evidence",
                "name": "exit_survey",
                "key": "survey_completed",
                "text": "completed the end-of-program survey",
            },
        ]

    assert rules_with(change).narrative() == (
        "Awarded to a mentor who, with every mentee they were paired with in the cohort: met "
        "in at least 10 of the program weeks the pair took part in (a week counts when both "
        "of the two reported a meeting); completed the end-of-program survey."
    )


def test_rules_errors_name_every_wrong_key(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["mentor_rule"] = "some_pairs"
        data["criteria"][1]["fraction"] = 1.5
        data["criteria"][2]["require_answer"] = True
        data["criteria"].append({"kind": "survey"})
        data["criteria"].append({"kind": "evidence", "name": "x", "key": "done"})
        data["text"]["not_ended_early"] = "did not end early ({reason})"

    with pytest.raises(RulesError) as raised:
        rules_with(change)
    assert raised.value.message.splitlines() == [
        "test-rules.toml: 6 problems in the certification rules",
        "  criteria[1].fraction: Input should be less than or equal to 1",
        "  criteria[2].require_answer: Extra inputs are not permitted",
        "  text.not_ended_early: unknown placeholder(s) reason; this criterion offers: kind",
        "  criteria[4].kind: unknown criterion kind 'survey'; use one of: "
        "active_through_final_week, closing_checkin, evidence, min_meeting_weeks, not_ended_early",
        "  criteria[5]: no wording for kind 'evidence'; add `text = \"...\"` to the entry or "
        '`evidence = "..."` under [text]',
        "  mentor_rule: Input should be 'any_pair' or 'all_pairs'",
    ]
    missing = tmp_path / "nope.toml"
    with pytest.raises(RulesError, match=r"nope.toml: 1 problem in the certification rules"):
        load_rules(missing)


def test_min_meeting_weeks_needs_exactly_one_threshold() -> None:
    with pytest.raises(RulesError, match=r"criteria\[1\]: give exactly one of fraction"):
        rules_with(lambda data: data["criteria"][1].update(weeks=12))


@pytest.mark.parametrize(
    ("settings", "first_week", "required"),
    [
        ({"fraction": 0.75}, 1, 12),  # 12 of 16
        ({"fraction": 0.75}, 5, 9),  # a rematched pair's 12 weeks
        ({"fraction": 0.8}, 1, 13),  # 12.8 rounds up
        ({"weeks": 12}, 1, 12),
        ({"weeks": 12}, 5, 9),  # 12/16 of 12 weeks
        ({"weeks": 12}, 16, 1),  # never zero
    ],
)
def test_the_meeting_threshold_scales_to_the_pair_weeks(
    settings: dict[str, Any], first_week: int, required: int
) -> None:
    pair = PairHistory(
        pair_pk=1,
        mentee_id="E001",
        state=PairState.COMPLETED,
        first_week=first_week,
        weeks_total=16,
        final_week_start=datetime(2026, 12, 21, 14, tzinfo=UTC),
        final_week_begun=True,
        state_at_final_week=PairState.ACTIVE,
        program_start=datetime(2026, 9, 7).date(),
        program_end=datetime(2026, 12, 27).date(),
    )
    assert MinMeetingWeeks(kind="min_meeting_weeks", **settings).required(pair) == required


# --------------------------------------------------------------------------- eligibility


def test_exactly_12_of_16_weeks_is_eligible_and_11_is_not(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 12))
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {
        "M001": None,
        "M002": ("E002: min_meeting_weeks: met in 11 of 16 weeks, needs 12",),
    }
    evaluation = evaluate_cohort(engine, program.name, load_rules(), now=now)
    pair = evaluation.mentors[0].pairs[0]
    assert (pair.weeks_met, pair.weeks_required) == (tuple(range(1, 13)), 12)
    assert [r.detail for r in pair.results] == [
        "active from week 1 through week 16",
        "met in 12 of 16 weeks (needs 12)",
        "closing check-in recorded 2026-12-23",
        "not ended early",
    ]


def test_a_meeting_reported_by_one_side_counts_unless_the_rules_ask_for_both(
    engine: Engine, tmp_path: Path
) -> None:
    program = start(engine, tmp_path, pairs=2)
    met(engine, program, "E001", range(1, 7), Role.MENTOR)
    met(engine, program, "E001", range(7, 13), Role.MENTEE)  # each side reports half
    closing(engine, program, "E001")
    met(engine, program, "E002", range(1, 13), Role.MENTOR)
    met(engine, program, "E002", range(1, 13), Role.MENTEE)
    closing(engine, program, "E002")
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {"M001": None, "M002": None}
    both = rules_with(lambda data: data["criteria"][1].update(meeting_counts_when="both"))
    assert verdicts(engine, program, now, both) == {
        "M001": ("E001: min_meeting_weeks: met in 0 of 16 weeks, needs 12",),
        "M002": None,
    }


def test_paused_pairs(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=3)
    # Pair 1 paused for weeks 5–7, resumed, met the other 13 weeks: eligible.
    change_pair(
        engine,
        program.name,
        "E001",
        PairAction.PAUSE,
        actor="coordinator",
        now=day(program.instants, 4, days=3),
        reason="mentee on fieldwork",
    )
    change_pair(
        engine,
        program.name,
        "E001",
        PairAction.RESUME,
        actor="coordinator",
        now=day(program.instants, 7, days=3),
    )
    complete(engine, program, "E001", [1, 2, 3, 4, *range(8, 17)])
    # Pair 2 paused before the final week and never resumed: ended when the program closed.
    complete(engine, program, "E002", range(1, 15))
    change_pair(
        engine,
        program.name,
        "E002",
        PairAction.PAUSE,
        actor="coordinator",
        now=day(program.instants, 15, days=1),
        reason="mentor on leave",
    )
    # Pair 3 paused during the final week only and resumed before the close.
    complete(engine, program, "E003", range(1, 16))
    change_pair(
        engine,
        program.name,
        "E003",
        PairAction.PAUSE,
        actor="coordinator",
        now=day(program.instants, 15, days=6),
        reason="conference",
    )
    change_pair(
        engine,
        program.name,
        "E003",
        PairAction.RESUME,
        actor="coordinator",
        now=day(program.instants, 16, days=3),
    )
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {
        "M001": None,
        "M002": (
            "E002: active_through_final_week: was paused when week 16 began",
            "E002: not_ended_early: ended early on 2026-12-29",
        ),
        "M003": ("E003: active_through_final_week: was paused when week 16 began",),
    }


def test_a_pair_ended_early_is_not_certified(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=1)
    met(engine, program, "E001", range(1, 13))
    change_pair(
        engine,
        program.name,
        "E001",
        PairAction.END,
        actor="coordinator",
        now=day(program.instants, 13, days=1),
        reason="mentee left the university",
    )
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {
        "M001": (
            "E001: active_through_final_week: was ended when week 16 began",
            "E001: closing_checkin: no week 16 check-in from the mentor",
            "E001: not_ended_early: ended early on 2026-12-01",
        )
    }


def test_a_rematched_pair_is_measured_from_its_first_week(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=2)
    with transaction(engine) as session:  # both pairs joined in week 5 (after a rematch)
        for pair in session.exec(select(Pair)).all():
            pair.first_week = 5
            session.add(pair)
    complete(engine, program, "E001", range(5, 14))  # 9 of its 12 weeks
    complete(engine, program, "E002", range(5, 13))  # 8 of 12
    now = close(engine, program, tmp_path)
    assert verdicts(engine, program, now) == {
        "M001": None,
        "M002": ("E002: min_meeting_weeks: met in 8 of 12 weeks, needs 9",),
    }
    evaluation = evaluate_cohort(engine, program.name, load_rules(), now=now)
    first = evaluation.mentors[0].pairs[0]
    assert (first.first_week, first.weeks_in_program, first.program_start.isoformat()) == (
        5,
        12,
        "2026-10-05",
    )


def test_a_mentor_with_two_mentees_any_pair_or_all_pairs(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=2)
    with transaction(engine) as session:  # M001 mentors both E001 and E002
        mentor = session.exec(select(Participant).where(Participant.external_id == "M001")).one()
        second = session.exec(select(Pair).order_by(col(Pair.pk).desc())).first()
        assert second is not None
        second.mentor_pk = mentor.pk or 0
        session.add(second)
    complete(engine, program, "E001", range(1, 8))
    complete(engine, program, "E002", range(1, 15))
    now = close(engine, program, tmp_path)
    evaluation = evaluate_cohort(engine, program.name, load_rules(), now=now)
    (mentor_eval,) = evaluation.mentors
    assert mentor_eval.eligible
    assert mentor_eval.evidence_pair is not None
    assert mentor_eval.evidence_pair.mentee_id == "E002"
    all_pairs = rules_with(lambda data: data.update(mentor_rule="all_pairs"))
    assert verdicts(engine, program, now, all_pairs) == {
        "M001": ("E001: min_meeting_weeks: met in 7 of 16 weeks, needs 12",)
    }


def test_before_the_final_week_no_one_is_eligible(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=1)
    met(engine, program, "E001", range(1, 13))
    assert verdicts(engine, program, day(program.instants, 13, days=1)) == {
        "M001": (
            "E001: active_through_final_week: the final week (week 16) begins 2026-12-21",
            "E001: closing_checkin: no week 16 check-in from the mentor",
        )
    }


def test_closing_reflection_answers_and_evidence_rules(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=3)
    met(engine, program, "E001", range(1, 13))
    closing(
        engine,
        program,
        "E001",
        closing_reflection_growth="Listening more.",
        closing_reflection_next="Agree goals earlier.",
        survey_completed=True,
    )
    met(engine, program, "E002", range(1, 13))
    closing(engine, program, "E002", closing_reflection_growth="Patience.")
    complete(engine, program, "E003", range(1, 13))
    now = close(engine, program, tmp_path)

    def change(data: dict[str, Any]) -> None:
        data["criteria"][2]["require_answers"] = True
        data["criteria"].append(
            {
                "kind": "evidence",
                "name": "exit_survey",
                "key": "survey_completed",
                "equals": True,
                "text": "completed the end-of-program survey",
            }
        )

    assert verdicts(engine, program, now, rules_with(change)) == {
        "M001": None,
        "M002": (
            "E002: closing_checkin: closing reflection not answered: closing_reflection_next",
            "E002: evidence:exit_survey: no answer survey_completed = true from the mentor "
            "in week 16",
        ),
        "M003": (
            "E003: closing_checkin: closing reflection not answered: "
            "closing_reflection_growth, closing_reflection_next",
            "E003: evidence:exit_survey: no answer survey_completed = true from the mentor "
            "in week 16",
        ),
    }
    assert verdicts(engine, program, now) == {"M001": None, "M002": None, "M003": None}


# --------------------------------------------------------------------------- issuing


def test_certify_issues_once_queues_the_message_and_writes_files(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 5))
    now = close(engine, program, tmp_path)
    out = tmp_path / "certificates"
    first = certify(
        engine,
        program.name,
        load_rules(),
        now=now,
        actor="ada",
        issuer=ISSUER,
        keyring=keyring,
        out_dir=out,
    )
    assert [c.mentor_id for c in first.issued] == ["M001"]
    (issued,) = first.issued
    stem = issued.credential_id.removeprefix("urn:uuid:")
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.html", f"{stem}.jwt", f"{stem}.pdf"]
    assert (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    assert first.lines()[0] == (
        f"Issued 1 new certificate (files in {out}); 0 already issued, 1 not eligible."
    )

    again = certify(
        engine,
        program.name,
        load_rules(),
        now=now,
        actor="ada",
        issuer=ISSUER,
        keyring=keyring,
        out_dir=out,
    )
    assert again.issued == ()
    assert again.lines() == ["No new certificates: 1 already issued, 1 not eligible."]
    assert count(engine, Certificate) == 1
    assert [(m.kind, m.status) for m in outbox(engine, kind="certificate")] == [
        ("certificate", "pending")
    ]

    # The next tick delivers it, with the PDF and the signed credential attached.
    report = run_due(engine, now, FileOutbox(tmp_path / "delivered"))
    assert report.delivered == 1
    (message,) = outbox(engine, kind="certificate")
    parsed = email.message_from_bytes(unpack(message.content), policy=email.policy.default)
    assert parsed["To"] == "Mentor 1 <mentor1@uni.edu>"
    assert parsed["Subject"] == "Your certificate: Certified Research Mentor (Fall 2026)"
    attachments = {
        part.get_filename(): part.get_content_type() for part in parsed.iter_attachments()
    }
    assert attachments == {f"{stem}.pdf": "application/pdf", f"{stem}.jwt": "application/vc+jwt"}

    with Session(engine) as session:
        audit = session.exec(select(AuditEntry)).all()
    assert [(a.actor, a.action, a.subject) for a in audit] == [
        ("ada", "issue", issued.credential_id)
    ]


def test_the_certificate_verifies_offline_and_holds_no_notes(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=1)
    met(engine, program, "E001", range(1, 13), note="confidential: mentee is job hunting")
    closing(engine, program, "E001")
    now = close(engine, program, tmp_path)
    report = certify(
        engine,
        program.name,
        load_rules(),
        now=now,
        actor="ada",
        issuer=ISSUER,
        keyring=keyring,
        out_dir=tmp_path / "out",
    )
    (issued,) = report.issued
    token = (tmp_path / "out" / f"{issued.credential_id.removeprefix('urn:uuid:')}.jwt").read_text()
    jwks = json.loads(export_jwks(keyring))
    result = verify_credential(token, jwks, None, now)
    assert result.outcome is VerificationOutcome.VALID
    assert (result.credential_id, result.mentor_name) == (issued.credential_id, "Mentor 1")
    assert issued.credential_id == certification.credential_id_for(
        ISSUER.profile.id, "Fall 2026", "M001"
    )
    detail = certification.show_certificate(engine, issued.credential_id)
    subject = detail.credential["credentialSubject"]
    assert subject["achievement"]["criteria"]["narrative"] == load_rules().narrative()
    assert detail.credential["evidence"][0]["narrative"] == (
        "Met with their mentee in 12 of 16 program weeks between 2026-09-07 and 2026-12-27."
    )
    everything = json.dumps(detail.model_dump(mode="json"))
    assert "confidential" not in everything and "mentor1@uni.edu" not in everything


def test_revoked_certificates_fail_verification_with_the_exported_list(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=1)
    complete(engine, program, "E001", range(1, 13))
    now = close(engine, program, tmp_path)
    report = certify(
        engine, program.name, load_rules(), now=now, actor="ada", issuer=ISSUER, keyring=keyring
    )
    (issued,) = report.issued
    info, changed = revoke_certificate(
        engine, issued.credential_id, reason="issued in error", actor="bob", now=now
    )
    assert changed and info.status is certification.CertificateStatus.REVOKED
    _, again = revoke_certificate(
        engine, issued.credential_id, reason="twice", actor="bob", now=now
    )
    assert not again
    signed, revocations = export_revocations(engine, keyring, now=now, actor="bob")
    assert revocations.issuer_id == ISSUER.profile.id
    jwks = json.loads(export_jwks(keyring))
    listed = read_revocations(signed, jwks)
    token = certification.show_certificate(engine, issued.credential_id)
    with Session(engine) as session:
        stored = session.exec(select(Certificate)).one()
    result = verify_credential(stored.token, jwks, listed, now)
    assert result.outcome is VerificationOutcome.REVOKED
    assert token.info.revoked_reason == "issued in error"
    assert [r.action for r in certification.audit_log(engine)] == [
        "issue",
        "revoke",
        "export_revocations",
    ]
    # A revoked certificate is never issued again.
    rerun = certify(
        engine, program.name, load_rules(), now=now, actor="ada", issuer=ISSUER, keyring=keyring
    )
    assert rerun.issued == () and count(engine, Certificate) == 1


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
    log = [(r.actor, r.action, r.details.get("reason")) for r in certification.audit_log(engine)]
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


def test_a_dry_run_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    now = close(engine, program, tmp_path)
    before = (count(engine, OutboxMessage), count(engine, AuditEntry))
    report = certify(
        engine,
        program.name,
        load_rules(),
        now=now,
        actor="ada",
        dry_run=True,
        out_dir=tmp_path / "out",
    )
    assert report.would_issue == ("M001",)
    assert report.lines() == [
        "Dry run: 1 certificate would be issued; 0 already issued, 1 not eligible. "
        "Nothing was stored."
    ]
    assert count(engine, Certificate) == 0
    assert (count(engine, OutboxMessage), count(engine, AuditEntry)) == before
    assert not (tmp_path / "out").exists()
    with pytest.raises(CertificationError, match="needs the issuer settings"):
        certify(engine, program.name, load_rules(), now=now, actor="ada")


def test_issuer_settings_say_which_option_is_missing() -> None:
    with pytest.raises(CertificationError, match="--issuer-name or TANDEM_ISSUER_NAME"):
        issuer_settings(name=None, url="https://x.example")
    with pytest.raises(CertificationError, match="--issuer-url or TANDEM_ISSUER_URL"):
        issuer_settings(name="X", url="")
    with pytest.raises(CertificationError, match="is not a web address: give --issuer-url"):
        issuer_settings(name="X", url="mentoring.example.edu")


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer(cls=cli._TandemGroup, no_args_is_help=True)
    app.callback()(cli._root)
    certs_commands.register(app)
    credential_commands.register(app)
    return app


def test_cli_certify_output_for_a_small_cohort(
    app: typer.Typer, engine: Engine, db_url: str, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 12))
    now = close(engine, program, tmp_path).isoformat()
    runner = CliRunner()
    base = ["--db", db_url, "certify"]
    dry = runner.invoke(app, [*base, "Fall 2026", "--dry-run", "--now", now])
    assert dry.exit_code == 0, dry.output
    assert [line.rstrip() for line in dry.output.splitlines()] == [
        " " * 74 + "Fall 2026: certification (any_pair)",
        "┏━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━━┓",
        "┃ mentor_id ┃ mentor   ┃ eligible ┃ unmet                                                    ┃ evidence                                                      ┃ decision ┃ certificate ┃",
        "┡━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━┩",
        "│ M001      │ Mentor 1 │ yes      │                                                          │ E001: met 12 of 16 weeks (needs 12), 2026-09-07 to 2026-12-27 │          │ would issue │",
        "│ M002      │ Mentor 2 │ no       │ E002: min_meeting_weeks: met in 11 of 16 weeks, needs 12 │ E002: met 11 of 16 weeks (needs 12), 2026-09-07 to 2026-12-27 │          │             │",
        "└───────────┴──────────┴──────────┴──────────────────────────────────────────────────────────┴───────────────────────────────────────────────────────────────┴──────────┴─────────────┘",
        "Dry run: 1 certificate would be issued; 0 already issued, 1 not eligible. Nothing was stored.",
    ]

    granted = runner.invoke(
        app,
        [
            *base,
            "grant",
            "Fall 2026",
            "M002",
            "--reason",
            "met by phone",
            "--actor",
            "carol",
            "--now",
            now,
        ],
    )
    assert granted.output == 'Granted certification of M002 in "Fall 2026": met by phone\n'
    issue = [
        *base,
        "Fall 2026",
        "--keys",
        str(tmp_path / "keys.json"),
        "--out",
        str(tmp_path / "certs"),
        "--issuer-name",
        "Example Mentoring",
        "--issuer-url",
        "https://mentoring.example.edu",
        "--now",
        now,
        "--format",
        "json",
        "--actor",
        "ada",
    ]
    first = runner.invoke(app, issue)
    assert first.exit_code == 0, first.output
    rows = json.loads(first.stdout)
    assert [(r["mentor_id"], r["eligible"], r["decision"]) for r in rows] == [
        ("M001", True, None),
        ("M002", True, "grant by carol: met by phone"),
    ]
    assert first.stderr.startswith("Issued 2 new certificates")
    second = runner.invoke(app, issue)
    assert second.stderr == "No new certificates: 2 already issued, 0 not eligible.\n"

    listed = runner.invoke(app, ["--db", db_url, "certs", "list", "--format", "csv"])
    lines = listed.output.splitlines()
    assert lines[0] == "credential_id,cohort,mentor_id,mentor,issued,status,reason,revoked,kid"
    cert_id = lines[1].split(",")[0]
    assert lines[1].split(",")[1:6] == ["Fall 2026", "M001", "Mentor 1", "2026-12-30", "issued"]

    revoked = runner.invoke(
        app,
        [
            "--db",
            db_url,
            "certs",
            "revoke",
            cert_id,
            "--reason",
            "issued in error",
            "--actor",
            "bob",
            "--now",
            now,
        ],
    )
    assert revoked.output.splitlines() == [
        f"Revoked {cert_id} (M001, Fall 2026): issued in error",
        "Publish the new list with `tandem certs export-revocations`.",
    ]
    keys = ["--keys", str(tmp_path / "keys.json")]
    exported = runner.invoke(
        app,
        [
            "--db",
            db_url,
            "certs",
            "export-revocations",
            *keys,
            "--out",
            str(tmp_path / "revoked.jwt"),
            "--now",
            now,
            "--actor",
            "bob",
        ],
    )
    assert exported.output == (
        f"Wrote the signed revocation list (1 revoked certificate) to {tmp_path / 'revoked.jwt'}.\n"
    )
    runner.invoke(app, ["keys", "export-jwks", *keys, "--out", str(tmp_path / "jwks.json")])
    jwt_file = tmp_path / "certs" / f"{cert_id.removeprefix('urn:uuid:')}.jwt"
    checked = runner.invoke(
        app,
        [
            "verify",
            str(jwt_file),
            "--jwks",
            str(tmp_path / "jwks.json"),
            "--revocations",
            str(tmp_path / "revoked.jwt"),
            "--now",
            now,
        ],
    )
    assert checked.exit_code == 1
    assert checked.output.startswith("INVALID (revoked): ")

    shown = runner.invoke(app, ["--db", db_url, "certs", "show", cert_id])
    assert shown.output.splitlines()[:4] == [
        f"Certificate {cert_id}",
        "Cohort: Fall 2026; mentor: M001 (Mentor 1)",
        f"Status: REVOKED 2026-12-30: issued in error; issued 2026-12-30 (key {keyring.active_kid})",
        "Credential:",
    ]
    audit = runner.invoke(app, ["--db", db_url, "certs", "audit", "--format", "csv"])
    assert [line.split(",")[1:3] for line in audit.output.splitlines()] == [
        ["actor", "action"],
        ["carol", "grant"],
        ["ada", "issue"],
        ["ada", "issue"],
        ["bob", "revoke"],
        ["bob", "export_revocations"],
    ]


def test_cli_errors_are_reported_once(app: typer.Typer, engine: Engine, db_url: str) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["--db", db_url, "certify", "Nope", "--dry-run"])
    assert missing.exit_code == 1
    assert missing.stderr == (
        'Error: no cohort named "Nope" (cohorts: none yet); create it with `tandem cohort create`\n'
    )
    no_reason = runner.invoke(
        app, ["--db", db_url, "certs", "revoke", "not-an-id", "--reason", "x"]
    )
    assert no_reason.exit_code == 1
    assert "is not a certificate id" in no_reason.stderr


def test_every_command_has_help(app: typer.Typer) -> None:
    runner = CliRunner()
    for args in (
        ["certify"],
        ["certify", "run"],
        ["certify", "grant"],
        ["certify", "withhold"],
        ["certs", "list"],
        ["certs", "show"],
        ["certs", "revoke"],
        ["certs", "export-revocations"],
        ["certs", "audit"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "Usage:" in result.output
        # ... and is documented.
        assert f"tandem {' '.join(args)}" in DOCS.read_text(encoding="utf-8"), args
