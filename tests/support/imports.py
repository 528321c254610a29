"""The package's import graph, read from the source: every import statement at any depth (module level, in
functions, under ``TYPE_CHECKING``), in every spelling (``import a.b``, ``from a import b``, relative
imports), and ``importlib.import_module`` / ``__import__`` calls with a literal module name."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "orchestrator"


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the module imported (a module or package of ours, the closest one that exists)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (the migration scripts are Alembic's, not imported)."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "versions" not in p.parts}


def _closest(name: str, known: dict[str, Path]) -> str:
    """``name`` if it is one of our modules, else the longest prefix that is (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imported_names(node: ast.AST, source: str, is_package: bool) -> list[str]:
    """The absolute names an import statement (or import call) of module ``source`` can load."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = source.split(".") if is_package else source.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        return [module] + [f"{module}.{alias.name}" for alias in node.names]
    if isinstance(node, ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            return [str(node.args[0].value)]
    return []


def imports() -> list[Import]:
    """Every import of one of our modules by another, at any depth."""
    known = modules()
    found = []
    for source, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            for name in imported_names(node, source, path.name == "__init__.py"):
                if name == "orchestrator" or name.startswith("orchestrator."):
                    target = _closest(name, known)
                    if target != source:
                        found.append(Import(source, target, node.lineno))
    return found
