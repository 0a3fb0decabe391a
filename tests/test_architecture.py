"""The direction of imports and the rules each package keeps (docs/architecture.md).

Faces (the CLI, the web layer) → program → prompts / matcher; never back. The matcher is
pure; only the faces and the scheduler read the clock; the library never prints or exits.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tandem"
FACES = ("tandem.cli", "tandem.commands", "tandem.web")
# Who reads the clock: the faces, the scheduler, and the one helper they call for it.
CLOCK_READERS = (*FACES, "tandem.program.scheduler", "tandem.program.storage.db")


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


MODULES = dict(_modules())


def _in(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _imports(tree: ast.Module, module: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                package = module.split(".")[: -node.level or None]
                base = ".".join([*package, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_the_scan_sees_every_package() -> None:
    for package in ("tandem.cli", "tandem.matcher", "tandem.program", "tandem.prompts"):
        assert any(_in(name, (package,)) for name in MODULES), package


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not _in(m, FACES)))
def test_the_library_never_imports_a_face(module: str) -> None:
    bad = sorted(i for i in _imports(MODULES[module], module) if _in(i, FACES))
    assert not bad, f"{module} imports {bad}: the library must not know its faces"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, ("tandem.matcher",))))
def test_the_matcher_imports_only_itself(module: str) -> None:
    bad = sorted(
        i
        for i in _imports(MODULES[module], module)
        if _in(i, ("tandem",)) and not _in(i, ("tandem.matcher", "tandem.errors")) and i != "tandem"
    )
    assert not bad, f"{module} imports {bad}: the matcher is pure"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, ("tandem.prompts",))))
def test_prompts_never_import_the_program(module: str) -> None:
    bad = sorted(i for i in _imports(MODULES[module], module) if _in(i, ("tandem.program",)))
    assert not bad, f"{module} imports {bad}: prompts are data the program uses"


def _calls(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                yield node.lineno, func.attr
            elif isinstance(func, ast.Name):
                yield node.lineno, func.id


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not _in(m, CLOCK_READERS)))
def test_only_the_faces_and_the_scheduler_read_the_clock(module: str) -> None:
    bad = [
        f"line {n}: {f}()" for n, f in _calls(MODULES[module]) if f in {"now", "today", "utcnow"}
    ]
    assert not bad, f"{module} reads the clock ({bad}): take `now` as a parameter"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not _in(m, FACES)))
def test_the_library_never_prints_or_exits(module: str) -> None:
    tree = MODULES[module]
    bad = [f"line {n}: {f}()" for n, f in _calls(tree) if f in {"print", "exit", "_exit"}]
    bad += sorted(i for i in _imports(tree, module) if _in(i, ("typer", "rich", "click")))
    assert not bad, f"{module}: {bad} — the library returns values and raises typed errors"
