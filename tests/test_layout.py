"""The code's shape: modules import each other in one direction only, lazy imports included."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lego", "ui")


def imports_of(package: str, path: Path) -> set[str]:
    """The modules of our packages that ``path`` imports, as ``package.module``, at the top or in a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:
            names = [node.module] if node.module else [alias.name for alias in node.names]
            found.update(f"{package}.{name.split('.')[0]}" for name in names)
        elif (node.module or "").split(".")[0] in PACKAGES:
            parts = node.module.split(".")
            names = parts[1:2] or [alias.name for alias in node.names]
            found.update(f"{parts[0]}.{name}" for name in names)
    return found


def test_the_package_has_no_import_cycle():
    graph = {f"{pkg}.{p.stem}": imports_of(pkg, p) for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py")}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            assert state.get(other) != "open", "import cycle: " + " -> ".join(path + [module, other])
            if other not in state:
                visit(other, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert {"lego.model", "lego.compiled", "lego.runs", "ui.generate", "ui.context"} <= graph.keys()
    assert "lego.compiled" in graph["lego.model"] and "ui.context" in graph["ui.generate"]  # edges are seen
