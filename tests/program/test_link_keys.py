"""Link-signing keys live in the key file, not the database; rotating them breaks no link
already sent; forged links still fail."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlmodel
from sqlalchemy import Engine, MetaData, select, update
from sqlmodel import Session

from tandem.program.certify.issuer_keys import KeyAlgorithm, init_keyring, rotate_keyring
from tandem.program.checkins import CheckinAnswers, record_from_link
from tandem.program.link_keys import (
    LinkKeyError,
    link_secrets,
    load_link_keys,
    read_link_keys,
    rotate_link_keys,
)
from tandem.program.outbox.channels import FileOutbox
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Cohort, Pair
from tandem.program.tick import run_due
from tandem.program.tokens import (
    LinkSecrets,
    TamperedTokenError,
    make_token,
    new_secret,
    verify_token,
)
from tests.conftest import Tandem
from tests.program.helpers import CREATED, day, make_program, outbox


def the_cohort(engine: Engine) -> Cohort:
    with Session(engine) as session:
        return session.exec(sqlmodel.select(Cohort)).one()


def first_pair(engine: Engine) -> int:
    with Session(engine) as session:
        return min(pk or 0 for pk in session.exec(sqlmodel.select(Pair.pk)).all())


def database_dump(engine: Engine) -> str:
    """Every value of every table, as text (what a copy of the database file reveals)."""
    metadata = MetaData()
    metadata.reflect(engine)
    lines = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                lines.append(repr(tuple(row)))
    return "\n".join(lines)


def secrets_of(path: Path, cohort_pk: int) -> list[str]:
    """Every link secret the key file holds, and the cohort's keys derived from them."""
    ring = load_link_keys(path)
    assert ring is not None
    masters = [key.secret.get_secret_value() for key in ring.keys]
    derived = [secret.hex() for secret in ring.for_cohort(cohort_pk).values()]
    return masters + derived


def test_the_database_holds_no_link_secret(
    engine: Engine, db_url: str, tmp_path: Path, tandem: Tandem
) -> None:
    keys = tmp_path / "tandem-keys.json"
    tandem("keys", "init", "--keys", keys, "--alg", "EdDSA", "--now", "2026-08-01T00:00")
    assert os.stat(keys).st_mode & 0o777 == 0o600
    program = make_program(engine, tmp_path, pairs=2)
    now = day(program.instants, 1, hours=1).strftime("%Y-%m-%dT%H:%M")
    out = tmp_path / "outbox"
    tandem("tick", "--now", now, "--delivery", f"file:{out}", "--keys", keys, db=db_url)
    cohort = the_cohort(engine)
    assert cohort.secret == ""
    dump = database_dump(engine)
    for secret in secrets_of(keys, cohort.pk or 0):
        assert secret not in dump and bytes.fromhex(secret).hex().upper() not in dump
    # The links in the messages verify with the key file's keys.
    ring = read_link_keys(keys)
    tokens = {
        token
        for path in out.glob("*.eml")
        for token in re.findall(r"/checkin/([A-Za-z0-9_-]{64})", path.read_text())
    }
    assert tokens
    for token in tokens:
        assert verify_token(link_secrets(ring, cohort), token, now=program.instants[1]).week == 1


def test_a_link_signed_before_a_rotation_still_verifies_after_it(
    engine: Engine, tmp_path: Path
) -> None:
    keys = tmp_path / "tandem-keys.json"
    init_keyring(keys, KeyAlgorithm.EDDSA, now=CREATED)
    first = rotate_link_keys(keys, now=CREATED)
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    cohort = the_cohort(engine)
    now = day(program.instants, 1, hours=1)
    before = make_token(
        link_secrets(first, cohort),
        pair_id=first_pair(engine),
        week=1,
        role="mentor",
        expires=now + timedelta(days=14),
    )
    second = rotate_link_keys(keys, now=now)
    assert second.active_kid != first.active_kid and len(second.keys) == 2
    # The issuer key is untouched by a link rotation, and the link keys by an issuer rotation.
    rotate_keyring(keys, now=now)
    assert load_link_keys(keys) == second
    assert json.loads(keys.read_text())["format"] == "tandem-issuer-keys/1"
    ring = read_link_keys(keys)
    answers = CheckinAnswers(met=True, minutes=30)
    assert record_from_link(engine, before, answers, now=now, link_keys=ring)[1:] == (1, "mentor")
    # New links name the new key.
    after = make_token(
        link_secrets(ring, cohort),
        pair_id=first_pair(engine),
        week=1,
        role="mentee",
        expires=now + timedelta(days=14),
    )
    assert verify_token(link_secrets(ring, cohort), after, now=now).role == "mentee"
    with pytest.raises(TamperedTokenError):  # the old ring does not know the new key
        verify_token(link_secrets(first, cohort), after, now=now)
    # Once the old key is retired for longer than its links live, it is dropped.
    dropped = rotate_link_keys(keys, now=now + timedelta(days=200), keep=timedelta(days=120))
    assert first.active_kid not in {k.kid for k in dropped.keys}
    with pytest.raises(TamperedTokenError):
        verify_token(link_secrets(dropped, cohort), before, now=now)


def test_forged_links_still_fail(engine: Engine, tmp_path: Path) -> None:
    keys = tmp_path / "tandem-keys.json"
    init_keyring(keys, KeyAlgorithm.EDDSA, now=CREATED)
    ring = rotate_link_keys(keys, now=CREATED)
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    cohort = the_cohort(engine)
    mine = link_secrets(ring, cohort)
    now = day(program.instants, 1)
    claims = {"pair_id": first_pair(engine), "week": 1, "role": "mentor"}
    expires = now + timedelta(days=3)
    assert mine.signing is not None
    kid = mine.signing[0]
    forgeries = [
        # the right key id, another secret
        make_token(LinkSecrets((kid, new_secret()), {}), **claims, expires=expires),  # type: ignore[arg-type]
        # a key id the ring does not hold
        make_token(LinkSecrets((b"\x00\x00\x00\x01", new_secret()), {}), **claims, expires=expires),  # type: ignore[arg-type]
        # a version-1 link under a guessed secret (the cohort keeps none)
        make_token(new_secret(), **claims, expires=expires),  # type: ignore[arg-type]
        # another cohort's key: the master key itself, not the cohort's derived key
        make_token(
            LinkSecrets((kid, bytes.fromhex(ring.active.secret.get_secret_value())), {}),
            **claims,  # type: ignore[arg-type]
            expires=expires,
        ),
    ]
    for token in forgeries:
        with pytest.raises(TamperedTokenError):
            verify_token(mine, token, now=now)
        with pytest.raises(TamperedTokenError):
            record_from_link(engine, token, CheckinAnswers(met=True), now=now, link_keys=ring)


def test_a_cohort_that_kept_its_secret_in_the_database_keeps_working(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    legacy = new_secret()
    with transaction(engine) as session:
        session.execute(update(Cohort).values(secret=legacy.hex()))
    now = day(program.instants, 1, hours=1)
    sent_before = make_token(
        legacy, pair_id=first_pair(engine), week=1, role="mentee", expires=now + timedelta(days=9)
    )
    # Without a key file, the tick signs with the stored secret, as before.
    report = run_due(engine, now, FileOutbox(tmp_path / "outbox"))
    assert report.delivered == len(outbox(engine)) > 0
    answers = CheckinAnswers(met=True)
    assert record_from_link(engine, sent_before, answers, now=now)[1] == 1
    # With one, new links name its key, and the links sent before still verify.
    keys = tmp_path / "tandem-keys.json"
    init_keyring(keys, KeyAlgorithm.EDDSA, now=CREATED)
    ring = rotate_link_keys(keys, now=now)
    assert record_from_link(engine, sent_before, answers, now=now, link_keys=ring)[1] == 1
    cohort = the_cohort(engine)
    new = make_token(
        link_secrets(ring, cohort),
        pair_id=first_pair(engine),
        week=1,
        role="mentor",
        expires=now + timedelta(days=9),
    )
    with pytest.raises(TamperedTokenError):  # a new link needs the key file
        verify_token(LinkSecrets(None, {}, legacy), new, now=now)
    assert verify_token(link_secrets(ring, cohort), new, now=now).role == "mentor"


def test_a_tick_without_link_keys_says_how_to_make_them(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1)
    with pytest.raises(LinkKeyError, match="tandem keys init"):
        run_due(engine, day(program.instants, 1), FileOutbox(tmp_path / "outbox"))
    assert outbox(engine) == []


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "tandem-keys.json"
    init_keyring(keys, KeyAlgorithm.EDDSA, now=CREATED)
    rotate_link_keys(keys, now=CREATED)
    keys.chmod(0o644)
    with pytest.raises(LinkKeyError, match="chmod 600"):
        read_link_keys(keys)
    assert read_link_keys(tmp_path / "none.json") is None


def test_no_key_shows_in_a_repr(engine: Engine, tmp_path: Path) -> None:
    keys = tmp_path / "tandem-keys.json"
    init_keyring(keys, KeyAlgorithm.EDDSA, now=CREATED)
    ring = rotate_link_keys(keys, now=CREATED)
    make_program(engine, tmp_path, pairs=1, coordinator=None)
    cohort = the_cohort(engine)
    shown = repr(ring) + repr(link_secrets(ring, cohort)) + str(ring)
    for secret in secrets_of(keys, cohort.pk or 0):
        assert secret not in shown


def test_secrets_kept_in_the_database_move_to_the_key_file(
    engine: Engine, db_url: str, tmp_path: Path, tandem: Tandem
) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    legacy = new_secret()
    with transaction(engine) as session:
        session.execute(update(Cohort).values(secret=legacy.hex()))
    now = day(program.instants, 1, hours=1)
    sent_before = make_token(
        legacy, pair_id=first_pair(engine), week=1, role="mentee", expires=now + timedelta(days=9)
    )
    keys = tmp_path / "tandem-keys.json"
    tandem("keys", "init", "--keys", keys, "--alg", "EdDSA", "--now", "2026-08-01T00:00")
    moved = tandem("keys", "move-link-secrets", "--keys", keys, db=db_url)
    assert moved.output.startswith("Moved 1 cohort link secret into ")
    again = tandem("keys", "move-link-secrets", "--keys", keys, db=db_url)
    assert again.output.startswith("No cohort keeps a link secret in the database")
    assert legacy.hex() not in database_dump(engine) and legacy.hex() in keys.read_text()
    assert keys.stat().st_mode & 0o777 == 0o600
    ring = read_link_keys(keys)
    answers = CheckinAnswers(met=True)
    assert record_from_link(engine, sent_before, answers, now=now, link_keys=ring)[1] == 1
    with pytest.raises(TamperedTokenError):  # the database alone no longer verifies it
        record_from_link(engine, sent_before, answers, now=now)
    # A rotation keeps the moved secrets.
    rotated = rotate_link_keys(keys, now=now)
    assert record_from_link(engine, sent_before, answers, now=now, link_keys=rotated)[1] == 1
    with pytest.raises(LinkKeyError, match="tandem keys init"):  # a tick needs the key file
        run_due(engine, now, FileOutbox(tmp_path / "outbox"))
    assert run_due(engine, now, FileOutbox(tmp_path / "outbox"), link_keys=rotated).delivered > 0


def test_a_missing_damaged_or_shared_key_file_is_reported_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "tandem-keys.json"

    def error() -> str:
        with pytest.raises(LinkKeyError) as raised:
            load_link_keys(path)
        return str(raised.value)

    assert error() == (
        f"no key file at {path}: create one with `tandem keys init --keys {path}`, or point "
        "--keys / TANDEM_KEYS at the existing file"
    )
    path.touch(mode=0o600)
    for damaged in ("not json", "[1, 2]", "[" * 100_000):  # the last nested too deeply
        path.write_text(damaged, encoding="utf-8")
        assert error() == (
            f"{path} is not a Tandem key file: restore it from your backup or create a new one "
            "with `tandem keys init`"
        )
    path.chmod(0o640)
    assert error() == (
        f"{path} is readable by other users (mode 0640); its keys must stay private: run "
        f"`chmod 600 {path}`"
    )
