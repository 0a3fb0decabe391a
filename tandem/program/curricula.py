"""A cohort's curriculum, read once per process.

Reading and checking a curriculum folder takes a good part of a second (every template is
parsed), and a check-in page needs the curriculum for every answer it records; so each
process keeps the curricula it has read, and reads a folder again only when a file in it
changed.
"""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from tandem.program.storage.tables import Cohort
from tandem.prompts.curriculum import DEFAULT_CURRICULUM, Curriculum
from tandem.prompts.curriculum import load_curriculum as _load_curriculum

__all__ = ["load_curriculum"]

_curricula: dict[str | None, tuple[tuple[tuple[str, int, int], ...], Curriculum]] = {}
_curricula_lock = threading.Lock()


def _folder_state(folder: str | None) -> tuple[tuple[str, int, int], ...]:
    """Every file under a curriculum folder with its modification time and size."""
    root = Path(folder) if folder else DEFAULT_CURRICULUM
    try:
        return tuple(
            sorted(
                (str(path.relative_to(root)), info.st_mtime_ns, info.st_size)
                for path in root.rglob("*")
                if stat.S_ISREG((info := path.stat()).st_mode)
            )
        )
    except OSError:
        return ()


def load_curriculum(cohort: Cohort) -> Curriculum:
    """The cohort's curriculum: its own folder, or the one that ships with Tandem; kept
    per process, read again when the folder's listing (each file's time and size) changed.
    """
    folder = cohort.curriculum_dir or None
    state = _folder_state(folder)
    with _curricula_lock:  # one thread reads a curriculum; the others wait for it
        kept = _curricula.get(folder)
        if kept is not None and kept[0] == state and state:
            return kept[1]
        curriculum = _load_curriculum(Path(folder) if folder else None)
        _curricula[folder] = (state, curriculum)
        return curriculum
