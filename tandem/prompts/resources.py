"""The local resources a cohort can name in its messages (a closed vocabulary).

Kept apart from ``curriculum.py`` so that the command line can list them without loading
the curriculum machinery.
"""

from __future__ import annotations

from enum import StrEnum


class Resource(StrEnum):
    """Local help a cohort can name (who to contact, how); week text shows the ones set.

    Week text reads them as ``resources.ombuds`` and so on: an empty string when the cohort
    did not set one, so ``{% if resources.ombuds %}…{% endif %}`` leaves the sentence out.
    """

    OMBUDS = "ombuds"
    RESEARCH_INTEGRITY = "research_integrity"
    COUNSELLING = "counselling"


__all__ = ["Resource"]
