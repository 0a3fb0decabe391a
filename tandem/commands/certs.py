"""``tandem certify …`` and ``tandem certs …``: mentor certification and issued certificates.

``tandem certify COHORT`` (short for ``tandem certify run COHORT``) evaluates every mentor
and issues new certificates; ``tandem certify grant|withhold`` records a coordinator's
decision. ``tandem certs list|show|revoke|export-revocations|audit`` look after the
certificates once issued.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from tandem.commands.common import (
    ActorOption,
    FormatOption,
    NowOption,
    OutputFormat,
    actor_name,
    check_output_file,
    check_output_folder,
    console,
    database,
    echo_lines,
    lazy_module,
    now_from,
    render_rows,
    write_output,
)
from tandem.commands.credentials import KeysOption
from tandem.program import certify  # light: its names load on first use
from tandem.program.certify.key_names import DEFAULT_KEYS_FILE

if TYPE_CHECKING:
    from tandem.program.certify import CertifyReport, DecisionKind, MentorEvaluation, issuer_keys
else:
    issuer_keys = lazy_module("tandem.program.certify.issuer_keys")

DEFAULT_COMMAND = "run"
DEFAULT_OUT_DIR = "certificates"
"""Where `tandem certify` writes certificate files unless told otherwise (--out)."""


class _DefaultToRun(TyperGroup):
    """``tandem certify COHORT …`` means ``tandem certify run COHORT …``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


certify_app = typer.Typer(
    cls=_DefaultToRun,
    no_args_is_help=True,
    help="Certify mentors: `tandem certify COHORT [--dry-run]` (short for `tandem certify run "
    "COHORT`) evaluates every mentor and issues each eligible mentor's certificate once; "
    "grant and withhold record a coordinator's decision with its reason.",
)
certs_app = typer.Typer(
    no_args_is_help=True,
    help="Issued certificates: list, show, revoke, export the revocation list, audit log.",
)


ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why: recorded in the audit log (required).")
]
RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Certification rules (TOML); default: the shipped rules."),
]


def _evidence(mentor: MentorEvaluation) -> list[str]:
    out = []
    for pair in mentor.pairs:
        needed = f" (needs {pair.weeks_required})" if pair.weeks_required is not None else ""
        out.append(
            f"{pair.mentee_id}: met {len(pair.weeks_met)} of {pair.weeks_in_program} weeks"
            f"{needed}, {pair.program_start.isoformat()} to {pair.program_end.isoformat()}"
        )
    return out


def _eligible(mentor: MentorEvaluation) -> str:
    if mentor.decision is None:
        return "yes" if mentor.meets_rules else "no"
    return "yes (granted)" if mentor.eligible else "no (withheld)"


def _certificate(mentor: MentorEvaluation, report: CertifyReport, table: bool) -> str:
    if mentor.certificate is not None:
        new = {c.credential_id for c in report.issued}
        state = "issued now" if mentor.certificate.credential_id in new else "issued"
        if mentor.certificate.status is not certify.CertificateStatus.ISSUED:
            state = mentor.certificate.status.value
        if table:  # the id is in `tandem certs list`; here it would not fit 100 columns
            return state
        return f"{state} {mentor.certificate.credential_id}"
    if mentor.mentor_id in report.would_issue:
        return "would issue"
    if any(f.mentor_id == mentor.mentor_id for f in report.failed):
        return "not issued: could not be produced"
    return ""


def _rows(report: CertifyReport, fmt: OutputFormat) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for mentor in report.evaluation.mentors:
        decision = mentor.decision
        rows.append(
            {
                "mentor_id": mentor.mentor_id,
                "mentor": mentor.mentor_name,
                "eligible": _eligible(mentor) if fmt is OutputFormat.TABLE else mentor.eligible,
                "unmet": list(mentor.unmet()),
                "evidence": _evidence(mentor),
                "decision": (
                    f"{decision.decision.value} by {decision.actor}: {decision.reason}"
                    if decision
                    else None
                ),
                "certificate": _certificate(mentor, report, fmt is OutputFormat.TABLE),
            }
        )
    return rows


TABLE_COLUMNS = (
    ("mentor", 16),
    ("eligible", 18),
    ("meetings", 14),
    ("what is missing", 20),
    ("certificate", 16),
)
"""The table's columns and their widths: with borders and padding, 100 characters."""


def _print_table(report: CertifyReport, rule: certify.MentorRule) -> None:
    """Every mentor in a table of at most 100 columns, criteria by their titles."""
    from rich.table import Table

    table = Table(
        title=f"{report.evaluation.cohort_name}: certification",
        caption=f"Certified when {rule.description}.",
    )
    for name, width in TABLE_COLUMNS:
        table.add_column(name, max_width=width, overflow="fold")
    for mentor in report.evaluation.mentors:
        decision = mentor.decision
        eligible = "yes" if mentor.eligible else "no"
        if decision is not None:
            done = "granted" if decision.decision is certify.DecisionKind.GRANT else "withheld"
            eligible += f": {done} by {decision.actor} ({decision.reason})"
        meetings = [
            f"{p.mentee_id}: {len(p.weeks_met)} of {p.weeks_in_program} weeks"
            + (f", needs {p.weeks_required}" if p.weeks_required is not None else "")
            for p in mentor.pairs
        ]
        table.add_row(
            f"{mentor.mentor_name} ({mentor.mentor_id})",
            eligible,
            "\n".join(meetings),
            "\n".join(mentor.unmet()),
            _certificate(mentor, report, table=True),
        )
    console().print(table)


CERTIFY_COLUMNS = (
    "mentor_id",
    "mentor",
    "eligible",
    "unmet",
    "evidence",
    "decision",
    "certificate",
)


@certify_app.command(DEFAULT_COMMAND)
def certify_run(
    ctx: typer.Context,
    cohort: Annotated[str, typer.Argument(help="The cohort whose mentors to certify.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Evaluate and show; store and write nothing.")
    ] = False,
    rules: RulesOption = None,
    keys: KeysOption = Path(DEFAULT_KEYS_FILE),
    out: Annotated[
        Path, typer.Option("--out", help="Folder for each certificate's .jwt, .html and .pdf.")
    ] = Path(DEFAULT_OUT_DIR),
    issuer_name: Annotated[
        str | None,
        typer.Option("--issuer-name", envvar="TANDEM_ISSUER_NAME", help="The program's name."),
    ] = None,
    issuer_url: Annotated[
        str | None,
        typer.Option("--issuer-url", envvar="TANDEM_ISSUER_URL", help="The program's web page."),
    ] = None,
    issuer_id: Annotated[
        str | None,
        typer.Option(
            "--issuer-id", envvar="TANDEM_ISSUER_ID", help="Issuer id (a URI); default: the URL."
        ),
    ] = None,
    issuer_email: Annotated[
        str | None,
        typer.Option("--issuer-email", envvar="TANDEM_ISSUER_EMAIL", help="Issuer contact."),
    ] = None,
    email_salt: Annotated[
        str | None,
        typer.Option(
            "--email-salt",
            envvar="TANDEM_EMAIL_SALT",
            help="Salt for mentors' hashed e-mail; default: derived per certificate from the key.",
        ),
    ] = None,
    jwks_url: Annotated[
        str | None,
        typer.Option(
            "--jwks-url", envvar="TANDEM_JWKS_URL", help="Where the public key set is published."
        ),
    ] = None,
    revocations_url: Annotated[
        str | None,
        typer.Option(
            "--revocations-url",
            envvar="TANDEM_REVOCATIONS_URL",
            help="Where the revocation list is published.",
        ),
    ] = None,
    actor: ActorOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    now: NowOption = None,
) -> None:
    """Evaluate every mentor of COHORT and issue each eligible mentor's certificate once."""
    loaded = certify.load_rules(rules)
    issuer = keyring = None
    if not dry_run:
        check_output_folder(out)
        issuer = certify.issuer_settings(
            name=issuer_name,
            url=issuer_url,
            issuer_id=issuer_id,
            email=issuer_email,
            email_salt=email_salt,
            jwks_url=jwks_url,
            revocations_url=revocations_url,
        )
        keyring = issuer_keys.load_keyring(keys)
    with database(ctx) as db:
        report = certify.certify(
            db,
            cohort,
            loaded,
            now=now_from(now),
            actor=actor or actor_name(),
            dry_run=dry_run,
            issuer=issuer,
            keyring=keyring,
            out_dir=out,
        )
    if fmt is OutputFormat.TABLE:
        _print_table(report, loaded.mentor_rule)
    else:
        render_rows(_rows(report, fmt), CERTIFY_COLUMNS, fmt)
    echo_lines(report.lines(), err=fmt is not OutputFormat.TABLE)
    if report.failed:  # the others are issued; a coordinator must still see this fail
        raise typer.Exit(1)


def _decide(
    ctx: typer.Context,
    decision: DecisionKind,
    cohort: str,
    mentor_id: str,
    reason: str,
    actor: str | None,
    now: str | None,
) -> None:
    with database(ctx) as db:
        result = certify.decide(
            db,
            cohort,
            mentor_id,
            decision,
            reason=reason,
            actor=actor or actor_name(),
            now=now_from(now),
        )
    done = "Granted" if decision is certify.DecisionKind.GRANT else "Withheld"
    replaced = f" (replacing an earlier {result.replaced.value})" if result.replaced else ""
    typer.echo(f'{done} certification of {mentor_id} in "{cohort}"{replaced}: {reason.strip()}')
    if result.warning:
        typer.echo(f"Note: {result.warning}")


@certify_app.command("grant")
def certify_grant(
    ctx: typer.Context,
    cohort: Annotated[str, typer.Argument(help="The cohort.")],
    mentor_id: Annotated[str, typer.Argument(help="The mentor's id from the roster.")],
    reason: ReasonOption,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Certify a mentor whatever the criteria say (the reason is recorded)."""
    _decide(ctx, certify.DecisionKind.GRANT, cohort, mentor_id, reason, actor, now)


@certify_app.command("withhold")
def certify_withhold(
    ctx: typer.Context,
    cohort: Annotated[str, typer.Argument(help="The cohort.")],
    mentor_id: Annotated[str, typer.Argument(help="The mentor's id from the roster.")],
    reason: ReasonOption,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Do not certify a mentor even if they meet the criteria (the reason is recorded)."""
    _decide(ctx, certify.DecisionKind.WITHHOLD, cohort, mentor_id, reason, actor, now)


LIST_COLUMNS = ("credential_id", "cohort", "mentor_id", "mentor", "issued", "status", "reason")


@certs_app.command("list")
def certs_list(
    ctx: typer.Context,
    cohort: Annotated[str | None, typer.Option("--cohort", help="Only this cohort.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List issued certificates with their status."""
    with database(ctx) as db:
        infos = certify.list_certificates(db, cohort)
    columns = LIST_COLUMNS if fmt is OutputFormat.TABLE else (*LIST_COLUMNS, "revoked", "kid")
    render_rows([i.as_row() for i in infos], columns, fmt, title="Certificates")


@certs_app.command("show")
def certs_show(
    ctx: typer.Context,
    credential_id: Annotated[str, typer.Argument(help="The certificate id (urn:uuid:…).")],
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Show one certificate: its status and the credential it states."""
    with database(ctx) as db:
        detail = certify.show_certificate(db, credential_id)
    info = detail.info
    if fmt is not OutputFormat.TABLE:
        document = {**info.as_row(), "credential": detail.credential}
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    status = f"issued {info.issued_at.date().isoformat()} (key {info.kid})"
    if info.status is certify.CertificateStatus.REVOKED and info.revoked_at:
        status = f"REVOKED {info.revoked_at.date().isoformat()}: {info.revoked_reason}; {status}"
    echo_lines(
        [
            f"Certificate {info.credential_id}",
            f"Cohort: {info.cohort}; mentor: {info.mentor_id} ({info.mentor})",
            f"Status: {status}",
            "Credential:",
            json.dumps(detail.credential, indent=2, ensure_ascii=False),
        ]
    )


@certs_app.command("revoke")
def certs_revoke(
    ctx: typer.Context,
    credential_id: Annotated[str, typer.Argument(help="The certificate id (urn:uuid:…).")],
    reason: ReasonOption,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Revoke a certificate; publish the new list with `tandem certs export-revocations`."""
    with database(ctx) as db:
        info, changed = certify.revoke_certificate(
            db, credential_id, reason=reason, actor=actor or actor_name(), now=now_from(now)
        )
    if not changed:
        assert info.revoked_at is not None
        typer.echo(
            f"{info.credential_id} was already revoked on {info.revoked_at.date().isoformat()}: "
            f"{info.revoked_reason}"
        )
        return
    typer.echo(
        f"Revoked {info.credential_id} ({info.mentor_id}, {info.cohort}): {info.revoked_reason}"
    )
    typer.echo("Publish the new list with `tandem certs export-revocations`.")


@certs_app.command("export-revocations")
def certs_export_revocations(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the signed list here (default: stdout).")
    ] = None,
    keys: KeysOption = Path(DEFAULT_KEYS_FILE),
    issuer_id: Annotated[
        str | None,
        typer.Option(
            "--issuer-id",
            envvar="TANDEM_ISSUER_ID",
            help="The issuer whose list this is (default: the one issuer of the certificates).",
        ),
    ] = None,
    actor: ActorOption = None,
    now: NowOption = None,
) -> None:
    """Sign the list of revoked certificates that `tandem verify --revocations` reads."""
    if out is not None:
        check_output_file(out)
    keyring = issuer_keys.load_keyring(keys)
    with database(ctx) as db:
        token, revocations = certify.export_revocations(
            db, keyring, now=now_from(now), actor=actor or actor_name(), issuer_id=issuer_id
        )
    if out is None:
        typer.echo(token)
        return
    write_output(out, token + "\n", personal=False)
    count = len(revocations.entries)
    typer.echo(
        f"Wrote the signed revocation list ({count} revoked certificate"
        f"{'s' if count != 1 else ''}) to {out}."
    )


AUDIT_COLUMNS = ("at", "actor", "action", "subject", "details")


@certs_app.command("audit")
def certs_audit(
    ctx: typer.Context,
    cohort: Annotated[str | None, typer.Option("--cohort", help="Only this cohort.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Show who issued, revoked, granted or withheld what, and when."""
    with database(ctx) as db:
        records = certify.audit_log(db, cohort)
    if fmt is OutputFormat.TABLE:
        # What and the details share a cell, so a certificate id is never split at 100
        # columns; the time is UTC, to the minute.
        rows: list[dict[str, object]] = [
            {
                "at (UTC)": f"{r.at.astimezone(UTC):%Y-%m-%d %H:%M}",
                "actor": r.actor,
                "action": r.action,
                "details": "\n".join(
                    [
                        r.subject,
                        "; ".join(f"{k}: {_plain(v)}" for k, v in sorted(r.details.items())),
                    ]
                ).strip(),
            }
            for r in records
        ]
        render_rows(
            rows, ("at (UTC)", "actor", "action", "details"), fmt, "Certification audit log"
        )
        return
    render_rows([r.as_row() for r in records], AUDIT_COLUMNS, fmt, title="Certification audit log")


def _plain(value: object) -> str:
    """A detail's value as a person reads it (JSON for anything but text)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def register(app: typer.Typer) -> None:
    """Add ``certify`` (run, grant, withhold) and ``certs`` to ``app``."""
    app.add_typer(certify_app, name="certify")
    app.add_typer(certs_app, name="certs")
