"""The project files a module can run: its import closure, read from the source.

DVC re-runs a stage when one of its declared dependencies changes, so a module that a
stage imports but does not declare can change its results behind DVC's back, and one it
declares without importing re-runs it for nothing. A stage's code dependencies are
therefore exactly the closure of its entry module (``python -m stages.<name>``) within the
project: every ``pipeline`` and ``stages`` module reachable through imports, those inside
functions included (a lazy import runs as surely as a top-level one), with the package
``__init__.py`` files Python runs on the way. ``tests/test_stage_deps.py`` checks every
stage of ``dvc.yaml`` against it; the training fold cache keys its entries by the same
closure (:func:`pipeline.training.driver.code_digest`), so neither can drift from the code.

Print a stage's dependencies, ready for ``dvc.yaml``::

    python -m pipeline.runtime.imports stages.train
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: the folder that holds ``pipeline/`` and ``stages/``."""
PACKAGES = ("pipeline", "stages")
"""The project's top-level packages; imports of anything else are third-party."""


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of a project module (``pipeline.model`` is ``pipeline/model/__init__.py``),
    or None where ``name`` is no project module (an attribute, a class, a constant)."""
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path, root: Path) -> str:
    """The package a file's relative imports start from (its folder, for a module and for
    an ``__init__.py`` alike)."""
    return ".".join(path.relative_to(root).parts[:-1])


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` that can run: all but the bodies of ``if TYPE_CHECKING:``
    (imports for annotations only, which never execute and cannot change a result)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def imported_names(path: Path, root: Path = ROOT) -> set[str]:
    """Every project module name ``path`` imports anywhere in its source (inside functions
    too, not for type checking only), and the names it imports from a project module (which
    :func:`module_file` sorts into modules and not)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's own package upwards
                package = _package_of(path, root).split(".")
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return {n for n in found if n.split(".")[0] in PACKAGES}


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@cache
def closure(module: str, root: Path = ROOT) -> tuple[Path, ...]:
    """Every project file that importing ``module`` can run, sorted."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        for name in _with_parents(todo.pop()):
            path = module_file(name, root)
            if path is None or path in seen:
                continue
            seen.add(path)
            todo.extend(imported_names(path, root))
    if module_file(module, root) is None:
        raise ValueError(f"{module}: no such module under {root}")
    return tuple(sorted(seen))


def as_paths(files: Iterable[Path], root: Path = ROOT) -> set[str]:
    """Repository-relative POSIX paths, as ``dvc.yaml`` writes them."""
    return {f.relative_to(root).as_posix() for f in files}


def dep_files(path: str, root: Path = ROOT) -> set[str]:
    """The files a ``dvc.yaml`` code dependency stands for: itself, or every file below it
    where it is a folder (DVC hashes a folder's whole content; ``__pycache__`` is in
    ``.dvcignore``)."""
    target = root / path
    if target.is_dir():
        return as_paths((p for p in target.rglob("*") if p.is_file() and "__pycache__" not in
                         p.parts), root)  # fmt: skip
    return {path}


def folded(paths: set[str], root: Path = ROOT) -> list[str]:
    """``paths`` with every folder whose files all belong to them written as the folder:
    the shortest list of ``dvc.yaml`` dependencies that covers exactly ``paths``."""
    out = set(paths)
    folders = sorted({Path(p).parent for p in paths}, key=lambda f: len(f.parts))
    for folder in folders:
        name = folder.as_posix()
        if name in PACKAGES or not (root / folder).is_dir():
            continue
        inside = dep_files(name, root)
        if inside <= paths and not any(Path(p) in folder.parents for p in out):
            out = {p for p in out if p not in inside} | {name}
    return sorted(out)


def main(argv: list[str]) -> None:
    for module in argv:
        print(f"{module}:")
        for path in folded(as_paths(closure(module))):
            print(f"  - {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
