"""The package structure docs/architecture.md agrees on: no import cycle between our modules, and no import that climbs
the layer order (``api → workers → rag → rerankers → indexes → core``, with ``evals`` above ``rag`` and
``cli`` on top).

Every ``import`` statement counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``): docs/architecture.md allows no exception. The imports are read with ``ast``, nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# docs/architecture.md's layout table, lowest first: each folder may import the ones before it (``workers`` runs the batch
# evaluations, so ``evals`` — which may import core, indexes, rerankers and rag — sits below it).
LAYERS = ("core", "indexes", "rerankers", "rag", "evals", "workers", "api", "cli")
PACKAGES = LAYERS[:-1]

# Known exceptions, each named with the reason it is left: (importing module, imported module). Keep it short.
KNOWN_CYCLE_EDGES: frozenset[tuple[str, str]] = frozenset()
KNOWN_UPWARD: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_files() -> dict[str, Path]:
    files = {_module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}
    files["cli"] = REPO / "cli.py"
    return files


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from`` import reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported project module, line) for every import statement of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path.name == "__init__.py", node)
            # ``from package import module`` imports that module; ``from module import name`` the module itself
            names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # ``import a.b.c`` of a non-module attribute: its nearest module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.append((name, node.lineno))
    return found


def _graph() -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    files = _project_files()
    known = set(files)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        graph[module] = {}
        for target, line in _imports(module, path, known):
            graph[module].setdefault(target, line)
    return files, graph


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def _cycles(graph: dict[str, dict[str, int]]) -> list[tuple[list[str], list[str]]]:
    """Each strongly connected component of more than one module, with one cycle (a → … → a) through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan; the graph is a few hundred modules, recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [(component, _cycle_in(graph, set(component), component[0])) for component in components]


def _cycle_in(graph: dict[str, dict[str, int]], component: set[str], start: str) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``component`` (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target not in component:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def test_the_walk_sees_every_layer() -> None:
    files, graph = _graph()
    assert {module.split(".")[0] for module in files} == set(LAYERS)
    assert graph["workers.job_functions"], "the walk found no imports: its resolution is broken"


def test_relative_imports_resolve() -> None:
    def resolved(module: str, is_package: bool, source: str) -> str:
        node = ast.parse(source).body[0]
        assert isinstance(node, ast.ImportFrom)
        return _resolve(module, is_package, node)

    assert resolved("rag.dynamic.loop", False, "from .policies import x") == "rag.dynamic.policies"
    assert resolved("rag.dynamic.loop", False, "from ..retrieval import x") == "rag.retrieval"
    assert resolved("rag.dynamic", True, "from . import loop") == "rag.dynamic"
    assert resolved("rag.dynamic.loop", False, "from core.errors import x") == "core.errors"


def test_no_import_cycles() -> None:
    _, graph = _graph()
    pruned = {m: {t: line for t, line in targets.items() if (m, t) not in KNOWN_CYCLE_EDGES}
              for m, targets in graph.items()}
    cycles = [" → ".join(cycle) + (f"  (the circle holds {', '.join(members)})" if len(members) > len(cycle) - 1 else "")
              for members, cycle in _cycles(pruned)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_upward_imports() -> None:
    files, graph = _graph()
    upward = [f"{files[m].relative_to(REPO)}:{line}: {m} imports {t}"
              for m, targets in sorted(graph.items()) for t, line in sorted(targets.items())
              if _layer(t) > _layer(m) and (m, t) not in KNOWN_UPWARD]
    assert not upward, "imports against docs/architecture.md's layer order:\n" + "\n".join(upward)


def _class_paths(path: Path) -> list[tuple[str, str, int]]:
    """(module, class, line) for every ``"package.module:ClassName"`` string of the file (the method tables'
    lazily imported components)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            module, colon, name = node.value.partition(":")
            if colon and name.isidentifier() and name[0].isupper() and module.split(".")[0] in PACKAGES:
                found.append((module, name, node.lineno))
    return found


def test_lazily_imported_classes_exist_and_respect_the_layers() -> None:
    """A table that names its components as strings must name real classes, in its own layer or below."""
    files = _project_files()
    problems, seen = [], 0
    for module, path in sorted(files.items()):
        for target, name, line in _class_paths(path):
            seen += 1
            where = f"{path.relative_to(REPO)}:{line}: {target}:{name}"
            if target not in files:
                problems.append(f"{where} names no module")
            elif not any(isinstance(n, ast.ClassDef) and n.name == name
                         for n in ast.parse(files[target].read_text()).body):
                problems.append(f"{where} names no class of that module")
            elif _layer(target) > _layer(module):
                problems.append(f"{where} climbs the layer order")
    assert seen >= 10, "the method tables' class paths were not found: the scan is broken"
    assert not problems, "\n".join(problems)
