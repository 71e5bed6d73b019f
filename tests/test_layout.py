"""The library's layers: each package imports only from the layers below it."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "calhousing"

# Bottom to top; a module may import its own layer and those before it.
LAYERS = (
    ("errors", "params", "config"),
    ("core",),
    ("run",),
    ("report",),
    ("pipeline",),
    ("predict", "export"),
    ("cli", "__main__", "__init__"),
)


MODULES = sorted(LIB.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(LIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULE_NAMES = {module_name(path) for path in MODULES}


def layer_of(part: str) -> int:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"{part!r} is in no layer: add it to LAYERS")


def imported_modules(path: Path) -> set[str]:
    """Every ``calhousing`` module `path` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # a submodule, or a name of the module
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULE_NAMES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("calhousing")}


def imports(path: Path) -> set[str]:
    """The first part below ``calhousing`` of every module `path` imports."""
    return {name.split(".")[1] for name in imported_modules(path) if "." in name}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(LIB)))
def test_a_module_imports_only_its_layer_and_those_below(path):
    own = layer_of(path.relative_to(LIB).parts[0].removesuffix(".py"))
    upward = sorted(part for part in imports(path) if layer_of(part) > own)
    assert not upward, f"{path.relative_to(LIB)} imports {upward} from a layer above it"


def test_every_package_and_module_of_the_library_has_a_layer():
    tops = {path.relative_to(LIB).parts[0].removesuffix(".py") for path in MODULES}
    assert tops == {name for names in LAYERS for name in names}


def test_the_checker_sees_an_upward_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from calhousing.report import tables\nimport calhousing.cli\n")
    assert imports(module) == {"report", "cli"}


def test_the_modules_import_one_another_without_a_circle():
    names = {module_name(path): path for path in MODULES}
    graph = {name: (imported_modules(path) & names.keys()) - {name} for name, path in names.items()}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the circle
