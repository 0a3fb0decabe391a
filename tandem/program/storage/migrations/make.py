"""Developer helper: autogenerate a migration against a scratch SQLite at the current head."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from tandem.program.storage import db


def main() -> None:
    message = " ".join(sys.argv[1:]) or "schema change"
    with tempfile.TemporaryDirectory() as scratch:
        engine = db.create_db_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        config = db._alembic_config()
        versions = list((Path(__file__).parent / "versions").glob("[0-9]*.py"))
        if versions:
            db.upgrade_schema(engine)
        number = len(versions) + 1
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True, rev_id=f"{number:04d}")


if __name__ == "__main__":
    main()
