"""No import circles between reap_omni modules, deferred imports inside functions included: what two modules
share goes one level down, so the pipeline's folders read in one direction."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (SRC / "reap_omni").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reap_omni"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("reap_omni"))
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


#: The data pipeline's floors, lowest first: a module may import its own floor and the floors below it.
FLOORS = ("catalog", "sources", "media", "manifest", "calibration_set", "convert")


def test_data_pipeline_arrows_point_down():
    graph = _graph()
    floor = {name: i for i, name in enumerate(FLOORS)}

    def floor_of(module: str) -> int | None:
        parts = module.split(".")
        return floor.get(parts[1]) if len(parts) > 1 else None

    upward = sorted(
        f"{mod} -> {dep}" for mod, deps in graph.items() for dep in deps
        if floor_of(mod) is not None and floor_of(dep) is not None and floor_of(dep) > floor_of(mod)
    )
    assert not upward, "imports from a lower floor up to a higher one: " + "; ".join(upward)


def test_the_old_media_path_module_still_imports():
    """``reap_omni.convert.paths`` moved to ``reap_omni.manifest.paths``; the old path works for one release."""
    from reap_omni.convert import paths as old
    from reap_omni.manifest import paths as new

    assert old.absolute_media_path is new.absolute_media_path and old.MediaResolver is new.MediaResolver
