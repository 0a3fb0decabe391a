"""Issuing certificates: issuer settings, and :func:`certify`, which issues each eligible
mentor's certificate exactly once.

One mentor's certificate that cannot be produced (a name no font can print, a page that
does not fit) is not issued: it is reported and recorded in the audit log as
``issue_failed``, and every other mentor is certified; running again issues it once fixed.

A certificate's id is a ``urn:uuid:`` derived from the issuer, cohort and mentor (uuid5),
the ``certificate`` table is unique per cohort and mentor, and the row is inserted with
"insert or ignore", so reruns and concurrent runs never issue twice. Issuing stores the
signed VC-JWT, enqueues a ``certificate`` message to the mentor with the PDF and the
credential attached (the next tick delivers it), and writes ``<id>.jwt``, ``.html`` and
``.pdf``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from tandem.matcher.types import Role
from tandem.program import schedule
from tandem.program.certify.audit import record_audit
from tandem.program.certify.credentials import (
    CertificateFacts,
    IssuerProfile,
    build_credential,
    credential_filename,
    sign_credential,
)
from tandem.program.certify.document import (
    CertificateDocumentError,
    render_certificate_html,
    render_certificate_pdf,
    verification_hint_for,
)
from tandem.program.certify.errors import CertificationError
from tandem.program.certify.evaluation import (
    CohortEvaluation,
    MentorEvaluation,
    evaluate_cohort,
    evaluate_in_session,
    first_pair_pk,
)
from tandem.program.certify.issuer_keys import KeyRing
from tandem.program.certify.rules import CertificationRules
from tandem.program.certify.vocabulary import AuditAction, CertificateStatus
from tandem.program.cohorts import get_cohort, send_instants
from tandem.program.outbox.mail import Attachment
from tandem.program.outbox.store import insert_ignore, outbox_row
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import MessageKind as Kind
from tandem.program.storage.tables import Certificate, Cohort

__all__ = [
    "CertifyReport",
    "FailedCertificate",
    "IssuedCertificate",
    "IssuerSettings",
    "certify",
    "credential_id_for",
    "issuer_settings",
]


class IssuerSettings(BaseModel):
    """Who issues, and where verifiers find the keys and the revocation list.

    ``email_salt``: the salt for hashing mentors' e-mail addresses in credentials. When
    it is not given, each credential gets its own salt derived from the active signing
    key and the credential id (HMAC-SHA256), so it is stable for a key ring and
    unguessable without it. The salt is written into the credential either way.
    """

    model_config = ConfigDict(frozen=True)

    profile: IssuerProfile
    email_salt: str | None = Field(default=None, min_length=1, repr=False)
    jwks_url: str | None = None
    revocations_url: str | None = None


def issuer_settings(
    *,
    name: str | None,
    url: str | None,
    issuer_id: str | None = None,
    email: str | None = None,
    email_salt: str | None = None,
    jwks_url: str | None = None,
    revocations_url: str | None = None,
) -> IssuerSettings:
    """Validated issuer settings; the issuer id defaults to the URL.

    Raises :class:`CertificationError` naming the option that is missing or wrong.
    """
    if not name:
        raise CertificationError(
            "the issuer has no name: give it with --issuer-name or TANDEM_ISSUER_NAME"
        )
    if not url:
        raise CertificationError(
            "the issuer has no web address: give it with --issuer-url or TANDEM_ISSUER_URL "
            "(for example https://mentoring.example.edu)"
        )
    url = url.strip().rstrip("/")
    if not re.fullmatch(r"https?://\S+", url):
        raise CertificationError(
            f"issuer URL {url!r} is not a web address: give --issuer-url (or "
            "TANDEM_ISSUER_URL) starting with https://, e.g. https://mentoring.example.edu"
        )
    try:
        profile = IssuerProfile(id=issuer_id or url, name=name, url=url, email=email)
    except ValidationError as error:
        item = error.errors()[0]
        field = str(item["loc"][0]) if item["loc"] else "issuer"
        fixes = {
            "id": "give --issuer-id (or TANDEM_ISSUER_ID) as a URI, e.g. "
            "https://mentoring.example.edu/issuer",
            "email": "give --issuer-email (or TANDEM_ISSUER_EMAIL) as name@example.edu",
        }
        raise CertificationError(
            f"issuer {field} is not valid ({item['msg']}): {fixes.get(field, 'check it')}"
        ) from None
    return IssuerSettings(
        profile=profile,
        email_salt=email_salt or None,
        jwks_url=jwks_url,
        revocations_url=revocations_url,
    )


def credential_id_for(issuer_id: str, cohort_name: str, mentor_id: str) -> str:
    """The certificate's id: the same issuer, cohort and mentor always give the same id."""
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, issuer_id)
    name = "\x1f".join((cohort_name, mentor_id))  # a separator no name contains
    return f"urn:uuid:{uuid.uuid5(namespace, name)}"


def _salt(settings: IssuerSettings, keyring: KeyRing, credential_id: str) -> str:
    if settings.email_salt:
        return settings.email_salt
    key = keyring.active.private_key_pem
    assert key is not None  # load_keyring guarantees the active key can sign
    digest = hmac.new(
        key.get_secret_value().encode("ascii"), credential_id.encode("utf-8"), hashlib.sha256
    )
    return digest.hexdigest()[:32]


class IssuedCertificate(BaseModel):
    """A certificate issued by this run, and the files written for it."""

    model_config = ConfigDict(frozen=True)

    credential_id: str
    mentor_id: str
    mentor_name: str
    files: tuple[Path, ...]


class FailedCertificate(BaseModel):
    """A certificate this run could not produce, and why (the reason names no person)."""

    model_config = ConfigDict(frozen=True)

    credential_id: str
    mentor_id: str
    reason: str


class CertifyReport(BaseModel):
    """What :func:`certify` found and did."""

    model_config = ConfigDict(frozen=True)

    evaluation: CohortEvaluation
    dry_run: bool
    issued: tuple[IssuedCertificate, ...] = ()
    would_issue: tuple[str, ...] = ()
    """Mentor ids a dry run would certify."""
    failed: tuple[FailedCertificate, ...] = ()
    """Eligible mentors whose certificate could not be produced (nothing stored for them)."""

    @property
    def already(self) -> int:
        return sum(1 for m in self.evaluation.mentors if m.certificate is not None)

    @property
    def not_eligible(self) -> int:
        return sum(1 for m in self.evaluation.mentors if not m.eligible)

    def lines(self) -> list[str]:
        """The summary for people."""
        if self.dry_run:
            count = len(self.would_issue)
            return [
                f"Dry run: {count} certificate{'s' if count != 1 else ''} would be issued; "
                f"{self.already} already issued, {self.not_eligible} not eligible. "
                "Nothing was stored."
            ]
        count = len(self.issued)
        before = self.already - count
        failures = [
            f"Not issued: the certificate of {f.mentor_id} could not be produced: {f.reason}"
            for f in self.failed
        ]
        if failures:
            failures.append(
                f"{len(self.failed)} certificate{'s' if len(self.failed) != 1 else ''} not "
                "issued (recorded in the audit log); fix each and run `tandem certify` again."
            )
        if not count:
            return [
                f"No new certificates: {before} already issued, {self.not_eligible} not eligible.",
                *failures,
            ]
        folders = sorted({str(f.parent) for c in self.issued for f in c.files})
        where = f" (files in {', '.join(folders)})" if folders else ""
        return [
            f"Issued {count} new certificate{'s' if count != 1 else ''}{where}; "
            f"{before} already issued, {self.not_eligible} not eligible.",
            "Each mentor's certificate is queued as a message: `tandem tick` delivers it.",
            *failures,
        ]


def _insert_ignore_certificate(session: Session, row: dict[str, Any]) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Certificate).values([row]).on_conflict_do_nothing().returning(col(Certificate.pk))
    )
    return bool(session.execute(statement).all())


def _message_html(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    return f'<!DOCTYPE html>\n<html lang="en"><body>\n{body}\n</body></html>\n'


class _Issue(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    facts: CertificateFacts
    token: str
    html: str
    pdf: bytes


def _issue_one(
    session: Session,
    cohort: Cohort,
    rules: CertificationRules,
    mentor: MentorEvaluation,
    settings: IssuerSettings,
    keyring: KeyRing,
    actor: str,
    now: datetime,
) -> _Issue | FailedCertificate | None:
    """Sign and store one mentor's certificate; None if someone issued it first.

    When the certificate's pages cannot be produced, nothing is stored but an
    ``issue_failed`` audit entry, and the failure is returned.
    """
    issuer = settings.profile
    pair = mentor.evidence_pair
    credential_id = credential_id_for(issuer.id, cohort.name, mentor.mentor_id)
    if pair is not None:
        start, end, met, total = (
            pair.program_start,
            pair.program_end,
            len(pair.weeks_met),
            pair.weeks_in_program,
        )
    else:  # granted without a pair that ran
        start = schedule.week_window(cohort.start_date, cohort.send_weekday, 1)[0]
        end = schedule.week_window(cohort.start_date, cohort.send_weekday, cohort.weeks)[1]
        met, total = 0, cohort.weeks
    facts = CertificateFacts(
        credential_id=credential_id,
        mentor_name=mentor.mentor_name,
        mentor_email=mentor.mentor_email,
        email_salt=_salt(settings, keyring, credential_id),
        achievement_id=f"{issuer.url}/{rules.certificate.achievement_path}",
        achievement_name=rules.certificate.name,
        achievement_description=rules.certificate.description,
        criteria_narrative=rules.narrative(),
        cohort_name=cohort.name,
        program_start=start,
        program_end=end,
        weeks_met=met,
        weeks_total=total,
        issued_at=now,
        granted=not mentor.meets_rules,  # eligible without meeting them: a grant
    )
    token = sign_credential(build_credential(facts, issuer), keyring, now)
    evidence: dict[str, Any] = {
        "mentee_id": pair.mentee_id if pair else None,
        "weeks_met": list(pair.weeks_met) if pair else [],
        "weeks_required": pair.weeks_required if pair else None,
        "program_start": start.isoformat(),
        "program_end": end.isoformat(),
        "criteria": [r.model_dump(exclude={"title"}) for r in pair.results] if pair else [],
        "decision": mentor.decision.model_dump(mode="json") if mentor.decision else None,
        "rules": rules.source,
    }
    hint = verification_hint_for(facts, settings.jwks_url, settings.revocations_url)
    try:
        page = render_certificate_html(facts, issuer, hint)
        pdf = render_certificate_pdf(facts, issuer, hint)
    except CertificateDocumentError as error:
        failure = FailedCertificate(
            credential_id=credential_id, mentor_id=mentor.mentor_id, reason=str(error)
        )
        record_audit(
            session,
            now,
            actor,
            AuditAction.ISSUE_FAILED,
            credential_id,
            {"cohort": cohort.name, "mentor_id": mentor.mentor_id, "reason": failure.reason},
        )
        return failure
    inserted = _insert_ignore_certificate(
        session,
        {
            "credential_id": credential_id,
            "cohort_pk": cohort.pk,
            "mentor_pk": mentor.mentor_pk,
            "issued_at": now,
            "kid": keyring.active_kid,
            "token": token,
            "evidence": evidence,
            "status": CertificateStatus.ISSUED.value,
        },
    )
    if not inserted:
        return None
    stem = credential_id.removeprefix("urn:uuid:")
    fields = {
        "mentor_name": mentor.mentor_name,
        "achievement_name": rules.certificate.name,
        "cohort_name": cohort.name,
        "issuer_name": issuer.name,
        "credential_id": credential_id,
        "credential_file": credential_filename(credential_id),
        "pdf_file": f"{stem}.pdf",
    }
    text = rules.message.text.format(**fields)
    message_pair = pair.pair_pk if pair else first_pair_pk(session, cohort, mentor.mentor_pk)
    row = outbox_row(
        cohort,
        message_pair,
        cohort.weeks,
        Kind.CERTIFICATE,
        Role.MENTOR.value,
        (mentor.mentor_name, mentor.mentor_email),
        rules.message.subject.format(**fields),
        text,
        _message_html(text),
        now,
        now=now,
        attachments=(
            Attachment(filename=f"{stem}.pdf", maintype="application", subtype="pdf", data=pdf),
            Attachment(
                filename=credential_filename(credential_id),
                maintype="application",
                subtype="vc+jwt",
                data=(token + "\n").encode("ascii"),
            ),
        ),
        recipient_id=mentor.mentor_id,
    )
    insert_ignore(session, [row])
    record_audit(
        session,
        now,
        actor,
        AuditAction.ISSUE,
        credential_id,
        {
            "cohort": cohort.name,
            "mentor_id": mentor.mentor_id,
            "kid": keyring.active_kid,
            "override": mentor.decision.decision.value if mentor.decision else None,
        },
    )
    return _Issue(facts=facts, token=token, html=page, pdf=pdf)


def _write_files(out_dir: Path, issue: _Issue) -> tuple[Path, ...]:
    """The certificate's files in ``out_dir``, readable by their owner only (mode 0600,
    as the database): they name the mentor."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = issue.facts.credential_id.removeprefix("urn:uuid:")
    files = (
        (out_dir / credential_filename(issue.facts.credential_id), (issue.token + "\n").encode()),
        (out_dir / f"{stem}.html", issue.html.encode("utf-8")),
        (out_dir / f"{stem}.pdf", issue.pdf),
    )
    for path, data in files:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    return tuple(path for path, _ in files)


def _refuse_before_close(cohort: Cohort) -> None:
    """Certificates are issued once the program is over: when the tick has closed the
    cohort (``close_after`` past its final week), not before, even for a granted mentor."""
    if cohort.completed_at is not None:
        return
    final = send_instants(cohort)[-1].astimezone(schedule.zone(cohort.timezone))
    raise CertificationError(
        f'cohort "{cohort.name}" has not closed yet: its final week begins on '
        f"{final:%Y-%m-%d} and the tick closes the program a week later; certificates are "
        "issued after that (--dry-run shows where each mentor stands now)"
    )


def certify(
    engine: Engine,
    cohort_name: str,
    rules: CertificationRules,
    *,
    now: datetime,
    actor: str,
    dry_run: bool = False,
    issuer: IssuerSettings | None = None,
    keyring: KeyRing | None = None,
    out_dir: Path | None = None,
) -> CertifyReport:
    """Evaluate every mentor of the cohort and issue each eligible mentor's certificate once.

    A dry run stores and writes nothing and needs neither ``issuer`` nor ``keyring``.
    Otherwise each newly issued certificate is stored with its VC-JWT, queued as a message
    to the mentor, recorded in the audit log and, when ``out_dir`` is given, written there
    as ``<id>.jwt``, ``<id>.html`` and ``<id>.pdf`` (after the database commit). A mentor
    whose certificate cannot be produced is listed in ``failed`` (and the audit log) and
    blocks no one else.

    Raises :class:`CertificationError` when issuing without an issuer or key ring, and
    :class:`~tandem.program.cohorts.CohortError` for an unknown cohort.
    """
    if dry_run:
        evaluation = evaluate_cohort(engine, cohort_name, rules, now=now)
        todo = tuple(m.mentor_id for m in evaluation.mentors if m.eligible and not m.certificate)
        return CertifyReport(evaluation=evaluation, dry_run=True, would_issue=todo)
    if issuer is None or keyring is None:
        raise CertificationError(
            "issuing certificates needs the issuer settings and the issuer key file; "
            "use --dry-run to evaluate only"
        )
    issues: list[tuple[MentorEvaluation, _Issue]] = []
    failed: list[FailedCertificate] = []
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        _refuse_before_close(cohort)
        evaluation = evaluate_in_session(session, cohort, rules, now)
        for mentor in evaluation.mentors:
            if mentor.eligible and mentor.certificate is None:
                issue = _issue_one(session, cohort, rules, mentor, issuer, keyring, actor, now)
                if isinstance(issue, FailedCertificate):
                    failed.append(issue)
                elif issue is not None:
                    issues.append((mentor, issue))
    issued = []
    for mentor, issue in issues:
        files = _write_files(out_dir, issue) if out_dir is not None else ()
        issued.append(
            IssuedCertificate(
                credential_id=issue.facts.credential_id,
                mentor_id=mentor.mentor_id,
                mentor_name=mentor.mentor_name,
                files=files,
            )
        )
    # Show the certificates as they now stand.
    evaluation = evaluate_cohort(engine, cohort_name, rules, now=now)
    return CertifyReport(
        evaluation=evaluation, dry_run=False, issued=tuple(issued), failed=tuple(failed)
    )
