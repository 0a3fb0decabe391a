"""Statement builders shared by the modules that write program state in bulk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update


def quiet_update(table: Any) -> Any:
    """An UPDATE that does not evaluate its WHERE against objects held by the session.

    For conditional updates (``… WHERE state = 'proposed'``) whose outcome the caller reads
    from the row count; the session's copies are not touched.
    """
    return update(table).execution_options(synchronize_session=False)
