"""The package's shape, as docs/architecture.md describes it: layers that never import upwards, no import cycle,
small modules with one job each, a docstring on every class with behaviour, and a module map and diagram that
match the code."""

from __future__ import annotations

import ast
import itertools
import re
from collections import defaultdict

from support.imports import PACKAGE, REPO, Import, imported_names, imports, module_name, modules

# Lowest first. A module may import its own layer and those below it, never one above. ``orchestrator`` is the
# package's __init__ (its version); ``seed`` is the seed's ``orchestrator/orchestrator.py``.
LAYERS = (
    "orchestrator", "redact", "errors", "interrupts",  # the foundation
    "contracts", "config", "remote", "state", "plan", "launch", "report", "run", "serve", "hosted",  # the core's layers
    "wiring",  # builds a cycle and the service from settings
    "jobs",  # the reference jobs: they import the core, never the reverse
    "cli", "__main__", "seed",  # the entry points
)
TOP_LEVEL_ALLOWANCE = 12  # modules directly in orchestrator/, besides the seed's orchestrator.py, __init__ and __main__
MAX_LINES = 400


def layer(module: str) -> str:
    if module == "orchestrator.orchestrator":
        return "seed"
    return module.split(".")[1] if "." in module else module


def test_every_module_has_a_layer():
    assert {layer(m) for m in modules()} <= set(LAYERS)


def test_no_layer_imports_one_above_it():
    upward = [
        f"{i.source} (line {i.line}) imports {i.target}"
        for i in imports()
        if LAYERS.index(layer(i.target)) > LAYERS.index(layer(i.source))
    ]
    assert upward == []


def test_the_core_never_imports_the_reference_jobs():
    """Only the command line, above both, loads a job's module (lazily, when that command runs)."""
    offenders = [
        f"{i.source}:{i.line}" for i in imports() if layer(i.target) == "jobs" and layer(i.source) not in ("jobs", "cli")
    ]
    assert offenders == []


def test_the_import_checks_see_every_spelling():
    source, known = "orchestrator.run.cycle", "orchestrator.jobs"
    spellings = (
        "import orchestrator.jobs.model",
        "from orchestrator import jobs",
        "from ..jobs import model",
        "from .. import jobs",
        "importlib.import_module('orchestrator.jobs.model')",
        "__import__('orchestrator.jobs')",
    )
    for spelling in spellings:
        node = ast.parse(spelling).body[0]
        node = node.value if isinstance(node, ast.Expr) else node
        assert any(name.startswith(known) for name in imported_names(node, source, False)), spelling
    # ... at any depth: inside a function and under TYPE_CHECKING
    tree = ast.parse("if TYPE_CHECKING:\n    from ..jobs import model\ndef f():\n    import orchestrator.jobs.text\n")
    found = [n for node in ast.walk(tree) for n in imported_names(node, source, False)]
    assert "orchestrator.jobs.model" in found and "orchestrator.jobs.text" in found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in list(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_between_modules():
    edges: dict[str, set[str]] = defaultdict(set)
    for i in imports():
        edges[i.source].add(i.target)
    assert _cycles(edges) == []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check itself works


def test_few_modules_at_the_top_and_none_too_long():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py", "orchestrator.py"))
    assert len(top) <= TOP_LEVEL_ALLOWANCE, top
    long = {
        module: n for module, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_class_with_behaviour_says_what_it_is():
    missing = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and not ast.get_docstring(node):
                if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in node.body):
                    missing.append(f"{module}.{node.name}")
    assert missing == []


# ---------------------------------------------------------------------------------------------- the docs
ARCHITECTURE = REPO / "docs" / "architecture.md"


def _section(title: str) -> str:
    text = ARCHITECTURE.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_module_map_matches_the_code():
    """Every module is in the map (a package's __init__ when it holds code), and nothing else is."""
    listed = set(re.findall(r"^\| `(orchestrator/[\w/]+(?:\.py|/))` \|", _section("Module map"), flags=re.M))
    expected = set()
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        body = ast.parse(path.read_text()).body
        holds_code = any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)
        if path.name != "__init__.py" or holds_code:
            expected.add(f"orchestrator/{path.relative_to(PACKAGE).as_posix()}")
    expected |= {"orchestrator/state/migrations/"}
    expected |= {f"orchestrator/{p.parent.relative_to(PACKAGE).as_posix()}/" for p in PACKAGE.glob("*/__init__.py")}
    assert listed == expected


def package_edges(found: list[Import]) -> set[tuple[str, str]]:
    """Which layer imports which: the edges of the architecture diagram (the foundation is left out)."""
    foundation = {"orchestrator", "redact", "errors", "interrupts", "__main__", "seed"}
    return {
        (layer(i.source), layer(i.target))
        for i in found
        if layer(i.source) != layer(i.target) and not {layer(i.source), layer(i.target)} & foundation
    }


def reduction(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges no longer path implies (the transitive reduction of an acyclic graph): what the diagram draws."""

    def reaches(start: str, goal: str, without: tuple[str, str]) -> bool:
        seen, todo = set(), [b for a, b in edges if a == start and (a, b) != without]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo += [b for a, b in edges if a == node]
        return False

    return {edge for edge in edges if not reaches(*edge, without=edge)}


def test_the_architecture_diagram_matches_the_imports():
    """The diagram draws which layer imports which (each arrow one that no longer path implies)."""
    diagram = _section("Layers")
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+)\s*$", diagram, flags=re.M))
    assert drawn == reduction(package_edges(imports())), "redraw the diagram: see reduction() in this test"
    assert reduction({("a", "b"), ("b", "c"), ("a", "c")}) == {("a", "b"), ("b", "c")}  # the check itself works


FOREIGN_FILES = {"constants.py"}  # huggingface_hub's, named in the docs for comparison


def test_the_files_the_docs_name_exist():
    """A page that names a module (``orchestrator/run/cycle.py``, ``run/cycle.py`` or ``cycle.py``) names one
    that is there; so does a diagram's node."""
    tree = [p.relative_to(REPO).as_posix() for p in REPO.rglob("*.py") if ".venv" not in p.parts and "build" not in p.parts]
    missing = []
    for page in [*(REPO / "docs").glob("*.md"), REPO / "README.md"]:
        for name in set(re.findall(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.py)\b", page.read_text())) - FOREIGN_FILES:
            found = [path for path in tree if path == name or path.endswith("/" + name)]
            if not found:
                missing.append((page.name, name))
    assert missing == []


def test_the_docstrings_name_what_exists():
    """``:mod:`orchestrator.run.cycle``` and its kin, in every docstring and comment, name a module or an
    object that is there."""
    import importlib

    missing = []
    for path in modules().values():
        for ref in set(re.findall(r":(?:mod|class|func|meth|data):`~?(orchestrator[\w.]*)`", path.read_text())):
            parts = ref.split(".")
            for cut in range(len(parts), 0, -1):
                try:
                    found = importlib.import_module(".".join(parts[:cut]))
                    break
                except ImportError:
                    continue
            for attribute in parts[cut:]:
                found = getattr(found, attribute, None)
            if found is None:
                missing.append(f"{module_name(path)}: {ref}")
    assert missing == []


def _builds_our_name(node: ast.expr) -> bool:
    """An import's argument built at run time that names one of our modules: an f-string starting with
    ``orchestrator`` or with ``__name__`` / ``__package__`` (a third-party name in a variable is fine)."""
    if not isinstance(node, ast.JoinedStr) or not node.values:
        return False
    first = node.values[0]
    if isinstance(first, ast.Constant):
        return str(first.value).startswith("orchestrator")
    return isinstance(first, ast.FormattedValue) and getattr(first.value, "id", None) in ("__name__", "__package__")


def test_every_import_in_the_package_can_be_read():
    """The import graph above is complete: no module imports one of ours by a name it builds at run time."""
    dynamic = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            func = getattr(node, "func", None)
            called = getattr(func, "attr", None) or getattr(func, "id", None)
            if isinstance(node, ast.Call) and called in ("import_module", "__import__") and node.args:
                if _builds_our_name(node.args[0]):
                    dynamic.append(f"{module}:{node.lineno}")
    assert dynamic == []
    spellings = ('import_module(f"orchestrator.jobs.{what}")', 'import_module(f"{__name__}.{kind}")', "import_module(name)")
    assert [_builds_our_name(ast.parse(s).body[0].value.args[0]) for s in spellings] == [True, True, False]


def test_the_readme_links_into_the_docs_resolve_and_its_exit_codes_are_the_docs():
    from markdown.extensions.toc import slugify  # what MkDocs names a heading's anchor with

    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\((docs/[\w-]+\.md)(?:#([\w-]+))?\)", readme)
    assert links and all((REPO / link).is_file() for link, _ in links)
    for link, anchor in links:
        headings = re.findall(r"^#+ (.+)$", (REPO / link).read_text(), flags=re.M)
        anchors = {slugify(heading.replace("`", ""), "-") for heading in headings}
        assert not anchor or anchor in anchors, f"{link}#{anchor}"

    def exit_codes(text: str) -> list[str]:
        """The rows of the first table after the heading ``## Exit codes``."""
        lines = text[text.index("## Exit codes") :].splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("|"))
        return list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))

    assert exit_codes(readme) == exit_codes((REPO / "docs" / "operations.md").read_text())

