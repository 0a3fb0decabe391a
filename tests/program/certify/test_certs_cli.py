"""`tandem certify …` and `tandem certs …`: exact output, errors once, help for each."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from tandem.program.certify.issuer_keys import KeyRing
from tests.conftest import Tandem
from tests.program.certify.helpers import close, complete, start

DOCS = Path(__file__).parents[3] / "docs" / "certification.md"


def test_cli_certify_output_for_a_small_cohort(
    tandem: Tandem, engine: Engine, db_url: str, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 12))
    now = close(engine, program, tmp_path).isoformat()
    base = ["--db", db_url, "certify"]
    dry = tandem.invoke([*base, "Fall 2026", "--dry-run", "--now", now])
    assert dry.exit_code == 0, dry.output
    assert [line.rstrip() for line in dry.output.splitlines()] == [
        " " * 30 + "Fall 2026: certification",
        "┏━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━┓",
        "┃ mentor          ┃ eligible ┃ meetings       ┃ what is missing      ┃ certificate ┃",
        "┡━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━┩",
        "│ Mentor 1 (M001) │ yes      │ E001: 12 of 16 │                      │ would issue │",
        "│                 │          │ weeks, needs   │                      │             │",
        "│                 │          │ 12             │                      │             │",
        "│ Mentor 2 (M002) │ no       │ E002: 11 of 16 │ E002: regular        │             │",
        "│                 │          │ weeks, needs   │ meetings: met in 11  │             │",
        "│                 │          │ 12             │ of 16 weeks, needs   │             │",
        "│                 │          │                │ 12                   │             │",
        "└─────────────────┴──────────┴────────────────┴──────────────────────┴─────────────┘",
        " " * 10 + "Certified when one of the mentor's pairs meets every criterion.",
        "Dry run: 1 certificate would be issued; 0 already issued, 1 not eligible. Nothing was stored.",
    ]

    granted = tandem.invoke(
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
    first = tandem.invoke(issue)
    assert first.exit_code == 0, first.output
    rows = json.loads(first.stdout)
    assert [(r["mentor_id"], r["eligible"], r["decision"]) for r in rows] == [
        ("M001", True, None),
        ("M002", True, "grant by carol: met by phone"),
    ]
    assert first.stderr.startswith("Issued 2 new certificates")
    second = tandem.invoke(issue)
    assert second.stderr == "No new certificates: 2 already issued, 0 not eligible.\n"

    listed = tandem.invoke(["--db", db_url, "certs", "list", "--format", "csv"])
    lines = listed.output.splitlines()
    assert lines[0] == "credential_id,cohort,mentor_id,mentor,issued,status,reason,revoked,kid"
    cert_id = lines[1].split(",")[0]
    assert lines[1].split(",")[1:6] == ["Fall 2026", "M001", "Mentor 1", "2026-12-30", "issued"]

    revoked = tandem.invoke(
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
    exported = tandem.invoke(
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
    tandem.invoke(["keys", "export-jwks", *keys, "--out", str(tmp_path / "jwks.json")])
    jwt_file = tmp_path / "certs" / f"{cert_id.removeprefix('urn:uuid:')}.jwt"
    checked = tandem.invoke(
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

    shown = tandem.invoke(["--db", db_url, "certs", "show", cert_id])
    assert shown.output.splitlines()[:4] == [
        f"Certificate {cert_id}",
        "Cohort: Fall 2026; mentor: M001 (Mentor 1)",
        f"Status: REVOKED 2026-12-30: issued in error; issued 2026-12-30 (key {keyring.active_kid})",
        "Credential:",
    ]
    # The tables read at 100 columns, each certificate id whole on one line.
    as_table = [a for a in issue[2:] if a not in ("--format", "json")]
    for args in (["certs", "list"], ["certs", "audit"], as_table):
        table = tandem.invoke(["--db", db_url, *args]).stdout
        assert max(len(line) for line in table.splitlines()) <= 100, table
        assert args[0] == "certify" or cert_id in table, table
    audit = tandem.invoke(["--db", db_url, "certs", "audit", "--format", "csv"])
    assert [line.split(",")[1:3] for line in audit.output.splitlines()] == [
        ["actor", "action"],
        ["carol", "grant"],
        ["ada", "issue"],
        ["ada", "issue"],
        ["bob", "revoke"],
        ["bob", "export_revocations"],
    ]


def test_cli_errors_are_reported_once(tandem: Tandem, engine: Engine, db_url: str) -> None:
    missing = tandem.invoke(["--db", db_url, "certify", "Nope", "--dry-run"])
    assert missing.exit_code == 1
    assert missing.stderr == (
        'Error: no cohort named "Nope" (cohorts: none yet); create it with `tandem cohort create`\n'
    )
    no_reason = tandem.invoke(["--db", db_url, "certs", "revoke", "not-an-id", "--reason", "x"])
    assert no_reason.exit_code == 1
    assert "is not a certificate id" in no_reason.stderr


def test_every_command_has_help(tandem: Tandem) -> None:
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
        result = tandem.invoke([*args, "--help"])
        assert result.exit_code == 0, args
        assert "Usage:" in result.output
        # ... and is documented.
        assert f"tandem {' '.join(args)}" in DOCS.read_text(encoding="utf-8"), args


def test_the_certify_table_fits_100_columns_and_names_criteria_for_people(
    tandem: Tandem, engine: Engine, db_url: str, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=3)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 12))
    now = close(engine, program, tmp_path).isoformat()
    base = ["--db", db_url, "certify"]
    reason = "met by phone twice a month through the winter break, as the notes show"
    granted = tandem.invoke([*base, "grant", "Fall 2026", "M002", "--reason", reason, "--now", now])
    assert granted.exit_code == 0, granted.output
    issued = tandem.invoke(
        [
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
        ]
    )
    assert issued.exit_code == 0, issued.output
    lines = issued.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("Issued "))
    lines = lines[:summary]  # the table, then the summary (which names the folder)
    assert max(len(line) for line in lines) <= 100
    assert "min_meeting_weeks" not in issued.stdout and "any_pair" not in issued.stdout
    assert "granted by" in issued.stdout
    shown = tandem.invoke([*base, "Fall 2026", "--dry-run", "--now", now, "--format", "json"])
    unmet = {row["mentor_id"]: row["unmet"] for row in json.loads(shown.stdout)}
    assert unmet["M003"][0].startswith("E003: regular meetings: met in 0 of 16 weeks")
