"""``tandem keys init|rotate|export-jwks`` and ``tandem verify``: issuer keys, offline checks.

These commands need no database: the key ring is a file of its own (``--keys`` or
``TANDEM_KEYS``), and verification uses only the certificate file, the issuer's JWK Set
and, optionally, its signed revocation list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tandem.commands.common import (
    NowOption,
    check_output_file,
    database,
    lazy_module,
    now_from,
    write_output,
)
from tandem.errors import json_error_message
from tandem.program.certify.key_names import DEFAULT_KEYS_FILE, KeyAlgorithm

if TYPE_CHECKING:
    from tandem.program.certify import credentials, issuer_keys
    from tandem.program.certify import revocations as revocation_lists
else:  # loaded on first use: the cryptography libraries take a while to import
    credentials = lazy_module("tandem.program.certify.credentials")
    issuer_keys = lazy_module("tandem.program.certify.issuer_keys")
    revocation_lists = lazy_module("tandem.program.certify.revocations")

KeysOption = Annotated[
    Path,
    typer.Option(
        "--keys",
        envvar="TANDEM_KEYS",
        help="Issuer key file (kept outside the database, mode 0600).",
        show_default=True,
    ),
]


def _read_text(path: Path, what: str, error: type[Exception]) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"cannot read {what} {path}: {problem}") from None


def _read_jwks(path: Path) -> Any:
    text = _read_text(path, "key set file", issuer_keys.KeyFileError)
    try:
        return json.loads(text)
    except RecursionError:
        raise issuer_keys.KeyFileError(
            f"{path} is nested too deeply to be a JWK Set; pass the issuer's JWK Set, as "
            "written by `tandem keys export-jwks`"
        ) from None
    except ValueError as problem:
        raise issuer_keys.KeyFileError(
            f"{path} is not JSON ({json_error_message(problem)}); pass the issuer's JWK Set, as written by "
            "`tandem keys export-jwks`"
        ) from None


def keys_init(
    keys: KeysOption = Path(DEFAULT_KEYS_FILE),
    alg: Annotated[
        KeyAlgorithm, typer.Option("--alg", help="RS256 (interoperable) or EdDSA (Ed25519).")
    ] = KeyAlgorithm.RS256,
    now: NowOption = None,
) -> None:
    """Create the key file: an issuer signing key and a link-signing key; never overwrites."""
    from tandem.program.link_keys import rotate_link_keys

    at = now_from(now)
    keyring = issuer_keys.init_keyring(keys, alg, now=at)
    links = rotate_link_keys(keys, now=at)
    typer.echo(
        f"Created key file {keys} (mode 0600) with {alg.value} issuer key "
        f"{keyring.active_kid} and link-signing key {links.active_kid}."
    )
    typer.echo(
        "Keep it out of the database and version control, back it up, give it to every "
        "`tandem tick`, `tandem scheduler run` and `tandem serve` (--keys or TANDEM_KEYS), "
        "and publish the public keys with `tandem keys export-jwks`."
    )


def keys_rotate_links(
    keys: KeysOption = Path(DEFAULT_KEYS_FILE),
    keep_days: Annotated[
        int,
        typer.Option(
            min=1,
            max=3650,
            help="Days a retired link key still verifies the links it signed (longer than "
            "any link lives).",
        ),
    ] = 120,
    now: NowOption = None,
) -> None:
    """Add a new link-signing key; links already sent keep verifying until they expire.

    In a key file made before link keys were kept there, this adds the first one."""
    from datetime import timedelta

    from tandem.program.link_keys import rotate_link_keys

    ring = rotate_link_keys(keys, now=now_from(now), keep=timedelta(days=keep_days))
    older = len(ring.keys) - 1
    typer.echo(
        f"New link-signing key {ring.active_kid}; {older} older key{'s' if older != 1 else ''} "
        f"kept in {keys} to verify links already sent."
    )
    typer.echo(
        "Copy the file to every host that runs `tandem tick`, the scheduler or `tandem serve`; "
        "they read it again when it changes."
    )


def keys_move_link_secrets(
    ctx: typer.Context,
    keys: KeysOption = Path(DEFAULT_KEYS_FILE),
) -> None:
    """Move link secrets that older cohorts kept in the database into the key file."""
    from tandem.program.link_keys import move_link_secrets

    with database(ctx) as db:
        moved = move_link_secrets(db, keys)
    if not moved:
        typer.echo("No cohort keeps a link secret in the database: nothing to move.")
        return
    typer.echo(
        f"Moved {moved} cohort link secret{'s' if moved != 1 else ''} into {keys}; the "
        "database now holds only a reference. Links sent before keep working with the key "
        "file; copy it to every host that ticks or serves."
    )


def keys_rotate(
    keys: KeysOption = Path(DEFAULT_KEYS_FILE),
    alg: Annotated[
        KeyAlgorithm | None,
        typer.Option("--alg", help="Algorithm of the new key (default: same as the current)."),
    ] = None,
    now: NowOption = None,
) -> None:
    """Add a new signing key; older public keys stay so old certificates still verify."""
    keyring = issuer_keys.rotate_keyring(keys, alg, now=now_from(now))
    retired = len(keyring.keys) - 1
    typer.echo(
        f"New {keyring.active.alg.value} signing key {keyring.active_kid}; "
        f"{retired} older public key{'s' if retired != 1 else ''} kept in {keys}."
    )
    typer.echo("Publish the new key set with `tandem keys export-jwks`.")


def keys_export_jwks(
    keys: KeysOption = Path(DEFAULT_KEYS_FILE),
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JWK Set here instead of stdout.")
    ] = None,
) -> None:
    """Print or write the public JWK Set that verifiers use (no private keys)."""
    if out is not None:
        check_output_file(out)
    text = issuer_keys.export_jwks(issuer_keys.load_keyring(keys))
    if out is None:
        typer.echo(text, nl=False)
        return
    write_output(out, text, personal=False)
    count = len(json.loads(text)["keys"])
    typer.echo(f"Wrote the public key set ({count} key{'s' if count != 1 else ''}) to {out}.")


def verify(
    file: Annotated[Path, typer.Argument(help="The signed certificate file (<uuid>.jwt).")],
    jwks: Annotated[
        Path | None,
        typer.Option("--jwks", help="The issuer's published JWK Set (default: from --keys)."),
    ] = None,
    revocations: Annotated[
        Path | None, typer.Option("--revocations", help="The issuer's signed revocation list.")
    ] = None,
    keys: KeysOption = Path(DEFAULT_KEYS_FILE),
    issuer: Annotated[
        str | None, typer.Option("--issuer", help="Fail unless issued by this issuer id.")
    ] = None,
    now: NowOption = None,
) -> None:
    """Check a certificate offline: signature, issuer, dates and revocation."""
    token = _read_text(file, "certificate file", credentials.CredentialError)
    key_set = _read_jwks(jwks) if jwks is not None else issuer_keys.load_keyring(keys).jwks()
    revocation_list = None
    if revocations is not None:
        text = _read_text(revocations, "revocation list", revocation_lists.RevocationListError)
        revocation_list = revocation_lists.read_revocations(text, key_set, source=str(revocations))
    result = credentials.verify_credential(token, key_set, revocation_list, now_from(now), issuer)
    if result.ok:
        typer.echo(f"VALID: {result.explanation}")
        return
    typer.echo(f"INVALID ({result.outcome.value}): {result.explanation}")
    raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``keys init|rotate|export-jwks`` and ``verify`` to ``app``."""
    keys_app = typer.Typer(
        no_args_is_help=True,
        help="The program's issuer keys: create, rotate, publish the public key set.",
    )
    keys_app.command("init")(keys_init)
    keys_app.command("rotate")(keys_rotate)
    keys_app.command("rotate-links")(keys_rotate_links)
    keys_app.command("move-link-secrets")(keys_move_link_secrets)
    keys_app.command("export-jwks")(keys_export_jwks)
    app.add_typer(keys_app, name="keys")
    app.command("verify")(verify)
